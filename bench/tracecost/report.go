package main

import (
	"fmt"
	"math"
	"slices"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

// A costLine is one target's row of the cost table: its figures, one per
// round.
type costLine struct {
	Name  string `json:"target"`
	Label string `json:"mode"`
	// Ref is the target the ratios divide by: the same binary's tracing
	// off.
	Ref     string    `json:"-"`
	Deflate bool      `json:"deflate"`
	MsgPerS []float64 `json:"msg_per_s"`
	CPUUS   []float64 `json:"cpu_us_per_msg"`
	TraceB  []float64 `json:"trace_bytes_per_msg,omitempty"`
	Failed  int       `json:"failed_slices,omitempty"`
}

// add takes one slice's figures. A slice that moved nothing, or failed,
// gives none and is counted.
func (l *costLine) add(s sample) {
	m := s.messages()
	if s.Error != "" || m == 0 || s.ElapsedS <= 0 {
		l.Failed++
		return
	}
	l.MsgPerS = append(l.MsgPerS, m/s.ElapsedS)
	l.CPUUS = append(l.CPUUS, s.CPUS*1e6/m)
	if s.TraceBytes > 0 {
		l.TraceB = append(l.TraceB, float64(s.TraceBytes)/m)
	}
}

// A memLine is one target's row of the memory table.
type memLine struct {
	Name, Label, Ref string
	memResult
}

// kibPerTunnel is the growth of VmRSS per tunnel held; NaN for none.
func (l memLine) kibPerTunnel() float64 {
	if l.Held <= 0 {
		return math.NaN()
	}
	return float64(l.During-l.Before) / 1024 / float64(l.Held)
}

// spread formats the median of v and, for more than one value, its
// minimum and maximum: "1234 (1100–1300)".
func spread(v []float64, format string) string {
	if len(v) == 0 {
		return benchkit.Dash
	}
	s := fmt.Sprintf(format, benchkit.Median(v))
	if len(v) > 1 {
		s += fmt.Sprintf(" ("+format+"–"+format+")", slices.Min(v), slices.Max(v))
	}
	return s
}

// ratio formats num ÷ den; a benchkit.Dash when either is missing.
func ratio(num, den float64) string {
	if math.IsNaN(num) || math.IsNaN(den) || den == 0 {
		return benchkit.Dash
	}
	return fmt.Sprintf("%.2f", num/den)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// costTable lays out the cost lines as rows, a header first.
func costTable(lines []costLine) [][]string {
	byName := map[string]costLine{}
	for _, l := range lines {
		byName[l.Name] = l
	}
	rows := [][]string{{"mode", "deflate", "msg/s", "wsgate CPU µs/msg", "trace B/msg", "CPU ÷ off", "msg/s ÷ off"}}
	for _, l := range lines {
		ref := byName[l.Ref]
		tb := benchkit.Dash
		if len(l.TraceB) > 0 {
			tb = fmt.Sprintf("%.0f", benchkit.Median(l.TraceB))
		}
		label := l.Label
		if l.Failed > 0 {
			label += fmt.Sprintf(" (%d slices failed)", l.Failed)
		}
		rows = append(rows, []string{label, yesNo(l.Deflate),
			spread(l.MsgPerS, "%.0f"), spread(l.CPUUS, "%.2f"), tb,
			ratio(benchkit.Median(l.CPUUS), benchkit.Median(ref.CPUUS)), ratio(benchkit.Median(l.MsgPerS), benchkit.Median(ref.MsgPerS))})
	}
	return rows
}

// memTable lays out the memory lines as rows, a header first.
func memTable(lines []memLine) [][]string {
	byName := map[string]memLine{}
	for _, l := range lines {
		byName[l.Name] = l
	}
	rows := [][]string{{"mode", "tunnels held", "RSS before (MiB)", "RSS held (MiB)", "KiB/tunnel", "÷ off"}}
	for _, l := range lines {
		kib, ref := l.kibPerTunnel(), byName[l.Ref].kibPerTunnel()
		cell := benchkit.Dash
		if !math.IsNaN(kib) {
			cell = fmt.Sprintf("%.1f", kib)
		}
		held := fmt.Sprintf("%d", l.Held)
		if l.Held < l.Asked {
			held += fmt.Sprintf(" of %d", l.Asked)
		}
		rows = append(rows, []string{l.Label, held, mib(l.Before), mib(l.During), cell, ratio(kib, ref)})
	}
	return rows
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
