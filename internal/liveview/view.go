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
