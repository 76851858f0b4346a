package tunnel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/syncbuf"
	"github.com/wsgate/wsgate/rules"

	"github.com/coder/websocket"
)

// verboseLog is a log destination for a test that checks a line is
// written; with -v (the package's flag) the lines go to stderr too.
func verboseLog() *syncbuf.Buffer {
	if *verbose {
		return &syncbuf.Buffer{Tee: os.Stderr}
	}
	return &syncbuf.Buffer{}
}

// serveLogged is serveTable with a whole Config; its log lines are
// returned.
func serveLogged(t *testing.T, cfg Config) (string, *Server, *syncbuf.Buffer) {
	t.Helper()
	logs := verboseLog()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	addr, srv := serveConfig(t, cfg)
	return addr, srv, logs
}

// rawRequest writes raw on a new connection and reads one response; the
// connection is returned for more.
func rawRequest(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write request: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, br, resp
}

func TestOriginForwardedByDefault(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	proxy, _ := startProxy(t, "/ws/ ws://"+backend+"/")
	_, _, resp := rawUpgrade(t, proxy, "/ws/x", "Origin: https://Evil.example:8443\r\n", "")
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101: without patterns the backend judges the Origin", resp.StatusCode)
	}
	if got := (<-seenc).header.Get("Origin"); got != "https://Evil.example:8443" {
		t.Errorf("backend saw Origin %q; want it unchanged", got)
	}
}

func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	table := flagTable(t, "/ws/ ws://"+backend+"/")
	table.AllowOrigins = []string{"https://app.example.com", "*.example.org", "http://localhost:*"}
	proxy, srv, logs := serveLogged(t, Config{Table: table})

	cases := []struct {
		name   string
		header string
		want   int
	}{
		{"exact", "Origin: https://app.example.com\r\n", 101},
		{"exact, other case", "Origin: HTTPS://APP.Example.com\r\n", 101},
		{"host glob", "Origin: https://chat.eu.example.org\r\n", 101},
		{"any port", "Origin: http://localhost:5173\r\n", 101},
		{"no Origin: not a browser", "", 101},
		{"other site", "Origin: https://evil.example.net\r\n", 403},
		{"suffix trick", "Origin: https://app.example.com.evil.net\r\n", 403},
		{"other scheme", "Origin: http://app.example.com\r\n", 403},
		{"glob does not match the bare domain", "Origin: https://example.org\r\n", 403},
		{"null", "Origin: null\r\n", 403},
		{"empty", "Origin: \r\n", 403},
		{"two Origin headers", "Origin: https://app.example.com\r\nOrigin: https://evil.example.net\r\n", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, resp := rawUpgrade(t, proxy, "/ws/x", tc.header, "")
			c.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 403 {
				select {
				case got := <-seenc:
					t.Fatalf("refused upgrade reached the backend (Origin %q)", got.header.Get("Origin"))
				default:
				}
				return
			}
			if got := <-seenc; got.header.Get("Origin") != strings.TrimSpace(strings.TrimPrefix(tc.header, "Origin:")) {
				t.Errorf("backend saw Origin %q; want it unchanged", got.header.Get("Origin"))
			}
		})
	}
	if !strings.Contains(logs.String(), `msg="request failed"`) || !strings.Contains(logs.String(), `status=403 error="origin \"https://evil.example.net\" is not allowed`) {
		t.Errorf("no log line for the refused origin; logs:\n%s", logs)
	}
	waitOpen(t, srv, 0)

	// Plain HTTP is not affected: the backend judges it.
	_, _, resp := rawRequest(t, proxy, "GET /ws/page HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example.net\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("plain GET with a foreign Origin = %d; want 200", resp.StatusCode)
	}
}

func TestHeaderTooLarge(t *testing.T) {
	t.Parallel()
	proxy, _, _ := serveLogged(t, Config{Table: flagTable(t, "/ws/ ws://127.0.0.1:1/")})
	big := func(n int) string {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("a", 1000))
		}
		return b.String()
	}
	cases := []struct {
		name string
		size int
		want int
	}{
		{"48 KiB: served", 48 << 10, 404},
		{"100 KiB: past the 64 KiB default", 100 << 10, 431},
		{"one 80 KiB header", 0, 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := big(tc.size)
			if tc.size == 0 {
				h = "X-Big: " + strings.Repeat("b", 80<<10) + "\r\n"
			}
			_, _, resp := rawRequest(t, proxy, "GET /none HTTP/1.1\r\nHost: x\r\n"+h+"\r\n")
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d; want %d", resp.StatusCode, tc.want)
			}
		})
	}
	t.Run("MaxHeaderBytes 4096", func(t *testing.T) {
		proxy, _, _ := serveLogged(t, Config{Table: flagTable(t, "/ws/ ws://127.0.0.1:1/"), MaxHeaderBytes: 4096})
		_, _, resp := rawRequest(t, proxy, "GET /none HTTP/1.1\r\nHost: x\r\n"+big(16<<10)+"\r\n")
		if resp.StatusCode != 431 {
			t.Errorf("status = %d; want 431", resp.StatusCode)
		}
	})
}

// TestRequestLineTooLong checks Apache's LimitRequestLine, observed on
// 2.4.71: a request line of 8191 bytes is served, one of 8192 is answered
// 414 and the connection closed.
func TestRequestLineTooLong(t *testing.T) {
	t.Parallel()
	proxy, _ := startProxy(t, "/ws/ ws://127.0.0.1:1/")
	line := func(n int) string {
		return "GET /" + strings.Repeat("a", n-len("GET / HTTP/1.1")) + " HTTP/1.1"
	}
	cases := []struct {
		n    int
		want int
	}{
		{8191, 404},
		{8192, 414},
		{20000, 414},
		{60000, 414},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			l := line(tc.n)
			if len(l) != tc.n {
				t.Fatalf("line of %d bytes; want %d", len(l), tc.n)
			}
			c, br, resp := rawRequest(t, proxy, l+"\r\nHost: x\r\n\r\n")
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tc.want)
			}
			if tc.want != 414 {
				return
			}
			// Apache drops the connection after a 414.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the 414: read %d bytes, %v; want EOF", n, err)
			}
		})
	}
	t.Run("the upgrade is never forwarded", func(t *testing.T) {
		backend, seenc := recordingBackend(t)
		proxy, _ := startProxy(t, "/ws/ ws://"+backend+"/")
		_, _, resp := rawUpgrade(t, proxy, "/ws/"+strings.Repeat("b", 9000), "", "")
		if resp.StatusCode != 414 {
			t.Fatalf("status = %d; want 414", resp.StatusCode)
		}
		select {
		case <-seenc:
			t.Error("the backend saw the request")
		default:
		}
	})
}

// TestSlowHeaders checks that a client that trickles its headers
// (slowloris) or idles is disconnected after HeaderTimeout.
func TestSlowHeaders(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	proxy, _, _ := serveLogged(t, Config{Table: flagTable(t, "/ws/ ws://127.0.0.1:1/"), HeaderTimeout: timeout})
	// closedAfter reads c until the proxy closes it and returns the time
	// since start, taken by the caller before it dialled: the proxy's
	// clock starts later, so load can only lengthen what is measured.
	closedAfter := func(t *testing.T, c net.Conn, start time.Time, trickle bool) time.Duration {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			errc <- err
		}()
		tick := time.NewTicker(timeout / 10)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case err := <-errc:
				if !errors.Is(err, io.EOF) && !isReset(err) {
					t.Fatalf("read: %v; want the connection closed", err)
				}
				return time.Since(start)
			case <-tick.C:
				if trickle {
					fmt.Fprintf(c, "X-Slow-%d: a\r\n", i) // errors show as the read's
				}
			}
		}
	}
	t.Run("trickled headers", func(t *testing.T) {
		start := time.Now()
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /ws/x HTTP/1.1\r\nHost: x\r\n")
		if d := closedAfter(t, c, start, true); d < timeout || d > timeout+2*time.Second {
			t.Errorf("closed after %v; want about %v", d, timeout)
		}
	})
	t.Run("idle keep-alive connection", func(t *testing.T) {
		c, _, resp := rawRequest(t, proxy, "GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 404 {
			t.Fatalf("status = %d; want 404", resp.StatusCode)
		}
		if d := closedAfter(t, c, time.Now(), false); d > timeout+2*time.Second {
			t.Errorf("closed after %v; want about %v", d, timeout)
		}
	})
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestMaxTunnels(t *testing.T) {
	t.Parallel()
	table := flagTable(t, "/ws/ ws://"+startEcho(t)+"/")
	proxy, srv, logs := serveLogged(t, Config{Table: table, MaxTunnels: 2})
	ctx := testContext(t)
	first := dialWS(t, ctx, "ws://"+proxy+"/ws/1")
	dialWS(t, ctx, "ws://"+proxy+"/ws/2")

	_, resp, err := websocket.Dial(ctx, "ws://"+proxy+"/ws/3", nil)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("third tunnel: %v, %v; want 503", err, resp)
	}
	if !strings.Contains(logs.String(), "status=503") || !strings.Contains(logs.String(), "too many open tunnels") {
		t.Errorf("no log line for the refused tunnel; logs:\n%s", logs)
	}
	got, err := http.Get("http://" + proxy + "/ws/page")
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != 200 {
		t.Errorf("plain GET at the limit = %d; want 200", got.StatusCode)
	}

	first.Close(websocket.StatusNormalClosure, "")
	waitOpen(t, srv, 1)
	c := dialWS(t, ctx, "ws://"+proxy+"/ws/4")
	if err := c.Write(ctx, websocket.MessageText, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "again" {
		t.Errorf("echo after one closed = %q, %v; want %q", msg, err, "again")
	}
	if s := srv.Snapshot(); s.Open != 2 || s.Failed != 1 {
		t.Errorf("Snapshot: %d open, %d failed; want 2, 1", s.Open, s.Failed)
	}
}

// TestRegistryLimitRace adds tunnels from many goroutines at once: the
// check and the add are one step, so exactly max get in.
func TestRegistryLimitRace(t *testing.T) {
	t.Parallel()
	const max = 5
	var reg registry
	var mu sync.Mutex
	var added []*Tunnel
	var refused int
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tn := &Tunnel{Route: "r"}
			err := reg.add(tn, max)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				added = append(added, tn)
			case errors.Is(err, errTooManyTunnels):
				refused++
			default:
				t.Errorf("add: %v", err)
			}
		})
	}
	wg.Wait()
	if len(added) != max || refused != 50-max {
		t.Errorf("added %d, refused %d; want %d, %d", len(added), refused, max, 50-max)
	}
	if got := statusFor(reg.add(&Tunnel{Route: "r"}, max)); got != http.StatusServiceUnavailable {
		t.Errorf("statusFor(too many) = %d; want 503", got)
	}
	for _, tn := range added {
		reg.remove(TunnelInfo{Route: "r"}, tn)
	}
	if err := reg.add(&Tunnel{Route: "r"}, max); err != nil {
		t.Errorf("add after all closed: %v", err)
	}
}

// TestHeaderLineLimits checks Apache's LimitRequestFieldSize and
// LimitRequestFields, observed on 2.4.71: with the defaults (8190, 100) a
// header line of 8191 bytes (CRLF not counted) passes and one of 8192 is
// answered 400, and so are 101 header lines (Host included) while 100
// pass. A refused upgrade never reaches the backend, is logged, the
// connection is closed, and the next connection works. A rules file sets
// other limits with Apache's meaning.
func TestHeaderLineLimits(t *testing.T) {
	t.Parallel()
	line := func(n int) string { return "X-Long: " + strings.Repeat("v", n-len("X-Long: ")) + "\r\n" }
	fields := func(n int) string { // n lines besides rawUpgrade's 5 (Host included)
		n -= 5
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-F%d: 1\r\n", i)
		}
		return b.String()
	}
	cases := []struct {
		name   string
		conf   string // rules file lines before the ProxyPass; "" for the defaults
		header string
		want   int
	}{
		{"line of 8191", "", line(8191), 101},
		{"line of 8192", "", line(8192), 400},
		{"line of 16 KiB", "", line(16 << 10), 400},
		{"100 lines", "", fields(100), 101},
		{"101 lines", "", fields(101), 400},
		{"LimitRequestFieldSize 100: 101", "LimitRequestFieldSize 100\n", line(101), 101},
		{"LimitRequestFieldSize 100: 102", "LimitRequestFieldSize 100\n", line(102), 400},
		{"LimitRequestFields 5: 5", "LimitRequestFields 5\n", fields(5), 101},
		{"LimitRequestFields 5: 6", "LimitRequestFields 5\n", fields(6), 400},
		{"LimitRequestFields 0: no limit", "LimitRequestFields 0\n", fields(300), 101},
		{"LimitRequestLine 200: 201", "LimitRequestLine 200\n", "", 101},
		{"LimitRequestLine 200: 202", "LimitRequestLine 200\n", "", 414},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backend, seenc := recordingBackend(t)
			logs := verboseLog()
			table, err := rules.ParseFile("wsgate.conf", []byte(tc.conf+"ProxyPass /ws/ ws://"+backend+"/\n"), rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			proxy, _ := serveConfig(t, Config{Table: table, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			path := "/ws/x"
			if strings.HasPrefix(tc.name, "LimitRequestLine") {
				// A request line of 201 or 202 bytes.
				n := 201
				if tc.want == 414 {
					n = 202
				}
				path = "/ws/" + strings.Repeat("p", n-len("GET /ws/ HTTP/1.1"))
			}
			c, br, resp := rawUpgrade(t, proxy, path, tc.header, "")
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 101 {
				<-seenc
				return
			}
			select {
			case s := <-seenc:
				t.Fatalf("the backend saw the refused request %s", s.uri)
			default:
			}
			io.Copy(io.Discard, resp.Body)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the %d: read %d bytes, %v; want EOF", tc.want, n, err)
			}
			if !strings.Contains(logs.String(), fmt.Sprintf("status=%d", tc.want)) {
				t.Errorf("no log line for the %d:\n%s", tc.want, logs)
			}
			if _, _, resp := rawUpgrade(t, proxy, "/ws/next", "", ""); resp.StatusCode != 101 {
				t.Errorf("the next connection got %d; want 101", resp.StatusCode)
			}
		})
	}
}

// TestBareLF: a request head with a bare LF anywhere (request line, a
// header line, the blank line) is answered 400 and the connection closed,
// as Apache 2.4.71 answers it, with a log line, and never reaches the
// backend; bare LFs in a body are the body's, and a keep-alive
// connection's next head is watched again.
func TestBareLF(t *testing.T) {
	t.Parallel()
	backend, seenc := recordingBackend(t)
	logs := verboseLog()
	proxy, _ := serveConfig(t, Config{Table: flagTable(t, "/ ws://"+backend+"/"), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	up := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n"
	cases := []struct {
		name  string
		parts []string // sent one after the other, each after the last answer
		want  []int
	}{
		{"request line", []string{"GET /x HTTP/1.1\nHost: h\r\n\r\n"}, []int{400}},
		{"header line", []string{"GET /x HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n"}, []int{400}},
		{"blank line", []string{"GET /x HTTP/1.1\r\nHost: h\r\n\n"}, []int{400}},
		{"upgrade", []string{"GET /x HTTP/1.1\r\nHost: h\r\n" + strings.ReplaceAll(up, "Upgrade\r\n", "Upgrade\n") + "\r\n"}, []int{400}},
		{"all CRLF", []string{"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"}, []int{200}},
		{"empty lines first", []string{"\r\n\r\nGET /x HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n"}, []int{400}},
		{"bare LFs in a body, then a good head",
			[]string{"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\na\nb\n\n", "GET /y HTTP/1.1\r\nHost: h\r\n\r\n"}, []int{200, 200}},
		{"a good head, then a bad one", []string{"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", "GET /y HTTP/1.1\nHost: h\r\n\r\n"}, []int{200, 400}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", proxy)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			for i, part := range tc.parts {
				io.WriteString(c, part)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("answer %d: %v", i+1, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want[i] {
					t.Fatalf("answer %d = %d; want %d", i+1, resp.StatusCode, tc.want[i])
				}
				if tc.want[i] == 400 {
					if n, err := br.Read(make([]byte, 1)); err != io.EOF {
						t.Errorf("after the 400: read %d bytes, %v; want EOF", n, err)
					}
					if !strings.Contains(logs.String(), "bare LF") {
						t.Errorf("no log line for the 400:\n%s", logs)
					}
				}
			}
			for range len(tc.want) {
				select {
				case <-seenc:
				default:
				}
			}
			select {
			case s := <-seenc:
				t.Errorf("the backend saw %s", s.uri)
			default:
			}
		})
	}
}
