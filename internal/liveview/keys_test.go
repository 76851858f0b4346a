package liveview

import (
	"slices"
	"strings"
	"testing"

	"github.com/wsgate/wsgate/internal/snapshottest"
	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// listState is a state with n open tunnels, IDs 1 to n, page of them
// on the screen.
func listState(n, page int) *viewState {
	st := newViewState()
	var s tunnel.Snapshot
	for i := range n {
		s.Tunnels = append(s.Tunnels, tunnel.TunnelInfo{ID: uint64(i + 1)})
	}
	st.observe(s)
	st.page, st.details = page, true
	return st
}

func TestViewKeys(t *testing.T) {
	cases := []struct {
		name        string
		in          []string // successive reads
		sel, scroll int
		paused      bool
		quit        bool
		pane        pane
	}{
		{name: "j twice", in: []string{"jj"}, sel: 2},
		{name: "down arrows", in: []string{"\x1b[B\x1bOB"}, sel: 2},
		{name: "arrow split across reads", in: []string{"\x1b", "[", "B"}, sel: 1},
		{name: "down then up", in: []string{"jjj\x1b[Ak"}, sel: 1},
		{name: "not above the top", in: []string{"kkk\x1b[A"}},
		{name: "past the page scrolls", in: []string{"jjjjj"}, sel: 5, scroll: 2}, // 10 tunnels, 4 shown
		{name: "not past the end", in: []string{strings.Repeat("j", 50)}, sel: 9, scroll: 6},
		{name: "page down", in: []string{"\x1b[6~"}, sel: 3},
		{name: "end and home", in: []string{"G", "\x1b[H"}},
		{name: "end", in: []string{"\x1b[F"}, sel: 9, scroll: 6},
		{name: "pause", in: []string{"p"}, paused: true},
		{name: "pause and resume", in: []string{"p", "p"}},
		{name: "q quits", in: []string{"q"}, quit: true},
		{name: "Ctrl-C quits", in: []string{"\x03"}, quit: true},
		{name: "escape then q", in: []string{"\x1b", "q"}, quit: true},
		{name: "unknown keys", in: []string{"x\x1b[15~\x1b[Z"}},
		{name: "? shows the keys", in: []string{"?"}, pane: paneKeys},
		{name: "? again hides them", in: []string{"??"}},
		{name: "w shows the warnings", in: []string{"w"}, pane: paneWarnings},
		{name: "w from the keys", in: []string{"?w"}, pane: paneWarnings},
		{name: "Esc and a key in one read", in: []string{"w\x1bj"}, sel: 1},
		{name: "Enter opens the selected tunnel", in: []string{"jj\r"}, sel: 2, pane: paneDetail},
		{name: "keys scroll the pane, not the list", in: []string{"\rjj"}, pane: paneDetail},
		{name: "Enter as LF", in: []string{"\n"}, pane: paneDetail},
		{name: "Enter in a pane does nothing", in: []string{"?\r"}, pane: paneKeys},
		{name: "q quits from a pane", in: []string{"\rq"}, pane: paneDetail, quit: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := listState(10, 4)
			for _, in := range tc.in {
				st.input([]byte(in))
			}
			if st.sel != tc.sel || st.scroll != tc.scroll || st.paused != tc.paused || st.quit != tc.quit || st.pane != tc.pane {
				t.Errorf("after %q: sel %d, scroll %d, paused %v, quit %v, pane %d; want %d, %d, %v, %v, %d",
					tc.in, st.sel, st.scroll, st.paused, st.quit, st.pane, tc.sel, tc.scroll, tc.paused, tc.quit, tc.pane)
			}
			if st.pane == paneDetail && st.detail.Info.ID != st.ids[st.sel] {
				t.Errorf("detail of tunnel %d; want the selected %d", st.detail.Info.ID, st.ids[st.sel])
			}
		})
	}
}

// TestEscape checks that a lone ESC is the Escape key once no more bytes
// come, and that a cursor key's ESC waits for the rest.
func TestEscape(t *testing.T) {
	st := listState(10, 4)
	st.input([]byte("w\x1b"))
	if st.pane != paneWarnings || st.keys.pending == nil {
		t.Fatalf("after w ESC: pane %d, pending %q; want the warnings, ESC waiting", st.pane, st.keys.pending)
	}
	st.escape()
	if st.pane != paneList || st.keys.pending != nil {
		t.Errorf("after the wait: pane %d, pending %q; want the list, nothing waiting", st.pane, st.keys.pending)
	}
	st.input([]byte("\x1b["))
	st.escape() // half a cursor key: dropped, not Escape
	st.input([]byte("B"))
	if st.sel != 0 || st.pane != paneList {
		t.Errorf("after half a cursor key and B: sel %d, pane %d; want 0 and the list", st.sel, st.pane)
	}
}

func TestEnterWithoutDetail(t *testing.T) {
	st := listState(3, 3)
	st.details = false
	st.input([]byte("\r"))
	if st.pane != paneList {
		t.Errorf("Enter without View.Detail opened pane %d", st.pane)
	}
	st = listState(0, 3)
	st.input([]byte("\r"))
	if st.pane != paneList {
		t.Errorf("Enter without open tunnels opened pane %d", st.pane)
	}
}

// TestSelectionFollowsTunnel checks that the selection stays on its
// tunnel as others close, and moves to a neighbour when it closes.
func TestSelectionFollowsTunnel(t *testing.T) {
	snap := func(ids ...uint64) tunnel.Snapshot {
		var s tunnel.Snapshot
		for _, id := range ids {
			s.Tunnels = append(s.Tunnels, tunnel.TunnelInfo{ID: id})
		}
		return s
	}
	st := newViewState()
	st.page = 3
	st.observe(snap(1, 2, 3, 4))
	st.input([]byte("jj")) // tunnel 3
	st.observe(snap(2, 3, 4, 5))
	if st.selID != 3 || st.sel != 1 {
		t.Errorf("tunnel 1 closed: selected %d at %d; want 3 at 1", st.selID, st.sel)
	}
	st.observe(snap(2, 4, 5))
	if st.selID != 4 || st.sel != 1 {
		t.Errorf("the selected tunnel closed: selected %d at %d; want its neighbour 4 at 1", st.selID, st.sel)
	}
	st.observe(snap())
	if st.selID != 0 || st.sel != 0 {
		t.Errorf("no tunnel: selected %d at %d; want none", st.selID, st.sel)
	}
}

// TestPaneScroll checks that the keys scroll a pane that does not fit,
// and no further than its end.
func TestPaneScroll(t *testing.T) {
	start, s := snapshottest.Busy()
	msgs := snapshottest.Messages(s)
	kept := msgs[:3]
	v := &View{Addr: "a", Version: "v", Start: start, Detail: func(uint64) (tunnel.Detail, bool) { return snapshottest.Detail(s), true },
		Messages: func(uint64) ([]trace.Recorded, bool) { return kept, true }}
	st := newViewState()
	st.details = true
	st.observe(s)
	st.input([]byte("\r"))
	v.fetch(st)
	f := v.render(s, nil, 80, 10, st)
	st.paneLast, st.panePage = f.paneLast, f.panePage
	if f.paneLast == 0 || f.panePage != 8 {
		t.Fatalf("a detail in 10 lines: last top %d, %d lines a page; want more than 0, 8", f.paneLast, f.panePage)
	}
	st.input([]byte("G"))
	if st.paneTop != f.paneLast {
		t.Errorf("G: top %d; want %d", st.paneTop, f.paneLast)
	}
	st.input([]byte("jjj"))
	if st.paneTop != f.paneLast {
		t.Errorf("past the end: top %d; want %d", st.paneTop, f.paneLast)
	}
	f = v.render(s, nil, 80, 10, st)
	if last := f.lines[len(f.lines)-1]; !strings.Contains(last, "000000  00 01 fe ff") {
		t.Errorf("scrolled to the end, the last line is %q; want the last message's hex dump", last)
	}

	// G follows: the messages that come next are shown as they come.
	kept = msgs
	v.fetch(st)
	f = v.render(s, nil, 80, 10, st)
	st.paneTop, st.paneLast = f.paneTop, f.paneLast
	if last := f.lines[len(f.lines)-1]; !strings.Contains(last, "close  1011 internal error") || !strings.Contains(f.lines[1], "following") {
		t.Errorf("following, after more messages the frame ends with %q, label %q; want the 1011 close, following", last, f.lines[1])
	}
	// Up stops following: the pane stays where it is as more come.
	st.input([]byte("k"))
	top := st.paneTop
	kept = append(msgs, msgs...)
	v.fetch(st)
	if f = v.render(s, nil, 80, 10, st); f.paneTop != top || strings.Contains(f.lines[1], "following") {
		t.Errorf("after k, more messages moved the pane to line %d (label %q); want it kept at %d", f.paneTop, f.lines[1], top)
	}
}

// TestMessageFilter checks the detail pane's filter line: typed after /,
// applied on Enter, an error shown where it is, Escape and Backspace.
func TestMessageFilter(t *testing.T) {
	start, s := snapshottest.Busy()
	v := &View{Addr: "a", Version: "v", Start: start, Detail: func(uint64) (tunnel.Detail, bool) { return snapshottest.Detail(s), true },
		Messages: func(uint64) ([]trace.Recorded, bool) { return snapshottest.Messages(s), true }}
	st := newViewState()
	st.details = true
	st.observe(s)
	st.input([]byte("\r"))
	v.fetch(st)
	shown := func() string {
		f := v.render(s, nil, 200, 200, st)
		i := slices.IndexFunc(f.lines, func(l string) bool { return strings.HasPrefix(l, "last messages") })
		return strings.Join(f.lines[i+1:], "\n")
	}
	all := shown()
	for _, c := range []struct {
		keys      string
		has, hasn []string
	}{
		{"/dir=down\r", []string{"filter: dir=down", "← text   12 \"hello, alice\"", "5 of the last 9 match"}, []string{"→ text", "→ pong"}},
		// Typing over the old filter: Ctrl-U clears the line.
		{"/\x15event=chat\r", []string{"⟨socketio event chat", "1 of the last 9"}, []string{"hello"}},
		// A filter that does not parse keeps the line open, with where.
		{"/\x15size>>\r", []string{"filter: size>>_", "column 5"}, nil},
		// Backspace, and a cursor key typed in the line is not text.
		{"\x7f\x7f\x1b[Dj\r", []string{"filter: sizej", "column"}, nil},
		// Empty: every message.
		{"\x15\r", []string{"hello", "1011"}, []string{"filter:", "match the filter"}},
		{"/\x15op=ping\r", []string{"filter: op=ping", "ping   0"}, []string{"pong"}},
	} {
		st.input([]byte(c.keys))
		got := shown()
		for _, h := range c.has {
			if !strings.Contains(got, h) {
				t.Errorf("after %q: no %q in\n%s", c.keys, h, got)
			}
		}
		for _, h := range c.hasn {
			if strings.Contains(got, h) {
				t.Errorf("after %q: %q shown in\n%s", c.keys, h, got)
			}
		}
	}
	// A lone ESC, once escWait has passed, closes the line unchanged.
	st.input([]byte("/"))
	st.input([]byte("abc\x1b"))
	st.escape()
	if got := shown(); st.msg.editing || st.pane != paneDetail || !strings.Contains(got, "filter: op=ping\n") {
		t.Errorf("after Escape: editing %v, pane %v, shown\n%s\nwant the line closed, op=ping in force", st.msg.editing, st.pane, got)
	}
	st.input([]byte("/\x15\r"))
	if got := shown(); got != all {
		t.Errorf("no filter: shown\n%s\nwant\n%s", got, all)
	}
	st.input([]byte("r"))
	if !st.msg.raw {
		t.Error("r in the detail pane did not switch to raw")
	}
}

// TestViewScroll checks that the keys move the rows render shows.
func TestViewScroll(t *testing.T) {
	start, s := snapshottest.Busy()
	v := &View{Addr: "a", Version: "v", Start: start}
	st := newViewState()
	st.observe(s)
	f := v.render(s, nil, 80, 5, st)
	st.page, st.scroll = f.page, f.scroll
	if f.page != 1 {
		t.Fatalf("5 lines show %d open tunnels; want 1:\n%s", f.page, strings.Join(f.lines, "\n"))
	}
	st.input([]byte("jj"))
	text := strings.Join(v.render(s, nil, 80, 5, st).lines, "\n")
	if !strings.Contains(text, "open tunnels 3-3 of 3") || !strings.Contains(text, ":61234") {
		t.Errorf("after jj, the last tunnel is not shown:\n%s", text)
	}
}
