package wsclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/wsproto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestEchoEverySize(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(echo.Handler(echo.Options{}))
	defer srv.Close()
	ctx := testContext(t)
	c, err := Dial(ctx, wsURL(srv)+"/x?y=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	buf := make([]byte, 1100<<10)
	// The length encodings' edges (7, 16 and 64 bits), and a message over
	// 1 MiB, which the echo streams back in fragments.
	for _, size := range []int{0, 1, 7, 8, 125, 126, 127, 65535, 65536, 65537, 300 << 10, 1100 << 10} {
		for _, op := range []Opcode{Binary, Text} {
			p := bytes.Repeat([]byte("abcdefghi"), size/9+1)[:size]
			if err := c.WriteMessage(op, p); err != nil {
				t.Fatalf("write %d bytes: %v", size, err)
			}
			gotOp, n, err := c.ReadMessage(buf)
			if err != nil {
				t.Fatalf("read %d bytes: %v", size, err)
			}
			if gotOp != op || !bytes.Equal(buf[:n], p) {
				t.Fatalf("echo of %d bytes, opcode %d: got %d bytes, opcode %d", size, op, n, gotOp)
			}
		}
	}
	if err := c.Close(1000); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// coderServer is a coder/websocket server that runs serve on each
// connection it accepts.
func coderServer(t *testing.T, serve func(ctx context.Context, s *websocket.Conn)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer s.CloseNow()
		serve(r.Context(), s)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWriteNoise checks that the server reads the wire bytes XOR one key
// per frame, a different key each time, in one binary message.
func TestWriteNoise(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 2)
	srv := coderServer(t, func(ctx context.Context, s *websocket.Conn) {
		s.SetReadLimit(1 << 20)
		for range 2 {
			typ, b, err := s.Read(ctx)
			if err != nil || typ != websocket.MessageBinary {
				b = nil
			}
			got <- b
		}
	})
	c, err := Dial(testContext(t), wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	r := rand.New(rand.NewPCG(3, 4))
	wire := make([]byte, 70000) // a 64-bit length
	for i := range wire {
		wire[i] = byte(r.Uint32())
	}
	for range 2 {
		if err := c.WriteNoise(wire); err != nil {
			t.Fatal(err)
		}
	}
	var keys [2][4]byte
	for f := range keys {
		b := <-got
		if len(b) != len(wire) {
			t.Fatalf("frame %d: server read %d bytes of a binary message; want %d", f, len(b), len(wire))
		}
		k := &keys[f]
		for i := range k {
			k[i] = b[i] ^ wire[i]
		}
		for i := range b {
			if b[i]^wire[i] != k[i%4] {
				t.Fatalf("frame %d: byte %d is not the wire byte XOR the key %x", f, i, *k)
			}
		}
	}
	if keys[0] == keys[1] {
		t.Errorf("both frames were masked with key %x; want a fresh key per frame", keys[0])
	}
}

// TestServerFrames checks what a server may send unasked: a ping, which
// must be answered with a pong, and a close with a code and a reason.
func TestServerFrames(t *testing.T) {
	t.Parallel()
	gotClose := make(chan websocket.StatusCode, 1)
	srv := coderServer(t, func(ctx context.Context, s *websocket.Conn) {
		read := make(chan error, 1)
		go func() {
			_, _, err := s.Read(ctx)
			read <- err
		}()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.Ping(pctx); err != nil {
			s.Write(ctx, websocket.MessageText, []byte("no pong: "+err.Error()))
		} else {
			s.Write(ctx, websocket.MessageText, []byte("pong seen"))
		}
		s.Close(4001, "bye")
		gotClose <- websocket.CloseStatus(<-read)
	})
	ctx := testContext(t)
	c, err := Dial(ctx, wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	buf := make([]byte, 100)
	op, n, err := c.ReadMessage(buf)
	if err != nil || op != Text || string(buf[:n]) != "pong seen" {
		t.Fatalf("ReadMessage = %d %q %v; want text \"pong seen\"", op, buf[:n], err)
	}
	_, _, err = c.ReadMessage(buf)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye" {
		t.Fatalf("ReadMessage after the server's close: %v; want a CloseError 4001 bye", err)
	}
	// The client answered the close with the same code.
	if code := <-gotClose; code != 4001 {
		t.Fatalf("server saw close code %d; want the 4001 echoed", code)
	}
	if err := c.Close(1000); err != nil {
		t.Fatalf("Close after the server's close: %v", err)
	}
}

// TestCloseHandshake checks that Close sends its code and waits for the
// server's answer, skipping a message still on its way.
func TestCloseHandshake(t *testing.T) {
	t.Parallel()
	gotClose := make(chan websocket.StatusCode, 1)
	srv := coderServer(t, func(ctx context.Context, s *websocket.Conn) {
		s.Write(ctx, websocket.MessageBinary, make([]byte, 100<<10))
		_, _, err := s.Read(ctx)
		gotClose <- websocket.CloseStatus(err)
	})
	c, err := Dial(testContext(t), wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(1001); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if code := <-gotClose; code != 1001 {
		t.Fatalf("server saw close code %d; want 1001", code)
	}
}

func TestTooLong(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(echo.Handler(echo.Options{}))
	defer srv.Close()
	c, err := Dial(testContext(t), wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.WriteMessage(Binary, make([]byte, 11)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(make([]byte, 10)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("ReadMessage of 11 bytes into 10: %v; want ErrTooLong", err)
	}
}

func TestHandshakeRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	_, err := Dial(testContext(t), wsURL(srv), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != "403 Forbidden" {
		t.Fatalf("Dial to a server answering 403: %v; want a StatusError 403 Forbidden", err)
	}
}

// rawServer answers each connection's request with answer(key), then
// reads until the client closes.
func rawServer(t *testing.T, answer func(key string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(nc))
			if err == nil {
				io.WriteString(nc, answer(req.Header.Get("Sec-WebSocket-Key")))
				io.Copy(io.Discard, nc) // until the client closes
			}
			nc.Close()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func TestHandshakeChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, answer, want string
	}{
		{"wrong accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xyz\r\n\r\n", "Sec-WebSocket-Accept"},
		{"other protocol", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "not websocket"},
		{"no connection header", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", "Connection: upgrade"},
		{"not http", "SSH-2.0-OpenSSH\r\n", "malformed HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := rawServer(t, func(key string) string {
				return strings.ReplaceAll(tc.answer, "{accept}", wsproto.AcceptKey(key))
			})
			_, err := Dial(testContext(t), u, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial: %v; want an error about %q", err, tc.want)
			}
		})
	}
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	u := rawServer(t, func(string) string { return "" }) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, u, nil)
	if err == nil {
		t.Fatal("Dial to a server that never answers succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial returned after %v; want about the 100 ms of its context", d)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(echo.Handler(echo.Options{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := Dial(testContext(t), "wss"+strings.TrimPrefix(srv.URL, "https"), &Options{TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.WriteMessage(Text, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, n, err := c.ReadMessage(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("ReadMessage over TLS = %q, %v; want \"hi\"", buf[:n], err)
	}
	// Without the CA the certificate is refused.
	if _, err := Dial(testContext(t), "wss"+strings.TrimPrefix(srv.URL, "https"), nil); err == nil {
		t.Fatal("Dial accepted a certificate from an unknown CA")
	}
}

// TestNoAllocations is the generator's promise: a message sent or received
// allocates nothing.
func TestNoAllocations(t *testing.T) {
	const runs = 100
	frames := bytes.Repeat(append([]byte{0x82, 126, 0x10, 0}, make([]byte, 4096)...), runs+1)
	u := rawServer(t, func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			wsproto.AcceptKey(key) + "\r\n\r\n" + string(frames)
	})
	c, err := Dial(testContext(t), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	buf := make([]byte, 8192)
	if got := testing.AllocsPerRun(runs, func() {
		if _, n, err := c.ReadMessage(buf); err != nil || n != 4096 {
			t.Fatalf("ReadMessage = %d, %v", n, err)
		}
	}); got != 0 {
		t.Errorf("ReadMessage: %v allocations per message; want 0", got)
	}
	p := make([]byte, 4096)
	if got := testing.AllocsPerRun(runs, func() {
		if err := c.WriteMessage(Binary, p); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("WriteMessage: %v allocations per message; want 0", got)
	}
	if got := testing.AllocsPerRun(runs, func() {
		if err := c.WriteNoise(p); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("WriteNoise: %v allocations per message; want 0", got)
	}
}

func BenchmarkMask64KiB(b *testing.B) {
	src := make([]byte, 64<<10)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		wsproto.Mask(dst, src, 0x12345678)
	}
}
