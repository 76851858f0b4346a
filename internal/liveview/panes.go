package liveview

import (
	"fmt"
	"strings"

	"github.com/fatih/color"
)

// row is one line of a pane and its colour (nil: none).
type row struct {
	c    *color.Color
	text string
}

// renderPane draws a pane under the title: its label, then its rows from
// st.paneTop on, as many as fit. The label says which lines are shown
// when they do not all fit.
func renderPane(sc *screen, label string, rows []row, st *viewState, p palette) frame {
	fits := max(0, sc.left()-1)
	last := max(0, len(rows)-fits)
	top := min(st.paneTop, last)
	if st.pane == paneDetail && st.msg.follow {
		top = last
	}
	if len(rows) > fits && fits > 0 {
		label += fmt.Sprintf("  lines %d-%d of %d (j/k to scroll)", top+1, top+fits, len(rows))
		if st.pane == paneDetail && st.msg.follow {
			label += "  following"
		}
	}
	sc.add(p.bold, label)
	for _, r := range rows[top:] {
		sc.add(r.c, r.text)
	}
	return frame{lines: sc.lines, paneTop: top, paneLast: last, panePage: fits}
}

// keyRows is the keys pane: what each key does.
func keyRows(details bool) []row {
	keys := [][2]string{
		{"q, Ctrl-C", "stop serve: tunnels get a 1001 close, the summary is printed"},
		{"p, space", "pause the display (the proxy carries on); again to resume"},
		{"j/k, ↓/↑", "select an open tunnel; in a pane, scroll"},
		{"PgDn/PgUp", "a page down or up"},
		{"g/G, Home/End", "the first or the last"},
	}
	if details {
		keys = append(keys,
			[2]string{"Enter", "the selected tunnel: its handshake, counters and last messages"},
			[2]string{"  r", "in a tunnel: messages raw (one line each) or pretty (indented)"},
			[2]string{"  /", "in a tunnel: show only what a filter matches (--trace-filter)"},
			[2]string{"  G, End", "in a tunnel: follow the newest messages; k to stop"})
	}
	keys = append(keys,
		[2]string{"w", "the rules' warnings, as wsgate check prints them"},
		[2]string{"?", "these keys"},
		[2]string{"Esc", "back to the tables"})
	rows := make([]row, len(keys))
	for i, k := range keys {
		rows[i] = row{text: fmt.Sprintf("  %-14s %s", k[0], k[1])}
	}
	return rows
}

// warningRows is the warnings pane: each warning wrapped to the width,
// its continuation lines indented.
func warningRows(warnings []string, width int) []row {
	if len(warnings) == 0 {
		return []row{{text: "  the rules have no warnings"}}
	}
	var rows []row
	for _, w := range warnings {
		for i, l := range wrap(w, width-2, width-4) {
			if i == 0 {
				rows = append(rows, row{text: "  " + l})
			} else {
				rows = append(rows, row{text: "    " + l})
			}
		}
	}
	return rows
}

// wrap cuts s into lines of at most first runes, then at most rest, at
// a space where there is one.
func wrap(s string, first, rest int) []string {
	var lines []string
	r := []rune(s)
	for n := max(1, first); len(r) > n; n = max(1, rest) {
		cut := n
		for i := n; i > 0; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		lines = append(lines, strings.TrimRight(string(r[:cut]), " "))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	if len(r) > 0 {
		lines = append(lines, string(r))
	}
	return lines
}
