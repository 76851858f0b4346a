package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/wsproto"
)

// frames64K is about 64 KiB of whole masked binary frames of the given
// payload size, so that it can be sent again and again.
func frames64K(size int) []byte {
	var b bytes.Buffer
	payload := make([]byte, size)
	for b.Len() < 64<<10 {
		b.Write(frame(true, false, OpBinary, []byte{1, 2, 3, 4}, payload))
	}
	return b.Bytes()
}

// BenchmarkRelay measures bytes through one tunnel: 64 KiB written by the
// client, echoed by a raw backend, read back. allocs/op counts every
// goroutine's allocations, so 0 means the relay allocates nothing per read.
// "frames=N" relays WebSocket frames of N payload bytes, read by the frame
// reader on both hops; "raw" tunnels upgrade=foo, whose bytes are not
// parsed: the difference is what the frame-aware statistics cost.
func BenchmarkRelay(b *testing.B) {
	for _, bc := range []struct {
		name  string
		proto string
		data  []byte
	}{
		{"raw", "foo", frames64K(64 << 10)},
		{"frames=64KiB", "websocket", frames64K(64 << 10)},
		{"frames=1KiB", "websocket", frames64K(1 << 10)},
		{"frames=64B", "websocket", frames64K(64)},
	} {
		b.Run(bc.name, func(b *testing.B) { benchRelay(b, bc.proto, bc.data) })
	}
}

func benchRelay(b *testing.B, proto string, msg []byte) {
	backend := rawBackend(b, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		io.WriteString(c, switchHead(proto, wsproto.AcceptKey(r.Header.Get("Sec-WebSocket-Key"))))
		io.Copy(c, br)
	})
	proxy, srv := startProxy(b, "/ ws://"+backend+"/ upgrade="+proto)
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: %s\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n\r\n", proto, testKey)
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		b.Fatalf("handshake: %v %v", resp, err)
	}
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
	if s := srv.Snapshot(); proto == "websocket" && (s.Tunnels[0].Up.Raw || s.Tunnels[0].Down.Raw) {
		b.Fatal("the frame reader gave up on valid frames")
	}
	c.Close()
	waitOpen(b, srv, 0)
}

// BenchmarkFrameReader is the parser alone: 64 KiB of frames per op.
func BenchmarkFrameReader(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 10, 64} {
		b.Run(fmt.Sprintf("frames=%d", size), func(b *testing.B) {
			data := frames64K(size)
			t := &Tunnel{}
			t.watch(true, nil, 0)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				t.frames[Up].feed(data)
			}
			if t.flows[Up].raw.Load() {
				b.Fatal("the reader gave up on valid frames")
			}
		})
	}
}

// BenchmarkHandshake is connect + upgrade + one echo + close, one after
// another, direct to the echo backend and through the proxy: what a
// tunnel's setup costs.
func BenchmarkHandshake(b *testing.B) {
	echoAddr := startEcho(b)
	proxy, _ := startProxy(b, "/ ws://"+echoAddr+"/")
	for _, bc := range []struct{ name, addr string }{{"direct", echoAddr}, {"proxy", proxy}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			msg := []byte("hi")
			b.ReportAllocs()
			for b.Loop() {
				c, _, err := websocket.Dial(ctx, "ws://"+bc.addr+"/", nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
				c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
}
