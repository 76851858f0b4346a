// Package liveview is serve's live view of the open tunnels on a
// terminal: it draws Snapshots four times a second on the alternate screen
// and reads keys (pause, select, open a tunnel's detail, show the warnings
// and the keys, quit). It formats; tunnel counts.
//
// Files by role: view.go the loop and its state, keys.go what keys do,
// render.go the tables' screen, tables.go the tables, panes.go the keys and
// warnings panes, detail.go a tunnel's pane, format.go cells, events.go
// the log lines.
package liveview

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/term"

	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// viewInterval is how often the live view redraws: fast enough to look live,
// slow enough to cost nothing next to the relay.
const viewInterval = 250 * time.Millisecond

// View is the live terminal display of a running proxy. It reads snapshots,
// never the relay's state directly: when nobody looks, it costs nothing.
type View struct {
	Out     io.Writer
	Addr    string // the first listener's
	Version string
	Start   time.Time
	Events  *EventLog // the last log lines, shown under the tables
	// Header is shown under the title: how to connect to --demo's echo
	// backend, say. Nil: nothing.
	Header []string
	// Warnings are the rules' warnings, as wsgate check prints them: the
	// view counts them on a line of their own and shows them on w.
	Warnings []string
	// Detail describes one open tunnel for the detail pane (Enter), called
	// only while that pane is open; nil: Enter does nothing.
	Detail func(id uint64) (tunnel.Detail, bool)
	// Messages returns the last messages the trace kept of open tunnel
	// id (after --trace-filter, decoded), for the detail pane; false when
	// it knows no such tunnel. Nil: no trace keeps messages.
	Messages func(id uint64) ([]trace.Recorded, bool)
	Color    bool
	// Keys is the terminal to read keys from, or nil when standard input
	// is not a terminal (then the view only shows, and Ctrl-C is a signal).
	Keys *os.File
	// Quit stops serve, as Ctrl-C would.
	Quit func()
}

// pane is what fills the screen under the title.
type pane int

const (
	paneList     pane = iota // the tables
	paneKeys                 // what the keys do (?)
	paneWarnings             // the rules' warnings (w)
	paneDetail               // one tunnel (Enter)
)

// viewState is what the user changed and what the view remembers between
// two snapshots. Only the view's own goroutine touches it.
type viewState struct {
	paused bool
	quit   bool
	pane   pane
	// interactive: keys are read, so the selected tunnel is marked and
	// the title says which key shows the others.
	interactive bool
	// details: Enter opens the detail pane (View.Detail is set).
	details bool
	// The open tunnels of the last snapshot by ID, the selected one (an
	// index, and its ID, so that the selection follows a tunnel as others
	// come and go), the first one shown, and how many fitted last frame.
	ids    []uint64
	sel    int
	selID  uint64
	scroll int
	page   int
	// The first line shown of the keys, warnings or detail pane, the
	// largest useful one and how many lines fitted, as the last frame
	// found them.
	paneTop, paneLast, panePage int
	// detail is the last description of the tunnel in the detail pane;
	// gone says that tunnel has closed since.
	detail tunnel.Detail
	gone   bool
	// msg is the pane's messages and how they are shown.
	msg messageView
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

// observe records which tunnels moved bytes since the previous snapshot,
// and moves the selection with the tunnel it is on.
func (st *viewState) observe(s tunnel.Snapshot) {
	open := make(map[uint64]bool, len(s.Tunnels))
	st.ids = st.ids[:0]
	for _, t := range s.Tunnels {
		open[t.ID] = true
		st.ids = append(st.ids, t.ID)
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
	if i := slices.Index(st.ids, st.selID); i >= 0 {
		st.sel = i
	}
	st.choose(st.sel) // when the selected tunnel has closed: its neighbour
}

// fetch reads the tunnel in the detail pane again, and its messages.
// Once it has closed, the pane keeps what was last read.
func (v *View) fetch(st *viewState) {
	if st.pane != paneDetail || v.Detail == nil || st.gone {
		return
	}
	d, ok := v.Detail(st.detail.Info.ID)
	if !ok {
		st.gone = true
		return
	}
	st.detail = d
	st.msg.kept = v.Messages != nil
	if st.msg.kept {
		if msgs, ok := v.Messages(d.Info.ID); ok {
			st.msg.msgs = msgs
		}
	}
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
	// An ESC is the Escape key once no byte has followed it for escWait:
	// a cursor key's sequence arrives at once.
	esc := time.NewTimer(time.Hour)
	esc.Stop()
	defer esc.Stop()

	// A pause freezes the snapshot, the log lines and the detail alike.
	st := newViewState()
	st.interactive, st.details = v.Keys != nil, v.Detail != nil
	var s tunnel.Snapshot
	var events []string
	look := func() {
		s, events = snapshot(), v.Events.last()
		st.observe(s)
		v.fetch(st)
	}
	look()
	var buf bytes.Buffer
	for {
		width, height := 80, 24
		if f, ok := v.Out.(*os.File); ok {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				width, height = w, h
			}
		}
		f := v.render(s, events, width, height, st)
		st.page, st.scroll, st.paneLast, st.panePage = f.page, f.scroll, f.paneLast, f.panePage
		if st.pane != paneList {
			st.paneTop = f.paneTop
		}
		buf.Reset()
		draw(&buf, f.lines, height)
		v.Out.Write(buf.Bytes())

		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !st.paused {
				look()
			}
		case <-esc.C:
			st.escape()
		case p := <-keys:
			wasPaused, was := st.paused, st.pane
			st.input(p)
			if st.quit {
				if v.Quit != nil {
					v.Quit()
				}
				return
			}
			if st.keys.pending != nil {
				esc.Reset(escWait)
			}
			switch {
			case wasPaused && !st.paused:
				look()
			case st.pane == paneDetail && was != paneDetail:
				v.fetch(st)
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
