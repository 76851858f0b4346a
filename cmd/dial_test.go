package cmd

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/internal/wsproto"
)

// wsBackend serves each WebSocket connection with serve and returns its
// ws:// URL. serve must return once the client is gone.
func wsBackend(t *testing.T, opts *websocket.AcceptOptions, serve func(c *websocket.Conn, r *http.Request)) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(c, r)
	}))
	t.Cleanup(ts.Close)
	return "ws://" + ts.Listener.Addr().String() + "/"
}

// rawBackend answers the opening handshake by hand, then hands the
// connection to then: a backend that misbehaves after the upgrade.
func rawBackend(t *testing.T, then func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
					wsproto.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
				then(conn)
			})
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// streamer is a backend that sends "tick N" every interval until the
// client closes; closes gets the client's close (or the read error).
func streamer(t *testing.T, every time.Duration) (url string, closes <-chan error) {
	got := make(chan error, 1)
	url = wsBackend(t, nil, func(c *websocket.Conn, _ *http.Request) {
		read := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); read <- err }()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 1; ; i++ {
			if err := c.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, "tick %d", i)); err != nil {
				break
			}
			select {
			case err := <-read:
				got <- err
				return
			case <-tick.C:
			}
		}
		got <- <-read
	})
	return url, got
}

// openStdin stays open until the test ends: dial can only stop for a
// reason of its own, never because its input ended.
func openStdin(t *testing.T) io.Reader {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	return pr
}

// wantClose waits for the close a backend received.
func wantClose(t *testing.T, closes <-chan error, code websocket.StatusCode, reason string) {
	t.Helper()
	select {
	case err := <-closes:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
			t.Errorf("the server got %v; want close %d %q", err, code, reason)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the server got no close in 5s; want %d %q", code, reason)
	}
}

func TestDialHelp(t *testing.T) {
	t.Parallel()
	r := runCmd(t, "", "dial", "--help")
	for i, line := range strings.Split(r.stdout, "\n") {
		if len([]rune(line)) >= 80 {
			t.Errorf("dial --help line %d is %d columns; want under 80: %q", i+1, len([]rune(line)), line)
		}
	}
	for _, want := range []string{"--count N", "--once", "--idle-exit D", "--binary, -b", "--base64", "--file FILE",
		"--binary-format F", "--ping D", "--close CODE[:REASON]", "--origin URL", "--verbose, -v",
		"0  normal close", "1  error", "2  bad arguments", "3  abnormal close"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dial --help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestDialBadFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args   []string
		stderr string
	}{
		{[]string{"--close", "1006"}, `--close "1006": want CODE[:REASON]`},
		{[]string{"--close", "5000"}, `--close "5000"`},
		{[]string{"--close", "bye"}, `--close "bye"`},
		{[]string{"--close", "4000:" + strings.Repeat("x", 124)}, "at most 123 fit"},
		{[]string{"--binary-format", "octal"}, `--binary-format "octal": want base64, hex or raw`},
		{[]string{"--once", "--count", "2"}, "--once is --count 1"},
		{[]string{"--count", "-1"}, "--count -1: want 1 or more"},
		{[]string{"--ping", "-1s"}, "--ping -1s"},
		{[]string{"--file", "/nonexistent/input"}, "--file: open /nonexistent/input"},
	}
	for _, tc := range cases {
		r := runCmd(t, "", append(append([]string{"dial"}, tc.args...), "ws://127.0.0.1:1/")...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("dial %v = exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.stderr)
		}
	}
}

// TestDialExitCodes: 0 for a normal close by the server, 3 for another
// code or a connection dropped without a close frame, 1 when there is no
// conversation at all. Input stays open, so only the server ends it.
func TestDialExitCodes(t *testing.T) {
	t.Parallel()
	closer := func(code websocket.StatusCode, reason string) string {
		return wsBackend(t, nil, func(c *websocket.Conn, _ *http.Request) { c.Close(code, reason) })
	}
	cases := []struct {
		name, url string
		code      int
		stderr    string
	}{
		{"1000", closer(websocket.StatusNormalClosure, "done"), 0, "* server closed with 1000 done"},
		{"1001", closer(websocket.StatusGoingAway, ""), 0, "* server closed with 1001"},
		{"4001", closer(4001, "go away"), 3, "wsgate: closed by server with 4001 go away"},
		{"1011", closer(websocket.StatusInternalError, ""), 3, "wsgate: closed by server with 1011\n"},
		{"dropped", rawBackend(t, func(net.Conn) {}), 3, "connection dropped without a close frame (1006)"},
		{"refused", "ws://127.0.0.1:1/", 1, "wsgate: dial ws://127.0.0.1:1/: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCmdIn(t, openStdin(t), "dial", "-v", tc.url)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("dial = exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

// TestDialUnansweredClose: dial's own close that gets no close frame back
// is the abnormal 1006 too.
func TestDialUnansweredClose(t *testing.T) {
	t.Parallel()
	url := rawBackend(t, func(conn net.Conn) { conn.Read(make([]byte, 64)) }) // the close frame, then hang up
	r := runCmd(t, "", "dial", "--wait", "1ms", url)
	if r.code != 3 || !strings.Contains(r.stderr, "sent close 1000; no close frame came back") {
		t.Errorf("dial = exit %d, stderr %q; want 3, no close frame came back", r.code, r.stderr)
	}
}

func TestDialNon101(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("0123456789abcdef", 320) // 5 KiB
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/long" {
			http.Error(w, long, http.StatusForbidden)
			return
		}
		http.Error(w, "no such room", http.StatusNotFound)
	}))
	defer ts.Close()
	base := "ws://" + ts.Listener.Addr().String()

	r := runCmd(t, "", "dial", base+"/long")
	want := "wsgate: dial " + base + "/long: server answered 403 Forbidden instead of 101 Switching Protocols; its body:\n" +
		long[:4096] + "\n(the first 4 KiB of the body)\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("dial /long = exit %d, stderr\n%q\nwant 1 and\n%q", r.code, r.stderr, want)
	}
	r = runCmd(t, "", "dial", base+"/short")
	want = "wsgate: dial " + base + "/short: server answered 404 Not Found instead of 101 Switching Protocols; its body:\nno such room\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("dial /short = exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

// TestDialCount: against a server that never stops, --count and --once
// print exactly that many messages, close (with --close's code) and exit
// 0; the end of input, long past with --wait 1ms, does not cut them short.
func TestDialCount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args   []string
		stdout string
		code   websocket.StatusCode
		reason string
	}{
		{[]string{"--count", "3"}, "tick 1\ntick 2\ntick 3\n", websocket.StatusNormalClosure, ""},
		{[]string{"--once", "--close", "4000:bye"}, "tick 1\n", 4000, "bye"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			url, closes := streamer(t, 20*time.Millisecond)
			r := runCmd(t, "", append(append([]string{"dial", "--wait", "1ms"}, tc.args...), url)...)
			if r.code != 0 || r.stdout != tc.stdout {
				t.Errorf("dial %v = exit %d, stdout %q, stderr %q; want 0 and %q", tc.args, r.code, r.stdout, r.stderr, tc.stdout)
			}
			wantClose(t, closes, tc.code, tc.reason)
		})
	}
}

// TestDialIdleExit: with input still open, --idle-exit ends the
// conversation once the server has been quiet that long.
func TestDialIdleExit(t *testing.T) {
	t.Parallel()
	closes := make(chan error, 1)
	url := wsBackend(t, nil, func(c *websocket.Conn, _ *http.Request) {
		c.Write(context.Background(), websocket.MessageText, []byte("hello"))
		_, _, err := c.Read(context.Background())
		closes <- err
	})
	r := runCmdIn(t, openStdin(t), "dial", "-v", "--idle-exit", "100ms", url)
	if r.code != 0 || r.stdout != "hello\n" || !strings.Contains(r.stderr, "* sending close 1000 (nothing for --idle-exit 100ms)") {
		t.Errorf("dial --idle-exit = exit %d, stdout %q, stderr %q; want 0, hello and a close for --idle-exit", r.code, r.stdout, r.stderr)
	}
	wantClose(t, closes, websocket.StatusNormalClosure, "")
}

func TestDialPing(t *testing.T) {
	t.Parallel()
	t.Run("no pong", func(t *testing.T) {
		t.Parallel()
		url := rawBackend(t, func(conn net.Conn) { io.Copy(io.Discard, conn) }) // reads, never answers
		r := runCmdIn(t, openStdin(t), "dial", "--ping", "50ms", url)
		if r.code != 1 || !strings.Contains(r.stderr, "wsgate: no pong within --ping 50ms") {
			t.Errorf("dial --ping to a server that does not answer = exit %d, stderr %q; want 1 and no pong", r.code, r.stderr)
		}
	})
	t.Run("pongs", func(t *testing.T) {
		t.Parallel()
		pinged := make(chan struct{}, 3)
		opts := &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
			select {
			case pinged <- struct{}{}:
			default:
			}
			return true
		}}
		url := wsBackend(t, opts, func(c *websocket.Conn, _ *http.Request) {
			ctx := c.CloseRead(context.Background()) // answers pings
			for range 3 {
				select {
				case <-pinged:
				case <-ctx.Done():
					return
				}
			}
			c.Write(ctx, websocket.MessageText, []byte("3 pings"))
			<-ctx.Done()
		})
		r := runCmdIn(t, openStdin(t), "dial", "--ping", "10ms", "--once", url)
		if r.code != 0 || r.stdout != "3 pings\n" {
			t.Errorf("dial --ping --once = exit %d, stdout %q, stderr %q; want 0 after the server saw 3 pings", r.code, r.stdout, r.stderr)
		}
	})
}

func TestDialBinary(t *testing.T) {
	t.Parallel()
	addr, _ := background(t, "echo", "--listen", "127.0.0.1:0", "--quiet")
	url := "ws://" + addr + "/"
	file := writeFile(t, "msg.bin", string(bin3000()))
	cases := []struct {
		name, stdin string
		args        []string
		stdout      string
	}{
		{"base64 lines", "aGVsbG8=\nAAH_\nAAH/\n\nAAE", []string{"--base64"}, "aGVsbG8=\nAAH/\nAAH/\n\nAAE=\n"},
		{"whole as base64", "a\nb\n", []string{"--binary"}, "YQpiCg==\n"},
		{"hex", "\x00\x01\xfe\xff", []string{"-b", "--binary-format", "hex"}, "0001feff\n"},
		{"raw", "ab\x00c", []string{"-b", "--binary-format", "raw"}, "ab\x00c\n"},
		{"base64 in, hex out", "AAH/\n", []string{"--binary", "--base64", "--binary-format", "hex"}, "0001ff\n"},
		{"file", "ignored", []string{"-b", "--file", file, "--binary-format", "hex"}, hex.EncodeToString(bin3000()) + "\n"},
		{"text stays text", "plain\n", []string{"--binary-format", "hex"}, "plain\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, tc.stdin, append(append([]string{"dial", "--wait", "200ms"}, tc.args...), url)...)
			if r.code != 0 || r.stdout != tc.stdout {
				t.Errorf("dial %v = exit %d, stdout %q, stderr %q; want 0 and %q", tc.args, r.code, r.stdout, r.stderr, tc.stdout)
			}
		})
	}
	r := runCmd(t, "aGVsbG8=\nnot base64!\n", "dial", "--base64", url)
	if r.code != 1 || !strings.Contains(r.stderr, "wsgate: input line 2: illegal base64 data") {
		t.Errorf("dial --base64 with a bad line = exit %d, stderr %q; want 1 and the line", r.code, r.stderr)
	}
}

func bin3000() []byte {
	p := make([]byte, 3000)
	for i := range p {
		p[i] = byte(i * 7)
	}
	return p
}

// TestDialVerbose: -v shows the request as sent, the answer, what was
// negotiated, the timing and the closes, on stderr only.
func TestDialVerbose(t *testing.T) {
	t.Parallel()
	origins := make(chan string, 1)
	url := wsBackend(t, &websocket.AcceptOptions{Subprotocols: []string{"chat.v1"}, InsecureSkipVerify: true},
		func(c *websocket.Conn, r *http.Request) {
			origins <- r.Header.Get("Origin")
			typ, p, err := c.Read(context.Background())
			if err == nil {
				c.Write(context.Background(), typ, p)
				c.Read(context.Background()) // the close
			}
		})
	r := runCmd(t, "hi\n", "dial", "-v", "--subprotocol", "x.v2,chat.v1", "-H", "X-Token: t1",
		"--origin", "https://app.example", url+"room?x=1")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("dial -v = exit %d, stdout %q, stderr %q; want 0 and the echo alone", r.code, r.stdout, r.stderr)
	}
	if got := <-origins; got != "https://app.example" {
		t.Errorf("the server got Origin %q; want https://app.example", got)
	}
	for _, want := range []string{
		"> GET /room?x=1 HTTP/1.1\n> Host: 127.0.0.1:",
		"> User-Agent: Go-http-client/1.1\n",
		"> Origin: https://app.example\n",
		"> Sec-Websocket-Protocol: x.v2,chat.v1\n",
		"> X-Token: t1\n",
		"< HTTP/1.1 101 Switching Protocols\n",
		"< Sec-Websocket-Protocol: chat.v1\n",
		"* subprotocol: chat.v1; extensions: none\n",
		"* sending close 1000 (end of input)\n",
		"* server answered with close 1000\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("dial -v stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !regexp.MustCompile(`(?m)^\* answered in [0-9.]+ms \(connect [0-9.]+ms, server [0-9.]+ms\)$`).MatchString(r.stderr) {
		t.Errorf("dial -v stderr has no timing line:\n%s", r.stderr)
	}
}
