package liveview

import (
	"bytes"
	"time"

	"github.com/wsgate/wsgate/tunnel"
)

// key is one key the live view acts on.
type key int

const (
	keyQuit key = iota + 1
	keyPause
	keyUp
	keyDown
	keyPageUp
	keyPageDown
	keyHome
	keyEnd
	keyEnter
	keyEscape
	keyHelp
	keyWarnings
	keyRaw    // the detail pane's messages: raw or pretty
	keyFilter // the detail pane's messages: type a filter
)

// escWait is how long an ESC waits for the rest of a cursor key's
// sequence before it is the Escape key. A terminal sends a sequence in one
// write; 50 ms is what vim's esckeys and less allow for a slow link.
const escWait = 50 * time.Millisecond

// keyDecoder turns what a terminal in raw mode sends into keys. An escape
// sequence split across two reads is kept until the rest arrives; bytes
// that mean nothing to the view are skipped.
type keyDecoder struct {
	pending []byte
}

// escKeys are the cursor keys as VT100, xterm and their application-mode
// variants send them, without the leading ESC.
var escKeys = map[string]key{
	"[A": keyUp, "OA": keyUp,
	"[B": keyDown, "OB": keyDown,
	"[5~": keyPageUp, "[6~": keyPageDown,
	"[H": keyHome, "OH": keyHome, "[1~": keyHome, "[7~": keyHome,
	"[F": keyEnd, "OF": keyEnd, "[4~": keyEnd, "[8~": keyEnd,
}

// plainKeys are the keys that are one byte.
var plainKeys = map[byte]key{
	'q': keyQuit, 'Q': keyQuit, 3: keyQuit, // 3 is Ctrl-C, which raw mode delivers as a byte
	'p': keyPause, 'P': keyPause, ' ': keyPause,
	'j': keyDown, 'k': keyUp, 'g': keyHome, 'G': keyEnd,
	'\r': keyEnter, '\n': keyEnter,
	'?': keyHelp, 'w': keyWarnings, 'W': keyWarnings,
	'r': keyRaw, 'R': keyRaw, '/': keyFilter,
}

func (d *keyDecoder) decode(p []byte) []key {
	b := append(d.pending, p...)
	d.pending = nil
	var keys []key
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b {
			if k, ok := plainKeys[b[i]]; ok {
				keys = append(keys, k)
			}
			continue
		}
		n, k := escape(b[i+1:])
		if n < 0 { // incomplete: wait for the rest, or for escWait
			d.pending = append([]byte(nil), b[i:]...)
			return keys
		}
		if k != 0 {
			keys = append(keys, k)
		}
		i += n
	}
	return keys
}

// flush ends the wait for the rest of a sequence: a lone ESC is the
// Escape key, part of a sequence is dropped.
func (d *keyDecoder) flush() []key {
	p := d.pending
	d.pending = nil
	if len(p) == 1 {
		return []key{keyEscape}
	}
	return nil
}

// escape reads a CSI or SS3 sequence after ESC: how many bytes it takes
// (-1 when it is not complete yet) and the key, 0 for one the view ignores.
// An ESC followed by anything else is the Escape key.
func escape(b []byte) (int, key) {
	if len(b) == 0 {
		return -1, 0
	}
	if b[0] != '[' && b[0] != 'O' {
		return 0, keyEscape
	}
	for i := 1; i < len(b); i++ {
		if b[i] >= 0x40 && b[i] <= 0x7e { // the final byte (ECMA-48 §5.4)
			return i + 1, escKeys[string(b[:i+1])]
		}
		if i > 16 { // no key is this long: give up on it
			return i + 1, 0
		}
	}
	return -1, 0
}

// input applies the keys in p, which may hold several keys or part of
// one; while the filter line is open, p is what is typed into it.
func (st *viewState) input(p []byte) {
	if st.msg.editing {
		b := append(st.keys.pending, p...)
		st.keys.pending = nil
		st.edit(b)
		return
	}
	// What follows a '/' that opens the filter line is typed into it.
	rest := []byte(nil)
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		p, rest = p[:i+1], p[i+1:]
	}
	for _, k := range st.keys.decode(p) {
		st.apply(k)
	}
	if len(rest) > 0 {
		st.input(rest)
	}
}

// escape applies a lone ESC once escWait has passed without more bytes.
func (st *viewState) escape() {
	for _, k := range st.keys.flush() {
		if st.msg.editing && k == keyEscape {
			st.msg.editing, st.msg.filterErr = false, ""
			continue
		}
		st.apply(k)
	}
}

func (st *viewState) apply(k key) {
	switch k {
	case keyQuit:
		st.quit = true
	case keyPause:
		st.paused = !st.paused
	case keyEscape:
		st.pane = paneList
	case keyHelp:
		st.toggle(paneKeys)
	case keyWarnings:
		st.toggle(paneWarnings)
	case keyEnter:
		if st.pane == paneList && st.details && len(st.ids) > 0 {
			st.pane, st.paneTop = paneDetail, 0
			st.detail, st.gone = tunnel.Detail{Info: tunnel.TunnelInfo{ID: st.selID}}, false
			st.msg = messageView{raw: st.msg.raw, filter: st.msg.filter, expr: st.msg.expr}
		}
	case keyRaw:
		if st.pane == paneDetail {
			st.msg.raw = !st.msg.raw
		}
	case keyFilter:
		if st.pane == paneDetail {
			st.msg.editing, st.msg.typed, st.msg.filterErr = true, []rune(st.msg.expr), ""
		}
	default:
		if st.pane == paneList {
			st.choose(st.moved(k, st.sel, len(st.ids)-1, st.page))
			return
		}
		st.paneTop = max(0, min(st.moved(k, st.paneTop, st.paneLast, st.panePage), st.paneLast))
		// End follows the newest messages; moving up stops following.
		st.msg.follow = st.pane == paneDetail && (k == keyEnd || st.msg.follow && st.paneTop >= st.paneLast)
	}
}

// moved is where a cursor key takes position at, from 0 to last, with
// page rows on the screen.
func (st *viewState) moved(k key, at, last, page int) int {
	switch k {
	case keyDown:
		return at + 1
	case keyUp:
		return at - 1
	case keyPageDown:
		return at + max(1, page-1)
	case keyPageUp:
		return at - max(1, page-1)
	case keyHome:
		return 0
	case keyEnd:
		return last
	}
	return at
}

// toggle shows p, or the list when p is already shown.
func (st *viewState) toggle(p pane) {
	if st.pane == p {
		st.pane = paneList
		return
	}
	st.pane, st.paneTop = p, 0
}

// choose selects the open tunnel at index i (kept in range) and scrolls
// the list so that it is shown.
func (st *viewState) choose(i int) {
	st.sel = max(0, min(i, len(st.ids)-1))
	st.selID = 0
	if len(st.ids) > 0 {
		st.selID = st.ids[st.sel]
	}
	st.scroll = keepShown(st.scroll, st.sel, st.page, len(st.ids))
}

// keepShown is the first row to show of n, page at a time, from scroll
// or as near as can be, so that row sel is among them.
func keepShown(scroll, sel, page, n int) int {
	if page > 0 {
		scroll = max(min(scroll, sel), sel-page+1)
	}
	return max(0, min(scroll, n-page))
}
