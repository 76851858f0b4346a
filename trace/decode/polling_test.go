package decode_test

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/trace/decode"
)

// packetLine is a polling packet on one line: direction, the packet as
// the body holds it, and what the decoder read (type, then the fields).
func packetLine(pk decode.Packet) string {
	s := fmt.Sprintf("%s %q", pk.Dir, pk.Data)
	if pk.Partial {
		s += " partial"
	}
	if !pk.OK {
		return s + " not decoded"
	}
	s += " " + pk.Decoded.Type
	for _, k := range slices.Sorted(maps.Keys(pk.Decoded.Fields)) {
		s += fmt.Sprintf(" %s=%s", k, pk.Decoded.Fields[k])
	}
	return s
}

// TestPollingPayloads splits and decodes polling bodies as Engine.IO 4 and
// 3 frame them, and leaves alone what is not a payload.
func TestPollingPayloads(t *testing.T) {
	t.Parallel()
	const sid = "/socket.io/?EIO=4&transport=polling&sid=abc"
	cases := []struct {
		name string
		req  decode.PollRequest
		want []string
	}{
		{"handshake", decode.PollRequest{Method: "GET", Target: "/socket.io/?EIO=4&transport=polling&t=PQx1", Status: 200,
			Response: []byte(`0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)},
			[]string{`down "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}" open pingInterval=25000 pingTimeout=20000 sid=abc`}},
		{"two packets down", decode.PollRequest{Method: "GET", Target: sid, Status: 200,
			Response: []byte("40{\"sid\":\"s1\"}\x1e42[\"welcome\",\"hello\",1]")},
			[]string{`down "40{\"sid\":\"s1\"}" connect namespace=/ sid=s1`, `down "42[\"welcome\",\"hello\",1]" event event=welcome namespace=/`}},
		{"binary packet up", decode.PollRequest{Method: "POST", Target: sid, Status: 200,
			Request:  []byte("451-0[\"upload\",\"a.bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA=="),
			Response: []byte("ok")},
			[]string{`up "451-0[\"upload\",\"a.bin\",{\"_placeholder\":true,\"num\":0}]" binary_event ack=0 attachments=1 event=upload namespace=/`,
				`up "bAQIDBA==" attachment remaining=0`}},
		{"ping and noop", decode.PollRequest{Method: "GET", Target: sid, Status: 200, Response: []byte("2\x1e6")},
			[]string{`down "2" ping`, `down "6" noop`}},
		{"garbage up", decode.PollRequest{Method: "POST", Target: sid, Status: 200, Request: []byte("hello\x1e4x\x1eb!!!"), Response: []byte("ok")},
			[]string{`up "hello" not decoded`, `up "4x" message`, `up "b!!!" not decoded`}},
		{"cut inside a packet", decode.PollRequest{Method: "GET", Target: sid, Status: 200,
			Response: []byte("3\x1e42[\"chat\",\"a long"), ResponseCut: true},
			[]string{`down "3" pong`, `down "42[\"chat\",\"a long" partial event event=chat namespace=/ partial=true`}},
		{"cut binary packet", decode.PollRequest{Method: "POST", Target: sid, Status: 200,
			Request: []byte("451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBAUG"), RequestCut: true},
			[]string{`up "451-[\"up\",{\"_placeholder\":true,\"num\":0}]" binary_event attachments=1 event=up namespace=/`,
				`up "bAQIDBAUG" partial attachment partial=true remaining=0`}},
		{"error answer", decode.PollRequest{Method: "GET", Target: sid, Status: 400,
			Response: []byte(`{"code":1,"message":"Session ID unknown"}`)}, nil},
		{"v3 payload", decode.PollRequest{Method: "GET", Target: "/socket.io/?EIO=3&transport=polling&sid=v3", Status: 200,
			Response: []byte("2:40" + "13:42[\"hi\",\"😀\"]" + "1:2")},
			[]string{`down "40" connect namespace=/`, `down "42[\"hi\",\"😀\"]" event event=hi namespace=/`, `down "2" ping`}},
		{"v3 binary packet", decode.PollRequest{Method: "POST", Target: "/socket.io/?EIO=3&transport=polling&sid=v3b", Status: 200,
			Request: []byte("40:451-[\"up\",{\"_placeholder\":true,\"num\":0}]6:b4AQID")},
			[]string{`up "451-[\"up\",{\"_placeholder\":true,\"num\":0}]" binary_event attachments=1 event=up namespace=/`, `up "b4AQID" attachment remaining=0`}},
		{"v3 framing lost", decode.PollRequest{Method: "POST", Target: "/socket.io/?EIO=3&transport=polling&sid=v3c", Status: 200,
			Request: []byte("2:41\x00\x02\xff4hi")},
			[]string{`up "41" disconnect namespace=/`, `up "\x00\x02\xff4hi" not decoded`}},
		{"v3 length past the cut", decode.PollRequest{Method: "GET", Target: "/socket.io/?EIO=3&transport=polling&sid=v3d", Status: 200,
			Response: []byte("30:42[\"chat\",\"cu"), ResponseCut: true},
			[]string{`down "42[\"chat\",\"cu" partial event event=chat namespace=/ partial=true`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := decode.NewPolling("")
			pks, ok := p.Decode(tc.req)
			if !ok {
				t.Fatalf("Decode(%s %s) is not a polling request", tc.req.Method, tc.req.Target)
			}
			var got []string
			for _, pk := range pks {
				got = append(got, packetLine(pk))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("packets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestPollingIs: only transport=polling requests on a Socket.IO path are
// read, or on any path with --decode socketio; never with another
// --decode.
func TestPollingIs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		forced, target string
		want           bool
	}{
		{"", "/socket.io/?EIO=4&transport=polling&t=x", true},
		{"", "/app/socket.io/?transport=polling", true},
		{"", "/socket.io/socket.io.js", false},
		{"", "/socket.io/?EIO=4&transport=websocket&sid=x", false},
		{"", "/rt/?EIO=4&transport=polling", false},
		{"socketio", "/rt/?EIO=4&transport=polling", true},
		{"SocketIO", "/rt/?EIO=4&transport=polling", true},
		{"none", "/socket.io/?EIO=4&transport=polling", false},
		{"jsonrpc", "/socket.io/?EIO=4&transport=polling", false},
	}
	for _, tc := range cases {
		if got := decode.NewPolling(tc.forced).Is(tc.target); got != tc.want {
			t.Errorf("NewPolling(%q).Is(%q) = %v; want %v", tc.forced, tc.target, got, tc.want)
		}
	}
	if pks, ok := decode.NewPolling("").Decode(decode.PollRequest{Method: "GET", Target: "/page", Status: 200, Response: []byte("40")}); ok || pks != nil {
		t.Errorf("Decode of /page = %v, %v; want nothing, false", pks, ok)
	}
}

// latencyOf decodes r with p and returns the latency of its packet of type typ.
func latencyOf(t *testing.T, p *decode.Polling, r decode.PollRequest, typ string) time.Duration {
	t.Helper()
	pks, _ := p.Decode(r)
	for _, pk := range pks {
		if pk.OK && pk.Decoded.Type == typ {
			return pk.Decoded.Latency
		}
	}
	t.Fatalf("no %s packet in %s %s: %+v", typ, r.Method, r.Target, pks)
	return 0
}

// TestPollingSessions: the requests of one sid share a decoding session,
// so that acks and pongs get their latency across requests, both ways; the
// handshake's session continues under the sid it announced; an upgrade, a
// close and idleness forget a session; and there are at most so many.
func TestPollingSessions(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	target := func(sid string) string { return "/socket.io/?EIO=4&transport=polling&sid=" + sid }
	get := func(sid, body string, at time.Time) decode.PollRequest {
		return decode.PollRequest{Method: "GET", Target: target(sid), Status: 200, Response: []byte(body), Sent: at.Add(-time.Second), Answered: at}
	}
	post := func(sid, body string, at time.Time) decode.PollRequest {
		return decode.PollRequest{Method: "POST", Target: target(sid), Status: 200, Request: []byte(body), Response: []byte("ok"), Sent: at, Answered: at.Add(time.Millisecond)}
	}

	p := decode.NewPolling("")
	hs := decode.PollRequest{Method: "GET", Target: "/socket.io/?EIO=4&transport=polling", Status: 200, Response: []byte(`0{"sid":"abc","pingInterval":25000}`), Answered: t0}
	if pks, _ := p.Decode(hs); len(pks) != 1 || p.Len() != 1 {
		t.Fatalf("handshake: %d packets, %d sessions; want 1, 1", len(pks), p.Len())
	}
	// Client to server: an event with an ack id up, its ack down.
	p.Decode(post("abc", `421["chat","hi"]`, ms(10)))
	if got := latencyOf(t, p, get("abc", `431[{"ok":true}]`, ms(15)), "ack"); got != 5*time.Millisecond {
		t.Errorf("ack down, 5 ms after its event went up: latency %v", got)
	}
	// Server to client, and a ping and its pong.
	p.Decode(get("abc", "2\x1e422[\"ask\"]", ms(20)))
	if got := latencyOf(t, p, post("abc", "432[1]\x1e3", ms(23)), "ack"); got != 3*time.Millisecond {
		t.Errorf("ack up, 3 ms after its event came down: latency %v", got)
	}
	// The answer to an unknown session is decoded without one.
	if got := latencyOf(t, p, get("zzz", `431[1]`, ms(30)), "ack"); got != 0 {
		t.Errorf("ack in another session: latency %v; want none", got)
	}
	if p.Len() != 2 {
		t.Errorf("%d sessions; want abc and zzz", p.Len())
	}
	if p.Upgraded("/socket.io/?EIO=4&transport=websocket&sid=abc") == nil {
		t.Error("the upgrade of abc handed over no session")
	}
	if p.Len() != 1 {
		t.Errorf("after abc upgraded: %d sessions; want 1", p.Len())
	}
	p.Decode(post("zzz", "1", ms(40)))
	if p.Len() != 0 {
		t.Errorf("after zzz closed: %d sessions; want 0", p.Len())
	}

	// Idle sessions are forgotten, by the requests' times.
	p.Decode(post("old", `421["chat"]`, ms(0)))
	p.Decode(post("new", "3", t0.Add(decode.PollIdle+time.Minute)))
	if p.Len() != 1 {
		t.Errorf("a session idle for %v: %d sessions; want 1", decode.PollIdle+time.Minute, p.Len())
	}
	if got := latencyOf(t, p, get("old", `431[1]`, t0.Add(decode.PollIdle+time.Minute)), "ack"); got != 0 {
		t.Errorf("ack in a session forgotten for idleness: latency %v; want none", got)
	}

	// At most PollSessionsMax: the one idle the longest goes first.
	p = decode.NewPolling("")
	p.Decode(post("first", `421["chat"]`, ms(0)))
	for i := range decode.PollSessionsMax {
		p.Decode(post(fmt.Sprint("s", i), "3", ms(1+i)))
	}
	if p.Len() != decode.PollSessionsMax {
		t.Errorf("%d sessions; want at most %d", p.Len(), decode.PollSessionsMax)
	}
	if got := latencyOf(t, p, get("first", `431[1]`, ms(5000)), "ack"); got != 0 {
		t.Errorf("ack in the session pushed out: latency %v; want none", got)
	}
}

// FuzzPolling: any body decodes without panicking, and the packets of an
// Engine.IO 4 payload are the body split at its separators.
func FuzzPolling(f *testing.F) {
	f.Add([]byte("40{\"sid\":\"s1\"}\x1e42[\"welcome\",\"hello\",1]"), false, false)
	f.Add([]byte("451-0[\"upload\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA=="), true, false)
	f.Add([]byte("2:40"+"13:42[\"hi\",\"😀\"]"), false, true)
	f.Add([]byte("97:0{"), true, true)
	f.Fuzz(func(t *testing.T, body []byte, cut, v3 bool) {
		eio := "4"
		if v3 {
			eio = "3"
		}
		p := decode.NewPolling("")
		target := "/socket.io/?EIO=" + eio + "&transport=polling&sid=f"
		pks, ok := p.Decode(decode.PollRequest{Method: "GET", Target: target, Status: 200, Response: body, ResponseCut: cut})
		if !ok {
			t.Fatal("not a polling request")
		}
		if !v3 && len(body) > 0 {
			parts := make([][]byte, len(pks))
			for i, pk := range pks {
				parts[i] = pk.Data
			}
			if got := bytes.Join(parts, []byte{0x1e}); !bytes.Equal(got, body) {
				t.Errorf("packets joined = %q; want the body %q", got, body)
			}
		}
		p.Decode(decode.PollRequest{Method: "POST", Target: target, Status: 200, Request: body, RequestCut: cut})
	})
}
