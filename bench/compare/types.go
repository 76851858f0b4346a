// Command compare measures wsgate side by side with the peer proxies that
// are installed (nginx, HAProxy, Apache httpd, Caddy) and with no proxy at
// all, and prints medians and ratios: the harness of issue 5. Run it with
// bench/compare.sh, which builds wsgate first and says what it needs.
//
// Every proxy runs with one worker or thread pinned to CPU 0; the echo
// backend and the load generator (wsgate bench) are pinned to CPU 1:
//
//	wsgate bench (CPU 1) ──► proxy (CPU 0) ──► wsgate echo (CPU 1)
//	         └──────────── "direct" ─────────────────┘
//
// All the proxies run at once and the load rotates between them in short
// slices, round after round: on small shared machines the cost of moving
// data between CPUs drifts from second to second, so only targets measured
// in the same seconds compare fairly (issue 5 saw 60 % spreads between
// whole runs taken one after another).
//
// It uses the standard library only and runs wsgate as a program, as a
// user would, never importing it.
package main

import "time"

// A scenario is one kind of slice: wsgate bench flags and the figures
// taken from its JSON result.
type scenario struct {
	name string
	args []string
}

// baseline names the target of --baseline.
const baseline = "wsgate-base"

var scenarios = []scenario{
	{"throughput-1", []string{"--scenario", "throughput", "--conns", "1", "--size", "65536"}},
	{"throughput-32", []string{"--scenario", "throughput", "--conns", "32", "--size", "65536"}},
	{"latency-1", []string{"--scenario", "latency", "--conns", "1", "--size", "32"}},
	{"latency-100", []string{"--scenario", "latency", "--conns", "100", "--size", "32", "--rate", "2000"}},
	{"latency-100-10k", []string{"--scenario", "latency", "--conns", "100", "--size", "32", "--rate", "10000"}},
	{"handshake", []string{"--scenario", "handshake", "--workers", "16"}},
	// A client that waits for the server's FIN after the close handshake,
	// as RFC 6455 §7.1.1 has it: a FIN passed on late costs a whole cycle.
	{"handshake-fin", []string{"--scenario", "handshake", "--workers", "16", "--wait-fin"}},
}

// benchResult holds the fields of wsgate bench --json that are used here.
type benchResult struct {
	ElapsedS   float64 `json:"elapsed_s"`
	Messages   int64   `json:"messages"`
	Bytes      int64   `json:"bytes"`
	MBPerS     float64 `json:"mb_per_s"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	ConnPerS   float64 `json:"conn_per_s"`
	Open       int64   `json:"open"`
	Failed     int64   `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
}

// A sample is one slice: one scenario against one target for --slice.
type sample struct {
	Round    int          `json:"round"`
	Scenario string       `json:"scenario"`
	Target   string       `json:"target"`
	Result   *benchResult `json:"result,omitempty"`
	CPUS     float64      `json:"proxy_cpu_s,omitempty"` // throughput slices
	Error    string       `json:"error,omitempty"`
}

// idleResult is the once-per-target idle measurement.
type idleResult struct {
	Target string `json:"target"`
	Asked  int    `json:"asked"`
	Held   int64  `json:"held"`
	Before usage  `json:"before"`
	During usage  `json:"held_usage"`
	Failed int64  `json:"failed"`
	Error  string `json:"error,omitempty"`
}

type config struct {
	wsgate, peersDir, jsonFile string
	rounds, idleConns          int
	slice                      time.Duration
	only                       []string
	skipIdle, markdown, keep   bool
	baseline                   string // --baseline: another wsgate binary
}

// usage is a process tree's resident memory and open file descriptors.
type usage struct {
	RSS int64 `json:"rss_bytes"` // VmRSS summed
	FDs int   `json:"fds"`
}

func (res idleResult) perTunnel() (kib, fds float64, ok bool) {
	if res.Held <= 0 {
		return 0, 0, false
	}
	h := float64(res.Held)
	return float64(res.During.RSS-res.Before.RSS) / 1024 / h, float64(res.During.FDs-res.Before.FDs) / h, true
}
