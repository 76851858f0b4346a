package liveview

import (
	"fmt"
	"time"

	"github.com/fatih/color"

	"github.com/wsgate/wsgate/tunnel"
)

// frame is one rendered screen and what the keys need to know of it.
type frame struct {
	lines []string
	// page is how many open tunnels fitted and scroll the first one shown.
	page, scroll int
	// paneTop is the first line of a pane shown, paneLast the largest
	// useful one, panePage how many of its lines fitted.
	paneTop, paneLast, panePage int
}

// palette is the colours of one frame, all off without View.Color.
type palette struct{ bold, dim, green, yellow, red, inverse *color.Color }

func newPalette(on bool) palette {
	p := palette{color.New(color.Bold), color.New(color.Faint), color.New(color.FgGreen),
		color.New(color.FgYellow), color.New(color.FgRed), color.New(color.ReverseVideo)}
	for _, c := range []*color.Color{p.bold, p.dim, p.green, p.yellow, p.red, p.inverse} {
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return p
}

// screen collects a frame's lines: at most height, each cut to width.
type screen struct {
	lines         []string
	width, height int
}

func (sc *screen) add(c *color.Color, text string) {
	if len(sc.lines) >= sc.height {
		return
	}
	text = fit(text, sc.width)
	if c != nil && text != "" {
		text = c.Sprint(text)
	}
	sc.lines = append(sc.lines, text)
}

// left is how many lines are still free.
func (sc *screen) left() int { return sc.height - len(sc.lines) }

// render draws one frame: at most height lines, each at most width cells.
// It is a pure function of its arguments, golden-tested. Under the title
// comes the pane the user chose: the tables (renderList), the keys, the
// warnings or one tunnel's detail.
func (v *View) render(s tunnel.Snapshot, events []string, width, height int, st *viewState) frame {
	if height <= 0 || width <= 0 {
		return frame{}
	}
	p := newPalette(v.Color)
	sc := &screen{width: width, height: height}
	title := fmt.Sprintf("wsgate %s  listening on %s  up %s", v.Version, v.Addr, s.Time.Sub(v.Start).Round(time.Second))
	if st.interactive {
		title += "   ? keys"
	}
	if st.paused {
		sc.lines = append(sc.lines, p.inverse.Sprint(fit("PAUSED", width))+fit(" "+title+"  (p: resume)", width-len("PAUSED")))
	} else {
		sc.add(p.bold, title)
	}
	switch st.pane {
	case paneKeys:
		return renderPane(sc, "keys  (? or Esc: back)", keyRows(st.details), st, p)
	case paneWarnings:
		return renderPane(sc, fmt.Sprintf("%s  (w or Esc: back)", count(len(v.Warnings), "warning", "warnings")),
			warningRows(v.Warnings, width), st, p)
	case paneDetail:
		return renderPane(sc, detailTitle(st), detailRows(st.detail, &st.msg, s.Time, width, p), st, p)
	}
	return v.renderList(sc, s, events, st, p)
}

// Sections of the list, for the share of rows each gets.
const (
	secRoutes = iota
	secClosed
	secLog
	secMembers
	secFailures
	sections
)

// renderList draws the tables. Top to bottom: the header lines, the
// warnings count, totals, totals per route, balancer members, open
// tunnels (scrolled to the selected one), the recently closed ones, the
// recent failures and the log, which takes every row left. When the
// screen is short the log goes first, then closed tunnels, failures,
// members and routes; open tunnels keep at least three rows. When it is
// narrow, each table drops its least useful columns.
func (v *View) renderList(sc *screen, s tunnel.Snapshot, events []string, st *viewState, p palette) frame {
	for _, h := range v.Header {
		sc.add(nil, h)
	}
	if n := len(v.Warnings); n > 0 {
		sc.add(p.yellow, count(n, "warning", "warnings")+" (w)")
	}
	sc.add(nil, fmt.Sprintf("tunnels %d open, %d total, %d failed   http %d   bytes %s up, %s down",
		s.Open, s.Total, s.Failed, s.Requests, FormatBytes(s.Up), FormatBytes(s.Down)))

	// Rows for each section: open tunnels keep at least three, then
	// routes, members, failures, closed tunnels and the log get a share
	// in that order, and what is left goes to open tunnels, closed ones,
	// failures, then the log. Each section but the log has a label and
	// a table header; the log has a label.
	wantOpen := max(1, len(s.Tunnels))
	members := memberRows(s.Balancers)
	want := [sections]int{len(s.Routes), min(len(s.Closed), 8), len(events), len(members), min(len(s.Failures), 6)}
	share := [sections]int{3, 4, 3, 4, 3}
	heads := [sections]int{2, 2, 1, 2, 2}
	var got [sections]int
	left := sc.left() - 2 - min(wantOpen, 3)
	for _, i := range []int{secRoutes, secMembers, secFailures, secClosed, secLog} {
		n := min(want[i], share[i], left-heads[i])
		if n < want[i] && n < 2 && (i == secRoutes || i == secMembers) {
			continue // "… and N more" alone tells nothing
		}
		if n > 0 {
			got[i], left = n, left-heads[i]-n
		}
	}
	openRows := min(wantOpen, 3) + max(0, min(wantOpen-3, left))
	left -= openRows - min(wantOpen, 3)
	for _, i := range []int{secClosed, secFailures, secLog} {
		switch {
		case got[i] > 0 && left > 0:
			n := min(want[i]-got[i], left)
			got[i], left = got[i]+n, left-n
		case got[i] == 0 && want[i] > 0 && left > heads[i]:
			n := min(want[i], left-heads[i])
			got[i], left = n, left-heads[i]-n
		}
	}

	if n := got[secRoutes]; n > 0 {
		sc.add(p.dim, "routes")
		table := routeTable(s.Routes[:n], sc.width)
		sc.add(p.dim, table[0])
		for i, r := range table[1:] {
			if i == n-1 && len(s.Routes) > n {
				r = fmt.Sprintf("  … and %d more routes", len(s.Routes)-n+1)
			}
			sc.add(nil, r)
		}
	}
	if n := got[secMembers]; n > 0 {
		sc.add(p.dim, "balancer members")
		table := memberTable(members[:n], sc.width)
		sc.add(p.dim, table[0])
		for i, r := range table[1:] {
			if i == n-1 && len(members) > n {
				r = fmt.Sprintf("  … and %d more members", len(members)-n+1)
			}
			if st := members[i].State; st != "ok" && st != "standby" {
				sc.add(p.yellow, r)
			} else {
				sc.add(nil, r)
			}
		}
	}
	f := v.openSection(sc, s, openRows, st, p)
	if n := got[secClosed]; n > 0 {
		sc.add(p.dim, "recently closed")
		table := closedTable(s, s.Closed[:n], sc.width)
		sc.add(p.dim, table[0])
		for i, r := range table[1:] {
			switch c := s.Closed[i]; {
			case c.Abnormal():
				sc.add(p.red, r)
			case c.Error != "" || !cleanClose(c.Up.CloseCode) || !cleanClose(c.Down.CloseCode):
				sc.add(p.yellow, r)
			default:
				sc.add(nil, r)
			}
		}
	}
	if n := got[secFailures]; n > 0 {
		sc.add(p.dim, "recent failures")
		table := failureTable(s.Failures[:n], sc.width)
		sc.add(p.dim, table[0])
		for i, r := range table[1:] {
			if s.Failures[i].Status >= 500 {
				sc.add(p.red, r)
			} else {
				sc.add(p.yellow, r)
			}
		}
	}
	if n := got[secLog]; n > 0 {
		sc.add(p.dim, "log")
		for _, e := range events[len(events)-n:] {
			sc.add(logColor(e, p), e)
		}
	}
	f.lines = sc.lines
	return f
}

// openSection draws the open tunnels, at most rows of them, scrolled so
// that the selected one is shown; when keys are read it is marked with
// '>' and, in colour, in reverse video.
func (v *View) openSection(sc *screen, s tunnel.Snapshot, rows int, st *viewState, p palette) frame {
	n := len(s.Tunnels)
	page := max(0, min(rows, n, sc.left()-2))
	sel := max(0, min(st.sel, n-1))
	scroll := keepShown(st.scroll, sel, page, n)
	label := "open tunnels"
	if page < n {
		label = fmt.Sprintf("open tunnels %d-%d of %d", scroll+1, scroll+page, n)
	}
	if st.interactive && n > 0 {
		label += "  (j/k, arrows: select"
		if st.details {
			label += ", Enter: detail"
		}
		label += ")"
	}
	sc.add(p.dim, label)
	mark, width := "", sc.width
	if st.interactive {
		mark, width = " ", width-1
	}
	table := v.openTable(s, s.Tunnels[scroll:scroll+page], width, st)
	sc.add(p.dim, mark+table[0])
	for i, r := range table[1:] {
		if st.interactive && scroll+i == sel {
			sc.add(p.inverse, ">"+r)
		} else {
			sc.add(p.green, mark+r)
		}
	}
	if n == 0 {
		sc.add(p.dim, "  no open tunnels")
	}
	return frame{page: page, scroll: scroll}
}

// cleanClose reports whether a close code is an ordinary end: none at all
// (the other side closed, or TCP did), 1000 or 1001.
func cleanClose(code int) bool { return code == 0 || code == 1000 || code == 1001 }

// count is "1 warning", "3 warnings".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
