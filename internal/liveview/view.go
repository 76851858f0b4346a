// Package liveview is serve's live view of the open tunnels on a
// terminal: it draws Snapshots four times a second on the alternate screen
// and reads keys (pause, scroll, quit). It formats; tunnel counts.
package liveview

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
	"golang.org/x/term"

	"github.com/wsgate/wsgate/tunnel"
)

// viewInterval is how often the live view redraws: fast enough to look live,
// slow enough to cost nothing next to the relay.
const viewInterval = 250 * time.Millisecond

// EventLog keeps the last log lines for the live view, which owns the screen
// and so cannot let log lines scroll it.
type EventLog struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func NewEventLog(max int) *EventLog { return &EventLog{max: max} }

func (l *EventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.lines = append(l.lines, line)
	}
	if over := len(l.lines) - l.max; over > 0 {
		l.lines = append(l.lines[:0], l.lines[over:]...)
	}
	return len(p), nil
}

func (l *EventLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// view is the live terminal display of a running proxy. It reads snapshots,
// never the relay's state directly: when nobody looks, it costs nothing.
type View struct {
	Out     io.Writer
	Addr    string // the first listener's
	Version string
	Start   time.Time
	Events  *EventLog // the last log lines, shown under the tables
	Color   bool
	// Keys is the terminal to read keys from, or nil when standard input
	// is not a terminal (then the view only shows, and Ctrl-C is a signal).
	Keys *os.File
	// Quit stops serve, as Ctrl-C would.
	Quit func()
}

// viewState is what the user changed and what the view remembers between
// two snapshots. Only the view's own goroutine touches it.
type viewState struct {
	paused bool
	quit   bool
	scroll int // index of the first open tunnel shown
	// count and page are the open tunnels of the last frame and how many
	// of them fitted, so that scrolling stops at the end of the list.
	count, page int
	// active is when each open tunnel's byte counts last changed, by ID:
	// the relay keeps no such time, the view works it out from snapshots.
	active map[uint64]activity
	keys   keyDecoder
}

type activity struct {
	up, down int64
	at       time.Time
}

func newViewState() *viewState { return &viewState{active: make(map[uint64]activity)} }

// observe records which tunnels moved bytes since the previous snapshot.
func (st *viewState) observe(s tunnel.Snapshot) {
	open := make(map[uint64]bool, len(s.Tunnels))
	for _, t := range s.Tunnels {
		open[t.ID] = true
		a, ok := st.active[t.ID]
		switch {
		case !ok && t.Up.Bytes == 0 && t.Down.Bytes == 0:
			a = activity{at: t.Start}
		case !ok || a.up != t.Up.Bytes || a.down != t.Down.Bytes:
			a = activity{up: t.Up.Bytes, down: t.Down.Bytes, at: s.Time}
		}
		st.active[t.ID] = a
	}
	for id := range st.active {
		if !open[id] {
			delete(st.active, id)
		}
	}
}

// input applies the keys in p, which may hold several keys or part of one.
func (st *viewState) input(p []byte) {
	for _, k := range st.keys.decode(p) {
		st.apply(k)
	}
}

func (st *viewState) apply(k key) {
	last := max(0, st.count-st.page)
	switch k {
	case keyQuit:
		st.quit = true
	case keyPause:
		st.paused = !st.paused
	case keyDown:
		st.scroll++
	case keyUp:
		st.scroll--
	case keyPageDown:
		st.scroll += max(1, st.page-1)
	case keyPageUp:
		st.scroll -= max(1, st.page-1)
	case keyHome:
		st.scroll = 0
	case keyEnd:
		st.scroll = last
	}
	st.scroll = max(0, min(st.scroll, last))
}

// Run redraws until ctx is done or the user quits, on the terminal's
// alternate screen and, when keys are read, in raw mode. The terminal is
// put back as it was however run ends, a panic included.
func (v *View) Run(ctx context.Context, snapshot func() tunnel.Snapshot) {
	restore := v.enter()
	defer restore()

	keys := make(chan []byte)
	done := make(chan struct{})
	defer close(done)
	if v.Keys != nil {
		// The read blocks until a key comes: this goroutine ends with the
		// next key after the view, or with the process.
		go readKeys(v.Keys, keys, done)
	}
	tick := time.NewTicker(viewInterval)
	defer tick.Stop()

	// A pause freezes the snapshot and the log lines alike.
	st := newViewState()
	s, events := snapshot(), v.Events.last()
	st.observe(s)
	var buf bytes.Buffer
	for {
		width, height := 80, 24
		if f, ok := v.Out.(*os.File); ok {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				width, height = w, h
			}
		}
		lines, page := v.render(s, events, width, height, st)
		st.count, st.page = len(s.Tunnels), page
		buf.Reset()
		draw(&buf, lines, height)
		v.Out.Write(buf.Bytes())

		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !st.paused {
				s, events = snapshot(), v.Events.last()
				st.observe(s)
			}
		case p := <-keys:
			wasPaused := st.paused
			st.input(p)
			if st.quit {
				if v.Quit != nil {
					v.Quit()
				}
				return
			}
			if wasPaused && !st.paused {
				s, events = snapshot(), v.Events.last()
				st.observe(s)
			}
		}
	}
}

// enter switches to the alternate screen, hides the cursor and, when keys
// are read, puts the terminal in raw mode (Ctrl-C is then the byte 3, read
// as quit). The function it returns undoes all three.
func (v *View) enter() (restore func()) {
	var old *term.State
	if v.Keys != nil {
		if st, err := term.MakeRaw(int(v.Keys.Fd())); err == nil {
			old = st
		}
	}
	fmt.Fprint(v.Out, "\x1b[?1049h\x1b[?25l\x1b[2J")
	return func() {
		fmt.Fprint(v.Out, "\x1b[?25h\x1b[?1049l")
		if old != nil {
			term.Restore(int(v.Keys.Fd()), old)
		}
	}
}

// readKeys sends what is typed on in to keys until done is closed.
func readKeys(in io.Reader, keys chan<- []byte, done <-chan struct{}) {
	buf := make([]byte, 64)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			select {
			case keys <- bytes.Clone(buf[:n]):
			case <-done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// draw writes a frame that never scrolls the screen: each line is placed
// by cursor address and cleared before it is written (never after: erasing
// at the last column would eat a full-width line's last cell), no newline
// is ever written, and the rest of the screen is cleared below the frame.
func draw(b *bytes.Buffer, lines []string, height int) {
	for i, l := range lines {
		fmt.Fprintf(b, "\x1b[%d;1H\x1b[2K%s", i+1, l)
	}
	if len(lines) < height {
		fmt.Fprintf(b, "\x1b[%d;1H\x1b[J", len(lines)+1)
	}
}

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

// column is one column of a table. Columns of equal prio come and go
// together; a lower prio is dropped later. A column wider than min takes
// a share of the spare width up to max.
type column struct {
	title    string
	min, max int
	right    bool
	prio     int
	// cut says where a long value loses characters: at the end (default)
	// or at the start (keeping an address's port, the end of a path).
	cut cutAt
}

type cutAt int

const (
	cutEnd cutAt = iota
	cutStart
)

// layout gives each column its width, 0 for a column that does not fit:
// columns are taken by priority while they fit, then the flexible ones
// share what is left.
func layout(cols []column, width int) []int {
	w := make([]int, len(cols))
	used := -1 // no separator before the first column
	for prio := 0; prio <= 9; prio++ {
		need := 0
		for _, c := range cols {
			if c.prio == prio {
				need += c.min + 1
			}
		}
		if need == 0 || used+need > width {
			continue
		}
		used += need
		for i, c := range cols {
			if c.prio == prio {
				w[i] = c.min
			}
		}
	}
	for spare := width - used; spare > 0; {
		grew := false
		for i, c := range cols {
			if w[i] > 0 && w[i] < c.max && spare > 0 {
				w[i]++
				spare--
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	return w
}

// table lays out a header and rows of cells with the widths layout chose.
func table(cols []column, rows [][]string, width int) []string {
	w := layout(cols, width)
	cells := func(row []string) string {
		var b strings.Builder
		for i, c := range cols {
			if w[i] == 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			var s string
			switch c.cut {
			case cutEnd:
				s = fit(row[i], w[i])
			case cutStart:
				s = fitLeft(row[i], w[i])
			}
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(s))
			if c.right {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.title
	}
	out := []string{cells(head)}
	for _, r := range rows {
		out = append(out, cells(r))
	}
	return out
}

// memberRow is one balancer member with its balancer's name.
type memberRow struct {
	balancer string
	tunnel.MemberInfo
}

func memberRows(bs []tunnel.BalancerInfo) []memberRow {
	var rows []memberRow
	for _, b := range bs {
		for _, m := range b.Members {
			rows = append(rows, memberRow{b.Name, m})
		}
	}
	return rows
}

func memberTable(members []memberRow, width int) []string {
	cols := []column{
		{title: "BALANCER", min: 8, max: 24, prio: 3, cut: cutStart},
		{title: "MEMBER", min: 10, max: 30, prio: 0, cut: cutStart},
		{title: "STATE", min: 8, max: 20, prio: 0},
		{title: "OPEN", min: 4, max: 4, right: true, prio: 1},
		{title: "TOTAL", min: 5, max: 5, right: true, prio: 2},
		{title: "BYTES", min: 5, max: 5, right: true, prio: 2},
	}
	var rows [][]string
	for _, m := range members {
		state := m.State
		if state == "error" && !m.ErrorUntil.IsZero() {
			state += " until " + m.ErrorUntil.Format("15:04:05")
		}
		rows = append(rows, []string{m.balancer, m.URL, state, fmt.Sprint(m.Open), shortCount(int64(m.Total)), shortBytes(m.Bytes)})
	}
	return table(cols, rows, width)
}

func routeTable(routes []tunnel.RouteInfo, width int) []string {
	cols := []column{
		{title: "ROUTE", min: 10, max: 40, prio: 0, cut: cutStart},
		{title: "OPEN", min: 4, max: 4, right: true, prio: 1},
		{title: "TOTAL", min: 5, max: 5, right: true, prio: 3},
		{title: "UP", min: 5, max: 5, right: true, prio: 2},
		{title: "DOWN", min: 5, max: 5, right: true, prio: 2},
		{title: "MSG↑", min: 5, max: 5, right: true, prio: 4},
		{title: "MSG↓", min: 5, max: 5, right: true, prio: 4},
	}
	var rows [][]string
	for _, r := range routes {
		rows = append(rows, []string{r.Route, fmt.Sprint(r.Open), shortCount(int64(r.Total)),
			shortBytes(r.Up.Bytes), shortBytes(r.Down.Bytes), shortCount(r.Up.Messages), shortCount(r.Down.Messages)})
	}
	return table(cols, rows, width)
}

func (v *View) openTable(s tunnel.Snapshot, open []tunnel.TunnelInfo, width int, st *viewState) []string {
	idw := max(2, len(fmt.Sprint(s.Total)))
	cols := []column{
		{title: "ID", min: idw, max: idw, right: true, prio: 0},
		{title: "CLIENT", min: 9, max: 21, prio: 5, cut: cutStart},
		{title: "ROUTE", min: 8, max: 24, prio: 7, cut: cutStart},
		{title: "BACKEND", min: 10, max: 48, prio: 3, cut: cutStart},
		{title: "AGE", min: 5, max: 5, right: true, prio: 2},
		{title: "IDLE", min: 5, max: 5, right: true, prio: 4},
		{title: "UP", min: 5, max: 5, right: true, prio: 1},
		{title: "DOWN", min: 5, max: 5, right: true, prio: 1},
		{title: "MSG↑", min: 5, max: 5, right: true, prio: 6},
		{title: "MSG↓", min: 5, max: 5, right: true, prio: 6},
	}
	var rows [][]string
	for _, t := range open {
		last := t.Start
		if a, ok := st.active[t.ID]; ok {
			last = a.at
		}
		rows = append(rows, []string{fmt.Sprint(t.ID), t.Client, t.Route, t.Backend,
			shortAge(s.Time.Sub(t.Start)), shortAge(s.Time.Sub(last)),
			shortBytes(t.Up.Bytes), shortBytes(t.Down.Bytes), shortCount(t.Up.Messages), shortCount(t.Down.Messages)})
	}
	return table(cols, rows, width)
}

func closedTable(s tunnel.Snapshot, closed []tunnel.TunnelInfo, width int) []string {
	idw := max(2, len(fmt.Sprint(s.Total)))
	cols := []column{
		{title: "ID", min: idw, max: idw, right: true, prio: 0},
		{title: "BACKEND", min: 10, max: 40, prio: 4, cut: cutStart},
		{title: "AGO", min: 5, max: 5, right: true, prio: 3},
		{title: "LASTED", min: 6, max: 6, right: true, prio: 5},
		{title: "BY", min: 7, max: 7, prio: 1},
		{title: "CLIENT CLOSE", min: 6, max: 24, prio: 2},
		{title: "BACKEND CLOSE", min: 6, max: 24, prio: 2},
	}
	var rows [][]string
	for _, t := range closed {
		by := t.CloseFirst
		if by == "" {
			by = t.ClosedBy
		}
		rows = append(rows, []string{fmt.Sprint(t.ID), t.Backend,
			shortAge(s.Time.Sub(t.End)), shortAge(t.End.Sub(t.Start)), by,
			closeCell(t.Up, t.Error, t.ClosedBy == "client"), closeCell(t.Down, t.Error, t.ClosedBy == "backend")})
	}
	return table(cols, rows, width)
}

// closeCell is one side's close frame, "1000 bye", or "-" when it sent
// none; the tunnel's error shows on the side whose connection failed.
func closeCell(f tunnel.Flow, errText string, failed bool) string {
	switch {
	case f.CloseCode != 0 && f.CloseReason != "":
		return fmt.Sprintf("%d %s", f.CloseCode, f.CloseReason)
	case f.CloseCode != 0:
		return fmt.Sprint(f.CloseCode)
	case failed && errText != "":
		return errText
	case f.Raw:
		return "(not ws)"
	}
	return "-"
}

// fit cuts s to n cells (runes here), marking the cut with an ellipsis.
// Control characters become '?': a close reason or a path comes from a
// peer, and must not reach the terminal as an escape sequence.
func fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if strings.ContainsFunc(s, isControl) {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return '?'
			}
			return r
		}, s)
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// fitLeft is fit cutting at the start.
func fitLeft(s string, n int) string {
	s = fit(s, utf8.RuneCountInString(s)) // only the control characters
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return fit(s, n)
	}
	r := []rune(s)
	return "…" + string(r[len(r)-n+1:])
}

// shortAge is formatAge for a table cell: at most five characters.
func shortAge(d time.Duration) string {
	switch {
	case d < 10*time.Minute:
		return formatAge(d)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 10*time.Hour:
		return formatAge(d)
	case d < 100*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours())/24)
}

func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if f < unit {
			break
		}
		f, suffix = f/unit, s
	}
	return fmt.Sprintf("%.1f %s", f, suffix)
}

// shortBytes is FormatBytes for a table cell: at most six characters.
func shortBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, unit := range "KMGTP" {
		f /= 1024
		if f < 10 {
			return fmt.Sprintf("%.1f%c", f, unit)
		}
		if f < 1024 {
			return fmt.Sprintf("%.0f%c", f, unit)
		}
	}
	return fmt.Sprintf("%.0fE", f/1024)
}

// shortCount is a count for a table cell: at most five characters.
func shortCount(n int64) string {
	if n < 100000 {
		return fmt.Sprint(n)
	}
	f := float64(n)
	for _, unit := range "kMGTP" {
		f /= 1000
		if f < 10 {
			return fmt.Sprintf("%.1f%c", f, unit)
		}
		if f < 1000 {
			return fmt.Sprintf("%.0f%c", f, unit)
		}
	}
	return fmt.Sprintf("%.0fE", f/1000)
}
