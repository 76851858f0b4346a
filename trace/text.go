package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// Format is how Text shows a message (--trace-format).
type Format int

const (
	// Compact is one line per message, payload included:
	//
	//	+0.012s #3 wsgate.conf:3 /chat/ → text   5 "hello"
	Compact Format = iota
	// Pretty is Compact's line, followed for a JSON object or array by
	// the JSON indented (and coloured, given Colors), and for a binary or
	// compressed payload by a hex dump with offsets and an ASCII column.
	Pretty
	// Raw is Compact's line with the payload as it is, unquoted: text and
	// binary bytes reach the output untouched, control characters and
	// newlines included. For a pipe or a file, not a terminal.
	Raw
)

// ParseFormat reads "compact", "pretty" or "raw".
func ParseFormat(s string) (Format, error) {
	for f := Compact; f <= Raw; f++ {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%q: want pretty, compact or raw", s)
}

func (f Format) String() string {
	switch f {
	case Pretty:
		return "pretty"
	case Raw:
		return "raw"
	}
	return "compact"
}

// Colors colours Pretty's JSON: each func wraps a token in its terminal
// colour. A nil func leaves its tokens plain; a nil *Colors, all of them.
type Colors struct {
	Key, String, Number, Literal func(string) string
}

// TextOptions are Text's settings. The zero value is Compact, no colour,
// and clock times, as NewText.
type TextOptions struct {
	Format Format
	Colors *Colors
	// Tunnels, when set, gives each line its tunnel's rule and a time
	// relative to the tunnel's start (+1.234s) instead of the clock.
	Tunnels *Tunnels

	oneTunnel bool // for ViewLines: no tunnel number, no rule
}

// Text writes messages for a terminal, one line each, in Compact format:
//
//	+0.000s #3 wsgate.conf:3 /chat/ → text   5 "hello"
//	+0.001s #3 wsgate.conf:3 /chat/ ← binary 4 00 01 fe ff
//	+0.002s #3 wsgate.conf:3 /chat/ → text   40 "The quick brown " … +24 bytes
//	+0.003s #3 wsgate.conf:3 /chat/ → text   7 [compressed] f2 48 cd c9 c9 07 00
//	+0.004s #3 wsgate.conf:3 /chat/ ← ping   0
//	+0.005s #3 wsgate.conf:3 /chat/ → close  1000 normal closure "bye"
//
// The time is the message's, since its tunnel opened (or the clock time,
// to the millisecond, for a tunnel that TextOptions.Tunnels does not
// know); #3 is the tunnel and then its rule; → is client to backend
// (tunnel.Up) and ← backend to client (tunnel.Down). Then the opcode and
// the payload length, and the payload: text as a Go-quoted string,
// anything else (binary, ping and pong payloads, a compressed message) as
// hex bytes. A close shows its code, the code's name (CloseName) and its
// reason instead (1005: the close frame had no code). Payloads are what
// the Message carries (tunnel.Config.TraceBytes, 16 in the example); a cut
// one says how many bytes are left out.
//
// Compact and Pretty output never contains a control character but the
// newlines that end lines, and colour sequences when Colors is given:
// quoting escapes them, and any other non-printable rune, as \x1b, \u202e
// and the like. Raw is the exception, by request.
type Text struct {
	mu   sync.Mutex
	w    io.Writer
	opts TextOptions
	buf  []byte
	err  error
}

// NewText returns a Text that writes Compact lines with clock times to w.
func NewText(w io.Writer) *Text { return &Text{w: w} }

// NewTextOptions returns a Text that writes to w as opts say.
func NewTextOptions(w io.Writer, opts TextOptions) *Text { return &Text{w: w, opts: opts} }

// Message writes m's line (and for Pretty the lines under it), in one
// Write. After a write error it writes nothing more; Err returns that
// error.
func (t *Text) Message(m tunnel.Message) { t.MessageDecoded(m, nil) }

// MessageDecoded is Message with what a subprotocol decoder made of m
// (nil: nothing), shown after the payload.
func (t *Text) MessageDecoded(m tunnel.Message, d *decode.Decoded) {
	var o Opened
	if t.opts.Tunnels != nil {
		o, _ = t.opts.Tunnels.Get(m.Tunnel)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	t.buf = appendMessage(t.buf[:0], m, o, t.opts, d)
	_, t.err = t.w.Write(t.buf)
}

// Err returns the first error writing a line, if any.
func (t *Text) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// ViewLines is r as a view of its one tunnel shows it (the live view's
// detail pane), in Compact or Pretty format without colour: Text's line
// with the time since start and without the tunnel's number and rule,
// which the view names once, then for Pretty the indented JSON or the hex
// dump under it. No line ends in a newline.
func ViewLines(r Recorded, start time.Time, f Format) []string {
	if f == Raw {
		f = Compact // raw bytes have no place on a screen that is drawn
	}
	b := appendMessage(nil, r.Message, Opened{Start: start}, TextOptions{Format: f, oneTunnel: true}, r.Decoded)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// CloseName names a close status code (RFC 6455 §7.4, and the IANA
// registry for 1012 to 1015): "normal closure" for 1000, "registered" for
// 3000 to 3999, "private" for 4000 to 4999, "" for a code without one.
func CloseName(code int) string {
	switch {
	case code >= 3000 && code <= 3999:
		return "registered"
	case code >= 4000 && code <= 4999:
		return "private"
	}
	return closeNames[code]
}

var closeNames = map[int]string{
	1000: "normal closure",
	1001: "going away",
	1002: "protocol error",
	1003: "unsupported data",
	1004: "reserved",
	1005: "no status",
	1006: "abnormal",
	1007: "invalid payload",
	1008: "policy violation",
	1009: "message too big",
	1010: "mandatory extension",
	1011: "internal error",
	1012: "service restart",
	1013: "try again later",
	1014: "bad gateway",
	1015: "TLS handshake",
}

// appendText appends m's Compact line with the clock time, newline
// included, to b.
func appendText(b []byte, m tunnel.Message) []byte {
	return appendMessage(b, m, Opened{}, TextOptions{}, nil)
}

// appendMessage appends m as opts say; o is its tunnel, zero when unknown.
func appendMessage(b []byte, m tunnel.Message, o Opened, opts TextOptions, d *decode.Decoded) []byte {
	if o.Start.IsZero() {
		b = m.Time.AppendFormat(b, "15:04:05.000")
	} else {
		ms := max(m.Time.Sub(o.Start).Milliseconds(), 0)
		b = append(b, '+')
		b = strconv.AppendInt(b, ms/1000, 10)
		b = append(b, '.', byte('0'+ms/100%10), byte('0'+ms/10%10), byte('0'+ms%10), 's')
	}
	if !opts.oneTunnel {
		b = append(b, " #"...)
		b = strconv.AppendUint(b, m.Tunnel, 10)
	}
	if o.Route != "" && !opts.oneTunnel {
		b = append(b, ' ')
		b = appendPrintable(b, o.Route)
	}
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
		if name := CloseName(m.CloseCode); name != "" {
			b = append(b, ' ')
			b = append(b, name...)
		}
		if m.CloseReason != "" {
			b = append(b, ' ')
			b = strconv.AppendQuote(b, m.CloseReason)
		}
		return append(b, '\n')
	}
	b = strconv.AppendInt(b, m.Len, 10)
	b = appendCompression(b, m)
	b, below := appendPayload(b, m, opts)
	if d != nil {
		b = appendDecoded(b, d)
	}
	b = append(b, '\n')
	return append(b, below...)
}

// appendPayload appends m's payload as opts say, and what Pretty shows
// under the line (JSON indented, a hex dump), if anything.
func appendPayload(b []byte, m tunnel.Message, opts TextOptions) ([]byte, []byte) {
	p, rest := payload(m)
	var below []byte // Pretty's block under the line
	switch {
	case opts.Format == Raw:
		if len(p) > 0 {
			b = append(append(b, ' '), p...)
		}
	case opts.Format == Pretty && isText(m) && isJSONDoc(p[packetPrefix(p):]):
		n := packetPrefix(p)
		if pretty, ok := prettyJSON(p[n:], opts.Colors); ok {
			below = append(append([]byte("  "), p[:n]...), pretty[2:]...)
		} else if m.Truncated {
			b = append(b, " [cut JSON]"...)
		}
		if below == nil {
			b = strconv.AppendQuote(append(b, ' '), string(p))
		}
	case opts.Format == Pretty && (m.Opcode == tunnel.OpBinary || m.Opcode == tunnel.OpText && !isText(m)) && len(p) > 0:
		below = appendHexDump(nil, p)
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
	return b, below
}

// appendPrintable appends s, with any rune a terminal would act on written
// as a Go escape.
func appendPrintable(b []byte, s string) []byte {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			q := strconv.QuoteRune(r)
			b = append(b, q[1:len(q)-1]...)
			continue
		}
		b = utf8.AppendRune(b, r)
	}
	return b
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

// appendHexDump appends p as hexdump -C does, indented two spaces: an
// offset, 16 bytes in hex in two groups of 8, and the bytes as ASCII with
// a dot for any other byte. The offset has 6 digits: a payload is at most
// 1 MiB (--trace-bytes).
func appendHexDump(b, p []byte) []byte {
	const digits = "0123456789abcdef"
	for off := 0; off < len(p); off += 16 {
		row := p[off:min(off+16, len(p))]
		b = append(b, "  "...)
		for shift := 20; shift >= 0; shift -= 4 {
			b = append(b, digits[off>>shift&0xf])
		}
		b = append(b, ' ')
		for i := range 16 {
			if i == 8 {
				b = append(b, ' ')
			}
			if i < len(row) {
				b = append(b, ' ', digits[row[i]>>4], digits[row[i]&0xf])
			} else {
				b = append(b, "   "...)
			}
		}
		b = append(b, "  |"...)
		for _, c := range row {
			if c < 0x20 || c > 0x7e {
				c = '.'
			}
			b = append(b, c)
		}
		b = append(b, "|\n"...)
	}
	return b
}

// packetPrefix is the length of the packet header that Socket.IO and
// Engine.IO write before their JSON ("42", "430", "2/chat,17", "0" before
// the open packet's object, "451-" before a binary event's): digits, an
// optional "-" and namespace, and more digits. Pretty indents the JSON after
// it; 0 when p starts otherwise.
func packetPrefix(p []byte) int {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0
	}
	if i < len(p) && p[i] == '-' {
		i++
	}
	if i < len(p) && p[i] == '/' {
		j := bytes.IndexByte(p[i:min(len(p), i+128)], ',')
		if j < 0 || bytes.ContainsAny(p[i:i+j], "{[\"") {
			return 0
		}
		i += j + 1
	}
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return i
}

// isJSONDoc reports whether p looks like a JSON object or array: the ones
// worth indenting.
func isJSONDoc(p []byte) bool {
	p = bytes.TrimLeft(p, " \t\r\n")
	return len(p) > 0 && (p[0] == '{' || p[0] == '[')
}

// prettyJSON returns p indented, each line two spaces in and ending in a
// newline, with its tokens coloured by c. Not ok when p is not valid
// UTF-8 JSON. Runes a terminal would act on are written as \u escapes.
func prettyJSON(p []byte, c *Colors) ([]byte, bool) {
	if !utf8.Valid(p) {
		return nil, false
	}
	var ind bytes.Buffer
	if json.Indent(&ind, p, "  ", "  ") != nil {
		return nil, false
	}
	var cs Colors
	if c != nil {
		cs = *c
	}
	src := ind.Bytes()
	out := make([]byte, 0, len(src)*2)
	out = append(out, "  "...)
	for i := 0; i < len(src); {
		switch ch := src[i]; {
		case ch == '"':
			j := stringEnd(src, i)
			tok := string(escapeUnprintable(src[i:j]))
			k := j
			for k < len(src) && src[k] == ' ' {
				k++
			}
			if k < len(src) && src[k] == ':' {
				out = append(out, paint(cs.Key, tok)...)
			} else {
				out = append(out, paint(cs.String, tok)...)
			}
			i = j
		case ch == '-' || ch >= '0' && ch <= '9':
			j := i
			for j < len(src) && bytes.IndexByte([]byte("+-.eE0123456789"), src[j]) >= 0 {
				j++
			}
			out = append(out, paint(cs.Number, string(src[i:j]))...)
			i = j
		case ch >= 'a' && ch <= 'z':
			j := i
			for j < len(src) && src[j] >= 'a' && src[j] <= 'z' {
				j++
			}
			out = append(out, paint(cs.Literal, string(src[i:j]))...)
			i = j
		default:
			out = append(out, ch)
			i++
		}
	}
	return append(out, '\n'), true
}

// stringEnd returns the index just after the JSON string that starts at i.
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

// escapeUnprintable rewrites the runes of a JSON string that a terminal
// would act on (DEL, C1 controls, bidi overrides...) as \u escapes, which
// keep it the same JSON string.
func escapeUnprintable(s []byte) []byte {
	var out []byte
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if unicode.IsPrint(r) {
			out = append(out, s[i:i+n]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}

// paint colours tok with f, if there is one.
func paint(f func(string) string, tok string) string {
	if f == nil {
		return tok
	}
	return f(tok)
}

// appendDecoded appends what a decoder said of a message:
// " ⟨socketio event chat message⟩ +12ms" (the latency of an answer).
func appendDecoded(b []byte, d *decode.Decoded) []byte {
	b = append(b, " ⟨"...)
	b = appendPrintable(b, d.Protocol)
	if d.Type != "" {
		b = append(b, ' ')
		b = appendPrintable(b, d.Type)
	}
	if d.Summary != "" {
		b = append(b, ' ')
		b = appendPrintable(b, d.Summary)
	}
	b = append(b, "⟩"...)
	if d.Latency > 0 {
		b = append(b, " +"...)
		b = append(b, d.Latency.Round(time.Microsecond).String()...)
	}
	return b
}
