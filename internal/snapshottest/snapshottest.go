// Package snapshottest holds a tunnel.Snapshot for the tests of what
// formats one (the live view, the status page): tests only.
package snapshottest

import (
	"net/http"
	"time"

	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// Busy is a busy proxy: three routes, three open tunnels, closed
// ones ending in every way the view tells apart (tunnel 4 abnormally, by
// a reset), and failed upgrades of three kinds.
func Busy() (start time.Time, s tunnel.Snapshot) {
	start = time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	now := start.Add(95 * time.Second)
	flow := func(bytes, msgs int64) tunnel.Flow { return tunnel.Flow{Bytes: bytes, Frames: msgs, Messages: msgs} }
	closeFlow := func(bytes, msgs int64, code int, reason string) tunnel.Flow {
		f := flow(bytes, msgs)
		f.CloseCode, f.CloseReason = code, reason
		return f
	}
	s = tunnel.Snapshot{
		Time: now, Open: 3, Total: 7, Failed: 3, Requests: 7, Up: 5 << 20, Down: 1536,
		Routes: []tunnel.RouteInfo{
			{Route: "wsgate.conf:3 /chat/", Open: 2, Total: 5, Up: flow(4<<20+40, 1234), Down: flow(1100, 120)},
			{Route: "--pass 1 /ws/", Open: 1, Total: 1, Up: flow(12, 1), Down: flow(512, 2)},
			{Route: "--demo /", Open: 0, Total: 1, Up: flow(180000, 123456), Down: flow(0, 0)},
		},
		Tunnels: []tunnel.TunnelInfo{
			{ID: 2, Client: "127.0.0.1:53001", Path: "/chat/room-with-a-rather-long-name?token=abcdef", Route: "wsgate.conf:3 /chat/",
				Backend: "ws://127.0.0.1:9001/chat/room-with-a-rather-long-name", Start: start.Add(5 * time.Second),
				Up: flow(4<<20, 1200), Down: flow(1024, 100)},
			{ID: 3, Client: "[::1]:53002", Path: "/ws/", Route: "--pass 1 /ws/", Backend: "wss://backend.example:443/",
				Start: now.Add(-3 * time.Second), Up: flow(12, 1), Down: flow(512, 2)},
			{ID: 6, Client: "192.168.100.200:61234", Path: "/chat/b", Route: "wsgate.conf:3 /chat/", Backend: "ws://127.0.0.1:9001/b",
				Start: now.Add(-61 * time.Minute), Up: flow(40, 34), Down: flow(76, 20)},
		},
		Closed: []tunnel.TunnelInfo{
			{ID: 7, Client: "127.0.0.1:53010", Route: "wsgate.conf:3 /chat/", Backend: "ws://127.0.0.1:9001/c",
				Start: now.Add(-20 * time.Second), End: now.Add(-2 * time.Second), ClosedBy: "backend", CloseFirst: "client",
				Up: closeFlow(30, 2, 1000, "bye"), Down: closeFlow(30, 2, 1000, "bye")},
			{ID: 5, Client: "127.0.0.1:53009", Route: "wsgate.conf:3 /chat/", Backend: "ws://127.0.0.1:9001/d",
				Start: now.Add(-80 * time.Second), End: now.Add(-30 * time.Second), ClosedBy: "backend", CloseFirst: "backend",
				Up: closeFlow(30, 2, 4001, ""), Down: closeFlow(30, 2, 4001, "kicked: \x1b[31mred\x1b[0m")},
			{ID: 4, Client: "127.0.0.1:53008", Route: "--demo /", Backend: "ws://127.0.0.1:40000/",
				Start: now.Add(-90 * time.Second), End: now.Add(-60 * time.Second), ClosedBy: "client",
				Error: "read client: connection reset by peer", Up: flow(180000, 123456)},
			{ID: 1, Client: "127.0.0.1:53000", Route: "wsgate.conf:3 /chat/", Backend: "ws://127.0.0.1:9001/e",
				Start: start, End: start.Add(time.Second), ClosedBy: "idle"},
		},
		Failures: []tunnel.FailureInfo{
			{Time: now.Add(-4 * time.Second), Client: "127.0.0.1:53020", Path: "/chat/x", Status: 503,
				Reason: "backend refused connection",
				Error:  "dial backend ws://127.0.0.1:9001/chat/x: dial tcp 127.0.0.1:9001: connect: connection refused"},
			{Time: now.Add(-50 * time.Second), Client: "[::1]:53015", Path: "/ws/", Status: 403, Reason: "origin not allowed",
				Error: `origin "https://evil.example" is not allowed (WsgateAllowOrigin, --allow-origin)`},
			{Time: now.Add(-70 * time.Second), Client: "127.0.0.1:53012", Path: "/chat/y", Status: 502, Reason: "bad Sec-WebSocket-Accept",
				Error: `backend ws://127.0.0.1:9001/chat/y: answered 101 with Sec-WebSocket-Accept "x", which does not match the client's key`},
		},
	}
	return start, s
}

// Detail is tunnel 2 of Busy seen closely, with tracing on: its
// handshake and its last messages.
func Detail(s tunnel.Snapshot) tunnel.Detail {
	ti := s.Tunnels[0]
	return tunnel.Detail{
		Info: ti, Method: "GET", Target: "/chat/room-with-a-rather-long-name?token=abcdef", Host: "127.0.0.1:9001",
		RequestHeader: http.Header{
			"Sec-Websocket-Key":        {"dGhlIHNhbXBsZSBub25jZQ=="},
			"Sec-Websocket-Version":    {"13"},
			"Sec-Websocket-Protocol":   {"chat.v1, chat.v2"},
			"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
			"Origin":                   {"https://app.example.com"},
			"User-Agent":               {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"},
			"Connection":               {"Upgrade"},
			"Upgrade":                  {"websocket"},
			"X-Forwarded-For":          {"127.0.0.1"},
			"X-Forwarded-Host":         {"127.0.0.1:8080"},
			"X-Forwarded-Server":       {"wsgate.test"},
		},
		Status: 101,
		ResponseHeader: http.Header{
			"Upgrade":                  {"websocket"},
			"Connection":               {"Upgrade"},
			"Sec-Websocket-Accept":     {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
			"Sec-Websocket-Protocol":   {"chat.v2"},
			"Sec-Websocket-Extensions": {"permessage-deflate"},
		},
		Subprotocol: "chat.v2", Extensions: "permessage-deflate",
	}
}

// Messages are tunnel 2's last messages as a trace kept them: text,
// JSON, binary, a cut one, a compressed one, Socket.IO decoded, control
// frames and a close.
func Messages(s tunnel.Snapshot) []trace.Recorded {
	at := func(ms int) time.Time { return s.Time.Add(-time.Second + time.Duration(ms)*time.Millisecond) }
	m := func(ms int, dir tunnel.Direction, op tunnel.Opcode, payload string) tunnel.Message {
		return tunnel.Message{Tunnel: 2, Time: at(ms), Dir: dir, Opcode: op, Len: int64(len(payload)), Payload: []byte(payload)}
	}
	long := m(500, tunnel.Up, tunnel.OpText, "a long message, cut after sixty-four bytes as the trace keeps i")
	long.Len, long.Truncated = 203, true
	deflated := m(520, tunnel.Down, tunnel.OpText, `{"user":"alice","text":"hello hello hello hello"}`)
	deflated.Compressed, deflated.Inflated, deflated.WireLen = true, true, 31
	closing := m(900, tunnel.Down, tunnel.OpClose, "")
	closing.Len, closing.CloseCode, closing.CloseReason = 10, 1011, "overload"
	return []trace.Recorded{
		{Message: m(0, tunnel.Up, tunnel.OpText, "hello")},
		{Message: m(2, tunnel.Down, tunnel.OpText, "hello, alice")},
		{Message: m(300, tunnel.Down, tunnel.OpBinary, "\x00\x01\xfe\xff")},
		{Message: long},
		{Message: deflated},
		{Message: m(600, tunnel.Up, tunnel.OpText, `42["chat",{"room":"r1","text":"hi"}]`),
			Decoded: &decode.Decoded{Protocol: "socketio", Type: "event", Summary: `chat {"room":"r1","text":"hi"}`,
				Fields: map[string]string{"event": "chat", "namespace": "/"}}},
		{Message: m(700, tunnel.Down, tunnel.OpPing, "")},
		{Message: m(701, tunnel.Up, tunnel.OpPong, "")},
		{Message: closing},
	}
}
