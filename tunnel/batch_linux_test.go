package tunnel

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// TestSlowFrameNotHeld: the relay waits for the rest of a big frame only
// for batchWait. A client sends a 64 KiB frame in 1 KiB pieces and waits
// for each to be echoed before sending the next. The second piece sets the
// mark (rawReader.batch); the third comes back at once all the same (the read
// deadline, a second, would be too late), and the stalled frame leaves the
// socket waking for any byte.
func TestSlowFrameNotHeld(t *testing.T) {
	linuxPathOnly(t)
	t.Run("parked when idle", func(t *testing.T) { slowFrameNotHeld(t) })
	// With an idle timeout the read deadline is the timeout's, which the
	// batch deadline must give back.
	t.Run("idle timeout", func(t *testing.T) {
		slowFrameNotHeld(t, func(tb *rules.Table) { tb.Timeout = 10 * time.Second })
	})
}

func slowFrameNotHeld(t *testing.T, configure ...func(*rules.Table)) {
	c, br, srv := rawEchoTunnel(t, configure...)
	f, first := bigFrame()
	got := make([]byte, len(f))
	sent := 0
	for i, end := range []int{len(first), len(first) + 1024, len(first) + 2048} {
		if _, err := c.Write(f[sent:end]); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := io.ReadFull(br, got[sent:end]); err != nil {
			t.Fatalf("piece %d of a frame was held back while the sender waited: %v", i+1, err)
		}
		sent = end
	}
	if !bytes.Equal(got[:sent], f[:sent]) {
		t.Fatal("the first part of the frame came back changed")
	}
	time.Sleep(50 * time.Millisecond)
	if n := clientLowat(t, srv); n != 1 {
		t.Errorf("SO_RCVLOWAT on the stalled client socket = %d; want 1 (wake for any byte)", n)
	}

	if _, err := c.Write(f[sent:]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(br, got[sent:]); err != nil {
		t.Fatalf("the rest of the frame: %v", err)
	}
	if !bytes.Equal(got, f) {
		t.Fatal("the frame came back changed")
	}
	c.Close()
	waitOpen(t, srv, 0)
}

// TestBigFrameBatched: once a big frame has come in two pieces, the relay
// sleeps until the kernel holds the rest of it (SO_RCVLOWAT), and the rest
// then wakes it. After the first piece alone it sets no mark: a sender
// that writes the rest in one go would gain nothing from it. batchWait is
// made long so that only the mark can wake the relay.
func TestBigFrameBatched(t *testing.T) {
	linuxPathOnly(t)
	defer func(w time.Duration) { batchWait = w }(batchWait)
	batchWait = time.Hour
	c, br, srv := rawEchoTunnel(t)
	f, first := bigFrame()
	got := make([]byte, len(f))
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, got[:len(first)]); err != nil {
		t.Fatalf("the first piece of the frame: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // the relay may set a mark after the echo
	if n := clientLowat(t, srv); n != 1 {
		t.Errorf("SO_RCVLOWAT after the first piece of a frame = %d; want 1", n)
	}
	second := len(first) + 1024
	if _, err := c.Write(f[len(first):second]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, got[len(first):second]); err != nil {
		t.Fatalf("the second piece of the frame: %v", err)
	}
	want := len(f) - second
	if n := waitLowat(t, srv, func(n int) bool { return n > 1 }); n <= 1 || n > want {
		t.Errorf("SO_RCVLOWAT while %d bytes of the frame are owed = %d; want more than 1, at most %d", want, n, want)
	}
	start := time.Now()
	if _, err := c.Write(f[second:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, got[second:]); err != nil {
		t.Fatalf("the rest of the frame: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the rest of the frame took %v; want the low-water mark to wake the relay at once", d)
	}
	if !bytes.Equal(got, f) {
		t.Fatal("the frame came back changed")
	}
	if n := waitLowat(t, srv, func(n int) bool { return n == 1 }); n != 1 {
		t.Errorf("SO_RCVLOWAT between frames = %d; want 1", n)
	}
	c.Close()
	waitOpen(t, srv, 0)
}

// bigFrame is a masked 64 KiB frame and its first part: the header (14
// bytes) and a little over 1 KB of payload.
func bigFrame() (f, first []byte) {
	payload := make([]byte, 64<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	f = frame(true, false, OpBinary, []byte{1, 2, 3, 4}, payload)
	return f, f[:2+2+4+1024]
}

// clientLowat reads SO_RCVLOWAT on the proxy's socket to the client of
// its only tunnel.
func clientLowat(t *testing.T, srv *Server) int {
	t.Helper()
	var n int
	var err error
	cerr := rawConn(clientConn(t, srv)).Control(func(fd uintptr) {
		n, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	})
	if err = errors.Join(cerr, err); err != nil {
		t.Fatal(err)
	}
	// Linux 6.18 reports 0 for an accepted socket until the mark is set.
	// The kernel reads 0 as 1 (sock_rcvlowat), so report it as such.
	return max(n, 1)
}

// clientConn is the proxy's socket to the client of its only tunnel.
func clientConn(t *testing.T, srv *Server) net.Conn {
	t.Helper()
	srv.reg.mu.Lock()
	var tun *Tunnel
	for x := range srv.reg.live {
		tun = x
	}
	open := len(srv.reg.live)
	srv.reg.mu.Unlock()
	if open != 1 {
		t.Fatalf("%d tunnels open; want 1", open)
	}
	tun.mu.Lock()
	defer tun.mu.Unlock()
	return tun.client
}

// waitLowat reads clientLowat until ok accepts it, for a second at most,
// and returns the last value read.
func waitLowat(t *testing.T, srv *Server, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		n := clientLowat(t, srv)
		if ok(n) || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFramesOfEverySize sends frames from empty to 300 KiB, written in
// pieces of random size with short pauses, and checks that the echo is
// the same bytes and that the frame reader counted every frame: batching
// by frame must never lose its place or hold a byte.
func TestFramesOfEverySize(t *testing.T) {
	c, br, srv := rawEchoTunnel(t)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rng := rand.New(rand.NewPCG(1, 2))
	var sent bytes.Buffer
	frames := 0
	for _, size := range []int{0, 1, 125, 126, 4095, 4096, 4097, 65535, 65536, 65537, 300 << 10} {
		for range 3 {
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			sent.Write(frame(true, false, OpBinary, []byte{9, 8, 7, 6}, p))
			frames++
		}
	}
	data := sent.Bytes()
	done := make(chan error, 1)
	go func() {
		got := make([]byte, len(data))
		_, err := io.ReadFull(br, got)
		if err == nil && !bytes.Equal(got, data) {
			err = errDiffer
		}
		done <- err
	}()
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(40<<10))
		if _, err := c.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("echo: %v", err)
	}
	s := srv.Snapshot().Tunnels[0]
	if s.Up.Frames != int64(frames) || s.Down.Frames != int64(frames) || s.Up.Raw || s.Down.Raw {
		t.Errorf("frames up %d, down %d (raw %v, %v); want %d each way", s.Up.Frames, s.Down.Frames, s.Up.Raw, s.Down.Raw, frames)
	}
	c.Close()
	waitOpen(t, srv, 0)
}

var errDiffer = errors.New("the echoed bytes differ from those sent")

// TestNoMarkWithoutRoom: on a socket whose receive buffer is too small
// for a mark (lowatCap), the relay never sets one. It used to pass the
// "unsupported" cap, -1, to the kernel, which reads a negative mark as
// the largest there is, and the rest of a slow frame waited for batchWait.
func TestNoMarkWithoutRoom(t *testing.T) {
	linuxPathOnly(t)
	defer func(w time.Duration) { batchWait = w }(batchWait)
	batchWait = time.Hour
	c, br, srv := rawEchoTunnel(t)
	// Linux doubles it, and a quarter of 8 KiB is under minBatch.
	if err := clientConn(t, srv).(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	f, first := bigFrame()
	got := make([]byte, len(f))
	sent := 0
	for i, end := range []int{len(first), len(first) + 1024, len(first) + 2048, len(f)} {
		if _, err := c.Write(f[sent:end]); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, got[sent:end]); err != nil {
			t.Fatalf("piece %d of a frame: %v", i+1, err)
		}
		sent = end
	}
	if !bytes.Equal(got, f) {
		t.Fatal("the frame came back changed")
	}
	if n := clientLowat(t, srv); n != 1 {
		t.Errorf("SO_RCVLOWAT = %d; want 1, no mark", n)
	}
	c.Close()
	waitOpen(t, srv, 0)
}
