package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/rules"
)

// Peers that stop reading (issue 16): a backend paused at a breakpoint, a
// client that no longer reads. Every buffer between the sender and the
// stalled peer fills, and the relay's write waits. An idle timeout must
// still end such a tunnel; without one it stays open, but every way the
// proxy ends tunnels itself (a stop, the end of the grace period) finishes
// at once, and looking at the server never waits.

// stallCase is which peer stops reading.
type stallCase struct {
	name string
	// stalled is the peer that never reads; sender the one that sends
	// until its writes fail.
	stalledBackend bool
}

var stallCases = []stallCase{{"backend stalls", true}, {"client stalls", false}}

// blob is a 64 KiB binary frame, masked as a client sends it when masked.
func blob(masked bool) []byte {
	var mask []byte
	if masked {
		mask = clientMask
	}
	return frame(true, false, OpBinary, mask, make([]byte, 64<<10))
}

// sendUntilFailure writes f to c until a write fails.
func sendUntilFailure(c net.Conn, f []byte) {
	c.SetWriteDeadline(time.Time{})
	for {
		if _, err := c.Write(f); err != nil {
			return
		}
	}
}

// stalledTunnel opens a tunnel through a proxy serving pass (plus
// options) on ep, in which one peer sends 64 KiB frames as fast as it can
// and the other never reads, and returns once the buffers toward the
// stalled peer are full: the relay waits for room to write.
// release lets the stalled peer go when the test is done with it.
func stalledTunnel(t *testing.T, ep endpoints, sc stallCase, options string, cfg Config) (*Server, net.Conn, string) {
	t.Helper()
	release := make(chan struct{})
	backend := backendOn(t, ep.listen(t), func(c net.Conn, br *bufio.Reader) {
		if sc.stalledBackend {
			<-release
			return
		}
		sendUntilFailure(c, blob(false))
	})
	t.Cleanup(func() { close(release) }) // before backendOn's, which waits for it
	// A well-behaved backend beside it, on /healthy/.
	healthy := backendOn(t, ep.listen(t), func(c net.Conn, br *bufio.Reader) {
		for {
			op, p, err := readFrame(br)
			if err != nil {
				return
			}
			c.Write(frame(true, false, op, nil, p))
		}
	})
	table, err := rules.FromFlags([]string{"/healthy/ " + ep.scheme() + "://" + healthy + "/" + options,
		"/ " + ep.scheme() + "://" + backend + "/" + options})
	if err != nil {
		t.Fatal(err)
	}
	if options != "" {
		// Apache's tunnel timeout is the larger of Timeout (the client
		// side's, 60 s by default) and the backend's: both are 1 s here.
		table.Timeout = time.Second
	}
	cfg.Table = table
	cfg.BackendTLS = &tls.Config{InsecureSkipVerify: true}
	ln := ep.listen(t)
	srv := startServer(t, cfg, ln)
	c := ep.dial(t, ln.Addr().String())
	upgradeOn(t, c, "/")
	c.SetDeadline(time.Time{})
	if sc.stalledBackend {
		go sendUntilFailure(c, blob(true))
	}
	d := Down
	if sc.stalledBackend {
		d = Up
	}
	waitStalled(t, srv, d)
	return srv, c, ln.Addr().String()
}

// waitStalled waits until the relay goroutine of direction d of the
// proxy's only tunnel waits for room to write: the buffers toward the
// stalled peer are full, and from then on the direction's count of bytes
// relayed stays put.
func waitStalled(t *testing.T, srv *Server, d Direction) {
	t.Helper()
	eventually.True(t, 10*time.Second, func() bool {
		s := srv.Snapshot()
		if len(s.Tunnels) != 1 {
			t.Fatalf("%d tunnels open while filling the buffers; want 1", len(s.Tunnels))
		}
		f := s.Tunnels[0].Up
		if d == Down {
			f = s.Tunnels[0].Down
		}
		return f.Bytes > 0 && relaysWaiting(inWrite) == 1
	}, func() string {
		return fmt.Sprintf("the buffers never filled: %d relay goroutines wait to write; want 1", relaysWaiting(inWrite))
	})
}

// startServer serves cfg on ln; the test stops it itself. When the test
// ends, Serve must have returned and nothing may be left behind.
func startServer(t *testing.T, cfg Config, ln net.Listener) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv := New(cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx) // if the test did not
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// TestStalledPeerIdleTimeout: with timeout=1 a tunnel whose directions
// are blocked writing to a peer that reads nothing is closed about a
// second after the buffers fill, as idle. The bound, 4 s, is generous for
// a 1 s timer and still short of the 5 s a TLS close_notify to the stalled
// peer would wait (closeNow), and of for ever (a timer that blocked writes
// keep resetting).
func TestStalledPeerIdleTimeout(t *testing.T) {
	for _, ep := range []endpoints{{false}, {true}} {
		for _, sc := range stallCases {
			t.Run(ep.scheme()+"/"+sc.name, func(t *testing.T) {
				noLeaks(t)
				srv, _, _ := stalledTunnel(t, ep, sc, " timeout=1", Config{})
				eventually.True(t, 4*time.Second, func() bool { return srv.Snapshot().Open == 0 }, func() string {
					return fmt.Sprintf("open tunnels = %d after the buffers filled; want the 1 s idle timeout to close it", srv.Snapshot().Open)
				})
				if c := srv.Snapshot().Closed; len(c) != 1 || c[0].ClosedBy != "idle" {
					t.Errorf("closed tunnels = %+v; want one closed by the idle timeout", c)
				}
			})
		}
	}
}

// TestStalledTunnelAndStop: without a timeout a stalled tunnel stays
// open (a breakpoint may last), and looking at the server does not wait
// for it; a stop sends 1001 to the peers that can take it, waits at most
// its grace period and then cuts the stalled tunnel at once.
func TestStalledTunnelAndStop(t *testing.T) {
	for _, ep := range []endpoints{{false}, {true}} {
		for _, sc := range stallCases {
			for _, traced := range []bool{false, true} {
				name := ep.scheme() + "/" + sc.name
				cfg := Config{}
				if traced {
					// The frame reader captures payloads for the trace
					// while the buffers fill and while the stop cuts in.
					name += "/traced"
					cfg.OnMessage, cfg.TraceBytes = func(Message) {}, 256
				}
				stalledAndStopped(t, ep, sc, name, cfg)
			}
		}
	}
}

// stalledAndStopped is one case of TestStalledTunnelAndStop.
func stalledAndStopped(t *testing.T, ep endpoints, sc stallCase, name string, cfg Config) {
	t.Run(name, func(t *testing.T) {
		noLeaks(t)
		srv, _, proxy := stalledTunnel(t, ep, sc, "", cfg)
		time.Sleep(1200 * time.Millisecond)
		if n := srv.Snapshot().Open; n != 1 {
			t.Fatalf("open tunnels = %d a while after the buffers filled; want 1 (no timeout)", n)
		}

		// A well-behaved tunnel beside it gets its 1001.
		c := ep.dial(t, proxy)
		br := upgradeOn(t, c, "/healthy/")

		const grace = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		stopped := make(chan error, 1)
		start := time.Now()
		go func() { stopped <- srv.Shutdown(ctx) }()
		lookWithin(t, srv, 5*time.Second)
		if op, p, err := readFrame(br); err != nil || op != OpClose || len(p) < 2 || int(p[0])<<8|int(p[1]) != goingAway {
			t.Errorf("the healthy tunnel's client read %v %q, %v; want a 1001 close frame", op, p, err)
		}
		c.Close()
		select {
		case err := <-stopped:
			if err == nil || !strings.Contains(err.Error(), "grace period over") {
				t.Errorf("Shutdown = %v; want the grace period over", err)
			}
		case <-time.After(grace + 3*time.Second): // short of TLS's 5 s close_notify wait
			t.Fatalf("Shutdown still running %v after it began, with a grace period of %v", time.Since(start), grace)
		}
		if n := srv.Snapshot().Open; n != 0 {
			t.Errorf("open tunnels after Shutdown = %d; want 0", n)
		}
	})
}

// lookWithin checks that Snapshot answers within d. What it guards
// against is a Snapshot that waits for the registry lock while a stop holds
// it across a write to the stalled peer: that waits for ever, so d can be
// generous.
func lookWithin(t *testing.T, srv *Server, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { srv.Snapshot(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Snapshot did not answer within %v", d)
	}
}

// TestSlowTunnelsStayOpen: with timeout=1, tunnels whose bytes keep
// moving, however slowly, stay open: a sender that trickles a byte every
// 250 ms, and a reader that takes 32 KiB every 100 ms of a stream much
// bigger than the buffers.
func TestSlowTunnelsStayOpen(t *testing.T) {
	t.Run("trickling sender", func(t *testing.T) {
		c, br, srv := rawEchoTunnel(t, func(tb *rules.Table) { tb.Timeout = time.Second })
		msg := frame(true, false, OpText, clientMask, []byte("trickle"))
		for i := range msg {
			if _, err := c.Write(msg[i : i+1]); err != nil {
				t.Fatalf("byte %d: %v", i, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if op, p, err := readFrame(br); err != nil || op != OpText || string(p) != "trickle" {
			t.Fatalf("echo after %v of trickling: %v %q, %v", 250*time.Millisecond*time.Duration(len(msg)), op, p, err)
		}
		if n := srv.Snapshot().Open; n != 1 {
			t.Fatalf("open tunnels = %d; want 1", n)
		}
		c.Close()
		waitOpen(t, srv, 0)
	})
	t.Run("slow reader", func(t *testing.T) {
		noLeaks(t)
		const total = 8 << 20
		backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
			c.Write(make([]byte, total))
		})
		proxy, srv := startProxy(t, "/ ws://"+backend+"/ timeout=1")
		c, br, resp := rawUpgrade(t, proxy, "/", "", "")
		if resp.StatusCode != 101 {
			t.Fatalf("status = %d; want 101", resp.StatusCode)
		}
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 32<<10)
		got := 0
		start := time.Now()
		for got < total && time.Since(start) < 3*time.Second {
			n, err := io.ReadFull(br, buf)
			got += n
			if err != nil {
				t.Fatalf("after %d bytes in %v: %v; want the tunnel kept open while bytes move", got, time.Since(start), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := srv.Snapshot().Open; n != 1 {
			t.Fatalf("open tunnels = %d after %v of slow reading; want 1", n, time.Since(start))
		}
		c.Close()
		waitOpen(t, srv, 0)
	})
}
