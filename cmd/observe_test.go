package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/snapshottest"
	"github.com/wsgate/wsgate/internal/status"
	"github.com/wsgate/wsgate/internal/syncbuf"
	"github.com/wsgate/wsgate/tunnel"
)

// serveAlone runs serve in-process, expecting it to stop by itself, and
// returns its address and a channel that gets its result when it does.
func serveAlone(t *testing.T, args ...string) (addr string, done <-chan result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	pr, pw := io.Pipe()
	var out, errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(string) string { return "" },
		info: Info{Version: "1.2.3"}}
	copied := make(chan struct{})
	ch := make(chan result, 1)
	go func() {
		code := run(ctx, e, append([]string{"wsgate", "serve", "--listen", "127.0.0.1:0"}, args...))
		pw.Close()
		<-copied
		ch <- result{code, out.String(), errb.String()}
	}()
	br := bufio.NewReader(pr)
	first, _ := br.ReadString('\n')
	out.Write([]byte(first))
	go func() {
		io.Copy(&out, br)
		close(copied)
	}()
	var stopped result
	var ended bool
	t.Cleanup(func() {
		cancel() // if the test failed before serve stopped by itself
		if !ended {
			<-ch
		}
	})
	_, addr, ok := strings.Cut(strings.TrimSpace(first), "listening on ")
	if !ok {
		stopped, ended = <-ch, true
		t.Fatalf("serve %v: no 'listening on' line; exit %d, stderr %q", args, stopped.code, stopped.stderr)
	}
	// The test reads the result from relay; Cleanup must not wait for it
	// a second time.
	relay := make(chan result, 1)
	go func() { r := <-ch; ch <- r; relay <- r }()
	return addr, relay
}

// waitExit waits for serve to stop by itself.
func waitExit(t *testing.T, done <-chan result, within time.Duration) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(within):
		t.Fatalf("serve did not stop by itself within %v", within)
		return result{}
	}
}

func TestExitAfter(t *testing.T) {
	t.Parallel()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0")
	addr, done := serveAlone(t, "--exit-after", "2", "ws://"+echoAddr+"/")
	for i := range 2 {
		select {
		case r := <-done:
			t.Fatalf("serve stopped after %d tunnels; want 2: exit %d, stderr %s", i, r.code, r.stderr)
		default:
		}
		if r := runCmd(t, "hi\n", "dial", "--wait", "50ms", "ws://"+addr+"/"); r.code != 0 || r.stdout != "hi\n" {
			t.Fatalf("dial %d: exit %d, stdout %q, stderr %q", i+1, r.code, r.stdout, r.stderr)
		}
	}
	r := waitExit(t, done, 5*time.Second)
	if r.code != 0 {
		t.Errorf("serve --exit-after 2 = exit %d; want 0; stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "--exit-after 2") || !strings.Contains(r.stdout, "wsgate: stopped after") {
		t.Errorf("serve --exit-after 2: stdout %q, stderr %q; want the reason and the summary", r.stdout, r.stderr)
	}
}

// TestExitWhenIdle: an open tunnel keeps serve running past the idle
// time, and serve stops once no tunnel has been open for it. How long
// after the last close it stopped is measured on serve's own clock, the
// tunnel's end in --stats-json and the time of the "stopping" log line,
// not when the test got round to looking: at least the idle time, less
// a margin for the poll that sees the close (a serve that forgot the
// busy time stops at its first quiet poll, 75 ms at most after it).
func TestExitWhenIdle(t *testing.T) {
	t.Parallel()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0")
	file := filepath.Join(t.TempDir(), "stats.json")
	addr, done := serveAlone(t, "--exit-when-idle", "300ms", "--stats-json", file, "--log-format", "json", "ws://"+echoAddr+"/")
	// An open tunnel keeps it running past the idle time.
	if d := runCmd(t, "x\n", "dial", "--wait", "600ms", "ws://"+addr+"/"); d.code != 0 {
		t.Fatalf("dial: exit %d, stderr %q: serve stopped while a tunnel was open?", d.code, d.stderr)
	}
	r := waitExit(t, done, 10*time.Second)
	if r.code != 0 || !strings.Contains(r.stderr, "--exit-when-idle") {
		t.Fatalf("serve --exit-when-idle = exit %d, stderr %q; want 0 and the reason", r.code, r.stderr)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stats status.Stats
	if err := json.Unmarshal(raw, &stats); err != nil || len(stats.RecentClosed) != 1 || stats.RecentClosed[0].End == nil {
		t.Fatalf("stats: %v; want one closed tunnel with its end:\n%s", err, raw)
	}
	var stopping time.Time
	for _, l := range strings.Split(r.stderr, "\n") {
		var rec struct {
			Time time.Time
			Msg  string
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "stopping" {
			stopping = rec.Time
		}
	}
	if stopping.IsZero() {
		t.Fatalf("no \"stopping\" log line:\n%s", r.stderr)
	}
	if since := stopping.Sub(*stats.RecentClosed[0].End); since < 200*time.Millisecond {
		t.Errorf("stopped %v after the last close; want about 300ms", since)
	}
}

// TestExitWhenIdleNoTunnel: serve with no tunnel stops after the idle
// time. start is taken before serve starts, so the lower bound holds
// however late the test sees the exit.
func TestExitWhenIdleNoTunnel(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, done := serveAlone(t, "--exit-when-idle", "300ms", "ws://127.0.0.1:1/")
	r := waitExit(t, done, 10*time.Second)
	if r.code != 0 {
		t.Errorf("exit %d; want 0; stderr %s", r.code, r.stderr)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("stopped after %v; want at least 300ms", el)
	}
}

func TestStatsJSON(t *testing.T) {
	t.Parallel()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0")
	file := filepath.Join(t.TempDir(), "stats.json")
	addr, done := serveAlone(t, "--exit-after", "1", "--stats-json", file, "--pass", "/chat/ ws://"+echoAddr+"/")
	if r := runCmd(t, "one\ntwo\nthree\n", "dial", "--wait", "100ms", "ws://"+addr+"/chat/x"); r.code != 0 {
		t.Fatalf("dial: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := waitExit(t, done, 5*time.Second); r.code != 0 {
		t.Fatalf("serve exit %d; stderr %s", r.code, r.stderr)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got status.Stats
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v\n%s", file, err, raw)
	}
	// Field names, as docs/observe.md documents them.
	for _, name := range []string{`"version"`, `"uptime_ms"`, `"open"`, `"total"`, `"closed"`, `"failed"`, `"plain_requests"`,
		`"up_bytes"`, `"down_bytes"`, `"routes"`, `"tunnels"`, `"recent_closed"`, `"route"`, `"client"`, `"path"`, `"backend"`,
		`"start"`, `"end"`, `"duration_ms"`, `"messages"`, `"frames"`, `"close_code"`, `"close_reason"`, `"closed_by"`, `"close_first"`, `"error"`} {
		if !strings.Contains(string(raw), name+":") {
			t.Errorf("stats JSON lacks %s:\n%s", name, raw)
		}
	}
	if got.Total != 1 || got.Closed != 1 || got.Open != 0 || len(got.Tunnels) != 0 || len(got.RecentClosed) != 1 || len(got.Routes) != 1 {
		t.Fatalf("stats = total %d, closed %d, open %d, %d open, %d recent, %d routes; want 1 tunnel, closed, one route:\n%s",
			got.Total, got.Closed, got.Open, len(got.Tunnels), len(got.RecentClosed), len(got.Routes), raw)
	}
	c := got.RecentClosed[0]
	// 3 text messages of 3-5 bytes, masked (6 header bytes each), and the
	// client's close frame (2+4 header, 2 code): 3*6+3+3+5 + 8 = 37.
	if c.Up.Bytes != 37 || got.UpBytes != 37 || c.Down.Bytes != got.DownBytes || c.Down.Bytes < 11 {
		t.Errorf("bytes up %d (total %d), down %d (total %d); want 37 up", c.Up.Bytes, got.UpBytes, c.Down.Bytes, got.DownBytes)
	}
	if c.Path != "/chat/x" || c.Backend != "ws://"+echoAddr+"/x" || c.End == nil || c.DurationMS < 0 {
		t.Errorf("tunnel = %+v", c)
	}
	// These need the frame reader.
	if c.Up.Messages != 3 || c.Down.Messages != 3 {
		t.Errorf("messages up %d, down %d; want 3 and 3", c.Up.Messages, c.Down.Messages)
	}
	if c.Up.CloseCode != 1000 || c.Down.CloseCode != 1000 || c.CloseFirst != "client" {
		t.Errorf("close codes client %d, backend %d, first %q; want 1000, 1000, client", c.Up.CloseCode, c.Down.CloseCode, c.CloseFirst)
	}
	if r := got.Routes[0]; r.Route == "" || !strings.HasSuffix(r.Route, "/chat/") || r.Total != 1 || r.Up.Messages != 3 || r.Up.Bytes != 37 {
		t.Errorf("route = %+v; want /chat/ with 1 tunnel, 3 messages and 37 bytes up", r)
	}
}

func TestObserveUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args   []string
		stderr string
	}{
		{[]string{"--exit-after", "-1"}, "--exit-after -1"},
		{[]string{"--exit-after", "0"}, "--exit-after 0"},
		{[]string{"--exit-when-idle", "0s"}, "--exit-when-idle 0s"},
		{[]string{"--stats-json", filepath.Join(t.TempDir(), "no", "such", "dir.json")}, "--stats-json"},
	}
	for _, tc := range cases {
		r := runCmd(t, "", append(append([]string{"serve"}, tc.args...), "ws://127.0.0.1:1/")...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("serve %v = exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.stderr)
		}
	}
}

func TestStatusHandler(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	_, snap := snapshottest.Busy()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "proxied", http.StatusTeapot) })
	h := func(allowRemote bool) http.Handler {
		return &status.Handler{Next: next, Snapshot: func() tunnel.Snapshot { return snap }, Start: start, Version: "1.2.3", AllowRemote: allowRemote}
	}
	cases := []struct {
		name, method, target, remote string
		allowRemote                  bool
		status                       int
	}{
		{"loopback v4", "GET", status.Path, "127.0.0.1:5000", false, 200},
		{"loopback v6", "GET", status.Path, "[::1]:5000", false, 200},
		{"loopback mapped", "GET", status.Path + "?x=1", "[::ffff:127.0.0.2]:5000", false, 200},
		{"remote", "GET", status.Path, "192.0.2.7:5000", false, 403},
		{"remote v6", "GET", status.Path, "[2001:db8::1]:5000", false, 403},
		{"remote allowed", "GET", status.Path, "192.0.2.7:5000", true, 200},
		{"HEAD", "HEAD", status.Path, "127.0.0.1:5000", false, 200},
		{"POST", "POST", status.Path, "127.0.0.1:5000", false, 405},
		{"other path", "GET", "/chat/", "192.0.2.7:5000", false, http.StatusTeapot},
		{"status subpath", "GET", status.Path + "/x", "127.0.0.1:5000", false, http.StatusTeapot},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			req.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			h(tc.allowRemote).ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("%s %s from %s = %d; want %d\n%s", tc.method, tc.target, tc.remote, w.Code, tc.status, w.Body)
			}
			if tc.status != 200 || tc.method != "GET" {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q; want application/json", ct)
			}
			var got status.Stats
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%v\n%s", err, w.Body)
			}
			if got.Open != 3 || got.Total != 7 || got.Closed != 4 || len(got.Tunnels) != 3 || len(got.RecentClosed) != 4 ||
				len(got.Routes) != 3 || got.Tunnels[0].Up.Messages != 1200 || got.RecentClosed[1].Down.CloseCode != 4001 ||
				got.UptimeMS != 95000 || got.Tunnels[0].End != nil || got.RecentClosed[0].DurationMS != 18000 {
				t.Errorf("status JSON does not match the snapshot:\n%s", w.Body)
			}
		})
	}
}

func TestStatusEndpoint(t *testing.T) {
	t.Parallel()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0")
	with, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--status", "ws://"+echoAddr+"/")
	without, _ := background(t, "serve", "--listen", "127.0.0.1:0", "ws://"+echoAddr+"/")
	if r := runCmd(t, "hello\n", "dial", "--wait", "50ms", "ws://"+with+"/"); r.code != 0 {
		t.Fatalf("dial: exit %d, stderr %q", r.code, r.stderr)
	}
	get := func(addr string) (int, string) {
		resp, err := http.Get("http://" + addr + status.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The tunnel is recorded as closed a moment after dial returns.
	var got status.Stats
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, body := get(with)
		if code != 200 {
			t.Fatalf("GET %s = %d; want 200\n%s", status.Path, code, body)
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if got.Closed == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.Total != 1 || got.Closed != 1 || len(got.RecentClosed) != 1 || got.RecentClosed[0].Up.Messages != 1 {
		t.Errorf("status after one tunnel = %+v", got)
	}
	// Without --status the path is the backend's, like any other.
	if code, body := get(without); code == 200 && strings.Contains(body, `"uptime_ms"`) {
		t.Errorf("without --status, %s answered the stats", status.Path)
	}
}
