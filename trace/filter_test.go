package trace

import (
	"strings"
	"testing"

	"github.com/wsgate/wsgate/tunnel"
)

func TestParseFilterErrors(t *testing.T) {
	cases := []struct {
		exprs []string
		want  string
	}{
		{[]string{""}, `1:1: empty expression (want terms such as dir=up op=text)`},
		{[]string{"   "}, `1:1: empty expression (want terms such as dir=up op=text)`},
		{[]string{"dir=up", "dir=up size!=3"}, `2:12: unknown operator "!=" (want =, ~, >, <, >= or <=)`},
		{[]string{"dir"}, `1:4: dir: want an operator (=, ~, >, <, >=, <=) after the field`},
		{[]string{"=up"}, `1:1: want a field name, as in dir=up; got '='`},
		{[]string{"dir=sideways"}, `1:5: dir="sideways": want up or down`},
		{[]string{"dir~up"}, `1:4: dir takes = only (dir=up or dir=down)`},
		{[]string{"opcode=txt"}, `1:8: opcode="txt": want text, binary, ping, pong, close or http`},
		{[]string{"opcode~t"}, `1:7: opcode takes = only`},
		{[]string{"size>1x"}, `1:6: size "1x": want a number of bytes, as in 512, 1k or 2M`},
		{[]string{"size>-1"}, `1:6: size "-1": want a number of bytes, as in 512, 1k or 2M`},
		{[]string{"size~1"}, `1:5: size takes =, >, <, >= or <= and a number`},
		{[]string{"event>3"}, `1:6: > compares sizes: event takes = or ~`},
		{[]string{"text~a(b"}, `1:6: text~"a(b": bad regexp: missing closing ): "a(b"`},
		{[]string{`text="a b`}, `1:6: unterminated or invalid quoted value`},
		{[]string{`text="a"b`}, `1:9: want a space after the quoted value`},
		{[]string{"route=wsgate.conf:? /chat/"}, `1:21: want a field name, as in dir=up; got '/'`}, // a space ends a value
		{[]string{"é=1 dir=up"}, `1:1: want a field name, as in dir=up; got 'é'`},
		{[]string{"text=é dir=µ"}, `1:12: dir="µ": want up or down`},
	}
	for _, tc := range cases {
		_, err := ParseFilter(tc.exprs)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseFilter(%q) error = %v; want %s", tc.exprs, err, tc.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	chat := tunnel.Message{Dir: tunnel.Down, Opcode: tunnel.OpText, Len: 2000,
		Payload: []byte(`{"event":"chat.message","text":"hello world"}`), Truncated: true}
	up := tunnel.Message{Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 5, Payload: []byte("hello")}
	bin := tunnel.Message{Dir: tunnel.Up, Opcode: tunnel.OpBinary, Len: 1024, Payload: []byte("hello")}
	ping := tunnel.Message{Dir: tunnel.Up, Opcode: tunnel.OpPing, Len: 0}
	zipped := tunnel.Message{Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 5, Compressed: true, Payload: []byte("hello")}
	const route = "wsgate.conf:3 /chat/"
	const passRoute = "--pass 2 /chat/"
	chatFields := map[string]string{"event": "chat.message", "op": "0", "topic": "room:1"}
	cases := []struct {
		exprs  []string
		m      tunnel.Message
		fields map[string]string
		want   bool
	}{
		{nil, up, nil, true},
		{[]string{"dir=up"}, up, nil, true},
		{[]string{"dir=up"}, chat, nil, false},
		{[]string{"dir=down"}, chat, nil, true},
		{[]string{"op=text"}, up, nil, true},
		{[]string{"op=text"}, bin, nil, false},
		{[]string{"opcode=binary"}, bin, nil, true},
		{[]string{"op=ping"}, ping, nil, true},
		{[]string{"op=close"}, ping, nil, false},
		{[]string{"size>1k"}, bin, nil, false},
		{[]string{"size>=1k"}, bin, nil, true},
		{[]string{"size>=1K"}, bin, nil, true},
		{[]string{"size=1024"}, bin, nil, true},
		{[]string{"size<1k"}, bin, nil, false},
		{[]string{"size<=1k"}, bin, nil, true},
		{[]string{"size<1M"}, chat, nil, true},
		{[]string{"size>1M"}, chat, nil, false},
		{[]string{"text~hel+o"}, up, nil, true},
		{[]string{"text~^ello"}, up, nil, false},
		{[]string{"text~hello"}, bin, nil, false},    // binary has no text
		{[]string{"text~hello"}, zipped, nil, false}, // nor a deflated text
		{[]string{"text=hel*"}, up, nil, true},
		{[]string{"text=el*"}, up, nil, false},
		{[]string{`text~"hello world"`}, chat, nil, true},
		{[]string{"route=/chat/"}, up, nil, true},
		{[]string{"route=*/chat/"}, up, nil, true},
		{[]string{`route="wsgate.conf:? /chat/"`}, up, nil, true},
		{[]string{"route=/feed/"}, up, nil, false},
		{[]string{"route~^wsgate\\.conf:3 "}, up, nil, true},
		{[]string{"event=chat.*"}, chat, chatFields, true},
		{[]string{"event=chat.*"}, chat, nil, false}, // an unknown field matches nothing
		{[]string{"event=chat"}, chat, chatFields, false},
		{[]string{"event=chat?message"}, chat, chatFields, true},
		{[]string{"event=chat.*"}, chat, map[string]string{"event": "chatXmessage"}, false}, // the dot is a dot
		{[]string{"topic~^room:\\d$"}, chat, chatFields, true},
		{[]string{"op=0"}, chat, chatFields, true},    // not an opcode: the decoded field
		{[]string{"op=0"}, chat, nil, false},          // which it lacks
		{[]string{"op=text"}, chat, chatFields, true}, // an opcode name: the opcode
		{[]string{"dir=down event=chat.* size>1k"}, chat, chatFields, true},
		{[]string{"dir=down event=chat.* size>2k"}, chat, chatFields, false},
		{[]string{"dir=up event=chat.* size>1k"}, chat, chatFields, false},
		{[]string{"dir=up  op=binary", "op=ping"}, ping, nil, true},
		{[]string{"dir=up  op=binary", "op=ping"}, bin, nil, true},
		{[]string{"dir=up  op=binary", "op=ping"}, up, nil, false},
	}
	for _, tc := range cases {
		f, err := ParseFilter(tc.exprs)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.exprs, err)
		}
		if got := f.Match(tc.m, route, tc.fields); got != tc.want {
			t.Errorf("ParseFilter(%q).Match(%s %s %d, %v) = %v; want %v",
				tc.exprs, tc.m.Dir, tc.m.Opcode, tc.m.Len, tc.fields, got, tc.want)
		}
	}
	f, _ := ParseFilter([]string{"route=/chat/"})
	if !f.Match(up, passRoute, nil) || f.Match(up, "--pass 2 /chat/x", nil) {
		t.Errorf("route=/chat/ does not match %q by its path alone", passRoute)
	}
	var nilFilter *Filter
	if !nilFilter.Match(up, route, nil) {
		t.Error("a nil Filter drops a message; want it kept")
	}
}

// FuzzParseFilter checks that the parser never panics, that an error
// points inside the expression, and that what parses can match.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"dir=down event=chat.* size>1k", "op=text", `text~"a b" route=/x/*`,
		"size<=2M opcode=close", "dir=up size!=3", "text~(", "é=1", `text="\u00e9"`, "  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter([]string{s})
		if err != nil {
			var fe *FilterError
			if e, ok := err.(*FilterError); ok {
				fe = e
			} else {
				t.Fatalf("error %v is not a *FilterError", err)
			}
			if fe.Expr != 1 || fe.Col < 1 || fe.Col > len([]rune(s))+1 {
				t.Fatalf("ParseFilter(%q): error %v points outside the expression", s, err)
			}
			if strings.Contains(fe.Msg, "\n") {
				t.Fatalf("ParseFilter(%q): error of more than one line: %q", s, err)
			}
			return
		}
		flt.Match(tunnel.Message{Opcode: tunnel.OpText, Payload: []byte(s), Len: int64(len(s))}, s, map[string]string{"event": s})
	})
}
