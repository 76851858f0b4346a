package tunnel

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/eventually"
)

// relayGoroutines counts the goroutines running a tunnel direction.
func relayGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("tunnel.(*Tunnel).loop("))
}

// TestIdleTunnelsHoldNoGoroutine: with nothing to relay, a tunnel's
// directions wait in the parker, not in goroutines, and wake when bytes
// come, in either direction, as often as they come; closing a parked
// tunnel ends it.
func TestIdleTunnelsHoldNoGoroutine(t *testing.T) {
	linuxPathOnly(t)
	echoAddr := startEcho(t)
	proxy, srv := startProxy(t, "/ ws://"+echoAddr+"/")
	const n = 20
	var conns []io.ReadWriteCloser
	for range n {
		c, br, resp := rawUpgrade(t, proxy, "/", "", "")
		if resp.StatusCode != 101 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		conns = append(conns, struct {
			io.Reader
			io.WriteCloser
		}{br, c})
	}
	waitOpen(t, srv, n)
	waitRelays(t, 0)
	for round := range 3 {
		for i, c := range conns {
			msg := strings.Repeat("x", 10+round+i)
			if _, err := c.Write(frame(true, false, OpText, []byte{1, 2, 3, 4}, []byte(msg))); err != nil {
				t.Fatal(err)
			}
			want := frame(true, false, OpText, nil, []byte(msg))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round %d tunnel %d: echo %q, %v; want %q", round, i, got, err, want)
			}
		}
		waitRelays(t, 0)
	}
	for _, c := range conns[:n/2] {
		c.Close()
	}
	waitOpen(t, srv, n-n/2)
	waitRelays(t, 0)
}

func waitRelays(t *testing.T, want int) {
	t.Helper()
	eventually.True(t, 5*time.Second, func() bool { return relayGoroutines() == want },
		func() string { return fmt.Sprintf("%d relay goroutines; want %d", relayGoroutines(), want) })
}
