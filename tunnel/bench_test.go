package tunnel

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// BenchmarkRelay measures bytes through one tunnel: 64 KiB written by the
// client, echoed by a raw backend, read back. allocs/op counts every
// goroutine's allocations, so 0 means the relay allocates nothing per read.
func BenchmarkRelay(b *testing.B) {
	t := b
	backend := rawBackend(t, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		io.WriteString(c, switchHead("websocket", acceptKey(r.Header.Get("Sec-WebSocket-Key"))))
		io.Copy(c, br)
	})
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	c, br, resp := rawUpgrade(t, proxy, "/", "", "")
	if resp.StatusCode != 101 {
		b.Fatalf("status = %d", resp.StatusCode)
	}
	c.SetDeadline(time.Time{})
	msg := make([]byte, 64<<10)
	got := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	}()
	for range b.N {
		if _, err := io.ReadFull(br, got); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	waitOpen(t, srv, 0)
}
