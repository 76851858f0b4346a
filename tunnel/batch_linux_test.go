package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/rules"
)

// TestSlowFrameNotHeld: the relay waits for the rest of a big frame only
// for batchWait. A client sends a 64 KiB frame in 1 KiB pieces and waits
// for each to be echoed before sending the next. The second piece sets the
// mark (rawReader.batch); the third comes back all the same, though
// nothing but batchWait can wake the relay (noParkDeadline), and the
// stalled frame leaves the socket waking for any byte.
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
	noParkDeadline(t)
	c, br, srv := rawEchoTunnel(t, configure...)
	f, first := bigFrame()
	got := make([]byte, len(f))
	sent := 0
	for i, end := range []int{len(first), len(first) + 1024, len(first) + 2048} {
		if _, err := c.Write(f[sent:end]); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, got[sent:end]); err != nil {
			t.Fatalf("piece %d of a frame was held back while the sender waited: %v", i+1, err)
		}
		sent = end
	}
	if !bytes.Equal(got[:sent], f[:sent]) {
		t.Fatal("the first part of the frame came back changed")
	}
	// The relay sets the mark again after the third piece, and batchWait
	// takes it back: wait until it waits for bytes without one.
	waitLowat(t, srv, "on the stalled client socket, with the relay waiting; want 1 (wake for any byte)",
		func(n int) bool { return n == 1 })

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
// that writes the rest in one go would gain nothing from it. batchWait and
// the read deadline (noParkDeadline) are made long so that only the mark
// can wake the relay: if it does not, the rest never comes back.
func TestBigFrameBatched(t *testing.T) {
	linuxPathOnly(t)
	setForTest(t, &batchWait, time.Hour)
	noParkDeadline(t)
	c, br, srv := rawEchoTunnel(t)
	f, first := bigFrame()
	got := make([]byte, len(f))
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, got[:len(first)]); err != nil {
		t.Fatalf("the first piece of the frame: %v", err)
	}
	// The relay would set a mark after the echo, before it waits.
	waitLowat(t, srv, "after the first piece of a frame; want 1", func(n int) bool { return n == 1 })
	second := len(first) + 1024
	if _, err := c.Write(f[len(first):second]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, got[len(first):second]); err != nil {
		t.Fatalf("the second piece of the frame: %v", err)
	}
	want := len(f) - second
	if n := waitLowat(t, srv, fmt.Sprintf("while %d bytes of the frame are owed; want more than 1", want),
		func(n int) bool { return n > 1 }); n > want {
		t.Errorf("SO_RCVLOWAT while %d bytes of the frame are owed = %d; want at most %d", want, n, want)
	}
	if _, err := c.Write(f[second:]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(br, got[second:]); err != nil {
		t.Fatalf("the rest of the frame: %v; want the low-water mark to wake the relay", err)
	}
	if !bytes.Equal(got, f) {
		t.Fatal("the frame came back changed")
	}
	waitLowat(t, srv, "between frames; want 1", func(n int) bool { return n == 1 })
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
	tun := onlyTunnel(t, srv)
	tun.mu.Lock()
	defer tun.mu.Unlock()
	return tun.client
}

// onlyTunnel is the proxy's only tunnel.
func onlyTunnel(t *testing.T, srv *Server) *Tunnel {
	t.Helper()
	srv.reg.mu.Lock()
	defer srv.reg.mu.Unlock()
	if open := len(srv.reg.live); open != 1 {
		t.Fatalf("%d tunnels open; want 1", open)
	}
	for tun := range srv.reg.live {
		return tun
	}
	return nil
}

// waitLowat waits until the relay reading the client waits for bytes
// (both directions do) and clientLowat is then accepted by ok, and returns
// it; it fails with what when that does not happen within 5 s.
func waitLowat(t *testing.T, srv *Server, what string, ok func(int) bool) int {
	t.Helper()
	var n int
	eventually.True(t, 5*time.Second, func() bool {
		if relaysWaiting(inRawRead) != 2 {
			return false
		}
		n = clientLowat(t, srv)
		return ok(n)
	}, func() string {
		return fmt.Sprintf("SO_RCVLOWAT = %d, %d relay directions waiting to read: %s", n, relaysWaiting(inRawRead), what)
	})
	return n
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
// Both of the proxy's sockets get the small buffer, for the echo comes
// back in pieces too; batchWait and the read deadline (noParkDeadline) are
// long, so a mark on either holds the rest of the frame for ever.
func TestNoMarkWithoutRoom(t *testing.T) {
	linuxPathOnly(t)
	setForTest(t, &batchWait, time.Hour)
	noParkDeadline(t)
	c, br, srv := rawEchoTunnel(t)
	// Linux doubles it, and a quarter of 8 KiB is under minBatch.
	for _, pc := range []net.Conn{clientConn(t, srv), onlyTunnel(t, srv).backend} {
		if err := pc.(*net.TCPConn).SetReadBuffer(4096); err != nil {
			t.Fatal(err)
		}
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
