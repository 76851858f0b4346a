package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/internal/syncbuf"
	"github.com/wsgate/wsgate/internal/wstest"
	"github.com/wsgate/wsgate/trace"
)

// serveWhile runs serve with args, calls f with the address it listens on,
// waits for n tunnel-closed log lines, stops serve as Ctrl-C would and
// returns what it printed.
func serveWhile(t *testing.T, n int, args []string, f func(addr string)) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	pr, pw := io.Pipe()
	var out, errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(string) string { return "" },
		info: Info{Version: "1.2.3"}}
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, e, append([]string{"wsgate", "serve", "--log-format", "json", "--listen", "127.0.0.1:0"}, args...))
		pw.Close()
	}()
	copied := make(chan struct{})
	addrc := make(chan string, 1)
	go func() {
		defer close(copied)
		lines := bufio.NewScanner(pr)
		for lines.Scan() {
			out.Write(append(lines.Bytes(), '\n'))
			if _, a, ok := strings.Cut(lines.Text(), "listening on "); ok {
				addrc <- a
			}
		}
	}()
	var code int
	select {
	case addr := <-addrc:
		f(addr)
		for strings.Count(errb.String(), `"msg":"tunnel closed"`) < n {
			if ctx.Err() != nil {
				t.Fatalf("fewer than %d 'tunnel closed' lines:\n%s", n, errb.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		code = <-done
	case code = <-done: // it stopped before listening
	}
	<-copied
	return result{code, out.String(), errb.String()}
}

// talk sends a text message, a binary one, a long text one, a ping and a
// close with 1000 "bye", reading each echo.
func talk(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.CloseNow()
	for _, m := range []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageBinary, []byte{0, 1, 0xfe, 0xff}},
		{websocket.MessageText, bytes.Repeat([]byte("a"), 1000)},
	} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %v %q = %v %q, %v", m.typ, m.data, typ, got, err)
		}
	}
	// Ping and Close need a reader to see the pong and the close answer.
	read := make(chan struct{})
	go func() { c.Read(ctx); close(read) }()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	<-read
}

func TestServeTrace(t *testing.T) {
	t.Parallel()
	echoSrv := httptest.NewServer(echoHandler(t, websocket.CompressionContextTakeover))
	defer echoSrv.Close()
	dir := t.TempDir()
	jsonl, har := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "out.har")
	r := serveWhile(t, 1, []string{"--trace", "--trace-strip-compression", "--trace-bytes", "16", "--trace-file", jsonl, "--har", har,
		"ws://" + echoSrv.Listener.Addr().String() + "/"}, func(addr string) {
		talk(t, "ws://"+addr+"/chat?room=1")
	})
	if r.code != 0 {
		t.Fatalf("serve exit %d; stderr %s", r.code, r.stderr)
	}

	// Standard output: the note on compression, then one line a message.
	if !strings.Contains(r.stdout, "\nwsgate: trace: permessage-deflate is removed from upgrade requests") {
		t.Errorf("stdout does not say that compression is removed:\n%s", r.stdout)
	}
	want := []string{
		`→ text   5 "hello"`, `← text   5 "hello"`,
		`→ binary 4 00 01 fe ff`, `← binary 4 00 01 fe ff`,
		`→ text   1000 "aaaaaaaaaaaaaaaa" … +984 bytes`, `← text   1000 "aaaaaaaaaaaaaaaa" … +984 bytes`,
		`→ ping   1 31`, `← pong   1 31`,
		`→ close  1000 normal closure "bye"`, `← close  1000 normal closure "bye"`,
	}
	// Not a terminal: compact lines, timed from the tunnel's start, with
	// its rule.
	line := regexp.MustCompile(`(?m)^\+\d+\.\d\d\ds #1 backend URL / (.*)$`)
	var got []string
	for _, m := range line.FindAllStringSubmatch(r.stdout, -1) {
		got = append(got, m[1])
	}
	if len(got) != len(want) {
		t.Errorf("%d trace lines; want %d:\n%s", len(got), len(want), r.stdout)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, " #1 backend URL / "+w+"\n") {
			t.Errorf("no trace line %q in:\n%s", w, r.stdout)
		}
	}

	// The JSON Lines: the same messages, none compressed.
	data, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	var recs []trace.Record
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec trace.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		recs = append(recs, rec)
	}
	var up, down, closes int
	for _, rec := range recs {
		switch rec.Dir {
		case "up":
			up++
		case "down":
			down++
		}
		if rec.Compressed {
			t.Errorf("compressed message although --trace strips compression: %+v", rec)
		}
		if rec.Opcode == "close" && rec.CloseCode == 1000 && rec.CloseReason == "bye" {
			closes++
		}
		if rec.Tunnel != 1 || rec.Time.IsZero() {
			t.Errorf("record without tunnel or time: %+v", rec)
		}
	}
	if len(recs) != 10 || up != 5 || down != 5 || closes != 2 {
		t.Errorf("JSON Lines: %d records, %d up, %d down, %d closes 1000 bye; want 10, 5, 5, 2:\n%s", len(recs), up, down, closes, data)
	}

	// The HAR: one websocket entry, the upgrade, the ten messages.
	data, err = os.ReadFile(har)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Log struct {
			Creator struct{ Name, Version string }
			Entries []struct {
				Request struct {
					URL         string
					QueryString []struct{ Name, Value string }
				}
				Response struct {
					Status  int
					Headers []struct{ Name, Value string }
				}
				ResourceType string `json:"_resourceType"`
				Messages     []struct {
					Type      string
					Opcode    int
					Data      string
					CloseCode int `json:"_closeCode"`
				} `json:"_webSocketMessages"`
			}
		}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("HAR: %v\n%s", err, data)
	}
	if len(f.Log.Entries) != 1 {
		t.Fatalf("HAR: %d entries; want 1:\n%s", len(f.Log.Entries), data)
	}
	e := f.Log.Entries[0]
	if f.Log.Creator.Version != "1.2.3" || e.ResourceType != "websocket" || e.Response.Status != 101 ||
		!strings.HasSuffix(e.Request.URL, "/chat?room=1") || len(e.Request.QueryString) != 1 {
		t.Errorf("HAR entry: creator %+v, _resourceType %q, status %d, url %q, query %v", f.Log.Creator, e.ResourceType, e.Response.Status, e.Request.URL, e.Request.QueryString)
	}
	for _, h := range e.Response.Headers {
		if strings.EqualFold(h.Name, "Sec-WebSocket-Extensions") {
			t.Errorf("the 101 sent to the client negotiated %s: %s", h.Name, h.Value)
		}
	}
	validateHAR(t, har)
	var sent, received, closeCodes int
	for _, m := range e.Messages {
		switch m.Type {
		case "send":
			sent++
		case "receive":
			received++
		}
		if m.Opcode == 8 && m.CloseCode == 1000 && m.Data == "bye" {
			closeCodes++
		}
	}
	if len(e.Messages) != 10 || sent != 5 || received != 5 || closeCodes != 2 || e.Messages[0].Data != "hello" {
		t.Errorf("HAR messages: %d, %d sent, %d received, %d closes with 1000; want 10, 5, 5, 2, first hello:\n%s", len(e.Messages), sent, received, closeCodes, data)
	}
}

// TestServeTraceCompression: by default a trace leaves permessage-deflate
// alone and shows compressed messages inflated, with both sizes; the old
// --trace-keep-compression is accepted and says it does nothing.
func TestServeTraceCompression(t *testing.T) {
	t.Parallel()
	echoSrv := httptest.NewServer(echoHandler(t, websocket.CompressionContextTakeover))
	defer echoSrv.Close()
	for _, args := range [][]string{{"--trace"}, {"--trace", "--trace-keep-compression"}} {
		r := serveWhile(t, 1, append(args, "ws://"+echoSrv.Listener.Addr().String()+"/"), func(addr string) {
			talk(t, "ws://"+addr+"/")
		})
		if r.code != 0 {
			t.Fatalf("%v: serve exit %d; stderr %s", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "wsgate: trace: permessage-deflate passes untouched; compressed messages are shown inflated") {
			t.Errorf("%v: stdout does not say that compression is kept:\n%s", args, r.stdout)
		}
		deprecated := strings.Contains(r.stderr, "--trace-keep-compression is deprecated")
		if deprecated != (len(args) == 2) {
			t.Errorf("%v: stderr %q: the deprecation notice is there: %v", args, r.stderr, deprecated)
		}
		deflated := regexp.MustCompile(`(?m) text   1000 \[deflated (\d+)→1000 B\] "a{256}" … \+744 bytes$`)
		if got := deflated.FindAllStringSubmatch(r.stdout, -1); len(got) != 2 {
			t.Errorf("%v: %d lines of the long message inflated; want 2 (both ways):\n%s", args, len(got), r.stdout)
		}
		if !strings.Contains(r.stdout, `→ text   5 "hello"`) {
			t.Errorf("%v: a short message (not compressed) is not shown as text:\n%s", args, r.stdout)
		}
	}
}

// TestServeHARNoTunnels: a HAR with nothing in it is still a valid one.
func TestServeHARNoTunnels(t *testing.T) {
	t.Parallel()
	har := filepath.Join(t.TempDir(), "empty.har")
	os.WriteFile(har, bytes.Repeat([]byte("old content "), 100), 0o644)
	r := serveWhile(t, 0, []string{"--har", har, "ws://127.0.0.1:1/"}, func(addr string) {
		// A request answered (503: nothing on port 1) says that serve is
		// serving: a stop before that may leave tunnel.Server.Serve
		// running after Shutdown.
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		if resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
	})
	if r.code != 0 {
		t.Fatalf("serve exit %d; stderr %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(har)
	if err != nil {
		t.Fatal(err)
	}
	// The request answered 503 is the one entry: plain requests are
	// traced too.
	var f struct {
		Log struct {
			Entries []struct {
				Response struct{ Status int }
			}
		}
	}
	if err := json.Unmarshal(data, &f); err != nil || len(f.Log.Entries) != 1 || f.Log.Entries[0].Response.Status != 503 {
		t.Errorf("HAR with no tunnels = %v, %s; want the one plain request, answered 503", err, data)
	}
	validateHAR(t, har)
}

func TestTraceUsage(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "out")
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"trace file", []string{"--trace-file", missing}, "wsgate: --trace-file: open " + missing},
		{"har", []string{"--har", missing}, "wsgate: --har: open " + missing},
		{"bytes 0", []string{"--trace", "--trace-bytes", "0"}, "--trace-bytes 0: want 1 to 1048576"},
		{"bytes without trace", []string{"--trace-bytes", "64"}, "--trace-bytes applies to --trace, --trace-file or --har"},
		{"strip without trace", []string{"--trace-strip-compression"}, "--trace-strip-compression applies to"},
		{"filter without trace", []string{"--trace-filter", "dir=up"}, "--trace-filter applies to --trace, --trace-file or --har"},
		{"format without trace", []string{"--trace-format", "raw"}, "--trace-format applies to --trace, --trace-file or --har"},
		{"format without text", []string{"--trace-file", os.DevNull, "--trace-format", "raw"}, "wsgate: --trace-format applies to --trace, which is not given"},
		{"bad format", []string{"--trace", "--trace-format", "json"}, `wsgate: --trace-format "json": want pretty, compact or raw`},
		{"bad filter", []string{"--trace", "--trace-filter", "dir=up", "--trace-filter", "dir=down size!=3"}, "wsgate: --trace-filter 2:14: unknown operator \"!=\" (want =, ~, >, <, >= or <=)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", append([]string{"serve", "--listen", "127.0.0.1:0"}, append(tc.args, "ws://127.0.0.1:1/")...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, %q", r.code, r.stdout, r.stderr, tc.stderr)
			}
		})
	}
}

// echoHandler is an echo backend that negotiates permessage-deflate when
// the client offers it.
func echoHandler(t *testing.T, mode websocket.CompressionMode) http.Handler {
	return wstest.Echo{Compression: mode, OriginPatterns: []string{"*"}, CloseBack: true}.Handler()
}

// validateHAR checks the file against the HAR 1.2 schema with npm's
// har-validator when WSGATE_HAR_VALIDATOR_DIR names where it is installed
// (.ci/run does; see trace/ TestHARValidator).
func validateHAR(t *testing.T, path string) {
	t.Helper()
	dir := os.Getenv("WSGATE_HAR_VALIDATOR_DIR")
	if dir == "" {
		t.Log("WSGATE_HAR_VALIDATOR_DIR is not set: the HAR is not checked against the schema")
		return
	}
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(modules); err != nil {
		modules = dir
	}
	cmd := exec.Command("node", filepath.Join("..", "trace", "testdata", "validate.js"), path)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("har-validator: %v\n%s", err, out)
	}
}

// TestServeTraceFilter runs serve with the built-in echo backend and two
// --trace-filter expressions: only the messages either matches are
// printed, by --trace and into the --trace-file alike, and pretty prints
// JSON indented (no colour: standard output is not a terminal).
func TestServeTraceFilter(t *testing.T) {
	t.Parallel()
	jsonl := filepath.Join(t.TempDir(), "out.jsonl")
	r := serveWhile(t, 1, []string{"--demo", "--trace", "--trace-format", "pretty", "--trace-file", jsonl,
		"--trace-filter", "dir=down op=text size>=1k", "--trace-filter", `dir=down text~^\{ route=/`,
		"--trace-filter", "op=close dir=up"}, func(addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		for _, m := range []struct {
			typ  websocket.MessageType
			data string
		}{
			{websocket.MessageText, "hello"},
			{websocket.MessageText, `{"event":"chat","n":1}`},
			{websocket.MessageBinary, strings.Repeat("b", 2000)},
			{websocket.MessageText, strings.Repeat("a", 1024)},
		} {
			if err := c.Write(ctx, m.typ, []byte(m.data)); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != m.data {
				t.Fatalf("echo of %.20q = %.20q, %v", m.data, got, err)
			}
		}
		read := make(chan struct{})
		go func() { c.Read(ctx); close(read) }()
		c.Close(websocket.StatusGoingAway, "later")
		<-read
	})
	if r.code != 0 {
		t.Fatalf("serve exit %d; stderr %s", r.code, r.stderr)
	}
	lines := regexp.MustCompile(`(?m)^\+\d+\.\d\d\ds #1 --demo /.*(\n  .*)*`)
	got := lines.FindAllString(r.stdout, -1)
	for i := range got {
		got[i] = got[i][strings.Index(got[i], "#1"):]
	}
	want := []string{
		"#1 --demo / ← text   22\n  {\n    \"event\": \"chat\",\n    \"n\": 1\n  }",
		`#1 --demo / ← text   1024 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" … +768 bytes`,
		`#1 --demo / → close  1001 going away "later"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("trace lines:\n%s\nwant:\n%s\nin:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout)
	}
	data, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec trace.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		recs = append(recs, fmt.Sprintf("%s %s %d %s", rec.Dir, rec.Opcode, rec.Len, rec.CloseName))
	}
	if want := []string{"down text 22 ", "down text 1024 ", "up close 7 going away"}; !slices.Equal(recs, want) {
		t.Errorf("--trace-file records %q; want %q", recs, want)
	}
}

// TestTraceTextOptions checks --trace-format's default (pretty on a
// terminal, compact otherwise) and that colour needs a terminal and no
// NO_COLOR.
func TestTraceTextOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args     []string
		terminal bool
		noColor  string
		format   trace.Format
		color    bool
	}{
		{nil, false, "", trace.Compact, false},
		{nil, true, "", trace.Pretty, true},
		{nil, true, "1", trace.Pretty, false},
		{[]string{"--trace-format", "compact"}, true, "", trace.Compact, true},
		{[]string{"--trace-format", "pretty"}, false, "", trace.Pretty, false},
		{[]string{"--trace-format", "raw"}, false, "", trace.Raw, false},
	}
	for _, tc := range cases {
		e := &env{terminal: tc.terminal, getenv: func(k string) string {
			if k == "NO_COLOR" {
				return tc.noColor
			}
			return ""
		}}
		var opts trace.TextOptions
		c := &cli.Command{Name: "serve", Flags: traceFlags(), Action: func(_ context.Context, c *cli.Command) (err error) {
			opts, err = textOptions(c, e)
			return err
		}}
		if err := c.Run(context.Background(), append([]string{"serve", "--trace"}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		if opts.Format != tc.format || (opts.Colors != nil) != tc.color {
			t.Errorf("%q, terminal %v, NO_COLOR=%q: format %v, colour %v; want %v, %v",
				tc.args, tc.terminal, tc.noColor, opts.Format, opts.Colors != nil, tc.format, tc.color)
		}
		if opts.Colors != nil {
			if got := opts.Colors.Key(`"k"`); got != "\x1b[34;1m\"k\"\x1b[0;22m" {
				t.Errorf("key colour %q; want bold blue", got)
			}
		}
	}
}

// TestServeTraceDecode runs --decode through serve: the text trace shows
// what the decoder read, --trace-filter tests its fields (method=sum),
// and the JSON Lines carry them.
func TestServeTraceDecode(t *testing.T) {
	t.Parallel()
	jsonl := filepath.Join(t.TempDir(), "out.jsonl")
	r := serveWhile(t, 1, []string{"--demo", "--trace", "--trace-format", "compact", "--trace-file", jsonl,
		"--decode", "jsonrpc", "--trace-filter", "method=sum"}, func(addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/rpc", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		for _, m := range []string{`{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":1}`, `{"jsonrpc":"2.0","method":"other","id":2}`} {
			if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != m {
				t.Fatalf("echo of %q = %q, %v", m, got, err)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	if r.code != 0 {
		t.Fatalf("serve exit %d; stderr %s", r.code, r.stderr)
	}
	lines := regexp.MustCompile(`(?m)^\+\d+\.\d\d\ds #1 .*$`).FindAllString(r.stdout, -1)
	if len(lines) != 2 {
		t.Fatalf("trace lines %q; want the two of method sum, up and down", lines)
	}
	for _, l := range lines {
		if !strings.Contains(l, "⟨jsonrpc ") || !strings.Contains(l, "sum") || strings.Contains(l, "other") {
			t.Errorf("trace line %q; want the jsonrpc decoding of sum", l)
		}
	}
	data, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec trace.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if rec.Decoded == nil || rec.Decoded.Protocol != "jsonrpc" || rec.Decoded.Fields["method"] != "sum" {
			t.Errorf("record %s; want decoded jsonrpc method sum", l)
		}
	}
}

// TestServeTracePlain runs serve with every trace on in front of a backend
// that answers as an Engine.IO server does to long polling: the plain
// requests are traced too, the polling packets decoded, in the text
// trace, the JSON Lines and the HAR; --trace-filter op=http keeps them
// and no message.
func TestServeTracePlain(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/chat":
			echoHandler(t, websocket.CompressionDisabled).ServeHTTP(w, r)
		case r.URL.Path == "/page":
			io.WriteString(w, "<p>hello</p>")
		case r.Method == "POST" && string(body) == "420[\"chat\",\"hi\"]":
			io.WriteString(w, "ok")
		case r.URL.Query().Get("sid") == "":
			io.WriteString(w, `0{"sid":"s1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`)
		default:
			io.WriteString(w, "430[\"fine\"]\x1e2")
		}
	}))
	defer backend.Close()
	dir := t.TempDir()
	jsonl, har := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "out.har")
	poll := "/socket.io/?EIO=4&transport=polling"
	r := serveWhile(t, 1, []string{"--trace", "--trace-file", jsonl, "--har", har, "--trace-filter", "op=http",
		"ws://" + backend.Listener.Addr().String() + "/"}, func(addr string) {
		for _, req := range []struct{ method, target, body string }{
			{"GET", poll + "&t=a", ""}, {"POST", poll + "&sid=s1", `420["chat","hi"]`}, {"GET", poll + "&sid=s1", ""}, {"GET", "/page", ""},
		} {
			hr, _ := http.NewRequest(req.method, "http://"+addr+req.target, strings.NewReader(req.body))
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		talk(t, "ws://"+addr+"/chat")
	})
	if r.code != 0 {
		t.Fatalf("serve exit %d; stderr %s", r.code, r.stderr)
	}
	want := []string{
		` http backend URL / GET /socket.io/?EIO=4&transport=polling&t=a 200 → 0 B ← 79 B `,
		`  ← 79 "0{\"sid\":\"s1\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000}" ⟨socketio open open sid=s1 pingInterval=25000ms⟩`,
		` http backend URL / POST /socket.io/?EIO=4&transport=polling&sid=s1 200 → 16 B ← 2 B `,
		`  → 16 "420[\"chat\",\"hi\"]" ⟨socketio event EVENT "chat" ["hi"] ack=0⟩`,
		`  ← 2 "ok"`,
		`  ← 11 "430[\"fine\"]" ⟨socketio ack ACK ["fine"] ack=0⟩ +`,
		`  ← 1 "2" ⟨socketio ping ping⟩`,
		` http backend URL / GET /page 200 → 0 B ← 12 B `,
		`  ← 12 "<p>hello</p>"`,
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no trace line with %q in:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, " #1 ") {
		t.Errorf("op=http kept a message:\n%s", r.stdout)
	}

	data, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec trace.HTTPRecord
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		k := rec.Kind + " " + rec.Method
		for _, p := range rec.Packets {
			if p.Decoded != nil {
				k += " " + p.Dir + ":" + p.Decoded.Type
			}
		}
		kinds = append(kinds, k)
	}
	if want := []string{"http GET down:open", "http POST up:event", "http GET down:ack down:ping", "http GET"}; !slices.Equal(kinds, want) {
		t.Errorf("--trace-file records %q; want %q", kinds, want)
	}

	data, err = os.ReadFile(har)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Log struct {
			Entries []struct {
				Request  struct{ Method, URL string }
				Response struct {
					Status  int
					Content struct{ Text string }
				}
			}
		}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Log.Entries); n != 5 {
		// The tunnel's entry stays, without the messages the filter left out.
		t.Fatalf("HAR: %d entries; want the 4 requests and the tunnel:\n%s", n, data)
	}
	if e := f.Log.Entries[3]; e.Request.Method != "GET" || !strings.HasSuffix(e.Request.URL, "/page") || e.Response.Content.Text != "<p>hello</p>" {
		t.Errorf("HAR entry of GET /page: %+v", e)
	}
	validateHAR(t, har)
}
