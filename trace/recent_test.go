package trace

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// TestRecent checks what a tunnel keeps for a view: its last messages,
// oldest first, each with a payload of its own cut at recentPayload, and
// nothing once it has closed or when KeepRecent is off.
func TestRecent(t *testing.T) {
	ts := &Tunnels{KeepRecent: true}
	ts.Tunnel(tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 7, Route: "--pass 1 /", Start: t0}})
	if got, ok := ts.Recent(7); !ok || len(got) != 0 {
		t.Fatalf("before any message: %v, %v; want none, true", got, ok)
	}
	buf := make([]byte, 3*recentPayload)
	n := recentMessages + 5
	for i := range n {
		p := fmt.Appendf(buf[:0], "m%d", i)
		if i == n-1 {
			p = append(p, bytes.Repeat([]byte("x"), 2*recentPayload)...)
		}
		var d *decode.Decoded
		if i%2 == 0 {
			d = &decode.Decoded{Protocol: "jsonrpc", Type: "request", Fields: map[string]string{"method": fmt.Sprint(i)}}
		}
		ts.Keep(tunnel.Message{Tunnel: 7, Time: t0, Dir: tunnel.Up, Opcode: tunnel.OpText, Len: int64(len(p)), Payload: p}, d)
		// The caller's buffer is reused for the next message, as the
		// frame reader's is.
		copy(buf, "zzzz")
	}
	ts.Keep(tunnel.Message{Tunnel: 8, Payload: []byte("another tunnel's")}, nil)

	got, ok := ts.Recent(7)
	if !ok || len(got) != recentMessages {
		t.Fatalf("%d messages kept (%v); want %d", len(got), ok, recentMessages)
	}
	for i, r := range got[:len(got)-1] {
		k := n - recentMessages + i
		if want := fmt.Sprintf("m%d", k); string(r.Payload) != want {
			t.Errorf("message %d: %q; want %q", i, r.Payload, want)
		}
		if (r.Decoded != nil) != (k%2 == 0) || r.Decoded != nil && r.Decoded.Fields["method"] != fmt.Sprint(k) {
			t.Errorf("message %d: decoded %+v; want the decoding of m%d", i, r.Decoded, k)
		}
	}
	last := got[len(got)-1]
	if len(last.Payload) != recentPayload || !last.Truncated || last.Len != int64(len(fmt.Sprint("m", n-1)))+2*recentPayload {
		t.Errorf("the long message: %d bytes of %d, truncated %v; want %d, truncated", len(last.Payload), last.Len, last.Truncated, recentPayload)
	}
	// What Recent returns is the caller's.
	got[0].Payload[0] = '!'
	if again, _ := ts.Recent(7); again[0].Payload[0] != 'm' {
		t.Errorf("a caller's change reached the kept message: %q", again[0].Payload)
	}

	ts.Tunnel(tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 7}, Closed: true})
	if got, ok := ts.Recent(7); ok || got != nil {
		t.Errorf("a closed tunnel: %d messages, %v; want none, false", len(got), ok)
	}
	off := &Tunnels{}
	off.Tunnel(tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 1, Start: t0}})
	off.Keep(tunnel.Message{Tunnel: 1, Payload: []byte("x")}, nil)
	if got, ok := off.Recent(1); ok || got != nil {
		t.Errorf("KeepRecent off: %d messages, %v; want none, false", len(got), ok)
	}
}
