package cmd

import (
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/wsgate/wsgate/internal/loadgen"
)

// benchTargets starts an echo backend and a proxy in front of it and returns
// the URL of each.
func benchTargets(t *testing.T) map[string]string {
	t.Helper()
	echoAddr, _ := background(t, "echo", "--listen", "127.0.0.1:0")
	proxyAddr, _ := background(t, "serve", "--no-live", "--listen", "127.0.0.1:0", "ws://"+echoAddr+"/")
	return map[string]string{"direct": "ws://" + echoAddr + "/", "proxy": "ws://" + proxyAddr + "/"}
}

func TestBench(t *testing.T) {
	t.Parallel()
	targets := benchTargets(t)
	cases := []struct {
		scenario string
		args     []string
		nonZero  []string // JSON fields that must be above zero
		rows     []string // table rows that must be there
	}{
		{loadgen.Throughput, []string{"--conns", "2", "--size", "4096"},
			[]string{"messages", "bytes", "mb_per_s", "msg_per_s", "elapsed_s"}, []string{"throughput", "MB/s", "msg/s"}},
		{loadgen.Latency, []string{"--conns", "2"},
			[]string{"messages", "msg_per_s", "p50_us", "p99_us", "p999_us", "max_us"}, []string{"p50", "p99", "p99.9", "µs"}},
		{loadgen.Latency, []string{"--rate", "500"},
			[]string{"messages", "msg_per_s", "p50_us", "p99_us", "rate"}, []string{"target rate", "p99.9"}},
		{loadgen.Handshake, []string{"--workers", "4"},
			[]string{"handshakes", "conn_per_s", "handshake_p50_us", "handshake_p99_us"}, []string{"conn/s", "handshake p99"}},
		{loadgen.Idle, []string{"--conns", "20"},
			[]string{"open", "conns"}, []string{"open"}},
	}
	for name, url := range targets {
		for _, tc := range cases {
			t.Run(name+"/"+tc.scenario+strings.Join(tc.args, ""), func(t *testing.T) {
				args := append([]string{"bench", "--scenario", tc.scenario, "--duration", "300ms"}, tc.args...)
				r := runCmd(t, "", append(append(args, "--json"), url)...)
				if r.code != 0 {
					t.Fatalf("%v: exit code = %d; want 0\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
				}
				var got map[string]any
				if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
					t.Fatalf("--json output %q: %v", r.stdout, err)
				}
				for _, f := range []string{"scenario", "url", "conns", "workers", "size", "window", "rate", "duration_s",
					"elapsed_s", "messages", "bytes", "mb_per_s", "msg_per_s", "p50_us", "p99_us", "p999_us", "max_us",
					"handshakes", "conn_per_s", "handshake_p50_us", "handshake_p99_us", "open", "failed", "first_error"} {
					if _, ok := got[f]; !ok {
						t.Errorf("JSON has no field %q: %s", f, r.stdout)
					}
				}
				for _, f := range tc.nonZero {
					if v, _ := got[f].(float64); v <= 0 {
						t.Errorf("%s = %v; want > 0\n%s", f, got[f], r.stdout)
					}
				}
				if got["scenario"] != tc.scenario || got["failed"] != 0.0 {
					t.Errorf("scenario = %v, failed = %v; want %s, 0", got["scenario"], got["failed"], tc.scenario)
				}
				if tc.scenario == loadgen.Idle && got["open"] != 20.0 {
					t.Errorf("open = %v; want 20", got["open"])
				}

				r = runCmd(t, "", append(args, url)...)
				if r.code != 0 {
					t.Fatalf("%v: exit code = %d; want 0\nstderr: %s", args, r.code, r.stderr)
				}
				for _, row := range append(tc.rows, "scenario") {
					if !strings.Contains(r.stdout, row) {
						t.Errorf("table has no %q:\n%s", row, r.stdout)
					}
				}
				if !regexp.MustCompile(`(?m)^failed +0$`).MatchString(r.stdout) {
					t.Errorf("table has no 'failed 0' row:\n%s", r.stdout)
				}
			})
		}
	}
}

func TestBenchFailures(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no URL", []string{"bench"}, 2, "bench takes one URL"},
		{"bad URL", []string{"bench", "ftp://x/"}, 2, "want a ws:// or wss:// URL"},
		{"no host", []string{"bench", "ws:///path"}, 2, "want a ws:// or wss:// URL"},
		{"bad scenario", []string{"bench", "--scenario", "speed", "ws://127.0.0.1:1/"}, 2, `--scenario "speed"`},
		{"bad conns", []string{"bench", "--conns", "0", "ws://127.0.0.1:1/"}, 2, "--conns 0"},
		{"dead backend", []string{"bench", "--duration", "100ms", dead}, 1, "1 connections failed; first: dial " + dead},
		{"dead backend handshake", []string{"bench", "--scenario", "handshake", "--workers", "2", "--duration", "100ms", dead}, 1, "connections failed; first: dial"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit code = %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			// Nothing measured: the error alone, no table of zeros.
			if r.stdout != "" {
				t.Errorf("stdout = %q; want nothing", r.stdout)
			}
		})
	}
}

// TestBenchServerGone checks that a server that drops the connection is a
// failure that says why, with no table of zeros.
func TestBenchServerGone(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A server that accepts the TCP connection and closes it: the upgrade fails.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := runCmd(t, "", "bench", "--scenario", "latency", "--duration", "100ms", "ws://"+ln.Addr().String()+"/")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "read handshake answer") {
		t.Errorf("exit code = %d, stdout %q, stderr %q; want 1, the reason and no table", r.code, r.stdout, r.stderr)
	}
}
