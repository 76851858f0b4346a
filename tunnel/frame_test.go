package tunnel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/wsproto"
)

// frame builds one WebSocket frame; mask nil means unmasked.
func frame(fin bool, rsv1 bool, op Opcode, mask []byte, payload []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	var b1 byte
	if mask != nil {
		b1 = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, b1|byte(n))
	case n <= 0xffff:
		out = append(out, b1|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, b1|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if mask == nil {
		return append(out, payload...)
	}
	out = append(out, mask...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

// recorder collects the Messages a tunnel reports.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) on(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%s %s %d %q", m.Dir, m.Opcode, m.Len, m.Payload)
	if m.Truncated {
		s += " truncated"
	}
	if m.Compressed {
		s += " deflated"
	}
	if m.Opcode == OpClose {
		s = fmt.Sprintf("%s close %d %q", m.Dir, m.CloseCode, m.CloseReason)
	}
	r.msgs = append(r.msgs, s)
}

func TestFrameReader(t *testing.T) {
	t.Parallel()
	mask := []byte{1, 2, 3, 4}
	big := bytes.Repeat([]byte("x"), 70000) // a 64-bit length header
	stream := bytes.Join([][]byte{
		frame(true, false, OpText, mask, []byte("hello")),
		frame(false, false, OpBinary, mask, []byte{0, 1}),
		frame(true, false, OpPing, mask, []byte("p")), // control frame between fragments
		frame(false, false, OpContinuation, mask, []byte{2}),
		frame(true, false, OpContinuation, mask, nil),
		frame(true, true, OpText, mask, []byte("zz")), // RSV1: permessage-deflate
		frame(true, false, OpBinary, mask, big),
		frame(true, false, OpPong, mask, nil),
		frame(true, false, OpClose, mask, wsproto.ClosePayload(4000, "bye")),
	}, nil)
	want := []string{
		`up text 5 "hello"`,
		`up ping 1 "p"`,
		`up binary 3 "\x00\x01\x02"`,
		`up text 2 "zz" deflated`,
		`up binary 70000 "xxxxxxxx" truncated`,
		`up pong 0 ""`,
		`up close 4000 "bye"`,
	}
	for _, chunk := range []int{1, 3, 7, 64, len(stream)} {
		t.Run(fmt.Sprintf("chunks of %d", chunk), func(t *testing.T) {
			var rec recorder
			tun := &Tunnel{ID: 1}
			tun.watch(true, rec.on, 8)
			for p := stream; len(p) > 0; p = p[min(chunk, len(p)):] {
				tun.frames[Up].feed(p[:min(chunk, len(p))])
			}
			if got := strings.Join(rec.msgs, "\n"); got != strings.Join(want, "\n") {
				t.Errorf("messages:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
			f := tun.flows[Up].snapshot()
			wantFlow := Flow{Frames: 9, Messages: 4, Compressed: 1, Pings: 1, Pongs: 1, CloseCode: 4000, CloseReason: "bye"}
			if f != wantFlow {
				t.Errorf("flow = %+v; want %+v", f, wantFlow)
			}
			if tun.info().CloseFirst != "client" {
				t.Errorf("CloseFirst = %q; want client", tun.info().CloseFirst)
			}
		})
	}
}

func TestFrameReaderGoesRaw(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		stream []byte
		frames int64
	}{
		{"HTTP, not frames", []byte("GET / HTTP/1.1\r\n\r\n"), 0},
		{"reserved opcode", frame(true, false, 3, nil, []byte("x")), 0},
		{"RSV2", []byte{0x80 | 0x20 | 1, 0}, 0},
		{"fragmented control frame", frame(false, false, OpPing, nil, nil), 0},
		{"control frame over 125 bytes", frame(true, false, OpPing, nil, make([]byte, 126)), 0},
		{"continuation without a message", frame(true, false, OpContinuation, nil, []byte("x")), 0},
		{"new message inside a fragmented one", append(frame(false, false, OpText, nil, []byte("a")), frame(true, false, OpText, nil, []byte("b"))...), 1},
		{"64-bit length with the top bit set", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tun := &Tunnel{}
			tun.watch(true, nil, 0)
			tun.frames[Down].feed(tc.stream)
			tun.frames[Down].feed(frame(true, false, OpText, nil, []byte("after")))
			if f := tun.flows[Down].snapshot(); !f.Raw || f.Frames != tc.frames || f.Messages != 0 {
				t.Errorf("flow = %+v; want raw after %d frames and no message counted", f, tc.frames)
			}
		})
	}
}

// FuzzFrameReader feeds arbitrary bytes, whole and in pieces: the reader
// must never panic, and how the bytes were split must not change a count.
func FuzzFrameReader(f *testing.F) {
	f.Add(frame(true, false, OpText, []byte{1, 2, 3, 4}, []byte("hello")), uint8(3))
	f.Add(append(frame(false, false, OpBinary, nil, []byte{0}), frame(true, false, OpContinuation, nil, []byte{1})...), uint8(1))
	f.Add(frame(true, false, OpClose, nil, wsproto.ClosePayload(1000, "")), uint8(2))
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole, pieces := &Tunnel{}, &Tunnel{}
		whole.watch(true, func(Message) {}, 16)
		pieces.watch(true, func(Message) {}, 16)
		whole.frames[Up].feed(stream)
		step := int(chunk%16) + 1
		for p := stream; len(p) > 0; p = p[min(step, len(p)):] {
			pieces.frames[Up].feed(p[:min(step, len(p))])
		}
		if a, b := whole.flows[Up].snapshot(), pieces.flows[Up].snapshot(); a != b {
			t.Fatalf("whole = %+v; in pieces of %d = %+v", a, step, b)
		}
	})
}

func TestFrameCountsThroughProxy(t *testing.T) {
	t.Parallel()
	proxy, srv := startProxy(t, "/ ws://"+startEcho(t)+"/")
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/")
	for i := range 3 {
		if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(4001, "done here"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitOpen(t, srv, 0)
	s := srv.Snapshot()
	if len(s.Closed) != 1 {
		t.Fatalf("Snapshot.Closed has %d tunnels; want 1", len(s.Closed))
	}
	ti := s.Closed[0]
	if ti.Up.Messages != 3 || ti.Down.Messages != 3 || ti.Up.CloseCode != 4001 || ti.Up.CloseReason != "done here" ||
		ti.Down.CloseCode != 4001 || ti.CloseFirst != "client" {
		t.Errorf("closed tunnel = up %+v, down %+v, close first %q; want 3 messages each way, 4001 from both, client first",
			ti.Up, ti.Down, ti.CloseFirst)
	}
	if len(s.Routes) != 1 || s.Routes[0].Total != 1 || s.Routes[0].Up.Messages != 3 || s.Routes[0].Open != 0 {
		t.Errorf("Routes = %+v; want one route with 1 tunnel and 3 messages up", s.Routes)
	}
}

func TestStripCompression(t *testing.T) {
	t.Parallel()
	table := flagTable(t, "/ ws://127.0.0.1:1/")
	srv := New(Config{Table: table, StripCompression: true})
	cases := []struct{ offered, want string }{
		{"permessage-deflate; client_max_window_bits", ""},
		{"x-custom, permessage-deflate", "x-custom"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Sec-WebSocket-Extensions", tc.offered)
		m, err := table.Match(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := srv.upgradeRequest(r, m, "websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, l := range strings.Split(string(b), "\r\n") {
			if v, ok := strings.CutPrefix(l, "Sec-WebSocket-Extensions: "); ok {
				got = v
			}
		}
		if got != tc.want {
			t.Errorf("offered %q: backend would get %q; want %q", tc.offered, got, tc.want)
		}
	}
}

func TestCompressedMessagesCounted(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if c.Write(r.Context(), typ, p) != nil {
				return
			}
		}
	}))
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	ctx := testContext(t)
	c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/", &websocket.DialOptions{
		CompressionMode: websocket.CompressionContextTakeover, CompressionThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	msg := strings.Repeat("compress me ", 100)
	for range 2 {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
			t.Fatalf("echo = %d bytes, %v", len(got), err)
		}
	}
	ti := srv.Snapshot().Tunnels[0]
	if ti.Up.Messages != 2 || ti.Up.Compressed != 2 || ti.Down.Compressed != 2 || ti.Up.Raw {
		t.Errorf("flows = up %+v, down %+v; want 2 compressed messages each way", ti.Up, ti.Down)
	}
	if ti.Up.Bytes >= int64(2*len(msg)) {
		t.Errorf("%d bytes went up for 2 messages of %d: they were not compressed on the wire", ti.Up.Bytes, len(msg))
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// TestUnmaskSplit checks that a payload unmasked in pieces of every size,
// from every position of the mask, comes out as one byte loop would have
// it: maskAt turns the key for the piece's start.
func TestUnmaskSplit(t *testing.T) {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	src := make([]byte, 101)
	for i := range src {
		src[i] = byte(i * 31)
	}
	want := make([]byte, len(src))
	for i := range src {
		want[i] = src[i] ^ mask[i&3]
	}
	for piece := 1; piece <= len(src); piece++ {
		r := &frameReader{masked: true, mask: mask}
		got := make([]byte, len(src))
		for at := 0; at < len(src); at += piece {
			end := min(at+piece, len(src))
			if n := r.unmask(got[at:end], src[at:end]); n != end-at {
				t.Fatalf("piece %d at %d: unmasked %d bytes; want %d", piece, at, n, end-at)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("in pieces of %d: %x; want %x", piece, got, want)
		}
	}
}
