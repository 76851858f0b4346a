package tunnel

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/syncbuf"
	"github.com/wsgate/wsgate/rules"
)

// openFDs counts this process's open file descriptors, or -1 where
// /proc/self/fd does not exist.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// noLeaks records the goroutines and open file descriptors now and, when
// the test ends (after every cleanup registered later, which run first),
// checks that both are back where they were. Call it before starting
// anything.
func noLeaks(t *testing.T) {
	t.Helper()
	base := openFDs()
	goroutines := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, goroutines)
		if base < 0 {
			return // not Linux: goroutines only
		}
		eventually.True(t, 5*time.Second, func() bool { return openFDs() <= base }, func() string {
			return fmt.Sprintf("open file descriptors = %d; want the %d there were before", openFDs(), base)
		})
	})
}

// waitLine waits up to 5 s for a log line containing every one of words.
func waitLine(t *testing.T, logs *syncbuf.Buffer, words ...string) string {
	t.Helper()
	var l string
	eventually.True(t, 5*time.Second, func() bool { l = logs.Line(words...); return l != "" }, func() string {
		return fmt.Sprintf("no log line with %q in:\n%s", words, logs.String())
	})
	return l
}

// loggedProxy serves the --pass values with a text log captured in the
// returned buffer.
func loggedProxy(t *testing.T, cfg Config, passes ...string) (string, *Server, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg.Table = flagTable(t, passes...)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	proxy, srv := serveConfig(t, cfg)
	return proxy, srv, logs
}

// TestNoLeakBackendKilledMidStream: the backend's reset ends the tunnel
// at once. The read deadline that parks a direction would end it a
// second later all the same; without it (noParkDeadline) a relay that
// missed the reset would hang, which the client's 5 s deadline catches.
func TestNoLeakBackendKilledMidStream(t *testing.T) {
	noLeaks(t)
	noParkDeadline(t)
	kill := make(chan struct{})
	backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
		io.CopyN(c, br, 5) // echo the first message
		<-kill
		c.(*net.TCPConn).SetLinger(0) // killed: a reset, no FIN
		c.Close()
	})
	proxy, srv, logs := loggedProxy(t, Config{}, "/ ws://"+backend+"/")
	c, br, resp := rawUpgrade(t, proxy, "/", "", "hello")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	close(kill)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); isTimeout(err) {
		t.Fatal("the client connection is still open 5s after the backend died")
	}
	c.Close()
	waitOpen(t, srv, 0)
	waitLine(t, logs, "tunnel closed", "closed_by=backend")
}

func TestNoLeakClientVanishes(t *testing.T) {
	noLeaks(t)
	ended := make(chan error, 1)
	backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
		_, err := io.Copy(io.Discard, br)
		ended <- err
	})
	proxy, srv, logs := loggedProxy(t, Config{}, "/ ws://"+backend+"/")
	c, _, resp := rawUpgrade(t, proxy, "/", "", "")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // a reset: the client is gone without a word
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend connection is still open 5s after the client vanished")
	}
	waitOpen(t, srv, 0)
	waitLine(t, logs, "tunnel closed", "closed_by=client")
}

func TestNoLeakHalfClose(t *testing.T) {
	t.Run("client first", func(t *testing.T) {
		noLeaks(t)
		backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
			io.ReadAll(br)
			io.WriteString(c, "bye")
		})
		proxy, srv := startProxy(t, "/ ws://"+backend+"/")
		c, br, resp := rawUpgrade(t, proxy, "/", "", "hello")
		if resp.StatusCode != 101 {
			t.Fatalf("status = %d; want 101", resp.StatusCode)
		}
		c.(*net.TCPConn).CloseWrite()
		if b, err := io.ReadAll(br); err != nil || string(b) != "bye" {
			t.Errorf("client read %q, %v; want %q then EOF", b, err, "bye")
		}
		c.Close()
		waitOpen(t, srv, 0)
	})
	t.Run("backend first", func(t *testing.T) {
		noLeaks(t)
		got := make(chan string, 1)
		backend := switchingBackend(t, "early", func(c net.Conn, br *bufio.Reader) {
			c.(*net.TCPConn).CloseWrite()
			b, _ := io.ReadAll(br)
			got <- string(b)
		})
		proxy, srv := startProxy(t, "/ ws://"+backend+"/")
		c, br, resp := rawUpgrade(t, proxy, "/", "", "")
		if resp.StatusCode != 101 {
			t.Fatalf("status = %d; want 101", resp.StatusCode)
		}
		if b, err := io.ReadAll(br); err != nil || string(b) != "early" {
			t.Errorf("client read %q, %v; want %q then EOF", b, err, "early")
		}
		io.WriteString(c, "still flowing up")
		c.(*net.TCPConn).CloseWrite()
		if b := recv(t, got); b != "still flowing up" {
			t.Errorf("backend read %q after its half-close; want %q", b, "still flowing up")
		}
		c.Close()
		waitOpen(t, srv, 0)
	})
}

func TestNoLeakBackendNeverAnswers(t *testing.T) {
	noLeaks(t)
	hold := make(chan struct{})
	backend := rawBackend(t, func(net.Conn, *bufio.Reader, *http.Request) { <-hold })
	defer close(hold)
	proxy, _, logs := loggedProxy(t, Config{ResponseTimeout: 500 * time.Millisecond}, "/ ws://"+backend+"/")
	start := time.Now()
	c, _, resp := rawUpgrade(t, proxy, "/x", "", "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d; want 502", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("502 after %v; want it after the 500ms response timeout", d)
	}
	c.Close()
	waitLine(t, logs, "request failed", "status=502", "timeout")
}

// TestSlowBackendDoesNotBlockOthers holds one upgrade at a backend that
// has not answered yet, and opens a tunnel to another backend meanwhile:
// it must work while the slow one still waits (which it does until the
// test ends).
func TestSlowBackendDoesNotBlockOthers(t *testing.T) {
	noLeaks(t)
	hold := make(chan struct{})
	reached := make(chan struct{}, 1)
	slow := rawBackend(t, func(net.Conn, *bufio.Reader, *http.Request) {
		reached <- struct{}{}
		<-hold
	})
	defer close(hold)
	proxy, _ := startProxy(t, "/slow/ ws://"+slow+"/", "/fast/ ws://"+startEcho(t)+"/")
	slowDone := make(chan int, 1)
	go func() {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			slowDone <- 0
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /slow/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+wsHeaders+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			slowDone <- 0
			return
		}
		slowDone <- resp.StatusCode
	}()
	recv(t, reached)

	ctx := testContext(t)
	c := dialWS(t, ctx, "ws://"+proxy+"/fast/")
	if err := c.Write(ctx, websocket.MessageText, []byte("quick")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "quick" {
		t.Fatalf("fast echo = %q, %v", got, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	select {
	case s := <-slowDone:
		t.Errorf("the slow upgrade ended (%d) before its backend answered", s)
	default:
	}
}

// TestBadCertificateLogged: a wss:// backend whose certificate does not
// verify is a 502, and the log line says why and how to trust it.
func TestBadCertificateLogged(t *testing.T) {
	noLeaks(t)
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	ts.Config.ErrorLog = slogDiscard()
	proxy, _, logs := loggedProxy(t, Config{}, "/ wss://"+ts.Listener.Addr().String()+"/")
	c, _, resp := rawUpgrade(t, proxy, "/x", "", "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d; want 502", resp.StatusCode)
	}
	c.Close()
	waitLine(t, logs, "request failed", "status=502", "certificate", "--backend-ca FILE", "--backend-insecure-skip-verify")
}

// slogDiscard is a log.Logger that drops what it is given: the TLS
// backend's own complaint about the handshake the proxy aborted.
func slogDiscard() *log.Logger { return slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug) }

// TestBackpressure: a client that stops reading fills the proxy's socket
// to it, and the relay waits for room without spinning or dropping bytes;
// meanwhile the other direction keeps flowing, and once the client reads
// again every byte arrives, in order.
func TestBackpressure(t *testing.T) {
	noLeaks(t)
	data := make([]byte, 32<<20)
	for i := range data {
		data[i] = byte(i>>12) ^ byte(i)
	}
	heard := make(chan string, 1)
	backend := switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
		sent := make(chan struct{})
		go func() { c.Write(data); close(sent) }()
		if line, err := br.ReadString('\n'); err == nil {
			heard <- line
		}
		<-sent
		c.Close()
	})
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	c, br, resp := rawUpgrade(t, proxy, "/", "", "")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	c.(*net.TCPConn).SetReadBuffer(64 << 10)

	// Wait until the proxy has stopped writing to the client: its count
	// of bytes sent down stays put, short of everything.
	var down int64
	for stable := 0; stable < 5; {
		time.Sleep(20 * time.Millisecond)
		s := srv.Snapshot()
		if len(s.Tunnels) != 1 {
			t.Fatalf("tunnels = %d; want 1", len(s.Tunnels))
		}
		if now := s.Tunnels[0].Down.Bytes; now == down && now > 0 {
			stable++
		} else {
			down, stable = now, 0
		}
	}
	if down >= int64(len(data)) {
		t.Fatalf("the proxy wrote all %d bytes to a client that read none", down)
	}

	io.WriteString(c, "ping\n")
	select {
	case line := <-heard:
		if line != "ping\n" {
			t.Errorf("backend heard %q; want ping", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the up direction stalled while the down one waited for room")
	}

	got := make([]byte, len(data))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatalf("read after the stall: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes that arrived after the stall differ from those sent")
	}
	c.Close()
	waitOpen(t, srv, 0)
}

// TestMessageBiggerThanFirstBuffer: a message bigger than the relay's
// first (small) buffer, arriving at once and followed by silence, is
// relayed whole at once: filling the small buffer is no sign that the
// socket is drained. A relay that waited for more would be rescued by
// the read deadline that parks it a second later; without it
// (noParkDeadline) the rest never comes, which the 5 s deadline catches.
func TestMessageBiggerThanFirstBuffer(t *testing.T) {
	noParkDeadline(t)
	c, br, srv := rawEchoTunnel(t)
	msg := frame(true, false, OpBinary, []byte{1, 2, 3, 4}, bytes.Repeat([]byte("0123456789"), 1000))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo of a 10 KB message: %v (equal: %v); want all of it", err, bytes.Equal(got, msg))
	}
	c.Close()
	waitOpen(t, srv, 0)
}

// rawEchoTunnel opens a tunnel, through a proxy of its own, to a backend
// that echoes every byte; noLeaks checks that all of it is gone when the
// test ends. A Timeout (idle, Apache's) in the optional configure makes
// the relay keep its goroutines instead of parking them.
func rawEchoTunnel(t *testing.T, configure ...func(*rules.Table)) (net.Conn, *bufio.Reader, *Server) {
	t.Helper()
	noLeaks(t)
	backend := switchingBackend(t, "", echoBack)
	table := flagTable(t, "/ ws://"+backend+"/")
	for _, f := range configure {
		f(table)
	}
	proxy, srv := serveTable(t, table)
	c, br, resp := rawUpgrade(t, proxy, "/", "", "")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	return c, br, srv
}

// echoBack is a backend that echoes until EOF. Its copy hides the
// connection's ReadFrom: Go would splice through a pipe pair that it
// caches, which the descriptor count of noLeaks would see as a leak.
func echoBack(c net.Conn, br *bufio.Reader) {
	io.Copy(struct{ io.Writer }{c}, br)
	c.Close()
}

// isTimeout says err is a timeout, from a deadline or otherwise.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestVerboseLogsExchange: at debug level (serve --verbose) the upgrade
// exchange is logged as it was, request sent and answer received; at
// info level it is not.
func TestVerboseLogsExchange(t *testing.T) {
	t.Parallel()
	backend := startEcho(t)
	for _, debug := range []bool{true, false} {
		logs := &syncbuf.Buffer{}
		level := slog.LevelInfo
		if debug {
			level = slog.LevelDebug
		}
		proxy, _ := serveConfig(t, Config{Table: flagTable(t, "/ ws://"+backend+"/"),
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))})
		c, _, resp := rawUpgrade(t, proxy, "/x", "X-Probe: 1\r\n", "")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status = %d; want 101", resp.StatusCode)
		}
		c.Close()
		if !debug {
			waitLine(t, logs, "tunnel closed")
			if l := logs.Line("upgrade exchange"); l != "" {
				t.Errorf("info level logged %q", l)
			}
			continue
		}
		l := waitLine(t, logs, "upgrade exchange")
		for _, want := range []string{`sent="GET /x HTTP/1.1\r\n`, `X-Probe: 1\r\n`, `answer="HTTP/1.1 101 Switching Protocols\r\n`, "connect=", "wait="} {
			if !strings.Contains(l, want) {
				t.Errorf("exchange line %q lacks %q", l, want)
			}
		}
	}
}

// TestPlainRequestLogged: a plain HTTP request has its line, as a tunnel
// has, in text and in JSON: method, path, status, bytes, duration and
// backend.
func TestPlainRequestLogged(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	}))
	t.Cleanup(backend.Close)
	for _, format := range []string{"text", "json"} {
		logs := &syncbuf.Buffer{}
		h := slog.Handler(slog.NewTextHandler(logs, nil))
		if format == "json" {
			h = slog.NewJSONHandler(logs, nil)
		}
		proxy, _ := serveConfig(t, Config{Table: flagTable(t, "/ "+backend.URL+"/"), Logger: slog.New(h)})
		resp, err := http.Post("http://"+proxy+"/pot?x=1", "text/plain", strings.NewReader("tea"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		l := waitLine(t, logs, "http request")
		if format == "text" {
			for _, want := range []string{"method=POST", "path=\"/pot?x=1\"", "status=418", "bytes=15", "duration=", `backend="` + backend.URL + `/pot?x=1"`} {
				if !strings.Contains(l, want) {
					t.Errorf("text line %q lacks %q", l, want)
				}
			}
			continue
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("json line %q: %v", l, err)
		}
		if got["method"] != "POST" || got["path"] != "/pot?x=1" || got["status"] != 418.0 || got["bytes"] != 15.0 || got["backend"] != backend.URL+"/pot?x=1" {
			t.Errorf("json line = %v", got)
		}
	}
}
