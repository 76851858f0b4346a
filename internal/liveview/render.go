package liveview

import (
	"fmt"
	"time"

	"github.com/fatih/color"

	"github.com/wsgate/wsgate/tunnel"
)

// render draws one frame: at most height lines, each at most width cells.
// It is a pure function of its arguments, golden-tested. page is how many
// open tunnels fitted.
//
// Top to bottom: totals, totals per route, open tunnels (scrolled), the
// recently closed ones and the last log lines. When the screen is short,
// the log goes first, then the closed tunnels, then routes; when it is
// narrow, each table drops its least useful columns.
func (v *View) render(s tunnel.Snapshot, events []string, width, height int, st *viewState) (lines []string, page int) {
	if height <= 0 || width <= 0 {
		return nil, 0
	}
	bold, dim, green, yellow, inverse := color.New(color.Bold), color.New(color.Faint),
		color.New(color.FgGreen), color.New(color.FgYellow), color.New(color.ReverseVideo)
	for _, c := range []*color.Color{bold, dim, green, yellow, inverse} {
		if v.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	line := func(c *color.Color, text string) {
		if len(lines) >= height {
			return
		}
		text = fit(text, width)
		if c != nil && text != "" {
			text = c.Sprint(text)
		}
		lines = append(lines, text)
	}

	title := fmt.Sprintf("wsgate %s  listening on %s  up %s", v.Version, v.Addr, s.Time.Sub(v.Start).Round(time.Second))
	if st.paused {
		lines = append(lines, inverse.Sprint(fit("PAUSED", width))+fit(" "+title+"  (p: resume)", width-len("PAUSED")))
	} else {
		line(bold, title)
	}
	line(nil, fmt.Sprintf("tunnels %d open, %d total, %d failed   http %d   bytes %s up, %s down",
		s.Open, s.Total, s.Failed, s.Requests, FormatBytes(s.Up), FormatBytes(s.Down)))

	// Rows for each section: open tunnels keep at least three, then
	// routes, closed tunnels and the log get a share in that order, and
	// what is left goes to open tunnels, closed ones, then the log.
	wantOpen := max(1, len(s.Tunnels))
	members := memberRows(s.Balancers)
	want := [4]int{len(s.Routes), min(len(s.Closed), 8), min(len(events), 4), len(members)}
	share := [4]int{3, 4, 3, 4}
	var got [4]int
	left := height - len(lines) - 2 - min(wantOpen, 3)
	for _, i := range []int{0, 3, 1, 2} {
		n := min(want[i], share[i], left-2)
		if n < want[i] && n < 2 {
			continue // "… and N more" alone tells nothing
		}
		if n > 0 {
			got[i], left = n, left-2-n
		}
	}
	openRows := min(wantOpen, 3) + max(0, min(wantOpen-3, left))
	left -= openRows - min(wantOpen, 3)
	for _, i := range []int{1, 2} {
		if got[i] > 0 && left > 0 {
			n := min(want[i]-got[i], left)
			got[i], left = got[i]+n, left-n
		}
	}

	if got[0] > 0 {
		line(dim, "routes")
		table := routeTable(s.Routes[:got[0]], width)
		line(dim, table[0])
		for i, r := range table[1:] {
			if i == got[0]-1 && len(s.Routes) > got[0] {
				r = fmt.Sprintf("  … and %d more routes", len(s.Routes)-got[0]+1)
			}
			line(nil, r)
		}
	}

	if got[3] > 0 {
		line(dim, "balancer members")
		table := memberTable(members[:got[3]], width)
		line(dim, table[0])
		for i, r := range table[1:] {
			if i == got[3]-1 && len(members) > got[3] {
				r = fmt.Sprintf("  … and %d more members", len(members)-got[3]+1)
			}
			if st := members[i].State; st != "ok" && st != "standby" {
				line(yellow, r)
			} else {
				line(nil, r)
			}
		}
	}

	page = max(0, min(openRows, len(s.Tunnels), height-len(lines)-2))
	scroll := max(0, min(st.scroll, len(s.Tunnels)-page))
	label := "open tunnels"
	if page < len(s.Tunnels) {
		label = fmt.Sprintf("open tunnels %d-%d of %d (j/k, arrows to scroll)", scroll+1, scroll+page, len(s.Tunnels))
	}
	line(dim, label)
	table := v.openTable(s, s.Tunnels[scroll:scroll+page], width, st)
	line(dim, table[0])
	for _, r := range table[1:] {
		line(green, r)
	}
	if len(s.Tunnels) == 0 {
		line(dim, "  no open tunnels")
	}

	if got[1] > 0 {
		line(dim, "recently closed")
		table := closedTable(s, s.Closed[:got[1]], width)
		line(dim, table[0])
		for i, r := range table[1:] {
			c := s.Closed[i]
			if c.Error != "" || !cleanClose(c.Up.CloseCode) || !cleanClose(c.Down.CloseCode) {
				line(yellow, r)
			} else {
				line(nil, r)
			}
		}
	}
	if got[2] > 0 {
		line(dim, "log")
		for _, e := range events[len(events)-got[2]:] {
			line(dim, e)
		}
	}
	return lines, page
}

// cleanClose reports whether a close code is an ordinary end: none at all
// (the other side closed, or TCP did), 1000 or 1001.
func cleanClose(code int) bool { return code == 0 || code == 1000 || code == 1001 }
