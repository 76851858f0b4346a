package liveview

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// messageView is how the detail pane shows a tunnel's last messages: the
// user's choices (raw or pretty, a filter, following the newest) and what
// was last read. Only the view's goroutine touches it.
type messageView struct {
	// kept: the trace keeps messages (View.Messages is set); msgs are
	// the last ones read of the tunnel in the pane, oldest first.
	kept bool
	msgs []trace.Recorded
	// raw shows each message on one line, payload as it passed (quoted);
	// else pretty: JSON indented and binary as a hex dump.
	raw bool
	// follow keeps the pane scrolled to its end, so that the newest
	// message stays in sight as more come.
	follow bool
	// filter is the expression in force (nil: every message), expr its
	// text. While editing, the user types a new one into typed; an Enter
	// that does not parse leaves it open with the error in filterErr.
	filter    *trace.Filter
	expr      string
	editing   bool
	typed     []rune
	filterErr string
}

// messageRows is the detail pane's messages section for tunnel ti.
func messageRows(mv *messageView, ti tunnel.TunnelInfo, width int, p palette) []row {
	var rows []row
	add := func(r row) { rows = append(rows, r) }
	mode := "pretty"
	if mv.raw {
		mode = "raw"
	}
	add(row{p.dim, fmt.Sprintf("last messages (→ client to backend, ← backend to client)  %s (r)  filter (/)  follow (G)", mode)})
	switch {
	case mv.editing:
		add(row{p.bold, "  filter: " + string(mv.typed) + "_   (Enter: apply, empty: none, Esc: cancel)"})
		if mv.filterErr != "" {
			add(row{p.red, "  " + mv.filterErr})
		}
	case mv.filter != nil:
		add(row{p.yellow, "  filter: " + mv.expr})
	}
	if !mv.kept {
		add(row{p.dim, "  kept only while tracing: serve with --trace-file FILE or --har FILE"})
		return rows
	}
	shown := 0
	for _, r := range mv.msgs {
		if !mv.filter.Match(r.Message, ti.Route, trace.DecodedFields(r.Decoded)) {
			continue
		}
		shown++
		format := trace.Pretty
		if mv.raw {
			format = trace.Compact
		}
		for i, l := range trace.ViewLines(r, ti.Start, format) {
			c := p.dim // the block under a message: indented JSON, a hex dump
			if i == 0 {
				c = nil
				if r.Opcode == tunnel.OpClose && !cleanClose(r.CloseCode) && r.CloseCode != 1005 {
					c = p.yellow
				}
			}
			for j, w := range wrap(l, width-2, width-6) {
				if j == 0 {
					add(row{c, "  " + w})
				} else {
					add(row{c, "      " + w})
				}
			}
		}
	}
	switch {
	case len(mv.msgs) == 0:
		add(row{p.dim, "  none yet"})
	case shown == 0:
		add(row{p.dim, fmt.Sprintf("  none of the last %d matches the filter", len(mv.msgs))})
	case mv.filter != nil:
		add(row{p.dim, fmt.Sprintf("  %d of the last %d match the filter", shown, len(mv.msgs))})
	}
	return rows
}

// edit applies what was typed while the filter line is open: text is
// added, Backspace takes back a rune, Ctrl-U clears the line, Enter
// applies it, and Escape (a lone ESC, see viewState.escape) closes it
// unchanged. Cursor keys and other sequences are skipped. Ctrl-C still
// quits: it must stop serve from wherever the user is.
func (st *viewState) edit(b []byte) {
	mv := &st.msg
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == 0x1b:
			n, _ := escape(b[i+1:])
			if n < 0 { // a lone ESC so far: escWait decides
				st.keys.pending = append([]byte(nil), b[i:]...)
				return
			}
			if n == 0 { // ESC then another key: Escape, then that key
				mv.editing = false
				st.input(b[i+1:])
				return
			}
			i += 1 + n
			continue
		case c == 3:
			st.quit = true
			return
		case c == '\r' || c == '\n':
			mv.apply()
		case c == 0x7f || c == 0x08:
			if len(mv.typed) > 0 {
				mv.typed = mv.typed[:len(mv.typed)-1]
			}
		case c == 0x15:
			mv.typed = mv.typed[:0]
		default:
			r, n := utf8.DecodeRune(b[i:])
			if unicode.IsPrint(r) {
				mv.typed = append(mv.typed, r)
			}
			i += n
			continue
		}
		i++
	}
}

// apply makes the line typed the filter, or reports why it cannot be.
func (mv *messageView) apply() {
	expr := string(mv.typed)
	if expr == "" {
		mv.filter, mv.expr, mv.editing, mv.filterErr = nil, "", false, ""
		return
	}
	f, err := trace.ParseFilter([]string{expr})
	if err != nil {
		mv.filterErr = err.Error()
		if fe, ok := errors.AsType[*trace.FilterError](err); ok {
			mv.filterErr = fmt.Sprintf("column %d: %s", fe.Col, fe.Msg)
		}
		return
	}
	mv.filter, mv.expr, mv.editing, mv.filterErr = f, expr, false, ""
}
