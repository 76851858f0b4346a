package main

import (
	"strings"
	"testing"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

func vals(kv ...any) map[string][]float64 {
	m := map[string][]float64{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].([]float64)
	}
	return m
}

func TestRatios(t *testing.T) {
	t.Parallel()
	peers := []string{"nginx", "haproxy", "caddy"}
	higher := line{Scenario: "throughput-1", Format: "%.0f", Parts: []part{{Values: vals(
		"direct", []float64{1000, 1200, 1100},
		"wsgate", []float64{990, 1000, 1010},
		"nginx", []float64{800, 900, 850},
		"haproxy", []float64{1250, 1240, 1260},
	)}}}
	if got, want := higher.vsBestPeer(peers), "0.80 (haproxy)"; got != want {
		t.Errorf("higher is better: vsBestPeer = %q; want %q", got, want)
	}
	if got, want := higher.vsDirect(), "0.91"; got != want {
		t.Errorf("vsDirect = %q; want %q", got, want)
	}
	lower := line{Scenario: "latency-1", Lower: true, Format: "%.0f", Parts: []part{
		{Name: "p50", Values: vals("wsgate", []float64{100}, "nginx", []float64{130}, "caddy", []float64{120})},
		{Name: "p99", Values: vals("wsgate", []float64{300}, "nginx", []float64{200}, "caddy", []float64{250})},
	}}
	if got, want := lower.vsBestPeer(peers), "0.83 (caddy) / 1.50 (nginx)"; got != want {
		t.Errorf("lower is better: vsBestPeer = %q; want %q", got, want)
	}
	if got := lower.vsDirect(); got != benchkit.Dash {
		t.Errorf("vsDirect without direct = %q; want %q", got, benchkit.Dash)
	}
	if got := (line{Parts: []part{{Values: vals("wsgate", []float64{1})}}}).vsBestPeer(peers); got != benchkit.Dash {
		t.Errorf("vsBestPeer with no peer = %q; want %q", got, benchkit.Dash)
	}
}

func TestCell(t *testing.T) {
	t.Parallel()
	l := line{Format: "%.0f", Failed: map[string]int{"caddy": 1}, Parts: []part{
		{Name: "p50", Values: vals("nginx", []float64{10, 30, 20}, "caddy", []float64{5})},
		{Name: "p99", Values: vals("nginx", []float64{90})},
	}}
	for target, want := range map[string]string{"nginx": "20 / 90", "caddy": "5 / – !", "haproxy": benchkit.Dash} {
		if got := l.cell(target); got != want {
			t.Errorf("cell(%q) = %q; want %q", target, got, want)
		}
	}
}

func TestLinesCPUPerGiB(t *testing.T) {
	t.Parallel()
	res := func(bytes int64) *benchResult { return &benchResult{Messages: 1, Bytes: bytes, MBPerS: 1} }
	samples := []sample{
		// Round 1: 1.5 CPU s over 2 × (0.25 + 0.5) GiB = 1.5 GiB.
		{Round: 1, Scenario: "throughput-1", Target: "wsgate", Result: res(gib / 4), CPUS: 0.5},
		{Round: 1, Scenario: "throughput-32", Target: "wsgate", Result: res(gib / 2), CPUS: 1},
		// Round 2: 3 CPU s over 2 GiB.
		{Round: 2, Scenario: "throughput-1", Target: "wsgate", Result: res(gib / 2), CPUS: 1},
		{Round: 2, Scenario: "throughput-32", Target: "wsgate", Result: res(gib / 2), CPUS: 2},
		// Direct is no proxy: no CPU figure.
		{Round: 1, Scenario: "throughput-1", Target: "direct", Result: res(gib)},
		// A slice that moved nothing gives no throughput figure, only the mark.
		{Round: 1, Scenario: "throughput-1", Target: "nginx", Result: &benchResult{Failed: 1}},
	}
	var cpu, tp line
	for _, l := range lines(samples, nil) {
		switch l.Scenario {
		case "cpu-per-gib":
			cpu = l
		case "throughput-1":
			tp = l
		}
	}
	if got, want := cpu.cell("wsgate"), "1.25"; got != want {
		t.Errorf("cpu-per-gib wsgate = %q; want %q (median of 1.00 and 1.50)", got, want)
	}
	if got := cpu.cell("direct"); got != benchkit.Dash {
		t.Errorf("cpu-per-gib direct = %q; want %q", got, benchkit.Dash)
	}
	if got, want := tp.cell("nginx"), benchkit.Dash; got != want {
		t.Errorf("throughput-1 nginx = %q; want %q", got, want)
	}
	if tp.Failed["nginx"] != 1 {
		t.Errorf("throughput-1 Failed[nginx] = %d; want 1", tp.Failed["nginx"])
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	l := line{Scenario: "handshake", Unit: "conn/s", Format: "%.0f", Parts: []part{{Values: vals(
		"direct", []float64{7000}, "wsgate", []float64{6300}, "nginx", []float64{6000},
	)}}}
	var b strings.Builder
	benchkit.WriteMarkdown(&b, table([]line{l}, []string{"direct", "wsgate", "nginx"}, []string{"nginx"}))
	want := "| scenario | direct | wsgate | nginx | wsgate ÷ best peer | wsgate ÷ direct | better |\n" +
		"|---|---|---|---|---|---|---|\n" +
		"| handshake (conn/s) | 7000 | 6300 | 6000 | 1.05 (nginx) | 0.90 | higher |\n"
	if b.String() != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", b.String(), want)
	}
}
