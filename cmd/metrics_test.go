package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/syncbuf"
)

// startServe runs serve with args in the background until the test ends,
// and returns what it prints on standard output as it prints it, once
// the lines matching each of wait have appeared (their first submatch).
func startServe(t *testing.T, args []string, wait ...string) (out *syncbuf.Buffer, found []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = new(syncbuf.Buffer)
	var errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: out, stderr: &errb, getenv: func(string) string { return "" },
		info: Info{Version: "1.2.3", Commit: "abc1234"}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, e, append([]string{"wsgate", "serve", "--no-live", "--quiet"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve = exit %d; stderr:\n%s", code, errb.String())
		}
	})
	for _, w := range wait {
		re := regexp.MustCompile(w)
		var m []string
		eventually.True(t, 10*time.Second, func() bool { m = re.FindStringSubmatch(out.String()); return m != nil },
			func() string {
				return fmt.Sprintf("no %q in serve's output:\n%s\nstderr:\n%s", w, out.String(), errb.String())
			})
		found = append(found, m[1])
	}
	return out, found
}

// httpGet returns the body of a GET, failing the test on any error or a
// status other than want.
func httpGet(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s; want %d\n%s", url, resp.Status, want, body)
	}
	return string(body)
}

// TestServeMetrics reads /metrics from a serve with a tunnel open: on the
// proxy's listener with --metrics, on a listener of its own with
// --metrics-listen (which answers nothing else), and not at all without
// either (the request goes to the backend).
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, found := startServe(t, []string{"--listen", "127.0.0.1:0", "--demo", "--metrics"}, `listening on (\S+)`)
	proxy := found[0]
	c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	body := httpGet(t, "http://"+proxy+"/metrics", 200)
	for _, want := range []string{`wsgate_tunnels_open{route="--demo /"} 1`, `wsgate_tunnels_opened_total{route="--demo /"} 1`,
		`wsgate_build_info{version="1.2.3",commit="abc1234",goversion="go`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q:\n%s", want, body)
		}
	}

	_, found = startServe(t, []string{"--listen", "127.0.0.1:0", "--demo", "--metrics-listen", "127.0.0.1:0"},
		`listening on (\S+)`, `metrics on http://(\S+)/metrics`)
	if body := httpGet(t, "http://"+found[1]+"/metrics", 200); !strings.Contains(body, "wsgate_start_time_seconds") {
		t.Errorf("--metrics-listen's /metrics:\n%s", body)
	}
	httpGet(t, "http://"+found[1]+"/", 404)
	if body := httpGet(t, "http://"+found[0]+"/metrics", 200); strings.Contains(body, "wsgate_") {
		t.Errorf("the proxy's listener answered /metrics without --metrics:\n%s", body)
	}
}

// TestPrometheusScrapes has a real Prometheus server scrape serve
// (--metrics-listen) while three tunnels are open, and reads
// wsgate_tunnels_open back through Prometheus' HTTP API. Debian's
// prometheus package (.ci/run installs it); without it the test skips.
func TestPrometheusScrapes(t *testing.T) {
	t.Parallel()
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("needs a prometheus server (apt-get install prometheus)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, found := startServe(t, []string{"--listen", "127.0.0.1:0", "--demo", "--metrics-listen", "127.0.0.1:0"},
		`listening on (\S+)`, `metrics on http://(\S+)/metrics`)
	for range 3 {
		c, _, err := websocket.Dial(ctx, "ws://"+found[0]+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
	}

	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wsgate\n    static_configs:\n      - targets: [%q]\n", found[1])
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	api := startPrometheus(t, ctx, prom, dir)
	var value string
	eventually.True(t, 40*time.Second, func() bool {
		value = promQuery(api, `sum(wsgate_tunnels_open{job="wsgate"})`)
		return value == "3"
	}, func() string {
		return fmt.Sprintf("Prometheus answers sum(wsgate_tunnels_open) = %q; want 3; targets: %s", value, promGet(api+"/api/v1/targets"))
	})
	if up := promQuery(api, `up{job="wsgate"}`); up != "1" {
		t.Errorf("up = %q; want 1", up)
	}
}

// startPrometheus runs prometheus with dir/prometheus.yml on a free
// loopback port until the test ends, and returns its URL once it answers.
func startPrometheus(t *testing.T, ctx context.Context, prom, dir string) string {
	t.Helper()
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // prometheus takes no listener: the port is handed over by number
		var logs syncbuf.Buffer
		cmd := exec.CommandContext(ctx, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data%d", try)), "--web.listen-address="+addr)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		api := "http://" + addr
		for {
			select {
			case <-exited:
				if try < 3 && strings.Contains(logs.String(), "address already in use") {
					goto again // another process took the port meanwhile
				}
				t.Fatalf("prometheus exited:\n%s", logs.String())
			case <-ctx.Done():
				t.Fatalf("prometheus did not get ready:\n%s", logs.String())
			case <-time.After(50 * time.Millisecond):
			}
			if resp, err := http.Get(api + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Cleanup(func() { cmd.Process.Kill(); <-exited })
					return api
				}
			}
		}
	again:
	}
}

// promQuery returns the value of a query's first result, "" for none.
func promQuery(api, q string) string {
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(promGet(api+"/api/v1/query?query="+url.QueryEscape(q))), &r) != nil || len(r.Data.Result) == 0 {
		return ""
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return s
}

func promGet(u string) string {
	resp, err := http.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMetricsUsage: a --metrics-listen that is no address, one in use,
// and --metrics-allow-remote beside it, stop serve before it starts.
func TestMetricsUsage(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"not an address", []string{"--metrics-listen", "here"}, 2, `--metrics-listen "here": want HOST:PORT or a port`},
		{"allow remote beside it", []string{"--metrics-listen", "127.0.0.1:0", "--metrics-allow-remote"}, 2,
			"--metrics-allow-remote applies to --metrics on the proxy's listeners"},
		{"in use", []string{"--metrics-listen", taken.Addr().String()}, 1, "--metrics-listen: listen tcp " + taken.Addr().String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", append([]string{"serve", "--listen", "127.0.0.1:0"}, append(tc.args, "ws://127.0.0.1:1/")...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, %q", r.code, r.stdout, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}
