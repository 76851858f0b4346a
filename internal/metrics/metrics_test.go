package metrics

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/goldentest"
	"github.com/wsgate/wsgate/tunnel"
)

var start = time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)

// sample is a server with two routes, one with a name that needs
// escaping, failures no rule matched, plain requests and a balancer.
func sampleMetrics() tunnel.Metrics {
	hist := func(bounds []float64, counts ...uint64) tunnel.Histogram {
		return tunnel.Histogram{Bounds: bounds, Counts: counts, Sum: 1.25}
	}
	flow := func(n int64) tunnel.Flow {
		return tunnel.Flow{Bytes: n * 100, Frames: n + 2, Messages: n, Compressed: n / 2, Pings: 1, Pongs: 1}
	}
	return tunnel.Metrics{
		Time: start.Add(time.Minute),
		Routes: []tunnel.RouteMetrics{
			{RouteInfo: tunnel.RouteInfo{Route: "wsgate.conf:3 /chat/", Open: 2, Total: 7, Up: flow(40), Down: flow(38)},
				Handshake: hist([]float64{0.001, 0.01}, 3, 3, 1), Duration: hist([]float64{1, 60}, 2, 3, 0),
				Closes: []tunnel.CloseCount{{ClosedBy: "backend", Code: "1000", N: 4}, {ClosedBy: "client", Code: "1006", N: 1}},
				HTTP:   []tunnel.HTTPCount{{Class: "2xx", N: 12}, {Class: "5xx", N: 1}},
				Failures: []tunnel.FailureCount{{Status: 502, Reason: "bad Sec-WebSocket-Accept", N: 1},
					{Status: 503, Reason: "backend refused connection", N: 2}}},
			{RouteInfo: tunnel.RouteInfo{Route: `--pass 1 /we"ird\path` + "\n"}, Handshake: hist([]float64{0.001, 0.01}, 0, 0, 0),
				Duration: hist([]float64{1, 60}, 0, 0, 0)},
			{Failures: []tunnel.FailureCount{{Status: 404, Reason: "no rule matches", N: 5}}},
		},
		Balancers: []tunnel.BalancerInfo{{Name: "balancer://chat", Members: []tunnel.MemberInfo{
			{URL: "ws://127.0.0.1:9001", State: "ok", Open: 2, Total: 9, Bytes: 4096},
			{URL: "ws://127.0.0.1:9002", State: "failing checks", Total: 1},
		}}},
	}
}

var build = Build{Version: "1.2.3", Commit: "abc1234", GoVersion: "go1.26.8"}

func TestWriteGolden(t *testing.T) {
	for _, om := range []bool{false, true} {
		name := "text"
		if om {
			name = "openmetrics"
		}
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			Write(&b, sampleMetrics(), build, start, om)
			goldentest.Check(t, filepath.Join("testdata", name+".golden"), b.String())
			if got := strings.HasSuffix(b.String(), "# EOF\n"); got != om {
				t.Errorf("ends with # EOF: %v; want %v", got, om)
			}
		})
	}
}

// TestPromtool has Prometheus' own linter check what Write writes in the
// text format (Debian's prometheus package has promtool; .ci/run
// installs it): names, types, help, label escapes, histogram buckets.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("needs promtool (apt-get install prometheus)")
	}
	// As the handler writes it, the process's own series included.
	h := &Handler{Metrics: sampleMetrics, Build: build, Start: start}
	r := httptest.NewRequest("GET", Path, nil)
	r.RemoteAddr = "127.0.0.1:5000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var b strings.Builder
	b.WriteString(w.Body.String())
	if !strings.Contains(b.String(), "\ngo_goroutines ") || runtime.GOOS == "linux" && !strings.Contains(b.String(), "\nprocess_open_fds ") {
		t.Errorf("no go_goroutines or (on Linux) process_open_fds in:\n%s", b.String())
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(b.String())
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestEmptyServer(t *testing.T) {
	var b strings.Builder
	Write(&b, tunnel.Metrics{}, build, start, false)
	if strings.Count(b.String(), "# TYPE") != 2 || !strings.Contains(b.String(), "wsgate_build_info{") {
		t.Errorf("a server with no route writes:\n%s\nwant wsgate_build_info and wsgate_start_time_seconds only", b.String())
	}
}

func TestWantsOpenMetrics(t *testing.T) {
	for _, c := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"*/*"}, false},
		{[]string{"text/plain"}, false},
		// What Prometheus 2.42 sends.
		{[]string{"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}, true},
		{[]string{"text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5"}, false},
		{[]string{"application/openmetrics-text"}, true},
		{[]string{"application/openmetrics-text;version=0.0.1"}, false}, // a version not written
		{[]string{"application/openmetrics-text;q=0"}, false},
	} {
		if got := wantsOpenMetrics(c.accept); got != c.want {
			t.Errorf("wantsOpenMetrics(%q) = %v; want %v", c.accept, got, c.want)
		}
	}
}

func TestHandler(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := &Handler{Next: next, Metrics: sampleMetrics, Build: build, Start: start}
	get := func(h http.Handler, method, path, remote, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		r.RemoteAddr = remote
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := get(h, "GET", "/metrics", "127.0.0.1:5000", ""); w.Code != 200 || w.Header().Get("Content-Type") != textType ||
		!strings.Contains(w.Body.String(), `wsgate_tunnels_open{route="wsgate.conf:3 /chat/"} 2`) {
		t.Errorf("GET from loopback: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if w := get(h, "GET", "/metrics", "[::ffff:127.0.0.1]:5000", "application/openmetrics-text"); w.Code != 200 || w.Header().Get("Content-Type") != openMetricsType ||
		!strings.HasSuffix(w.Body.String(), "# EOF\n") {
		t.Errorf("GET OpenMetrics from IPv4-mapped loopback: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := get(h, "GET", "/metrics", "192.0.2.7:5000", ""); w.Code != 403 || !strings.Contains(w.Body.String(), "--metrics-allow-remote") {
		t.Errorf("GET from another machine: %d %s; want 403 naming --metrics-allow-remote", w.Code, w.Body)
	}
	remote := *h
	remote.AllowRemote = true
	if w := get(&remote, "GET", "/metrics", "192.0.2.7:5000", ""); w.Code != 200 {
		t.Errorf("GET from another machine with AllowRemote: %d", w.Code)
	}
	if w := get(h, "POST", "/metrics", "127.0.0.1:5000", ""); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q; want 405, GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
	if w := get(h, "HEAD", "/metrics", "127.0.0.1:5000", ""); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes; want 200, none", w.Code, w.Body.Len())
	}
	if w := get(h, "GET", "/metrics/x", "127.0.0.1:5000", ""); w.Code != http.StatusTeapot {
		t.Errorf("another path: %d; want what Next answers", w.Code)
	}
	own := *h
	own.Next = nil
	if w := get(&own, "GET", "/", "127.0.0.1:5000", ""); w.Code != 404 {
		t.Errorf("another path on a listener of its own: %d; want 404", w.Code)
	}
}
