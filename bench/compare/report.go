package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

// A line is one row of the result table: a scenario and what it measured
// for every target. Most lines have one part; latency has two (p50, p99),
// shown in one cell as "p50 / p99".
type line struct {
	Scenario string
	Unit     string
	// Lower says that smaller is better (latency, CPU, memory); the ratios
	// are read the same way.
	Lower  bool
	Format string // for one value, like "%.0f"
	Parts  []part
	// Failed counts, per target, the slices in which some connections
	// failed: their cells are marked with "!".
	Failed map[string]int
}

// A part is one figure of a line: its values per target, one per round
// (one in all for the idle lines).
type part struct {
	Name   string
	Values map[string][]float64
}

// best is the peer with the best median for one part, by the line's
// direction; "" when no peer has a value.
func (l line) best(p part, peers []string) (string, float64) {
	name, val := "", math.NaN()
	for _, t := range peers {
		m := benchkit.Median(p.Values[t])
		if math.IsNaN(m) {
			continue
		}
		if name == "" || (l.Lower && m < val) || (!l.Lower && m > val) {
			name, val = t, m
		}
	}
	return name, val
}

// cell formats the medians of one target, parts joined by " / ".
func (l line) cell(target string) string {
	var out []string
	empty := true
	for _, p := range l.Parts {
		m := benchkit.Median(p.Values[target])
		if math.IsNaN(m) {
			out = append(out, benchkit.Dash)
			continue
		}
		empty = false
		out = append(out, fmt.Sprintf(l.Format, m))
	}
	if empty {
		return benchkit.Dash
	}
	s := strings.Join(out, " / ")
	if l.Failed[target] > 0 {
		s += " !"
	}
	return s
}

// ratio formats wsgate's median over the reference's, part by part; with
// named set, each ratio says which peer it is against.
func ratio(num, den float64, against string) string {
	if math.IsNaN(num) || math.IsNaN(den) || den == 0 {
		return benchkit.Dash
	}
	s := fmt.Sprintf("%.2f", num/den)
	if against != "" {
		s += " (" + against + ")"
	}
	return s
}

// vsBestPeer is the cell "wsgate ÷ best peer".
func (l line) vsBestPeer(peers []string) string {
	var out []string
	for _, p := range l.Parts {
		name, val := l.best(p, peers)
		out = append(out, ratio(benchkit.Median(p.Values["wsgate"]), val, name))
	}
	return joinRatios(out)
}

// vsDirect is the cell "wsgate ÷ direct".
func (l line) vsDirect() string {
	var out []string
	for _, p := range l.Parts {
		out = append(out, ratio(benchkit.Median(p.Values["wsgate"]), benchkit.Median(p.Values["direct"]), ""))
	}
	return joinRatios(out)
}

func joinRatios(r []string) string {
	for _, s := range r {
		if s != benchkit.Dash {
			return strings.Join(r, " / ")
		}
	}
	return benchkit.Dash
}

// table lays the lines out as rows of cells: a header row, then one row per
// line. Targets are the columns in order; peers are those among them that
// the "best peer" ratio looks at.
func table(lines []line, targets, peers []string) [][]string {
	head := []string{"scenario"}
	head = append(head, targets...)
	head = append(head, "wsgate ÷ best peer", "wsgate ÷ direct", "better")
	rows := [][]string{head}
	for _, l := range lines {
		name := l.Scenario
		if len(l.Parts) > 1 {
			var ps []string
			for _, p := range l.Parts {
				ps = append(ps, p.Name)
			}
			name += " " + strings.Join(ps, " / ")
		}
		row := []string{name + " (" + l.Unit + ")"}
		for _, t := range targets {
			row = append(row, l.cell(t))
		}
		better := "higher"
		if l.Lower {
			better = "lower"
		}
		row = append(row, l.vsBestPeer(peers), l.vsDirect(), better)
		rows = append(rows, row)
	}
	return rows
}

// A summary is one cell's figures for the JSON file: the median the table
// shows and the spread it hides.
type summary struct {
	Scenario string  `json:"scenario"`
	Part     string  `json:"part,omitempty"`
	Unit     string  `json:"unit"`
	Target   string  `json:"target"`
	N        int     `json:"n"`
	Median   float64 `json:"median"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
}

func summarize(lines []line, targets []string) []summary {
	var out []summary
	for _, l := range lines {
		for _, p := range l.Parts {
			for _, t := range targets {
				v := p.Values[t]
				if len(v) == 0 {
					continue
				}
				out = append(out, summary{l.Scenario, p.Name, l.Unit, t, len(v), benchkit.Median(v), slices.Min(v), slices.Max(v)})
			}
		}
	}
	return out
}
