package trace

import (
	"io"
	"strconv"
	"sync"

	"github.com/wsgate/wsgate/tunnel"
)

// Text writes one line per message, for a terminal:
//
//	13:02:01.123 #3 → text   5 "hello"
//	13:02:01.124 #3 ← binary 4 00 01 fe ff
//	13:02:01.125 #3 → text   40 "The quick brown " … +24 bytes
//	13:02:01.126 #3 → text   7 [compressed] f2 48 cd c9 c9 07 00
//	13:02:01.127 #3 ← ping   0
//	13:02:01.128 #3 → close  1000 "bye"
//
// The time is the message's, in its own location, to the millisecond; #3
// is the tunnel; → is client to backend (tunnel.Up) and ← backend to client
// (tunnel.Down). Then the opcode and the payload length, and the payload:
// text as a Go-quoted string, anything else (binary, ping and pong
// payloads, a compressed message) as hex bytes. A close shows its code and
// reason instead (1005: the close frame had no code). Payloads are what the
// Message carries (tunnel.Config.TraceBytes, 16 in the example); a cut one
// says how many bytes are left out.
//
// The output is meant for a terminal, so it never contains a control
// character but the final newline: quoting escapes them, and any other
// non-printable rune, as \x1b, \u202e and the like.
type Text struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error
}

// NewText returns a Text that writes to w.
func NewText(w io.Writer) *Text { return &Text{w: w} }

// Message writes m's line. After a write error it writes nothing more; Err
// returns that error.
func (t *Text) Message(m tunnel.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	t.buf = appendText(t.buf[:0], m)
	_, t.err = t.w.Write(t.buf)
}

// Err returns the first error writing a line, if any.
func (t *Text) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Line is m's line as Text writes it, without the newline: for a view of
// a few messages (the live view's detail pane) that reads like --trace.
func Line(m tunnel.Message) string {
	b := appendText(nil, m)
	return string(b[:len(b)-1])
}

// appendText appends m's line, newline included, to b.
func appendText(b []byte, m tunnel.Message) []byte {
	b = m.Time.AppendFormat(b, "15:04:05.000")
	b = append(b, " #"...)
	b = strconv.AppendUint(b, m.Tunnel, 10)
	if m.Dir == tunnel.Up {
		b = append(b, " → "...)
	} else {
		b = append(b, " ← "...)
	}
	op := m.Opcode.String()
	b = append(b, op...)
	for n := len(op); n < len("binary"); n++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	if m.Opcode == tunnel.OpClose {
		b = strconv.AppendInt(b, int64(m.CloseCode), 10)
		if m.CloseReason != "" {
			b = append(b, ' ')
			b = strconv.AppendQuote(b, m.CloseReason)
		}
		return append(b, '\n')
	}
	b = strconv.AppendInt(b, m.Len, 10)
	b = appendCompression(b, m)
	p, rest := payload(m)
	switch {
	case isText(m):
		b = append(b, ' ')
		b = strconv.AppendQuote(b, string(p))
	case len(p) > 0:
		b = appendHex(append(b, ' '), p)
	}
	if m.Truncated || rest > 0 {
		b = append(b, " … +"...)
		b = strconv.AppendInt(b, rest, 10)
		b = append(b, " bytes"...)
	}
	return append(b, '\n')
}

// appendHex appends p as lower-case hex bytes separated by spaces.
func appendHex(b, p []byte) []byte {
	const digits = "0123456789abcdef"
	for i, c := range p {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}
