package rules

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParsePassMatch(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{`^/pm/(.*)$ ws://127.0.0.1:9001/$1`, `ProxyPassMatch "^/pm/(.*)$" "ws://127.0.0.1:9001/$1"`},
		{`"^/a b/" WSS://h:8443/x upgrade=ANY Timeout=5 nocanon`, `ProxyPassMatch "^/a b/" "wss://h:8443/x" nocanon upgrade=ANY timeout=5`},
		{`\.sock$ ws://h`, `ProxyPassMatch "\\.sock$" "ws://h"`},
		{`^/x !`, `ProxyPassMatch "^/x" !`},
		{`^/h/([^/]+)/ ws://$1:9001/`, `ProxyPassMatch "^/h/([^/]+)/" "ws://$1:9001/"`},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			r, err := ParsePassMatch(Pos{File: "--pass-match", Line: 1}, tc.value)
			if err != nil {
				t.Fatalf("ParsePassMatch(%q): %v", tc.value, err)
			}
			if r.Kind != Regex || r.Pos != (Pos{"--pass-match", 1, 1}) {
				t.Errorf("ParsePassMatch(%q) = kind %d at %v; want Regex at --pass-match 1:1", tc.value, r.Kind, r.Pos)
			}
			if got := r.String(); got != tc.want {
				t.Errorf("ParsePassMatch(%q).String() = %s; want %s", tc.value, got, tc.want)
			}
			args, _ := strings.CutPrefix(r.String(), "ProxyPassMatch ")
			r2, err := ParsePassMatch(Pos{File: "--pass-match", Line: 1}, args)
			if err != nil || r2.String() != r.String() {
				t.Errorf("round trip of %s = %v, %v", r, r2, err)
			}
		})
	}
}

func TestParsePassMatchErrors(t *testing.T) {
	tests := []struct{ value, want string }{
		{``, `--pass-match 1:1: ProxyPassMatch: missing REGEX and URL (want REGEX URL [key=value ...] or REGEX !)`},
		{`(?=x) ws://h/`, `--pass-match 1:1: ProxyPassMatch: regular expression "(?=x)" uses a lookahead (?= or (?!, a PCRE feature that Go's RE2 syntax does not have`},
		{`^/a ws://h/ retry=x`, `--pass-match 1:13: ProxyPassMatch: retry=x: must be a whole number`},
		{`^/a "ws://h/`, `--pass-match 1:5: ProxyPassMatch: unterminated quoted argument: missing closing "`},
	}
	for _, tc := range tests {
		_, err := ParsePassMatch(Pos{File: "--pass-match", Line: 1}, tc.value)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParsePassMatch(%q) error = %v; want %s", tc.value, err, tc.want)
		}
	}
}

func TestCheckAuthority(t *testing.T) {
	good := []string{"h", "h:1", "127.0.0.1:9001", "[::1]", "[::1]:8443", "a-b.c_d:65535", "UPPER"}
	bad := []string{"", ":1", "h:", "h:0", "h:65536", "h:1x", "a b", "a\r\nb", "u@h", "h/x", "[::1", "[zz]", "[::1]x", "h%41", "é"}
	for _, a := range good {
		if msg := CheckAuthority(a); msg != "" {
			t.Errorf("checkAuthority(%q) = %s; want valid", a, msg)
		}
	}
	for _, a := range bad {
		if msg := CheckAuthority(a); msg == "" && a != "" {
			t.Errorf("checkAuthority(%q) = valid; want an error", a)
		}
	}
}

func TestRegsub(t *testing.T) {
	src := "/pm/abc/rest"
	m := []int{0, 12, 4, 7, 8, 12, -1, -1}
	tests := []struct{ tmpl, want string }{
		{"ws://h/$2/$1", "ws://h/rest/abc"},
		{"ws://h/$0", "ws://h//pm/abc/rest"},
		{"ws://h/$3$9x", "ws://h/x"},
		{`ws://h/\$1\\$1`, `ws://h/$1\abc`},
		{"ws://h/$", "ws://h/$"},
		{"ws://h/$a", "ws://h/$a"},
	}
	for _, tc := range tests {
		if got := regsub(tc.tmpl, src, m); got != tc.want {
			t.Errorf("regsub(%q) = %q; want %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestSplitRewriteArgs(t *testing.T) {
	at := func(col int) Pos { return Pos{File: "f", Line: 1, Col: col} }
	tests := []struct {
		line string
		want []arg
	}{
		{`%{HTTP:Upgrade} websocket [NC]`, []arg{{"%{HTTP:Upgrade}", at(1)}, {"websocket", at(17)}, {"[NC]", at(27)}}},
		{`^a,\ b$ x`, []arg{{`^a,\ b$`, at(1)}, {"x", at(9)}}},
		{`"a b" 'c"d'`, []arg{{"a b", at(1)}, {`c"d`, at(7)}}},
		{`"a\"b`, []arg{{`a\`, at(1)}, {`b`, at(5)}}},
		{`a\\b`, []arg{{`a\\b`, at(1)}}},
		{`""`, []arg{{"", at(1)}}},
	}
	for _, tc := range tests {
		got, _, err := splitRewriteArgs(at(1), tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitRewriteArgs(%q) = %v, %v; want %v", tc.line, got, err, tc.want)
		}
		for _, a := range got {
			back, _, err := splitRewriteArgs(at(1), quoteRewriteArg(a.text))
			if err != nil || len(back) != 1 || back[0].text != a.text {
				t.Errorf("quoteRewriteArg(%q) = %s, which splits into %v, %v", a.text, quoteRewriteArg(a.text), back, err)
			}
		}
	}
	if _, _, err := splitRewriteArgs(at(1), `x "a b`); err == nil || err.Pos != at(3) {
		t.Errorf("unterminated quote: error %v; want one at column 3", err)
	}
}

// TestRuleStringRoundTripFile checks that every kind of rule prints as
// directives that a rules file reads back into the same rule.
func TestRuleStringRoundTripFile(t *testing.T) {
	srcs := []string{
		`ProxyPass "/ws/" "ws://h/" upgrade=websocket timeout=5`,
		`ProxyPassMatch "^/(a|b)/(.*)$" "ws://h:1/$2/$1" nocanon connectiontimeout=250ms`,
		"RewriteCond %{HTTP:Upgrade} websocket [NC]\nRewriteCond %{HTTP:Connection} upgrade [NC,OR]\nRewriteCond %{HTTP:X} !=\"\"\nRewriteRule ^/?(.*) ws://127.0.0.1:9001/$1 [P,L]",
		"RewriteCond \"%{HTTP:X-A} x\" '!^a\"b' [OR]\nRewriteRule \"^/a b/(.*)\" \"http://h/%1/$1\" [NC,P,L]",
		`RewriteRule ^/a,\ b$ ws://h/%{REQUEST_URI} [P]`,
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			tb, err := ParseFile("f.conf", []byte("RewriteEngine On\n"+src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := tb.Rules[0].String()
			tb2, err := ParseFile("f.conf", []byte("RewriteEngine On\n"+s), Options{})
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			if s2 := tb2.Rules[0].String(); s2 != s {
				t.Errorf("String() after round trip = %s; want %s", s2, s)
			}
		})
	}
}

// TestMatchHeaders checks that Match reads RewriteConds' headers from the
// request, Host included.
func TestMatchHeaders(t *testing.T) {
	tb, err := ParseFile("f.conf", []byte(`RewriteEngine On
RewriteCond %{HTTP:Host} ^(app|api)\.example$
RewriteRule ^/(.*) ws://127.0.0.1:9001/%1/$1 [P]
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "http://api.example/x?q", nil)
	r.RequestURI = "/x?q"
	m, err := tb.Match(r)
	if err != nil || m.URL() != "ws://127.0.0.1:9001/api/x?q" {
		t.Errorf("Match(Host: api.example /x?q) = %v, %v; want ws://127.0.0.1:9001/api/x?q", m.URL(), err)
	}
	r.Host = "other.example"
	if _, err := tb.Match(r); err == nil {
		t.Errorf("Match(Host: other.example) succeeded; want no match")
	}
}
