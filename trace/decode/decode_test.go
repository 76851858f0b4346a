package decode_test

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/trace/decode"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestFor(t *testing.T) {
	tests := []struct{ subprotocol, path, forced, want string }{
		{"", "/x", "mqtt", "mqtt"},
		{"graphql-transport-ws", "/socket.io/", "STOMP", "stomp"}, // forced wins, any case
		{"", "/", "nosuch", ""},
		{"graphql-transport-ws", "/", "", "graphql-ws"},
		{"graphql-ws", "/", "", "graphql-ws"},
		{"v12.stomp", "/", "", "stomp"},
		{"V10.STOMP", "/", "", "stomp"},
		{"mqtt", "/", "", "mqtt"},
		{"mqttv3.1", "/", "", "mqtt"},
		{"jsonrpc", "/", "", "jsonrpc"},
		{"json-rpc", "/", "", "jsonrpc"},
		{"", "/socket.io/?EIO=4&transport=websocket", "", "socketio"},
		{"", "/app/socket.io/", "", "socketio"},
		{"", "/graphql", "", "graphql-ws"},
		{"", "/api/graphql?x=1", "", "graphql-ws"},
		{"chat", "/graphqlx", "", ""},
		{"", "/", "", ""},
	}
	for _, tc := range tests {
		s, name := decode.For(tc.subprotocol, tc.path, tc.forced)
		if name != tc.want || (s == nil) != (tc.want == "") {
			t.Errorf("For(%q, %q, %q) = %v, %q; want %q", tc.subprotocol, tc.path, tc.forced, s, name, tc.want)
		}
	}
	if got, want := decode.Names(), []string{"socketio", "graphql-ws", "stomp", "jsonrpc", "mqtt"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v; want %v", got, want)
	}
}

// step is one message of a table test and what it must decode to: ok
// false for a message the decoder must refuse; fields as in want; latency
// the exact latency when not zero.
type step struct {
	dir     string
	text    bool
	payload string
	at      time.Duration
	ok      bool
	typ     string
	fields  string
	latency time.Duration
	summary string // a substring of the summary
}

func runSteps(t *testing.T, name string, steps []step) {
	t.Helper()
	s, _ := decode.For("", "", name)
	for i, st := range steps {
		d, ok := s.Decode(st.dir, st.text, []byte(st.payload), t0.Add(st.at))
		if ok != st.ok {
			t.Fatalf("step %d: Decode(%s, %q) ok = %v; want %v (%+v)", i, st.dir, st.payload, ok, st.ok, d)
		}
		if !ok {
			continue
		}
		if d.Protocol != name || !matches(st.dir, "websocket", d, want{st.dir, st.typ, st.fields}) {
			t.Errorf("step %d: Decode(%s, %q) = %s; want type %q fields %q", i, st.dir, st.payload, line(d), st.typ, st.fields)
		}
		if d.Latency != st.latency {
			t.Errorf("step %d: Decode(%q) latency = %v; want %v", i, st.payload, d.Latency, st.latency)
		}
		if !strings.Contains(d.Summary, st.summary) {
			t.Errorf("step %d: Decode(%q) summary = %q; want it to contain %q", i, st.payload, d.Summary, st.summary)
		}
	}
}

func TestSocketIO(t *testing.T) {
	runSteps(t, "socketio", []step{
		{dir: "down", text: true, payload: `0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, ok: true, typ: "open", fields: "sid=abc pingInterval=25000", summary: "open sid=abc"},
		{dir: "up", text: true, payload: `40/chat,{"token":"x"}`, ok: true, typ: "connect", fields: "namespace=/chat"},
		{dir: "up", text: true, payload: `42/chat,17["message",{"text":"hi"}]`, at: time.Millisecond, ok: true, typ: "event", fields: "namespace=/chat ack=17 event=message", summary: `EVENT /chat "message" [{"text":"hi"}] ack=17`},
		{dir: "down", text: true, payload: `43/chat,17["ok"]`, at: 4 * time.Millisecond, ok: true, typ: "ack", fields: "namespace=/chat ack=17", latency: 3 * time.Millisecond},
		{dir: "down", text: true, payload: `451-["file",{"_placeholder":true,"num":0}]`, ok: true, typ: "binary_event", fields: "attachments=1 event=file", summary: "<binary 0>"},
		{dir: "down", payload: "\x01\x02\x03", ok: true, typ: "attachment", fields: "remaining=0"},
		{dir: "down", payload: "\x01\x02\x03"}, // no attachment expected
		{dir: "down", text: true, payload: `44/admin,{"message":"not authorized"}`, ok: true, typ: "connect_error", fields: "error=* namespace=/admin", summary: `"not authorized"`},
		{dir: "down", text: true, payload: "2", at: 10 * time.Millisecond, ok: true, typ: "ping"},
		{dir: "up", text: true, payload: "3", at: 12 * time.Millisecond, ok: true, typ: "pong", latency: 2 * time.Millisecond},
		{dir: "up", text: true, payload: "2probe", ok: true, typ: "ping", fields: "data=probe"},
		{dir: "down", text: true, payload: "6", ok: true, typ: "noop"},
		{dir: "up", text: true, payload: `42["chat","a very long message cut by trace-by`, ok: true, typ: "event", fields: "event=chat partial=true"},
		{dir: "up", text: true, payload: `42`}, // an event without data
		{dir: "up", text: true, payload: "hello"},
		{dir: "up", text: true, payload: ""},
		{dir: "up", text: true, payload: "7"},
		{dir: "up", text: true, payload: `45x-[]`},
	})
}

func TestGraphQL(t *testing.T) {
	runSteps(t, "graphql-ws", []step{
		{dir: "up", text: true, payload: `{"type":"connection_init","payload":{"auth":"x"}}`, ok: true, typ: "connection_init"},
		{dir: "up", text: true, payload: `{"id":"1","type":"subscribe","payload":{"query":"# query Old { x }\nsubscription OnMsg($r: ID!) { msg(room: $r) { text } }","variables":{"r":"7"}}}`, ok: true, typ: "subscribe", fields: "id=1 operation=OnMsg kind=subscription", summary: `subscription OnMsg {"r":"7"}`},
		{dir: "down", text: true, payload: `{"id":"1","type":"next","payload":{"data":{"msg":{"text":"hi"}}}}`, at: 5 * time.Millisecond, ok: true, typ: "next", fields: "id=1", latency: 5 * time.Millisecond},
		{dir: "down", text: true, payload: `{"id":"1","type":"next","payload":{"data":{"msg":{"text":"again"}}}}`, ok: true, typ: "next", fields: "id=1"},
		{dir: "up", text: true, payload: `{"id":"2","type":"subscribe","payload":{"operationName":"B","query":"query A { a } query B { b }"}}`, ok: true, typ: "subscribe", fields: "operation=B kind=query"},
		{dir: "down", text: true, payload: `{"id":"2","type":"error","payload":[{"message":"boom"},{"message":"bang"}]}`, ok: true, typ: "error", fields: "id=2 error=*", summary: "boom; bang"},
		{dir: "down", text: true, payload: `{"type":"data","id":"3","payload":{"data":null,"errors":[{"message":"denied"}]}}`, ok: true, typ: "data", fields: "error=denied"},
		{dir: "down", text: true, payload: `{"type":"ka"}`, ok: true, typ: "ka"},
		{dir: "up", text: true, payload: `{"id":"4","type":"start","payload":{"query":"{ hello }"`, ok: true, typ: "start", fields: "kind=query partial=true"},
		{dir: "up", text: true, payload: `{"id":"5","typ`},
		{dir: "up", text: true, payload: `{"type":"hello"}`},
		{dir: "up", text: true, payload: `["subscribe"]`},
	})
}

func TestSTOMP(t *testing.T) {
	runSteps(t, "stomp", []step{
		{dir: "up", text: true, payload: "CONNECT\naccept-version:1.2\nhost:example\n\n\x00", ok: true, typ: "connect", fields: "command=CONNECT host=example accept-version=1.2"},
		{dir: "down", text: true, payload: "CONNECTED\r\nversion:1.2\r\n\r\n\x00", at: 2 * time.Millisecond, ok: true, typ: "connected", fields: "version=1.2", latency: 2 * time.Millisecond},
		{dir: "up", text: true, payload: "SEND\ndestination:/queue/a\\cb\ncontent-length:5\nreceipt:9\n\nab\x00cd\x00", at: 3 * time.Millisecond, ok: true, typ: "send", fields: "destination=/queue/a:b length=5 receipt=9", summary: "(5 bytes)"},
		{dir: "down", text: true, payload: "RECEIPT\nreceipt-id:9\n\n\x00\nMESSAGE\ndestination:/q\n\nx\x00", at: 7 * time.Millisecond, ok: true, typ: "receipt", fields: "receipt-id=9 frames=2", latency: 4 * time.Millisecond, summary: "+1 frames"},
		{dir: "down", text: true, payload: "\n", ok: true, typ: "heartbeat"},
		{dir: "down", text: true, payload: "\r\n\r\n", ok: true, typ: "heartbeat"},
		{dir: "down", text: true, payload: "ERROR\nmessage:bad frame\ncontent-type:text/plain\n\nthe frame was bad", ok: true, typ: "error", fields: "error=* partial=true"},
		{dir: "down", text: true, payload: "MESSAGE\ndestination:/topic/very-long-na", ok: true, typ: "message", fields: "partial=true"},
		{dir: "up", text: true, payload: "HELLO\n\n\x00"},
		{dir: "up", text: true, payload: "SEND\nno colon here\n\nbody\x00"},
		{dir: "up", text: true, payload: ""},
	})
}

func TestJSONRPC(t *testing.T) {
	runSteps(t, "jsonrpc", []step{
		{dir: "up", text: true, payload: `{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":1}`, ok: true, typ: "request", fields: "method=sum id=1"},
		{dir: "up", text: true, payload: `{"jsonrpc":"2.0","method":"sum","params":[3],"id":"a"}`, at: time.Millisecond, ok: true, typ: "request", fields: "id=a"},
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","result":3,"id":1}`, at: 10 * time.Millisecond, ok: true, typ: "response", fields: "method=sum id=1", latency: 10 * time.Millisecond},
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params"},"id":"a"}`, at: 3 * time.Millisecond, ok: true, typ: "error", fields: "error=* code=-32602 method=sum id=a", latency: 2 * time.Millisecond},
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","result":3,"id":1}`, ok: true, typ: "response", fields: "id=1"}, // answered already: no latency
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","method":"update","params":{"x":1}}`, ok: true, typ: "notification", fields: "method=update"},
		// The server calls the client: matched in the other direction.
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","method":"ask","id":1}`, ok: true, typ: "request"},
		{dir: "up", text: true, payload: `{"jsonrpc":"2.0","result":true,"id":1}`, at: time.Millisecond, ok: true, typ: "response", fields: "method=ask", latency: time.Millisecond},
		{dir: "up", text: true, payload: `[{"jsonrpc":"2.0","method":"a","id":5},{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","method":"b","id":6}]`, ok: true, typ: "batch", fields: "count=3 method=a,n,b id=5,6"},
		{dir: "down", text: true, payload: `[{"jsonrpc":"2.0","result":1,"id":6},{"jsonrpc":"2.0","result":2,"id":5}]`, at: 8 * time.Millisecond, ok: true, typ: "batch", fields: "count=2 method=b,a", latency: 8 * time.Millisecond},
		{dir: "up", text: true, payload: `{"jsonrpc":"2.0","method":"big","id":9,"params":["cut by trace-byt`, ok: true, typ: "request", fields: "method=big partial=true"},
		// A response cut in its result, before its id: still a response.
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","result":{"rows":[1,2,`, ok: true, typ: "response", fields: "partial=true"},
		{dir: "down", text: true, payload: `{"jsonrpc":"2.0","error":{"code":-3`, ok: true, typ: "error", fields: "partial=true"},
		{dir: "up", text: true, payload: `[]`},
		{dir: "up", text: true, payload: `[1,2]`},
		{dir: "up", text: true, payload: `{"hello":"world"}`},
		{dir: "up", text: true, payload: `not json`},
	})
}

func TestMQTT(t *testing.T) {
	h := func(s string) string {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// MQTT 5 packets as mqtt-packet 9.0.2 generates them (README.md).
	connect5 := h("102400044d51545405c2001e05110000003c000976352d636c69656e740003626f6200027077")
	runSteps(t, "mqtt", []step{
		{dir: "up", payload: connect5[:10], ok: true, typ: "fragment", fields: "partial=true", summary: "part of CONNECT (10 of 38 bytes)"},
		{dir: "up", payload: connect5[10:], ok: true, typ: "connect", fields: "client=v5-client version=5.0 username=bob keepalive=30"},
		{dir: "down", payload: h("200600000322000a"), at: time.Millisecond, ok: true, typ: "connack", fields: "code=0", latency: time.Millisecond, summary: "success"},
		// Two packets in one message: PUBLISH (v5 properties) and PUBACK.
		{dir: "up", payload: h("32170003612f6200070d03000a746578742f706c61696e6869") + h("400400071000"), ok: true, typ: "publish", fields: "topic=a/b qos=1 id=7 length=2 packets=2", summary: "; PUBACK id=7 no matching subscribers"},
		{dir: "up", payload: h("820b0008020b030003782f2301"), at: 2 * time.Millisecond, ok: true, typ: "subscribe", fields: "id=8 topic=x/# qos=1"},
		{dir: "down", payload: h("900400080087"), at: 5 * time.Millisecond, ok: true, typ: "suback", fields: "id=8 codes=135 error=*", summary: "codes=135", latency: 3 * time.Millisecond},
		{dir: "down", payload: h("e0028e00"), ok: true, typ: "disconnect", fields: "code=142", summary: "session taken over"},
		{dir: "up", text: true, payload: "\x10\x00"},
		{dir: "down", payload: "\x00\x01"},                           // reserved type 0
		{dir: "down", payload: "\x60\x02\x00\x01"},                   // PUBREL with flags 0: malformed
		{dir: "down", payload: "\xc0\x00", ok: true, typ: "pingreq"}, // the stream starts over after garbage
	})

	// MQTT 3.1.1, and a PUBLISH too long to keep whole.
	s, _ := decode.For("mqtt", "/", "")
	connect := h("101000044d5154540402003c0004636c6931")
	if d, ok := s.Decode("up", false, []byte(connect), t0); !ok || d.Fields["version"] != "3.1.1" || d.Fields["client"] != "cli1" {
		t.Errorf("CONNECT 3.1.1 = %s, %v", line(d), ok)
	}
	rl := 5 + decode.MaxMQTTKeep + 10 // topic a/b, then the payload
	big := make([]byte, 4+rl)
	big[0], big[1], big[2], big[3] = 0x30, 0x80|byte(rl&0x7f), 0x80|byte(rl>>7&0x7f), byte(rl>>14)
	copy(big[4:], "\x00\x03a/b")
	cut := decode.MaxMQTTKeep + 2
	d, ok := s.Decode("up", false, big[:cut], t0)
	if !ok || d.Type != "publish" || d.Fields["topic"] != "a/b" || !strings.Contains(d.Summary, "kept") {
		t.Errorf("long PUBLISH = %s, %v", line(d), ok)
	}
	if d, ok := s.Decode("up", false, big[cut:], t0); !ok || d.Type != "fragment" {
		t.Errorf("rest of long PUBLISH = %s, %v", line(d), ok)
	}
	if d, ok := s.Decode("up", false, []byte{0xc0, 0}, t0); !ok || d.Type != "pingreq" {
		t.Errorf("PINGREQ after a long PUBLISH = %s, %v", line(d), ok)
	}
}

// TestTruncated decodes every prefix of the recorded messages: none may
// panic, and a decoded prefix of a text message keeps its type.
func TestTruncated(t *testing.T) {
	for _, tc := range liveCases {
		tunnels, items := readTrace(t, "testdata/"+tc.proto+".trace")
		for _, it := range items {
			if it.x != nil {
				continue // TestPollingPayloads cuts polling bodies
			}
			m := it.m
			meta := tunnels[m.Tunnel]
			whole, _ := decode.For(meta.Subprotocol, meta.Path, tc.forced)
			full, fullOK := whole.Decode(m.Dir.String(), true, m.Payload, m.Time)
			for n := range len(m.Payload) {
				s, _ := decode.For(meta.Subprotocol, meta.Path, tc.forced)
				d, ok := s.Decode(m.Dir.String(), true, m.Payload[:n], m.Time)
				// A cut Socket.IO packet may be a bare Engine.IO "message", a cut
				// JSON-RPC request a "call".
				if ok && fullOK && tc.proto != "stomp" && tc.proto != "mqtt" && d.Type != full.Type && d.Type != "message" && d.Type != "call" {
					t.Errorf("%s: %q cut at %d decodes as %q; whole: %q", tc.proto, m.Payload, n, d.Type, full.Type)
				}
			}
		}
	}
}

func FuzzSocketIO(f *testing.F) { fuzz(f, "socketio", `42/a,1["x",{"_placeholder":true,"num":0}]`) }
func FuzzGraphQL(f *testing.F) {
	fuzz(f, "graphql-ws", `{"id":"1","type":"subscribe","payload":{"query":"query A { a }"}}`)
}
func FuzzSTOMP(f *testing.F) { fuzz(f, "stomp", "SEND\ndestination:/q\ncontent-length:1\n\nx\x00") }
func FuzzJSONRPC(f *testing.F) {
	fuzz(f, "jsonrpc", `[{"jsonrpc":"2.0","method":"a","id":1},{"result":1,"id":1}]`)
}
func FuzzMQTT(f *testing.F) {
	fuzz(f, "mqtt", "\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04cli1\x30\x05\x00\x01ax")
}

// fuzz feeds a decoder arbitrary messages, split in two, each way and
// each kind: it must not panic, and what it decodes must name it.
func fuzz(f *testing.F, name, seed string) {
	f.Add([]byte(seed), uint8(3), true)
	f.Add([]byte(seed), uint8(0), false)
	f.Fuzz(func(t *testing.T, p []byte, cut uint8, text bool) {
		s, _ := decode.For("", "", name)
		i := min(int(cut), len(p))
		for _, part := range [][]byte{p[:i], p[i:], p} {
			for _, dir := range []string{"up", "down"} {
				if d, ok := s.Decode(dir, text, part, t0); ok && (d.Protocol != name || d.Type == "") {
					t.Fatalf("Decode(%q) = %+v", part, d)
				}
			}
		}
	})
}
