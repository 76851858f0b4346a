package decode_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/trace/decode"

	"github.com/wsgate/wsgate/internal/goldentest"
	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// want is a decoded message a trace must hold: its chain, type and some
// fields ("k=v", space-separated; "k=*" for any value, "latency=*" for a
// latency above zero, "via=polling" or "via=websocket" for a Socket.IO
// packet that came in a long-polling body or in a tunnel's message). The chain is a direction, "up" or "down", and the
// wants of one chain are matched in order. An exchange whose messages
// may come before or after the others of its direction (MQTT's QoS 2
// handshake sent by both peers at once) takes a chain of its own,
// "up/NAME", still matched against that direction's messages.
type want struct{ dir, typ, fields string }

// direction returns the direction of the chain w is in.
func (w want) direction() string {
	dir, _, _ := strings.Cut(w.dir, "/")
	return dir
}

// TestRecorded decodes the traces in testdata/, recorded from the real
// libraries by TestLive -capture: every message must decode, the expected
// ones must be there in order, and the whole output must match the
// golden file (go test -update rewrites it).
func TestRecorded(t *testing.T) {
	for _, tc := range liveCases {
		t.Run(tc.proto, func(t *testing.T) {
			t.Parallel()
			tunnels, items := readTrace(t, filepath.Join("testdata", tc.proto+".trace"))
			got := checkTrace(t, tunnels, items, tc.forced, tc.plain, tc.expect)
			goldentest.Check(t, filepath.Join("testdata", tc.proto+".golden"), got)
		})
	}
}

// checkTrace decodes the messages with one decode.Session per tunnel, as
// decode.For picks it, and the exchanges' polling packets with a
// trace.HTTPDecoder, and checks them against expect. It returns one line
// per message or packet ("poll" before a packet's).
func checkTrace(t *testing.T, tunnels map[uint64]tunnelMeta, items []item, forced, plain string, expect []want) string {
	t.Helper()
	sessions := map[uint64]decode.Session{}
	polling := trace.NewHTTPDecoder(forced)
	var out strings.Builder
	// The expected messages are matched in order in each chain: the two
	// directions, and the chains within one, interleave differently from
	// run to run.
	var chains []string
	for _, w := range expect {
		if !slices.Contains(chains, w.dir) {
			chains = append(chains, w.dir)
		}
	}
	next := map[string]int{}
	nextOf := func(chain string) int {
		for next[chain] < len(expect) && expect[next[chain]].dir != chain {
			next[chain]++
		}
		return next[chain]
	}
	// found matches d, seen in direction dir via polling or websocket,
	// against the next want of the first chain it fits.
	found := func(dir, via string, d decode.Decoded) {
		for _, chain := range chains {
			if i := nextOf(chain); i < len(expect) && matches(dir, via, d, expect[i]) {
				next[chain]++
				break
			}
		}
	}
	for i, it := range items {
		if it.x != nil {
			x := it.x
			pks := polling.Decode(*x)
			if pks == nil && (x.Request.Len > 0 && x.Method == "POST" || x.Response.Len > 0 && x.Method == "GET" && x.Status == 200) {
				t.Errorf("exchange %d (%s %s): no packets", i, x.Method, x.Target)
			}
			for _, pk := range pks {
				if !pk.OK {
					t.Errorf("exchange %d (%s %s): packet %s %q not decoded", i, x.Method, x.Target, pk.Dir, pk.Data)
					fmt.Fprintf(&out, "poll %-4s not decoded\n", pk.Dir)
					continue
				}
				fmt.Fprintf(&out, "poll %-4s %s\n", pk.Dir, line(pk.Decoded))
				found(pk.Dir, "polling", pk.Decoded)
			}
			continue
		}
		m := it.m
		if m.Opcode != tunnel.OpText && m.Opcode != tunnel.OpBinary {
			continue
		}
		s, ok := sessions[m.Tunnel]
		if !ok {
			meta := tunnels[m.Tunnel]
			s, _ = decode.For(meta.Subprotocol, meta.Path, forced)
			if s == nil {
				t.Fatalf("For(%q, %q, %q) = nil", meta.Subprotocol, meta.Path, forced)
			}
			sessions[m.Tunnel] = s
		}
		d, ok := s.Decode(m.Dir.String(), m.Opcode == tunnel.OpText, m.Payload, m.Time)
		isPlain := plain != "" && bytes.HasPrefix(m.Payload, []byte(plain))
		if ok == isPlain {
			t.Errorf("message %d (tunnel %d %s %q): decoded %v, want %v", i, m.Tunnel, m.Dir, m.Payload, ok, !isPlain)
		}
		if !ok {
			fmt.Fprintf(&out, "%d %-4s not decoded\n", m.Tunnel, m.Dir)
			continue
		}
		fmt.Fprintf(&out, "%d %-4s %s\n", m.Tunnel, m.Dir, line(d))
		found(m.Dir.String(), "websocket", d)
	}
	for _, chain := range chains {
		if i := nextOf(chain); i < len(expect) {
			t.Errorf("no message matches %+v (the ones before it in its chain were found); decoded:\n%s", expect[i], out.String())
		}
	}
	return out.String()
}

// line writes d on one line: type, summary, fields and latency.
func line(d decode.Decoded) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s |", d.Protocol, d.Type, d.Summary)
	for _, k := range slices.Sorted(maps.Keys(d.Fields)) {
		fmt.Fprintf(&b, " %s=%q", k, d.Fields[k])
	}
	if d.Latency > 0 {
		fmt.Fprintf(&b, " | latency %v", d.Latency.Round(time.Microsecond))
	}
	return b.String()
}

func matches(dir, via string, d decode.Decoded, w want) bool {
	if dir != w.direction() || d.Type != w.typ {
		return false
	}
	for _, kv := range strings.Fields(w.fields) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "latency":
			if d.Latency <= 0 {
				return false
			}
			continue
		case "via":
			if v != via {
				return false
			}
			continue
		}
		got, ok := d.Fields[k]
		if !ok || (v != "*" && got != v) {
			return false
		}
	}
	return true
}

// readTrace reads a .trace file: "# tunnel ID PATH SUBPROTOCOL" lines,
// then trace.JSONL records, of messages and of exchanges.
func readTrace(t *testing.T, path string) (map[uint64]tunnelMeta, []item) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (TestLive -capture records it)", err)
	}
	tunnels := map[uint64]tunnelMeta{}
	var items []item
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# tunnel "); ok {
			var id uint64
			var meta tunnelMeta
			f := strings.Fields(rest)
			if len(f) < 2 {
				t.Fatalf("%s: bad line %q", path, sc.Text())
			}
			fmt.Sscan(f[0], &id)
			meta.Path = f[1]
			if len(f) > 2 {
				meta.Subprotocol = f[2]
			}
			tunnels[id] = meta
			continue
		}
		var kind struct{ Kind string }
		if err := json.Unmarshal(sc.Bytes(), &kind); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if kind.Kind == "http" {
			var r trace.HTTPRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			items = append(items, item{x: &tunnel.HTTPExchange{Time: r.Time, Duration: time.Duration(r.DurationUS) * time.Microsecond,
				Method: r.Method, Target: r.Target, Status: r.Status, Route: r.Route,
				Request: recordBody(r.Request), Response: recordBody(r.Response)}})
			continue
		}
		var r trace.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		m := tunnel.Message{Tunnel: r.Tunnel, Time: r.Time, Len: r.Len, Truncated: r.Truncated, Payload: r.Base64}
		if r.Text != nil {
			m.Payload = []byte(*r.Text)
		}
		m.Dir = tunnel.Down
		if r.Dir == "up" {
			m.Dir = tunnel.Up
		}
		m.Opcode = map[string]tunnel.Opcode{"text": tunnel.OpText, "binary": tunnel.OpBinary, "close": tunnel.OpClose,
			"ping": tunnel.OpPing, "pong": tunnel.OpPong}[r.Opcode]
		items = append(items, item{m: m})
	}
	return tunnels, items
}

// recordBody is a body read back from a trace.HTTPRecord.
func recordBody(b trace.BodyRecord) tunnel.Body {
	body := tunnel.Body{Data: b.Base64, Len: b.Len, Truncated: b.Truncated, Encoding: b.Encoding}
	if b.Text != nil {
		body.Data = []byte(*b.Text)
	}
	return body
}

// What each exchange of live.js must show, in order.
var (
	socketioWant = []want{
		{"down", "open", "sid=* pingInterval=150"},
		{"up", "connect", "namespace=/"},
		{"down", "event", "event=welcome"},
		{"up", "event", "event=chat ack=*"},
		{"down", "ack", "ack=* latency=*"},
		{"up", "binary_event", "event=upload attachments=1"},
		{"up", "attachment", "remaining=0"},
		{"up", "connect", "namespace=/admin"},
		{"down", "connect_error", "namespace=/admin error=*"},
		{"down", "ping", ""},
		{"up", "pong", "latency=*"},
		{"up", "disconnect", ""},
	}
	// With polling first, the packets that passed in long-polling bodies,
	// then over the websocket after the upgrade (probe, upgrade). An ack
	// the server sends on a long poll may be reported before the POST
	// that carried its event ends, and then has no latency: only the
	// client's ack (sent after the event reached it) must have one.
	socketioPollingWant = []want{
		{"down", "open", "sid=* pingInterval=150 via=polling"},
		{"up", "connect", "namespace=/ via=polling"},
		{"down", "connect", "sid=* via=polling"},
		{"down", "event", "event=welcome via=polling"},
		{"up", "event", "event=chat ack=* via=polling"},
		{"down", "ack", "ack=* via=polling"},
		{"up", "binary_event", "event=upload attachments=1 via=polling"},
		{"up", "attachment", "remaining=0 via=polling"},
		{"down", "event", "event=ask ack=* via=polling"},
		{"up", "ack", "ack=* latency=* via=polling"},
		{"down", "event", "event=answered via=polling"},
		{"up", "ping", "data=probe via=websocket"},
		{"down", "pong", "data=probe via=websocket"},
		{"up", "upgrade", "via=websocket"},
		{"up", "event", "event=chat ack=* via=websocket"},
		{"down", "ack", "latency=* via=websocket"},
		{"down", "ping", "via=websocket"},
		{"up", "pong", "latency=* via=websocket"},
		{"up", "disconnect", "via=websocket"},
	}
	graphqlWant = []want{
		{"up", "connection_init", ""},
		{"down", "connection_ack", ""},
		{"up", "subscribe", "operation=Hello kind=query"},
		{"down", "next", "latency=*"},
		{"down", "complete", ""},
		{"up", "subscribe", "operation=Count kind=subscription"},
		{"down", "next", ""},
		{"down", "next", ""},
		{"up", "subscribe", "kind=query"},
		{"down", "error", "error=*"},
	}
	graphqlLegacyWant = []want{
		{"up", "connection_init", ""},
		{"up", "start", "operation=Hello"},
		{"down", "connection_ack", ""},
		{"down", "ka", ""},
		{"down", "data", "latency=*"},
		{"down", "complete", ""},
		{"up", "start", "kind=subscription"},
		{"down", "data", ""},
		{"up", "connection_terminate", ""},
	}
	stompWant = []want{
		{"up", "connect", "command=CONNECT login=guest"},
		{"down", "connected", "version=1.2 latency=*"},
		{"up", "subscribe", "destination=/topic/chat id=*"},
		{"up", "send", "destination=/topic/chat receipt=r-1 length=11"},
		{"down", "message", "destination=/topic/chat subscription=* message-id=*"},
		{"down", "receipt", "receipt-id=r-1 latency=*"},
		{"up", "ack", ""},
		{"down", "heartbeat", ""},
		{"up", "heartbeat", ""},
		{"down", "error", "error=*"},
		{"up", "disconnect", ""},
	}
	mqttWant = []want{
		{"up", "fragment", "partial=true"},
		{"up", "connect", "client=live-4 version=3.1.1 username=alice keepalive=1"},
		{"down", "connack", "code=0 latency=*"},
		{"up", "subscribe", "topic=sensors/+/temp,alerts/# qos=1,2"},
		{"down", "suback", "codes=1,2 latency=*"},
		{"up", "publish", "topic=sensors/kitchen/temp qos=0 length=4"},
		{"up", "publish", "topic=sensors/hall/temp qos=1 id=*"},
		{"down", "puback", "latency=*"},
		{"up", "publish", "topic=alerts/door qos=2"},
		{"up", "pubrec", "latency=*"},
		{"up/own-qos2", "pubrel", "latency=*"}, // the client's own QoS 2 flow
		{"up", "pubcomp", "latency=*"},         // the broker's, which may finish first
		{"up", "pingreq", ""},
		{"down", "pingresp", "latency=*"},
		{"up", "unsubscribe", "topic=alerts/#"},
		{"down", "unsuback", "latency=*"},
		{"up", "disconnect", ""},
	}
	jsonrpcWant = []want{
		{"up", "request", "method=sum id=1"},
		{"down", "response", "method=sum id=1 latency=*"},
		{"up", "request", "method=fail"},
		{"down", "error", "method=fail code=-32000 latency=*"},
		{"up", "notification", "method=log"},
		{"up", "request", "method=rpc.on"},
		{"down", "error", "code=-32601"},
		{"up", "request", "method=nosuch"},
		{"down", "error", "method=nosuch error=*"},
	}
)
