package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/wsproto"
	"github.com/wsgate/wsgate/rules"
)

// These tests end tunnels every way a peer can (issue 16): a close frame
// and the FIN in one segment, a FIN alone, a reset, from either side,
// with and without an idle timeout, with the directions parked or woken,
// over plain TCP and over TLS. The other peer must see the end within
// endWithin: a relay that waits for another readiness edge after a short
// read (the FIN came with the data) holds it until a read deadline or the
// idle timeout (5 s here) passes, or for ever. The deadline that parks a
// woken direction is an hour (noParkDeadline) or 5 ms, so that such a
// relay is caught by a bound generous for a loaded machine.
const endWithin = 3 * time.Second

// testCert is a certificate for 127.0.0.1 (httptest's), for TLS on both
// sides of the proxy.
var testCert = sync.OnceValue(func() tls.Certificate {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	defer ts.Close()
	return ts.TLS.Certificates[0]
})

// endpoints is how a test reaches the proxy and how its backend listens:
// plain TCP or TLS on both sides.
type endpoints struct{ tls bool }

func (e endpoints) listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if e.tls {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{testCert()}})
	}
	return ln
}

func (e endpoints) dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if e.tls {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e endpoints) scheme() string {
	if e.tls {
		return "wss"
	}
	return "ws"
}

// tcp is the TCP connection under c, for resets.
func tcp(c net.Conn) *net.TCPConn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn().(*net.TCPConn)
	}
	return c.(*net.TCPConn)
}

// backendOn serves the upgrade on ln with a valid 101 and then hands the
// connection to fn; everything is closed when the test ends.
func backendOn(t testing.TB, ln net.Listener, fn func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return rawBackendOn(t, ln, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		io.WriteString(c, switchHead("websocket", wsproto.AcceptKey(r.Header.Get("Sec-WebSocket-Key"))))
		fn(c, br)
	})
}

// serveOn serves cfg on ln until the test ends, like serveConfig.
func serveOn(t testing.TB, cfg Config, ln net.Listener) (string, *Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
		if *verbose {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
	}
	srv := New(cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), srv
}

// upgradeOn sends a WebSocket upgrade on c and reads the answer.
func upgradeOn(t testing.TB, c net.Conn, path string) *bufio.Reader {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: wsgate.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, testKey)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade answer: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d; want 101", resp.StatusCode)
	}
	return br
}

// readFrame reads one frame of up to 125 payload bytes, unmasking it.
func readFrame(br *bufio.Reader) (Opcode, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n > 125 {
		return 0, nil, fmt.Errorf("frame of length code %d: the tests send small frames only", n)
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return 0, nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return Opcode(h[0] & 0x0f), p, nil
}

var clientMask = []byte{1, 2, 3, 4}

// readEnd reads br until EOF or an error and reports how long that took.
func readEnd(br *bufio.Reader) (time.Duration, error) {
	start := time.Now()
	_, err := io.Copy(io.Discard, br)
	if err == nil {
		err = io.EOF
	}
	return time.Since(start), err
}

// endCase is one way a tunnel ends.
type endCase struct {
	name string
	// run plays the client's part; backend plays the backend's and
	// reports what it saw on seen.
	run     func(t *testing.T, c net.Conn, br *bufio.Reader, seen <-chan string)
	backend func(c net.Conn, br *bufio.Reader, seen chan<- string)
}

var endCases = []endCase{
	{
		// RFC 6455 §7.1.1: the server closes TCP first. A close frame,
		// the data before it and the FIN arrive together.
		name: "backend closes with its close frame",
		backend: func(c net.Conn, br *bufio.Reader, _ chan<- string) {
			for {
				op, p, err := readFrame(br)
				if err != nil {
					return
				}
				if op == OpClose {
					c.Write(append(frame(true, false, OpText, nil, []byte("bye")), frame(true, false, OpClose, nil, p)...))
					c.Close()
					return
				}
				c.Write(frame(true, false, op, nil, p))
			}
		},
		run: func(t *testing.T, c net.Conn, br *bufio.Reader, _ <-chan string) {
			c.Write(frame(true, false, OpText, clientMask, []byte("hello")))
			if op, p, err := readFrame(br); err != nil || op != OpText || string(p) != "hello" {
				t.Fatalf("echo = %v %q, %v", op, p, err)
			}
			c.Write(frame(true, false, OpClose, clientMask, wsproto.ClosePayload(1000, "")))
			for _, want := range []Opcode{OpText, OpClose} {
				if op, _, err := readFrame(br); err != nil || op != want {
					t.Fatalf("read %v, %v; want a %v frame", op, err, want)
				}
			}
			if d, err := readEnd(br); err != io.EOF || d > endWithin {
				t.Fatalf("after the backend's close frame and FIN: %v after %v; want EOF within %v", err, d, endWithin)
			}
		},
	},
	{
		name: "client closes with its close frame",
		backend: func(c net.Conn, br *bufio.Reader, seen chan<- string) {
			for {
				op, _, err := readFrame(br)
				if err != nil {
					seen <- "error before the close frame: " + err.Error()
					return
				}
				if op == OpClose {
					break
				}
			}
			d, err := readEnd(br)
			seen <- endReport(d, err, io.EOF)
		},
		run: func(t *testing.T, c net.Conn, br *bufio.Reader, seen <-chan string) {
			c.Write(append(frame(true, false, OpText, clientMask, []byte("hello")),
				frame(true, false, OpClose, clientMask, wsproto.ClosePayload(1000, ""))...))
			c.Close()
			if s := <-seen; s != "" {
				t.Fatalf("backend: %s", s)
			}
		},
	},
	{
		name: "backend half-closes",
		backend: func(c net.Conn, br *bufio.Reader, seen chan<- string) {
			op, p, err := readFrame(br)
			if err != nil {
				return
			}
			c.Write(frame(true, false, op, nil, p))
			closeWrite(c)
			// The client's own FIN must come through too.
			d, err := readEnd(br)
			seen <- endReport(d, err, io.EOF)
		},
		run: func(t *testing.T, c net.Conn, br *bufio.Reader, seen <-chan string) {
			c.Write(frame(true, false, OpText, clientMask, []byte("hello")))
			if op, _, err := readFrame(br); err != nil || op != OpText {
				t.Fatalf("echo = %v, %v", op, err)
			}
			if d, err := readEnd(br); err != io.EOF || d > endWithin {
				t.Fatalf("after the backend's FIN: %v after %v; want EOF within %v", err, d, endWithin)
			}
			closeWrite(c)
			if s := <-seen; s != "" {
				t.Fatalf("backend: %s", s)
			}
		},
	},
	{
		name: "client resets",
		backend: func(c net.Conn, br *bufio.Reader, seen chan<- string) {
			if _, _, err := readFrame(br); err != nil {
				seen <- "no frame: " + err.Error()
				return
			}
			d, err := readEnd(br)
			seen <- endReport(d, err, nil)
		},
		run: func(t *testing.T, c net.Conn, br *bufio.Reader, seen <-chan string) {
			c.Write(frame(true, false, OpBinary, clientMask, []byte("last words")))
			tcp(c).SetLinger(0)
			tcp(c).Close()
			if s := <-seen; s != "" {
				t.Fatalf("backend: %s", s)
			}
		},
	},
	{
		name: "backend resets",
		backend: func(c net.Conn, br *bufio.Reader, _ chan<- string) {
			c.Write(frame(true, false, OpBinary, nil, []byte("last words")))
			tcp(c).SetLinger(0)
			tcp(c).Close()
		},
		run: func(t *testing.T, c net.Conn, br *bufio.Reader, _ <-chan string) {
			readFrame(br) // the last words may be lost to the reset
			if d, _ := readEnd(br); d > endWithin {
				t.Fatalf("after the backend's reset: the connection ended after %v; want within %v", d, endWithin)
			}
		},
	},
}

// endReport is "" when err is want (nil: any end) and came within endWithin.
func endReport(d time.Duration, err, want error) string {
	if (want != nil && err != want) || d > endWithin {
		return fmt.Sprintf("%v after %v; want %v within %v", err, d, cmpOr(want, "the end"), endWithin)
	}
	return ""
}

func cmpOr(err error, s string) any {
	if err == nil {
		return s
	}
	return err
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// TestEndOfStreamAtOnce: every way a tunnel ends reaches the other side
// at once, whatever the relay was doing. Each case runs several times to
// catch the race between a read and the FIN behind it.
func TestEndOfStreamAtOnce(t *testing.T) {
	setForTest(t, &parkAfter, parkAfter)
	for _, ep := range []endpoints{{false}, {true}} {
		for _, timeout := range []string{"", " timeout=5"} {
			for _, parked := range []bool{false, true} {
				for _, ec := range endCases {
					name := fmt.Sprintf("%s/timeout=%v/parked=%v/%s", ep.scheme(), timeout != "", parked, ec.name)
					t.Run(name, func(t *testing.T) {
						// Parked: the directions wait in the parker
						// when the end comes, as they do from the
						// start of a tunnel, and again 5 ms after their
						// bytes stop (on Linux; elsewhere, and over TLS,
						// they wait in their goroutines). Else a woken
						// direction keeps its goroutine, and a relay
						// that misses the end hangs (noParkDeadline).
						parkAfter = time.Hour
						if parked {
							parkAfter = 5 * time.Millisecond
						}
						endOfStream(t, ep, timeout, ec)
					})
				}
			}
		}
	}
}

func endOfStream(t *testing.T, ep endpoints, timeout string, ec endCase) {
	noLeaks(t)
	seen := make(chan string, 1)
	backend := backendOn(t, ep.listen(t), func(c net.Conn, br *bufio.Reader) {
		c.SetDeadline(time.Now().Add(10 * time.Second)) // as upgradeOn's: a relay that misses the end fails, not hangs
		ec.backend(c, br, seen)
	})
	table, err := rules.FromFlags([]string{"/ " + ep.scheme() + "://" + backend + "/" + timeout})
	if err != nil {
		t.Fatal(err)
	}
	proxy, srv := serveOn(t, Config{Table: table, BackendTLS: &tls.Config{InsecureSkipVerify: true}}, ep.listen(t))
	tries := 10
	if testing.Short() {
		tries = 3
	}
	for range tries {
		c := ep.dial(t, proxy)
		br := upgradeOn(t, c, "/")
		ec.run(t, c, br, seen)
		c.Close()
		waitOpen(t, srv, 0)
		if t.Failed() {
			return
		}
	}
}
