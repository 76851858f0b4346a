package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wsgate/wsgate/internal/goldentest"
	"github.com/wsgate/wsgate/tunnel"
)

// t0 is the time of the first sample message.
var t0 = time.Date(2026, 11, 27, 13, 2, 1, 123_456_789, time.UTC)

// samples are messages of every kind, in both directions, on two tunnels.
func samples() []tunnel.Message {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	long := strings.Repeat("0123456789", 100)
	euro := strings.Repeat("€", 10) // 30 bytes; cut at 16 mid-rune
	return []tunnel.Message{
		{Tunnel: 3, Time: at(0), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 5, Payload: []byte("hello")},
		{Tunnel: 3, Time: at(1), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: 5, Payload: []byte("hello")},
		{Tunnel: 3, Time: at(2), Dir: tunnel.Down, Opcode: tunnel.OpBinary, Len: 4, Payload: []byte{0, 1, 0xfe, 0xff}},
		{Tunnel: 3, Time: at(3), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 0, Payload: []byte{}},
		{Tunnel: 3, Time: at(4), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 1000, Payload: []byte(long[:256]), Truncated: true},
		{Tunnel: 3, Time: at(5), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 30, Payload: []byte(euro[:16]), Truncated: true},
		{Tunnel: 3, Time: at(6), Dir: tunnel.Down, Opcode: tunnel.OpBinary, Len: 300, Payload: bytes.Repeat([]byte{0xab}, 8), Truncated: true},
		{Tunnel: 3, Time: at(7), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 34,
			Payload: []byte("\x1b[31mred\x1b[0m\r\n\t\x00\x7f\u0085\u202egnp.exe\"\\ok\xff")},
		{Tunnel: 3, Time: at(8), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 7, WireLen: 7, Compressed: true, Undecodable: true,
			Payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}},
		{Tunnel: 3, Time: at(9), Dir: tunnel.Up, Opcode: tunnel.OpPing, Len: 0},
		{Tunnel: 3, Time: at(10), Dir: tunnel.Down, Opcode: tunnel.OpPong, Len: 4, Payload: []byte("ab\x01c")},
		{Tunnel: 12, Time: at(11), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: 13, Payload: []byte("<b>日本語</b>")},
		{Tunnel: 3, Time: at(12), Dir: tunnel.Up, Opcode: tunnel.OpClose, Len: 5,
			CloseCode: 1000, CloseReason: "bye"},
		{Tunnel: 3, Time: at(13), Dir: tunnel.Down, Opcode: tunnel.OpClose, Len: 0, CloseCode: 1005},
		{Tunnel: 12, Time: at(14), Dir: tunnel.Down, Opcode: tunnel.OpClose, Len: 10,
			CloseCode: 4001, CloseReason: "\x1b[2Jbad"},
		{Tunnel: 3, Time: at(15), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: 11, WireLen: 9, Compressed: true, Inflated: true,
			Payload: []byte("hello hello")},
	}
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	tx := NewText(&b)
	for _, m := range samples() {
		tx.Message(m)
	}
	if err := tx.Err(); err != nil {
		t.Fatal(err)
	}
	goldentest.Check(t, filepath.Join("testdata", "text.golden"), b.String())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i, line := range lines {
		checkPrintable(t, i+1, line)
	}
	// A view of one tunnel shows the same line but for the time, since
	// the tunnel's start, and the tunnel's number, which it names once.
	for i, m := range samples() {
		_, rest, _ := strings.Cut(lines[i], " #")
		_, rest, _ = strings.Cut(rest, " ")
		want := fmt.Sprintf("+%.3fs %s", m.Time.Sub(t0).Seconds(), rest)
		if got := ViewLines(Recorded{Message: m}, t0, Compact); len(got) != 1 || got[0] != want {
			t.Errorf("ViewLines(message %d) = %q; want %q, as Text writes it", i+1, got, want)
		}
		for _, l := range ViewLines(Recorded{Message: m}, t0, Pretty) {
			checkPrintable(t, i+1, l)
		}
	}
}

// checkPrintable fails when line holds bytes that are not UTF-8 or a rune
// a terminal would act on. U+FFFD itself, sent as its three UTF-8 bytes,
// is printable text like any other.
func checkPrintable(t *testing.T, n int, line string) {
	t.Helper()
	if !utf8.ValidString(line) {
		t.Errorf("line %d is not UTF-8: %q", n, line)
		return
	}
	for _, r := range line {
		if !unicode.IsPrint(r) {
			t.Errorf("line %d holds %U: %q", n, r, line)
			return
		}
	}
}

// FuzzText checks that no payload gets a control character or an escape
// sequence onto the terminal, and that every message is one line.
func FuzzText(f *testing.F) {
	for _, m := range samples() {
		f.Add(uint8(m.Opcode), m.Payload, m.Truncated, m.Compressed, m.CloseReason)
	}
	f.Fuzz(func(t *testing.T, op uint8, p []byte, truncated, compressed bool, reason string) {
		m := tunnel.Message{Tunnel: 1, Time: t0, Opcode: tunnel.Opcode(op & 0xf), Len: int64(len(p)) + 3,
			Payload: p, Truncated: truncated, Compressed: compressed, CloseCode: 1000, CloseReason: reason}
		line := string(appendText(nil, m))
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		checkPrintable(t, 1, strings.TrimSuffix(line, "\n"))
	})
}

func TestPacketPrefix(t *testing.T) {
	for in, want := range map[string]int{
		`42["chat"]`: 2, `430[{"ok":true}]`: 3, `0{"sid":"x"}`: 1, `451-["up",{"_placeholder":true,"num":0}]`: 4,
		`2/admin,17["x"]`: 10, `40/admin,{"sid":"y"}`: 9, `{"a":1}`: 0, `[1]`: 0, `3probe`: 1, `12/a{b,["x"]`: 0, "": 0,
	} {
		if got := packetPrefix([]byte(in)); got != want {
			t.Errorf("packetPrefix(%q) = %d; want %d", in, got, want)
		}
	}
}

func TestTrimPartialRune(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"a€", "a€"},
		{"a\xe2\x82", "a"},
		{"a\xe2", "a"},
		{"a\xf0\x9f\x98", "a"},
		{"\x82\x82\x82", "\x82\x82\x82"}, // no start byte: invalid, left as is
	}
	for _, tc := range cases {
		if got := string(trimPartialRune([]byte(tc.in))); got != tc.want {
			t.Errorf("trimPartialRune(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, os.ErrClosed
}

func TestTextStopsAfterWriteError(t *testing.T) {
	w := &failWriter{}
	tx := NewText(w)
	tx.Message(samples()[0])
	tx.Message(samples()[1])
	if w.n != 1 || tx.Err() == nil {
		t.Errorf("after a failed write: %d writes, Err() = %v; want 1 write and the error", w.n, tx.Err())
	}
}

// formatSamples are samples() and messages that the formats other than
// Compact show differently: JSON whole and cut, a long binary payload,
// close codes of every kind.
func formatSamples() []tunnel.Message {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	doc := `{"event":"chat.message","data":{"n":-1.5e3,"ok":true,"none":null,"tags":["a","\u202e\u007f"],"s":"é\"\\","raw":"` + "\u202e\x7f\u0085" + `"}}`
	arr := `[1,2,{"a":[]}]`
	bin := make([]byte, 40)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	copy(bin[20:], "hello, world")
	ms := append(samples(),
		tunnel.Message{Tunnel: 3, Time: at(1500), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: int64(len(doc)), Payload: []byte(doc)},
		tunnel.Message{Tunnel: 3, Time: at(1501), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: int64(len(arr)), Payload: []byte(arr)},
		tunnel.Message{Tunnel: 3, Time: at(1502), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: int64(len(doc)), Payload: []byte(doc[:24]), Truncated: true},
		tunnel.Message{Tunnel: 3, Time: at(1503), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: 9, Payload: []byte(`{"a": 1,}`)},
		tunnel.Message{Tunnel: 3, Time: at(1504), Dir: tunnel.Down, Opcode: tunnel.OpBinary, Len: 100, Payload: bin, Truncated: true},
		tunnel.Message{Tunnel: 3, Time: at(1505), Dir: tunnel.Down, Opcode: tunnel.OpText, Len: 12, Payload: []byte("line1\nline2\n")},
		// Socket.IO's packet header before its JSON: indented after it.
		tunnel.Message{Tunnel: 3, Time: at(1506), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 35, Payload: []byte(`42/chat,17["msg",{"text":"hi"},3]`)},
		tunnel.Message{Tunnel: 3, Time: at(1507), Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 5, Payload: []byte(`3probe`)},
	)
	for i, code := range []int{1001, 1002, 1003, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 3000, 3999, 4999, 1016, 2999} {
		ms = append(ms, tunnel.Message{Tunnel: 12, Time: at(61_000 + i), Dir: tunnel.Down, Opcode: tunnel.OpClose, Len: 2, CloseCode: code})
	}
	return ms
}

// tunnels knows tunnel 3 and 12, opened a little before the first sample;
// tunnel 12 has a rule name that needs escaping.
func tunnels() *Tunnels {
	ts := &Tunnels{}
	ts.Tunnel(tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 3, Route: "wsgate.conf:3 /chat/", Start: t0.Add(-250 * time.Millisecond)}})
	ts.Tunnel(tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 12, Route: "--pass:1 /x\x1b[2J/", Start: t0}})
	ts.Tunnel(tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 99, Route: "gone", Start: t0}})
	ts.Tunnel(tunnel.TunnelEvent{Closed: true, Info: tunnel.TunnelInfo{ID: 99}})
	return ts
}

// ansi is a palette of real terminal colours, as cmd hands fatih/color's.
var ansi = &Colors{
	Key:     func(s string) string { return "\x1b[34;1m" + s + "\x1b[0m" },
	String:  func(s string) string { return "\x1b[32m" + s + "\x1b[0m" },
	Number:  func(s string) string { return "\x1b[36m" + s + "\x1b[0m" },
	Literal: func(s string) string { return "\x1b[35m" + s + "\x1b[0m" },
}

func TestTextFormatsGolden(t *testing.T) {
	cases := []struct {
		name string
		opts TextOptions
	}{
		{"compact", TextOptions{Format: Compact, Tunnels: tunnels()}},
		{"pretty", TextOptions{Format: Pretty, Tunnels: tunnels()}},
		{"pretty-color", TextOptions{Format: Pretty, Tunnels: tunnels(), Colors: ansi}},
		{"raw", TextOptions{Format: Raw, Tunnels: tunnels()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tx := NewTextOptions(&b, tc.opts)
			for _, m := range formatSamples() {
				tx.Message(m)
			}
			goldentest.Check(t, filepath.Join("testdata", "text-"+tc.name+".golden"), b.String())
			if tc.opts.Format == Raw {
				return
			}
			out := b.String()
			if tc.opts.Colors != nil {
				out = regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(out, "")
			}
			for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				checkPrintable(t, i+1, line)
			}
		})
	}
}

func TestCloseName(t *testing.T) {
	cases := map[int]string{1000: "normal closure", 1005: "no status", 1006: "abnormal", 1015: "TLS handshake",
		999: "", 1016: "", 2999: "", 3000: "registered", 3999: "registered", 4000: "private", 4999: "private", 5000: ""}
	for code, want := range cases {
		if got := CloseName(code); got != want {
			t.Errorf("CloseName(%d) = %q; want %q", code, got, want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{Compact, Pretty, Raw} {
		if got, err := ParseFormat(f.String()); got != f || err != nil {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v", f, got, err, f)
		}
	}
	if _, err := ParseFormat("json"); err == nil || err.Error() != `"json": want pretty, compact or raw` {
		t.Errorf("ParseFormat(json) error = %v", err)
	}
}

// FuzzPretty checks that Pretty gets no control character onto the
// terminal whatever the payload, and that a JSON document it indents
// still means the same.
func FuzzPretty(f *testing.F) {
	for _, m := range formatSamples() {
		f.Add(uint8(m.Opcode), m.Payload, m.Truncated)
	}
	f.Fuzz(func(t *testing.T, op uint8, p []byte, truncated bool) {
		m := tunnel.Message{Tunnel: 1, Time: t0, Opcode: tunnel.Opcode(op & 0xf), Len: int64(len(p)),
			Payload: p, Truncated: truncated, CloseCode: 1000}
		out := string(appendMessage(nil, m, Opened{}, TextOptions{Format: Pretty}, nil))
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("no final newline: %q", out)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for i, line := range lines {
			checkPrintable(t, i+1, line)
		}
		if len(lines) > 1 && m.Opcode == tunnel.OpText && json.Valid(p) {
			var a, b any
			json.Unmarshal(p, &a)
			if err := json.Unmarshal([]byte(strings.Join(lines[1:], "\n")), &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("indented %q as %q (%v)", p, lines[1:], err)
			}
		}
	})
}
