package main

import (
	"strings"
	"testing"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

func TestSpread(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []float64
		want string
	}{
		{nil, benchkit.Dash},
		{[]float64{12.345}, "12.35"},
		{[]float64{3, 1.5, 2}, "2.00 (1.50–3.00)"},
	} {
		if got := spread(tc.in, "%.2f"); got != tc.want {
			t.Errorf("spread(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestCostTable checks the figures per message (an echo is two messages)
// and the ratios to the same binary's tracing off, in markdown.
func TestCostTable(t *testing.T) {
	t.Parallel()
	off := costLine{Name: "off", Label: "tracing off", Ref: "off", Deflate: true}
	trace := costLine{Name: "trace", Label: "--trace-file", Ref: "off", Deflate: true}
	base := costLine{Name: "base-trace", Label: "base: --trace-file", Ref: "base-off"}
	for _, s := range []sample{
		// 10,000 echoes in 1 s: 20,000 messages; 0.2 CPU s is 10 µs each.
		{Echoes: 10_000, ElapsedS: 1, CPUS: 0.2},
		{Echoes: 12_000, ElapsedS: 1, CPUS: 0.24},
		{Echoes: 8_000, ElapsedS: 1, CPUS: 0.16},
	} {
		off.add(s)
	}
	trace.add(sample{Echoes: 5_000, ElapsedS: 1, CPUS: 0.3, TraceBytes: 4_000_000})
	trace.add(sample{Error: "dial: refused"})
	base.add(sample{Echoes: 1, ElapsedS: 1, CPUS: 0.01})

	var b strings.Builder
	benchkit.WriteMarkdown(&b, costTable([]costLine{off, trace, base}))
	want := "| mode | deflate | msg/s | wsgate CPU µs/msg | trace B/msg | CPU ÷ off | msg/s ÷ off |\n" +
		"|---|---|---|---|---|---|---|\n" +
		"| tracing off | yes | 20000 (16000–24000) | 10.00 (10.00–10.00) | – | 1.00 | 1.00 |\n" +
		"| --trace-file (1 slices failed) | yes | 10000 | 30.00 | 400 | 3.00 | 0.50 |\n" +
		"| base: --trace-file | no | 2 | 5000.00 | – | – | – |\n"
	if b.String() != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMemTable(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	lines := []memLine{
		{Name: "off", Label: "tracing off", Ref: "off", memResult: memResult{Asked: 1000, Held: 1000, Before: 12 * mib, During: 22 * mib}},
		{Name: "trace", Label: "--trace-file", Ref: "off", memResult: memResult{Asked: 1000, Held: 500, Before: 12 * mib, During: 62 * mib}},
		{Name: "strip", Label: "--trace-file --trace-strip-compression", Ref: "off", memResult: memResult{Asked: 1000}},
	}
	var b strings.Builder
	benchkit.WritePlain(&b, memTable(lines))
	want := "" +
		"mode                                    tunnels held  RSS before (MiB)  RSS held (MiB)  KiB/tunnel  ÷ off\n" +
		"tracing off                             1000          12.0              22.0            10.2        1.00\n" +
		"--trace-file                            500 of 1000   12.0              62.0            102.4       10.00\n" +
		"--trace-file --trace-strip-compression  0 of 1000     0.0               0.0             –           –\n"
	if b.String() != want {
		t.Errorf("plain:\n%s\nwant:\n%s", b.String(), want)
	}
}
