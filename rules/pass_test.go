package rules

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// sameRule reports whether a and b are the same rule, wherever they came
// from.
func sameRule(a, b *Rule) bool {
	if (a.Target == nil) != (b.Target == nil) {
		return false
	}
	if a.Target != nil && (targetString(a.Target) != targetString(b.Target) ||
		a.Target.Host != b.Target.Host || a.Target.Scheme != b.Target.Scheme) {
		return false
	}
	return a.Path == b.Path && a.Exclude == b.Exclude && a.NoCanon == b.NoCanon &&
		a.Upgrade == b.Upgrade && a.Timeout == b.Timeout && a.ConnectTimeout == b.ConnectTimeout
}

func TestParsePass(t *testing.T) {
	tests := []struct {
		name, value string
		want        Rule
		target      string // the target as written; "" for an exclusion
	}{
		{"minimal", "/ws/ ws://127.0.0.1:9001/", Rule{Path: "/ws/"}, "ws://127.0.0.1:9001/"},
		{"exclusion", "/x/private !", Rule{Path: "/x/private", Exclude: true}, ""},
		{"quoted exclusion", `"/x/private" "!"`, Rule{Path: "/x/private", Exclude: true}, ""},
		{"all parameters", "/ws/ wss://h:8443/echo/ nocanon upgrade=websocket timeout=5 connectiontimeout=250ms",
			Rule{Path: "/ws/", NoCanon: true, Upgrade: "websocket", Timeout: 5 * time.Second, ConnectTimeout: 250 * time.Millisecond},
			"wss://h:8443/echo/"},
		{"names are case-insensitive", "/a http://h/ NoCanon UPGRADE=ANY TimeOut=7s",
			Rule{Path: "/a", NoCanon: true, Upgrade: "ANY", Timeout: 7 * time.Second}, "http://h/"},
		{"upgrade list kept as written", `/a https://h/ "upgrade=websocket, foo"`,
			Rule{Path: "/a", Upgrade: "websocket, foo"}, "https://h/"},
		{"connectiontimeout units", "/a ws://h/ connectiontimeout=2mi",
			Rule{Path: "/a", ConnectTimeout: 2 * time.Minute}, "ws://h/"},
		{"connectiontimeout hours", "/a ws://h/ connectiontimeout=1h",
			Rule{Path: "/a", ConnectTimeout: time.Hour}, "ws://h/"},
		{"connectiontimeout seconds", "/a ws://h/ connectiontimeout=3s",
			Rule{Path: "/a", ConnectTimeout: 3 * time.Second}, "ws://h/"},
		{"target path kept as written", `/a "ws://h/a%41/é b/"`, Rule{Path: "/a"}, "ws://h/a%41/é b/"},
		{"target without path", "/a ws://h", Rule{Path: "/a"}, "ws://h"},
		{"IPv6 host", "/a ws://[::1]:9001/", Rule{Path: "/a"}, "ws://[::1]:9001/"},
		{"upper-case scheme", "/a WS://H/", Rule{Path: "/a"}, "ws://H/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pos := Pos{File: "--pass", Line: 3}
			got, err := ParsePass(pos, tc.value)
			if err != nil {
				t.Fatalf("ParsePass(%q): %v", tc.value, err)
			}
			if want := (Pos{File: "--pass", Line: 3, Col: 1}); got.Pos != want {
				t.Errorf("ParsePass(%q).Pos = %v; want %v", tc.value, got.Pos, want)
			}
			if got.Target != nil {
				if s := targetString(got.Target); s != tc.target {
					t.Errorf("ParsePass(%q) target = %s; want %s", tc.value, s, tc.target)
				}
			} else if tc.target != "" {
				t.Errorf("ParsePass(%q) target = nil; want %s", tc.value, tc.target)
			}
			want := tc.want
			want.Target = got.Target
			if !sameRule(got, &want) {
				t.Errorf("ParsePass(%q) = %+v; want %+v", tc.value, got, &want)
			}
		})
	}
}

// TestParsePassColumns checks that errors are located relative to the
// position given, as a rules file will need.
func TestParsePassColumns(t *testing.T) {
	_, err := ParsePass(Pos{File: "wsgate.conf", Line: 12, Col: 11}, `/ws/ ws://h/ upgarde=websocket`)
	const want = `wsgate.conf:12:24: ProxyPass: unknown parameter "upgarde" (did you mean "upgrade"?)`
	if err == nil || err.Error() != want {
		t.Errorf("ParsePass error = %v; want %s", err, want)
	}
}

func TestParsePassErrorTypes(t *testing.T) {
	_, err := ParsePass(Pos{File: "--pass", Line: 1}, "/a ws://h/ max=1")
	if _, ok := err.(*Error); !ok {
		t.Errorf("one error: got %T; want *Error", err)
	}
	_, err = ParsePass(Pos{File: "--pass", Line: 1}, "/a ftp://h/ max=1 x=2")
	list, ok := err.(ErrorList)
	if !ok || len(list) != 3 {
		t.Fatalf("three errors: got %T %v; want an ErrorList of 3", err, err)
	}
	var e *Error
	if !errors.As(err, &e) || e != list[0] {
		t.Errorf("errors.As(ErrorList, *Error) = %v; want the first error", e)
	}
}

func TestFromFlagsEmpty(t *testing.T) {
	tb, err := FromFlags(nil)
	if err != nil || len(tb.Rules) != 0 || tb.String() != "" {
		t.Errorf("FromFlags(nil) = %v, %v; want an empty table", tb, err)
	}
}

func TestFromFlagsOrder(t *testing.T) {
	tb, err := FromFlags([]string{"/b ws://h/b", "/a ws://h/a", "/a/x !"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"/b", "/a", "/a/x"} {
		if got := tb.Rules[i]; got.Path != want || got.Pos.Line != i+1 {
			t.Errorf("rule %d = %s at %v; want %s at line %d", i, got.Path, got.Pos, want, i+1)
		}
	}
}

// TestRuleStringRoundTrip checks that Rule.String prints what parses back
// into the same rule, and that printing is idempotent.
func TestRuleStringRoundTrip(t *testing.T) {
	values := []string{
		"/ws/ ws://127.0.0.1:9001/",
		"/x/private !",
		"/ws/ ws://127.0.0.1:9001/ upgrade=websocket timeout=5",
		"/a wss://h:8443/b nocanon upgrade=ANY timeout=60s connectiontimeout=1500ms",
		"/a http://h connectiontimeout=2mi",
		`"/sp ace/" "ws://h/a b/" "upgrade=websocket, foo"`,
		`'/q"uote/' "ws://h/%41%2f/"`,
		`"/back\\slash\\" https://[::1]/é/`,
		`"/tab	" ws://h/ "upgrade='x'"`,
		`/u ws://h/ upgrade=\x`,
		`/u ws://h/ upgrade="x"`,
	}
	for _, v := range values {
		t.Run(v, func(t *testing.T) {
			r, err := ParsePass(Pos{File: "--pass", Line: 1}, v)
			if err != nil {
				t.Fatal(err)
			}
			s := r.String()
			args, ok := strings.CutPrefix(s, "ProxyPass ")
			if !ok {
				t.Fatalf("String() = %s; want a ProxyPass directive", s)
			}
			r2, err := ParsePass(Pos{File: "--pass", Line: 1}, args)
			if err != nil {
				t.Fatalf("ParsePass(String() = %s): %v", s, err)
			}
			if !sameRule(r, r2) {
				t.Errorf("ParsePass(%s) = %+v; want %+v", s, r2, r)
			}
			if s2 := r2.String(); s2 != s {
				t.Errorf("String() after round trip = %s; want %s", s2, s)
			}
		})
	}
}

func TestRuleStringCanonical(t *testing.T) {
	r, err := ParsePass(Pos{}, "/ws/ ws://127.0.0.1:9001/ TIMEOUT=5 Upgrade=websocket")
	if err != nil {
		t.Fatal(err)
	}
	const want = `ProxyPass "/ws/" "ws://127.0.0.1:9001/" upgrade=websocket timeout=5`
	if got := r.String(); got != want {
		t.Errorf("String() = %s; want %s", got, want)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ word, want string }{
		{"upgarde", "upgrade"},
		{"UPGRADE", "upgrade"},
		{"timout", "timeout"},
		{"nocannon", "nocanon"},
		{"connectiontimeuot", "connectiontimeout"},
		{"retyr", "retry"},
		{"frobnicate", ""},
		{"x", ""},
		{"mx", ""},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			if got := suggest(tc.word, knownParams); got != tc.want {
				t.Errorf("suggest(%q) = %q; want %q", tc.word, got, tc.want)
			}
		})
	}
}
