package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs wsgate in-process to completion.
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCmdIn(t, strings.NewReader(stdin), args...)
}

// runCmdIn is runCmd reading stdin, which may stay open (a pipe).
func runCmdIn(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb syncbuf.Buffer
	e := &env{stdin: stdin, stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		info: Info{Version: "1.2.3", Commit: "abc123", Date: "2026-11-27"}}
	code := run(ctx, e, append([]string{"wsgate"}, args...))
	return result{code, out.String(), errb.String()}
}

// background runs a long-lived command (serve, echo) until the test ends and
// returns the address from its "listening on" line.
func background(t *testing.T, args ...string) (addr string, stdout *syncbuf.Buffer) {
	t.Helper()
	return backgroundWith(t, nil, args...)
}

// backgroundWith is background with the listeners of held (handOver)
// for serve to listen on.
func backgroundWith(t *testing.T, held map[string]net.Listener, args ...string) (addr string, stdout *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stdout = &syncbuf.Buffer{}
	var errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(string) string { return "" }}
	e.listen = handedOver(held)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, append([]string{"wsgate"}, args...))
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		stdout.Write(append(lines.Bytes(), '\n'))
		if _, a, ok := strings.Cut(lines.Text(), "listening on "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("%v: no 'listening on' line; stdout %q, stderr %q", args, stdout.String(), errb.String())
	}
	copied := make(chan struct{})
	go func() {
		for lines.Scan() {
			stdout.Write(append(lines.Bytes(), '\n'))
		}
		close(copied)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%v exited %d; want 0 after a stop signal; stderr: %s", args, code, errb.String())
		}
		<-copied
	})
	return addr, stdout
}

// handOver opens n listeners on free loopback ports, for serve to be
// handed (backgroundWith) where a rules file names their addresses: no
// other process can take a port between the test choosing it and serve
// listening on it. Those serve does not take are closed when t ends.
func handOver(t *testing.T, n int) (addrs []string, held map[string]net.Listener) {
	t.Helper()
	held = map[string]net.Listener{}
	lc := net.ListenConfig{KeepAlive: -1} // as serve's own
	for range n {
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		addrs = append(addrs, ln.Addr().String())
		held[ln.Addr().String()] = ln
	}
	return addrs, held
}

// handedOver is the env.listen that hands serve the listeners of held,
// and fails for any other address; nil for no held.
func handedOver(held map[string]net.Listener) func(context.Context, string, string) (net.Listener, error) {
	if held == nil {
		return nil
	}
	return func(_ context.Context, _, addr string) (net.Listener, error) {
		if ln, ok := held[addr]; ok {
			delete(held, addr)
			return ln, nil
		}
		return nil, fmt.Errorf("the test holds no listener on %s", addr)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		noStdout bool
	}{
		{name: "help", args: []string{"--help"}, stdout: "serve"},
		{name: "serve help", args: []string{"serve", "--help"}, stdout: "--pass"},
		{name: "dial help", args: []string{"dial", "--help"}, stdout: "--timeout"},
		{name: "echo help", args: []string{"echo", "--help"}, stdout: "--subprotocol"},
		{name: "version", args: []string{"version"}, stdout: "wsgate 1.2.3 (commit abc123, built 2026-11-27, "},
		{name: "unknown flag", args: []string{"serve", "--nope"}, code: 2, stderr: "wsgate: unknown flag --nope (see 'wsgate serve --help')"},
		{name: "misspelt flag", args: []string{"serve", "--listn", "8080"}, code: 2, stderr: "unknown flag --listn, did you mean --listen? (see 'wsgate serve --help')"},
		{name: "misspelt short flag", args: []string{"check", "--strcit"}, code: 2, stderr: "unknown flag --strcit, did you mean --strict?"},
		{name: "help command", args: []string{"help"}, stdout: "COMMANDS:"},
		{name: "help topic", args: []string{"help", "serve"}, stdout: "wsgate serve - run the proxy"},
		{name: "help unknown topic", args: []string{"help", "serv"}, code: 2, stderr: `unknown command "serv", did you mean "serve"?`, noStdout: true},
		{name: "misspelt command", args: []string{"serv", "--demo"}, code: 2, stderr: `wsgate: unknown command "serv", did you mean "serve"? (see 'wsgate --help')`, noStdout: true},
		{name: "unknown command", args: []string{"proxy"}, code: 2, stderr: `wsgate: unknown command "proxy" (see 'wsgate --help')`},
		{name: "-v is not the version", args: []string{"-v"}, code: 2, stderr: "unknown flag -v"},
		{name: "--version", args: []string{"--version"}, stdout: "1.2.3"},
		{name: "backend without scheme", args: []string{"serve", "--pass", "/chat/ 127.0.0.1:9001"}, code: 2,
			stderr: `URL "127.0.0.1:9001" has no scheme; did you mean ws://127.0.0.1:9001?`},
		{name: "lone backend without scheme", args: []string{"serve", "localhost:9001"}, code: 2,
			stderr: `backend URL: ProxyPass: URL "localhost:9001" has no scheme; did you mean ws://localhost:9001?`},
		{name: "no mapping", args: []string{"serve"}, code: 2, stderr: "nothing to proxy", noStdout: true},
		{name: "two URLs", args: []string{"serve", "ws://a/", "ws://b/"}, code: 2, stderr: "at most one backend URL"},
		{name: "bad scheme", args: []string{"serve", "--pass", "/ws/ ftp://127.0.0.1/"}, code: 2, stderr: "--pass 1:6: ProxyPass: unsupported scheme \"ftp\""},
		{name: "misspelt parameter", args: []string{"serve", "--pass", "/ ws://127.0.0.1:1/", "--pass", "/ws/ ws://127.0.0.1:1/ upgarde=websocket"},
			code: 2, stderr: `--pass 2:24: ProxyPass: unknown parameter "upgarde" (did you mean "upgrade"?)`},
		{name: "bad log format", args: []string{"serve", "--log-format", "xml", "ws://127.0.0.1:1/"}, code: 2, stderr: "want text or json"},
		{name: "listen fails", args: []string{"serve", "--listen", "256.0.0.1:0", "ws://127.0.0.1:1/"}, code: 1, stderr: "wsgate: listen:"},
		{name: "dial no URL", args: []string{"dial"}, code: 2, stderr: "dial takes one URL"},
		{name: "dial bad header", args: []string{"dial", "-H", "nocolon", "ws://127.0.0.1:1/"}, code: 2, stderr: "want 'Name: value'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code = %d; want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("stdout = %q; want it to contain %q", r.stdout, tc.stdout)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tc.stderr)
			}
			if tc.noStdout && r.stdout != "" {
				t.Errorf("stdout = %q; want nothing", r.stdout)
			}
		})
	}
}

func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	addr, stdout := background(t, "serve", "--demo", "--listen", "127.0.0.1:0")
	r := runCmd(t, "hello\nworld\n", "dial", "--wait", "200ms", "ws://"+addr+"/chat")
	if r.code != 0 || r.stdout != "hello\nworld\n" {
		t.Fatalf("dial through the demo = exit %d, stdout %q, stderr %q; want 0 and the lines echoed", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(stdout.String(), "wsgate dial ws://"+addr+"/") {
		t.Errorf("demo output %q does not say how to connect", stdout.String())
	}
	// The same address serves the echo's page as plain HTTP, for a browser.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("new WebSocket(")) {
		t.Errorf("GET / = %d, %d bytes; want the demo page", resp.StatusCode, len(body))
	}
}

func TestEchoAndDial(t *testing.T) {
	t.Parallel()
	addr, _ := background(t, "echo", "--listen", "127.0.0.1:0", "--subprotocol", "chat.v1")
	r := runCmd(t, "one\n\ntwo", "dial", "--wait", "200ms", "--subprotocol", "chat.v1", "ws://"+addr+"/")
	if r.code != 0 || r.stdout != "one\n\ntwo\n" {
		t.Errorf("dial echo = exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, "one\n\ntwo\n")
	}
}

func TestDialFailures(t *testing.T) {
	t.Parallel()
	closer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(4001, "go away")
	}))
	defer closer.Close()
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--pass", "/ws/ ws://"+closer.Listener.Addr().String()+"/")

	cases := []struct {
		name, url string
		code      int
		stderr    string
	}{
		{"closed with 4001", "ws://" + proxy + "/ws/", 3, "wsgate: closed by server with 4001 go away"},
		{"404", "ws://" + proxy + "/nowhere", 1, "server answered 404 Not Found instead of 101"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", "dial", "--wait", "5s", tc.url)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("dial %s = exit %d, stderr %q; want %d and %q", tc.url, r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestServeLogLines(t *testing.T) {
	t.Parallel()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"wsgate", "serve", "--log-format", "json", "--listen", "127.0.0.1:0", "ws://" + echoAddr + "/"})
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	first, _ := br.ReadString('\n')
	addr := strings.TrimSpace(strings.TrimPrefix(first, "wsgate: listening on "))
	go io.Copy(io.Discard, br)

	r := runCmd(t, "ping\n", "dial", "--wait", "100ms", "ws://"+addr+"/x?y=1")
	if r.code != 0 {
		t.Fatalf("dial: exit %d, stderr %q", r.code, r.stderr)
	}
	// The tunnel ends a moment after dial returns: wait for its line.
	eventually.True(t, 5*time.Second, func() bool { return strings.Contains(errb.String(), "tunnel closed") },
		func() string { return "no 'tunnel closed' line:\n" + errb.String() })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d; stderr %s", code, errb.String())
	}
	logs := errb.String()
	for _, want := range []string{`"msg":"tunnel open"`, `"msg":"tunnel closed"`, `"path":"/x?y=1"`, `"backend":"ws://` + echoAddr + `/x?y=1"`, `"up":18,"down":10`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lines lack %s:\n%s", want, logs)
		}
	}
	// After a close handshake either peer may drop TCP first; the proxy
	// did not end this tunnel.
	if !strings.Contains(logs, `"closed_by":"client"`) && !strings.Contains(logs, `"closed_by":"backend"`) {
		t.Errorf("closed_by is neither client nor backend:\n%s", logs)
	}
}

func TestBackendCA(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(echo.Handler(echo.Options{}))
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	backend := "wss://" + ts.Listener.Addr().String() + "/"
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--backend-ca", ca, backend)
	r := runCmd(t, "secret\n", "dial", "--wait", "200ms", "ws://"+proxy+"/")
	if r.code != 0 || r.stdout != "secret\n" {
		t.Errorf("dial through a wss:// backend = exit %d, stdout %q, stderr %q; want the echo", r.code, r.stdout, r.stderr)
	}

	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, file := range []string{notPEM, filepath.Join(t.TempDir(), "missing.pem")} {
		r := runCmd(t, "", "serve", "--backend-ca", file, backend)
		if r.code != 2 || !strings.Contains(r.stderr, "--backend-ca") {
			t.Errorf("serve --backend-ca %s = exit %d, stderr %q; want 2 and an error naming the flag", file, r.code, r.stderr)
		}
	}
}

// TestServeQuiet: --quiet drops the per-tunnel lines and keeps warnings.
func TestServeQuiet(t *testing.T) {
	t.Parallel()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0", "--quiet")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"wsgate", "serve", "--quiet", "--listen", "127.0.0.1:0",
			"--pass", "/dead ws://127.0.0.1:1/", "--pass", "/ ws://" + echoAddr + "/"})
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	first, _ := br.ReadString('\n')
	addr := strings.TrimSpace(strings.TrimPrefix(first, "wsgate: listening on "))
	go io.Copy(io.Discard, br)

	if r := runCmd(t, "ping\n", "dial", "ws://"+addr+"/x"); r.code != 0 {
		t.Fatalf("dial: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCmd(t, "", "dial", "ws://"+addr+"/dead"); r.code == 0 {
		t.Fatalf("dial to a dead backend: exit 0")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d; stderr %s", code, errb.String())
	}
	logs := errb.String()
	if strings.Contains(logs, "tunnel open") || strings.Contains(logs, "tunnel closed") {
		t.Errorf("--quiet logged tunnel lines:\n%s", logs)
	}
	if !strings.Contains(logs, "request failed") || !strings.Contains(logs, "status=503") {
		t.Errorf("--quiet dropped the warning about the dead backend:\n%s", logs)
	}
}

// Every --help fits an 80-column terminal, and shows no default that
// says nothing.
func TestHelpFitsIn80Columns(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"check", "--help"}, {"route", "--help"},
		{"echo", "--help"}, {"dial", "--help"}, {"bench", "--help"}, {"version", "--help"}} {
		r := runCmd(t, "", args...)
		if r.code != 0 {
			t.Errorf("%s: exit %d", args, r.code)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if len([]rune(l)) > helpWidth {
				t.Errorf("%s: %d columns: %q", args, len([]rune(l)), l)
			}
			if strings.Contains(l, "(default: 0") || strings.Contains(l, "(default: false") {
				t.Errorf("%s: a default that says nothing: %q", args, l)
			}
		}
	}
}

// echo --print shows what it receives: text as is or quoted, binary in
// hex, long payloads cut.
func TestEchoPrint(t *testing.T) {
	t.Parallel()
	addr, stdout := background(t, "echo", "--print", "--listen", "127.0.0.1:0")
	r := runCmd(t, "hello\nsecond line\n", "dial", "--wait", "200ms", "ws://"+addr+"/")
	if r.code != 0 {
		t.Fatalf("dial = exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{" text 5 B: hello", " text 11 B: second line"} {
		eventually.True(t, 5*time.Second, func() bool { return strings.Contains(stdout.String(), want) },
			func() string { return fmt.Sprintf("echo --print wrote %q; want a line with %q", stdout.String(), want) })
	}
}

func TestEchoPrinter(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := printer(&env{stdout: &out}, true)
	p("c:1", false, []byte{0, 1, 0xfe}, 3)
	p("c:1", true, []byte("a\tb"), 3)
	p("c:1", true, []byte(strings.Repeat("x", printShown+1)), printShown+1)
	p("c:1", false, nil, 5<<20)
	want := "c:1 binary 3 B: 0001fe\n" +
		"c:1 text 3 B: \"a\\tb\"\n" +
		"c:1 text 257 B: " + strings.Repeat("x", printShown) + " …\n" +
		"c:1 binary 5242880 B: (streamed back, not shown)\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}
	if printer(&env{}, false) != nil {
		t.Error("printer(off) is not nil")
	}
}
