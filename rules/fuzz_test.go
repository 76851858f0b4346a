package rules

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// seedPasses returns every --pass value in testdata, for fuzz seeds.
func seedPasses(f *testing.F) []string {
	var passes []string
	for _, dir := range []string{"match", "errors", "table"} {
		for _, path := range goldenFiles(f, dir) {
			passes = append(passes, readGolden(f, path).passes...)
		}
	}
	return passes
}

// FuzzParsePass checks that ParsePass never panics, that its errors point
// inside the value, and that a rule it accepts prints as a directive that
// parses back into the same rule.
func FuzzParsePass(f *testing.F) {
	for _, v := range seedPasses(f) {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		pos := Pos{File: "--pass", Line: 1}
		r, err := ParsePass(pos, value)
		if err != nil {
			var list ErrorList
			switch err := err.(type) {
			case *Error:
				list = ErrorList{err}
			case ErrorList:
				list = err
			default:
				t.Fatalf("ParsePass(%q) error is a %T; want *Error or ErrorList", value, err)
			}
			for _, e := range list {
				if e.Pos.File != "--pass" || e.Pos.Line != 1 || e.Pos.Col < 1 || e.Pos.Col > len(value)+1 {
					t.Errorf("ParsePass(%q) error at %v, outside the value", value, e.Pos)
				}
			}
			return
		}
		if r.Exclude == (r.Target != nil) {
			t.Fatalf("ParsePass(%q) = %+v: want a target exactly when not an exclusion", value, r)
		}
		args := r.args()
		r2, err := ParsePass(pos, args)
		if err != nil {
			t.Fatalf("ParsePass(%q) = %s, which does not parse: %v", value, r, err)
		}
		if !sameRule(r, r2) {
			t.Fatalf("ParsePass(%q) = %s; parsed again = %s", value, r, r2)
		}
		if got := r2.args(); got != args {
			t.Fatalf("String() is not stable: %s, then %s", args, got)
		}
	})
}

// FuzzMatch checks, for any rules and any request target, that Match never
// panics, fails only with the statuses Apache uses, and otherwise yields a
// request target that is safe to put on a request line: starting with "/",
// without spaces or control bytes, and, unless nocanon, a path of
// ap_proxy_canonenc's alphabet.
func FuzzMatch(f *testing.F) {
	for _, path := range goldenFiles(f, "match") {
		g := readGolden(f, path)
		passes := strings.Join(g.passes, "\n")
		for _, l := range g.lines {
			if ml, ok := parseMatchLine(f, l); ok {
				f.Add(passes, ml.target)
			}
		}
	}
	f.Fuzz(func(t *testing.T, passes, target string) {
		// Each line is a --pass value; invalid ones are left out rather
		// than wasting the input.
		var tb Table
		for i, v := range strings.Split(passes, "\n") {
			if r, err := ParsePass(Pos{File: "--pass", Line: i + 1}, v); err == nil {
				tb.Rules = append(tb.Rules, r)
			}
		}
		m, err := tb.Match(&http.Request{RequestURI: target})
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("Match(%q) error is a %T; want *RequestError", target, err)
			}
			switch re.Status {
			case 400, 403, 404, 500:
			default:
				t.Fatalf("Match(%q) status %d", target, re.Status)
			}
			return
		}
		if m.Rule == nil || m.Rule.Exclude || m.Scheme != m.Rule.Target.Scheme || m.Host != m.Rule.Target.Host {
			t.Fatalf("Match(%q) = %+v: not the rule's target", target, m)
		}
		if !strings.HasPrefix(m.RequestURI, "/") || !isVisible(m.RequestURI) {
			t.Fatalf("Match(%q).RequestURI = %q: want a path without spaces or control bytes", target, m.RequestURI)
		}
		if !m.Rule.NoCanon {
			path, _, _ := strings.Cut(m.RequestURI, "?")
			if !isCanon(path) {
				t.Fatalf("Match(%q).RequestURI = %q: path is not ap_proxy_canonenc output", target, m.RequestURI)
			}
		}
	})
}

// isCanon reports whether p could be canonPath output.
func isCanon(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case pathSafe(c):
		case c == '%' && i+2 < len(p) && strings.IndexByte("0123456789ABCDEF", p[i+1]) >= 0 &&
			strings.IndexByte("0123456789ABCDEF", p[i+2]) >= 0:
			i += 2
		default:
			return false
		}
	}
	return true
}
