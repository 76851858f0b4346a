package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/wsproto"
	"github.com/wsgate/wsgate/rules"
)

var verbose = flag.Bool("wsgate.v", false, "show the proxy's log lines")

// TestMain runs the suite on the Linux path, or with WSGATE_RELAY=portable
// on the portable one (socket.go), which CI runs too.
//
// Most tests call t.Parallel. Those that do not look at the whole process
// (noLeaks's goroutines and descriptors, relaysWaiting, relayGoroutines),
// set test-only variables (setForTest), or restart a backend on the port
// it had (the balancer's failover tests): go test runs them first, one at
// a time, and the parallel ones only once they are all done.
func TestMain(m *testing.M) {
	switch os.Getenv("WSGATE_RELAY") {
	case "portable":
		portable = true
	case "":
	default:
		fmt.Fprintln(os.Stderr, "WSGATE_RELAY: want portable or nothing")
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}

// linuxPathOnly skips a test of the Linux path's own machinery when the
// portable path is forced.
func linuxPathOnly(t testing.TB) {
	if portable {
		t.Skip("tests the Linux path (WSGATE_RELAY=portable)")
	}
}

// startProxy serves the given --pass values on a fresh loopback port.
func startProxy(t testing.TB, passes ...string) (string, *Server) {
	t.Helper()
	return serveTable(t, flagTable(t, passes...))
}

func flagTable(t testing.TB, passes ...string) *rules.Table {
	t.Helper()
	table, err := rules.FromFlags(passes)
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	return table
}

// serveTable serves table on a fresh loopback port until the test ends.
func serveTable(t testing.TB, table *rules.Table) (string, *Server) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return serveConfig(t, Config{Table: table, Logger: log, ServerName: "wsgate.test"})
}

// serveConfig serves cfg on a fresh loopback port until the test ends,
// and checks that it then shuts down cleanly.
func serveConfig(t testing.TB, cfg Config) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, cfg, ln)
}

// startBackend serves h on a fresh loopback port and returns its host:port.
func startBackend(t testing.TB, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func startEcho(t testing.TB) string {
	return startBackend(t, echo.Handler(echo.Options{}))
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialWS(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(-1)
	return c
}

func TestEchoThroughTunnel(t *testing.T) {
	t.Parallel()
	proxy, srv := startProxy(t, "/ws/ ws://"+startEcho(t)+"/")
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/ws/room")

	big := make([]byte, 1<<20)
	rand.Read(big)
	cases := []struct {
		name string
		typ  websocket.MessageType
		msg  []byte
	}{
		{"text", websocket.MessageText, []byte("hello, tunnel")},
		{"binary", websocket.MessageBinary, []byte{0, 1, 2, 0xff, 0xfe}},
		{"1MiB", websocket.MessageBinary, big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Write(ctx, tc.typ, tc.msg); err != nil {
				t.Fatalf("Write: %v", err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if typ != tc.typ || !bytes.Equal(got, tc.msg) {
				t.Errorf("echo = %v %d bytes; want %v %d bytes", typ, len(got), tc.typ, len(tc.msg))
			}
		})
	}
	t.Run("1000 in order", func(t *testing.T) {
		go func() {
			for i := range 1000 {
				if c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "m%d", i)) != nil {
					return
				}
			}
		}()
		for i := range 1000 {
			_, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("Read %d: %v", i, err)
			}
			if want := fmt.Sprintf("m%d", i); string(got) != want {
				t.Fatalf("message %d = %q; want %q", i, got, want)
			}
		}
	})

	snap := srv.Snapshot()
	if snap.Open != 1 || snap.Total != 1 || len(snap.Tunnels) != 1 {
		t.Fatalf("Snapshot = %d open, %d total; want 1, 1", snap.Open, snap.Total)
	}
	if tun := snap.Tunnels[0]; tun.Up.Bytes < 1<<20 || tun.Down.Bytes < 1<<20 || tun.Path != "/ws/room" {
		t.Errorf("tunnel = %+v; want path /ws/room and over 1 MiB each way", tun)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// seen is what a recording backend saw of one request.
type seen struct {
	uri    string
	host   string
	header http.Header
}

// recordingBackend reports each request, then echoes WebSocket upgrades and
// answers plain requests with "plain <uri>".
func recordingBackend(t *testing.T) (string, <-chan seen) {
	ch := make(chan seen, 16)
	addr := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{uri: r.RequestURI, host: r.Host, header: r.Header.Clone()}
		if r.Header.Get("Upgrade") == "" {
			fmt.Fprintf(w, "plain %s", r.RequestURI)
			return
		}
		echo.Handler(echo.Options{}).ServeHTTP(w, r)
	}))
	return addr, ch
}

func TestMappedPathAndHeaders(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	proxy, _ := startProxy(t, "/ws/ ws://"+backend+"/echo/")

	// A raw request: a WebSocket library would write its own Connection.
	_, _, resp := rawUpgrade(t, proxy, "/ws/a%20b/%7Ec?x=1&y=%zz",
		"X-Forwarded-For: 10.1.1.1\r\nX-Secret: hop\r\nKeep-Alive: 5\r\nConnection: X-Secret\r\n", "")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	got := <-seenc
	checks := []struct{ name, got, want string }{
		{"request target", got.uri, "/echo/a%20b/~c?x=1&y=%zz"},
		{"Host", got.host, backend},
		{"X-Forwarded-For", got.header.Get("X-Forwarded-For"), "10.1.1.1, 127.0.0.1"},
		{"X-Forwarded-Host", got.header.Get("X-Forwarded-Host"), proxy},
		{"X-Forwarded-Server", got.header.Get("X-Forwarded-Server"), "wsgate.test"},
		{"X-Secret (named in Connection)", got.header.Get("X-Secret"), ""},
		{"Keep-Alive", got.header.Get("Keep-Alive"), ""},
		{"Upgrade", got.header.Get("Upgrade"), "websocket"},
		{"Connection", got.header.Get("Connection"), "Upgrade"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("backend saw %s = %q; want %q", ck.name, ck.got, ck.want)
		}
	}
}

func TestPlainHTTPOnSameMapping(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	proxy, srv := startProxy(t, "/ws/ ws://"+backend+"/echo/")
	resp, err := http.Get("http://" + proxy + "/ws/page?q=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "plain /echo/page?q=1" {
		t.Errorf("GET = %d %q; want 200 %q", resp.StatusCode, body, "plain /echo/page?q=1")
	}
	if got := <-seenc; got.header.Get("X-Forwarded-For") != "127.0.0.1" || got.host != backend {
		t.Errorf("backend saw Host %q, X-Forwarded-For %q; want %q, 127.0.0.1", got.host, got.header.Get("X-Forwarded-For"), backend)
	}
	if s := srv.Snapshot(); s.Requests != 1 || s.Total != 0 {
		t.Errorf("Snapshot: %d plain, %d tunnels; want 1, 0", s.Requests, s.Total)
	}
}

func TestUnmatchedPath(t *testing.T) {
	t.Parallel()
	proxy, _ := startProxy(t, "/ws/ ws://"+startEcho(t)+"/")
	_, resp, err := websocket.Dial(testContext(t), "ws://"+proxy+"/other", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Dial(/other) = %v, %v; want 404", resp, err)
	}
}

func TestBackendDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	proxy, srv := startProxy(t, "/ ws://"+dead+"/")
	_, resp, err := websocket.Dial(testContext(t), "ws://"+proxy+"/x", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Dial = %v, %v; want 503", resp, err)
	}
	if s := srv.Snapshot(); s.Failed != 1 {
		t.Errorf("Snapshot.Failed = %d; want 1", s.Failed)
	}
}

// rawBackend accepts TCP connections and hands each, with its parsed
// request, to serve.
func rawBackend(t testing.TB, serve func(c net.Conn, br *bufio.Reader, r *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return rawBackendOn(t, ln, serve)
}

// rawBackendOn is rawBackend on a listener of the caller's (TLS, say).
func rawBackendOn(t testing.TB, ln net.Listener, serve func(c net.Conn, br *bufio.Reader, r *http.Request)) string {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				serve(c, br, r)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// rawUpgrade sends a WebSocket handshake over plain TCP, followed by extra
// bytes in the same write, and reads the response head.
func rawUpgrade(t testing.TB, addr, path, header, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	return rawUpgradeWith(t, addr, path, "websocket", header, extra)
}

// rawUpgradeWith is rawUpgrade with the client's own spelling of Upgrade.
func rawUpgradeWith(t testing.TB, addr, path, upgrade, header, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: %s\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n%s", path, addr, upgrade, testKey, header, extra)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return c, br, resp
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

func switchHead(upgrade, accept string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + upgrade + "\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n"
}

func TestNoTunnelWithoutValid101(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		answer func(r *http.Request) string
		status int
	}{
		{"403", func(*http.Request) string {
			return "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"
		}, 403},
		{"200", func(*http.Request) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		}, 200},
		{"101 wrong accept", func(r *http.Request) string {
			return switchHead("websocket", wsproto.AcceptKey("another key"))
		}, 502},
		{"101 missing accept", func(r *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, 502},
		{"101 other protocol", func(r *http.Request) string {
			return switchHead("h2c", wsproto.AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
		}, 502},
		{"garbage", func(*http.Request) string { return "SSH-2.0-OpenSSH\r\n\r\n" }, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			smuggled := make(chan string, 4)
			backend := rawBackend(t, func(c net.Conn, br *bufio.Reader, r *http.Request) {
				io.WriteString(c, tc.answer(r))
				// Anything that reaches the backend after its answer
				// would be tunnel bytes.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if b, err := br.ReadString('\n'); err == nil {
					smuggled <- b
				}
			})
			proxy, srv := startProxy(t, "/ ws://"+backend+"/")
			c, br, resp := rawUpgrade(t, proxy, "/x", "", "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tc.status)
			}
			io.Copy(io.Discard, resp.Body)
			// The connection stays HTTP: the next bytes are a request of
			// their own, proxied as plain HTTP, never tunnel bytes.
			fmt.Fprintf(c, "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
			resp2, err := http.ReadResponse(br, nil)
			if err == nil {
				resp2.Body.Close()
			}
			select {
			case b := <-smuggled:
				t.Errorf("backend received %q on the refused connection", b)
			default:
			}
			if s := srv.Snapshot(); s.Total != 0 {
				t.Errorf("Snapshot.Total = %d; want no tunnel", s.Total)
			}
		})
	}
}

func TestBackendNeverAnswers(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	backend := rawBackend(t, func(net.Conn, *bufio.Reader, *http.Request) { <-hold })
	defer close(hold)
	proxy, _ := startProxy(t, "/ ws://"+backend+"/ timeout=1")
	_, _, resp := rawUpgrade(t, proxy, "/x", "", "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d; want 502", resp.StatusCode)
	}
}

// switchingBackend completes a valid handshake by hand and then runs fn on
// the raw connection, with whatever the client sent early.
func switchingBackend(t *testing.T, early string, fn func(c net.Conn, br *bufio.Reader)) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		io.WriteString(c, switchHead("websocket", wsproto.AcceptKey(r.Header.Get("Sec-WebSocket-Key")))+early)
		fn(c, br)
	})
}

func TestHalfClose(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
		b, _ := io.ReadAll(br) // until the client's half-close arrives as EOF
		got <- string(b)
		io.WriteString(c, "bye")
	})
	proxy, _ := startProxy(t, "/ ws://"+backend+"/")
	c, br, resp := rawUpgrade(t, proxy, "/", "", "hello")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	c.(*net.TCPConn).CloseWrite()
	if b := <-got; b != "hello" {
		t.Errorf("backend read %q before EOF; want %q", b, "hello")
	}
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "bye" {
		t.Errorf("client read %q, %v after half-close; want %q, EOF", rest, err, "bye")
	}
}

func TestBackendHalfClose(t *testing.T) {
	t.Parallel()
	backend := switchingBackend(t, "early", func(c net.Conn, br *bufio.Reader) {
		c.(*net.TCPConn).CloseWrite()
		io.Copy(c, br) // never: the write side is closed; read until EOF
	})
	proxy, _ := startProxy(t, "/ ws://"+backend+"/")
	_, br, resp := rawUpgrade(t, proxy, "/", "", "")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	if b, err := io.ReadAll(br); err != nil || string(b) != "early" {
		t.Errorf("client read %q, %v; want bytes sent behind the 101, then EOF", b, err)
	}
}

func TestClientDisappears(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, err = c.Read(r.Context())
		ended <- err
	}))
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/")
	c.CloseNow() // no close frame: the client just goes away
	select {
	case err := <-ended:
		if websocket.CloseStatus(err) != -1 {
			t.Errorf("backend read %v; want the connection to end without a close frame", err)
		}
	case <-ctx.Done():
		t.Fatal("backend connection still open after the client went away")
	}
	waitOpen(t, srv, 0)
}

// waitOpen waits for the number of open tunnels to reach n: a tunnel is
// unregistered right after its connections close, not at the same instant.
func waitOpen(t testing.TB, srv *Server, n int) {
	t.Helper()
	eventually.True(t, 5*time.Second, func() bool { return srv.Snapshot().Open == n },
		func() string { return fmt.Sprintf("open tunnels = %d; want %d", srv.Snapshot().Open, n) })
}

// What relaysWaiting looks for: a relay goroutine waiting for room to
// write to a peer, or for bytes to read (on the Linux path).
const (
	inWrite   = "tunnel.(*Tunnel).write("
	inRawRead = "tunnel.(*rawReader).read("
)

// relaysWaiting counts the goroutines that wait in Go's poller (IO wait)
// inside the function named by in: the state a relay direction is in,
// read from the goroutine stacks, for tests that wait for it instead of
// for a while. The count is the process's: tests that use it do not run
// in parallel.
func relaysWaiting(in string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(" [IO wait")) && bytes.Contains(g, []byte(in)) {
			n++
		}
	}
	return n
}

// setForTest sets *v to x until the test and its cleanups are done. Call
// it before starting anything that reads *v; a test that uses it does not
// run in parallel.
func setForTest[T any](t testing.TB, v *T, x T) {
	t.Helper()
	old := *v
	*v = x
	t.Cleanup(func() { *v = old })
}

// noParkDeadline makes a woken direction keep its goroutine for an hour,
// not parkAfter, once its bytes stop. The read deadline that parks it is
// also what makes a relay that missed a readiness edge (bytes, a FIN, a
// reset) catch up a second late; without it such a relay hangs, and a
// test tells "at once" from "never", which needs no clock, instead of
// from "a second later". Call it before starting anything.
func noParkDeadline(t testing.TB) {
	t.Helper()
	setForTest(t, &parkAfter, time.Hour)
}

func TestPipelinedBytesAfterHandshake(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
		b := make([]byte, 5)
		io.ReadFull(br, b)
		got <- string(b)
	})
	proxy, _ := startProxy(t, "/ ws://"+backend+"/")
	_, _, resp := rawUpgrade(t, proxy, "/", "", "early")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	select {
	case b := <-got:
		if b != "early" {
			t.Errorf("backend got %q; want %q", b, "early")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bytes sent right behind the handshake never reached the backend")
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	// Apache's rule: idle = max(Timeout, backend timeout); Timeout 1 with
	// no ProxyTimeout or timeout= makes both 1 s.
	table := flagTable(t, "/ ws://"+startEcho(t)+"/")
	table.Timeout = time.Second
	proxy, srv := serveTable(t, table)
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/")
	// Traffic in either direction keeps the tunnel open past the timeout.
	for range 6 {
		if err := c.Write(ctx, websocket.MessageText, []byte("tick")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatalf("Read while active: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	start := time.Now()
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != -1 || err == nil || ctx.Err() != nil {
		t.Fatalf("Read after idling = %v; want the connection closed without a close frame", err)
	}
	if idle := time.Since(start); idle > 3*time.Second {
		t.Errorf("tunnel closed after %v idle; want about 1s", idle)
	}
	waitOpen(t, srv, 0)
}

func TestShutdownSaysGoingAway(t *testing.T) {
	t.Parallel()
	// The backend records the close it gets; the client reads and so
	// answers the proxy's close, as a live client does.
	backendClose := make(chan error, 1)
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageText, []byte("hello"))
		_, _, err = c.Read(r.Context())
		backendClose <- err
	}))
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/")
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	clientClose := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		clientClose <- err
	}()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v with peers that answer at once", d)
	}
	for side, ch := range map[string]chan error{"client": clientClose, "backend": backendClose} {
		if err := <-ch; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("%s got %v; want a close frame with 1001 going away", side, err)
		}
	}
	s := srv.Snapshot()
	if s.Open != 0 || len(s.Closed) != 1 || s.Closed[0].ClosedBy != "proxy" {
		t.Errorf("after Shutdown: %d open, closed %+v; want 0 open, closed by the proxy", s.Open, s.Closed)
	}
}

// TestShutdownGraceEnds: a client that never answers the close is cut off
// when the grace period ends.
func TestShutdownGraceEnds(t *testing.T) {
	t.Parallel()
	proxy, srv := startProxy(t, "/ ws://"+startEcho(t)+"/")
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/") // never reads: never answers
	waitOpen(t, srv, 1)
	grace, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(grace)
	if err == nil || !strings.Contains(err.Error(), "grace period over, 1 tunnel closed") {
		t.Errorf("Shutdown = %v; want the grace period over with 1 tunnel cut", err)
	}
	if s := srv.Snapshot(); s.Open != 0 {
		t.Errorf("open tunnels after Shutdown = %d; want 0", s.Open)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client Read = %v; want the 1001 close it was sent", err)
	}
}

// TestGoingAwayAtFrameBoundary: a close frame never lands inside a message
// being relayed: a big message in flight arrives whole, then the close.
func TestGoingAwayAtFrameBoundary(t *testing.T) {
	t.Parallel()
	tun := &Tunnel{}
	tun.watch(true, nil, 0)
	half := frame(true, false, OpBinary, nil, make([]byte, 1000))[:500]
	var sink bytes.Buffer
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go io.Copy(&sink, c2)
	tun.client, tun.backend = c1, c1
	if err := tun.write(Down, half); err != nil {
		t.Fatal(err)
	}
	tun.goAway() // mid-frame: must wait
	if tun.away[Down] {
		t.Fatal("close frame sent in the middle of a frame")
	}
	rest := frame(true, false, OpBinary, nil, make([]byte, 1000))[500:]
	if err := tun.write(Down, rest); err != nil {
		t.Fatal(err)
	}
	if !tun.away[Down] {
		t.Fatal("no close frame after the frame in flight ended")
	}
}

func TestHTTP10UpgradeIgnored(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	proxy, _ := startProxy(t, "/ ws://"+backend+"/")
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /old HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		base64.StdEncoding.EncodeToString(key))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-seenc; resp.StatusCode != 200 || got.header.Get("Upgrade") != "" {
		t.Errorf("HTTP/1.0 upgrade: status %d, backend saw Upgrade %q; want 200 and no Upgrade", resp.StatusCode, got.header.Get("Upgrade"))
	}
}

func TestStatusFor(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	cases := []struct {
		err  error
		want int
	}{
		{&rules.RequestError{Status: 404}, 404},
		{fmt.Errorf("dial backend x: %w", refused), 503},
		{errShuttingDown, 503},
		{errBodyTooLarge, 413},
		{errors.New("read upgrade answer: i/o timeout"), 502},
	}
	for _, tc := range cases {
		if got := statusFor(tc.err); got != tc.want {
			t.Errorf("statusFor(%v) = %d; want %d", tc.err, got, tc.want)
		}
	}
}

func TestWebSocketHeaderSpelling(t *testing.T) {
	t.Parallel()
	// A raw listener: http.ReadRequest would canonicalise the names.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	backendLines := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		lines := readHead(bufio.NewReader(c))
		backendLines <- lines
		key := ""
		for _, l := range lines {
			if k, ok := strings.CutPrefix(l, "Sec-WebSocket-Key: "); ok {
				key = k
			}
		}
		io.WriteString(c, switchHead("websocket", wsproto.AcceptKey(key)))
		io.Copy(io.Discard, c)
	}()
	proxy, _ := startProxy(t, "/ ws://"+ln.Addr().String()+"/")
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", testKey)
	client := readHead(bufio.NewReader(c))
	if !slices.Contains(client, "Sec-WebSocket-Accept: "+wsproto.AcceptKey(testKey)) {
		t.Errorf("client got %q; want Sec-WebSocket-Accept spelt as in RFC 6455", client)
	}
	if b := <-backendLines; !slices.Contains(b, "Sec-WebSocket-Version: 13") {
		t.Errorf("backend got %q; want Sec-WebSocket-Version spelt as in RFC 6455", b)
	}
}

// readHead reads the lines of a message head, without the final blank line.
func readHead(br *bufio.Reader) []string {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if err != nil || l == "" {
			return lines
		}
		lines = append(lines, l)
	}
}

func TestHostAndForwardedSettings(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	cases := []struct {
		name         string
		preserveHost bool
		noAdd        bool
		wantHost     string
		wantXFF      string
	}{
		{"defaults", false, false, backend, "10.9.9.9, 127.0.0.1"},
		{"ProxyPreserveHost On", true, false, "client.example:8443", "10.9.9.9, 127.0.0.1"},
		{"ProxyAddHeaders Off", false, true, backend, "10.9.9.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := flagTable(t, "/ ws://"+backend+"/")
			table.PreserveHost, table.NoAddHeaders = tc.preserveHost, tc.noAdd
			proxy, _ := serveTable(t, table)
			for _, upgrade := range []bool{true, false} {
				c, err := net.Dial("tcp", proxy)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				head := "GET /h HTTP/1.1\r\nHost: client.example:8443\r\nX-Forwarded-For: 10.9.9.9\r\n"
				if upgrade {
					head += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + testKey + "\r\n"
				}
				io.WriteString(c, head+"\r\n")
				got := <-seenc
				if xff := got.header.Get("X-Forwarded-For"); xff != tc.wantXFF {
					t.Errorf("upgrade=%v: backend saw X-Forwarded-For %q; want %q", upgrade, xff, tc.wantXFF)
				}
				if got.host != tc.wantHost {
					t.Errorf("upgrade=%v: backend saw Host %q; want %q", upgrade, got.host, tc.wantHost)
				}
				if xfh := got.header.Get("X-Forwarded-Host"); (xfh == "") != tc.noAdd {
					t.Errorf("upgrade=%v: backend saw X-Forwarded-Host %q with ProxyAddHeaders off=%v", upgrade, xfh, tc.noAdd)
				}
			}
		})
	}
}

func TestLegacyUpgradeRequired(t *testing.T) {
	t.Parallel()
	table := flagTable(t, "/custom/ ws://127.0.0.1:1/ upgrade=foo", "/ ws://"+startEcho(t)+"/")
	table.Legacy = true
	proxy, _ := serveTable(t, table)
	cases := []struct{ path, upgrade, want string }{
		{"/x", "h2c", "WebSocket"},
		{"/custom/x", "websocket", "foo"},
	}
	for _, tc := range cases {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: %s\r\nConnection: Upgrade\r\n\r\n", tc.path, tc.upgrade)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != tc.want ||
			!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
			t.Errorf("%s with Upgrade %s = %d, Upgrade %q, Connection %q; want 426, %q, Upgrade",
				tc.path, tc.upgrade, resp.StatusCode, resp.Header.Get("Upgrade"), resp.Header.Get("Connection"), tc.want)
		}
	}
	// An allowed upgrade still tunnels.
	c := dialWS(t, testContext(t), "ws://"+proxy+"/x")
	c.CloseNow()
}

func TestHTTPTargetUpgrade(t *testing.T) {
	t.Parallel()
	echoAddr := startEcho(t)
	proxy, _ := startProxy(t,
		"/up/ http://"+echoAddr+"/ upgrade=websocket",
		"/plain/ http://"+echoAddr+"/")
	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/up/")
	if err := c.Write(ctx, websocket.MessageText, []byte("via http://")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "via http://" {
		t.Fatalf("echo through an http:// target with upgrade=websocket = %q, %v", got, err)
	}
	// Without upgrade=, an http:// target never upgrades: the request goes
	// as plain HTTP, and the echo backend answers it with its page.
	_, resp, err := websocket.Dial(ctx, "ws://"+proxy+"/plain/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Dial(/plain/) = %v, %v; want the plain 200 page", resp, err)
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	t.Parallel()
	srv := New(Config{Table: flagTable(t, "/ ws://127.0.0.1:1/")})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err != nil {
		t.Errorf("Serve after Shutdown = %v; want nil at once", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener still accepts after Serve returned")
	}
}
