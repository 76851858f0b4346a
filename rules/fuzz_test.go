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

// FuzzParseFile checks that ParseFile never panics, that its errors and
// warnings point inside the file, that a table it accepts dumps as a rules
// file that parses back into the same dump, and that matching a few
// requests against it yields safe request targets and hosts.
func FuzzParseFile(f *testing.F) {
	for _, dir := range []string{"config", "route", "rewrite", "servers"} {
		for _, path := range goldenFiles(f, dir) {
			f.Add(readConfigGolden(f, path).config, "/x/a?q", "websocket")
		}
	}
	f.Fuzz(func(t *testing.T, src, target, upgrade string) {
		lines := strings.Count(src, "\n") + 1
		inside := func(what string, e *Error) {
			if e.Pos.File != "f.conf" || e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Col < 1 {
				t.Fatalf("ParseFile(%q) %s at %v, outside the file: %v", src, what, e.Pos, e)
			}
		}
		tb, err := ParseFile("f.conf", []byte(src), Options{})
		if err != nil {
			var list ErrorList
			switch err := err.(type) {
			case *Error:
				list = ErrorList{err}
			case ErrorList:
				list = err
			default:
				t.Fatalf("ParseFile(%q) error is a %T", src, err)
			}
			if len(list) > maxErrors+1 {
				t.Fatalf("ParseFile(%q) = %d errors", src, len(list))
			}
			for _, e := range list {
				inside("error", e)
			}
			return
		}
		for _, w := range tb.Warnings {
			inside("warning", w)
		}
		for _, w := range tb.Check() {
			inside("check warning", w)
		}
		conf := tb.config()
		tb2, err := ParseFile("dump.conf", []byte(conf), Options{})
		if err != nil {
			t.Fatalf("ParseFile(%q) dumps as\n%s\nwhich does not parse: %v", src, conf, err)
		}
		if got := tb2.config(); got != conf {
			t.Fatalf("ParseFile(%q) dumps as\n%s\nthen as\n%s", src, conf, got)
		}
		r := &http.Request{RequestURI: target, Header: http.Header{"Upgrade": {upgrade}, "Connection": {"upgrade"}}, Host: "h"}
		m, err := tb.Match(r)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("Match(%q) error is a %T", target, err)
			}
			return
		}
		if rd := m.Redirect; rd != nil {
			// Answered by wsgate: a header must not be able to split.
			if strings.ContainsAny(rd.Location, "\r\n\x00") || isRedirect(rd.Status) != (rd.Location != "") {
				t.Fatalf("Match(%q).Redirect = %d %q", target, rd.Status, rd.Location)
			}
			return
		}
		if !strings.HasPrefix(m.RequestURI, "/") || !isVisible(m.RequestURI) {
			t.Fatalf("Match(%q).RequestURI = %q", target, m.RequestURI)
		}
		if msg := CheckAuthority(m.Host); msg != "" || m.Host == "" {
			t.Fatalf("Match(%q).Host = %q: %s", target, m.Host, msg)
		}
	})
}
