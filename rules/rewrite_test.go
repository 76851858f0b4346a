package rules

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/apachetest"
)

// The testdata/rewrite goldens are rules files, a "----" line, and
// requests with what wsgate does with them, one a line:
//
//	TARGET [Name:value ...] [HTTP/1.0] -> OUTCOME
//
// OUTCOME is the backend URL, "STATUS LOCATION" for a redirect, or the
// status answered. TestRewriteApache replays them against Apache.

// rewriteOutcome is what a rewrite golden records.
func rewriteOutcome(m Match, err error) string {
	switch {
	case err != nil:
		return result(m, err)
	case m.Redirect != nil:
		return strings.TrimSpace(fmt.Sprintf("%d %s", m.Redirect.Status, m.Redirect.Location))
	}
	return m.URL()
}

// TestRewriteGolden checks testdata/rewrite/*.txt.
func TestRewriteGolden(t *testing.T) {
	replayRouteGoldens(t, "rewrite", func(tb *Table, r *http.Request) string { return rewriteOutcome(tb.Match(r)) })
}

// TestRewriteApache replays the testdata/rewrite goldens against a real
// Apache httpd (see TestMatchApache for the setup): the rules file is
// given to Apache as it is, its backend 127.0.0.1:9001 pointed at a local
// server that answers with the request target it got, and every request
// must get the same answer: the same target at the backend, the same
// redirect, or the same status. Files marked "# apache: skip" are left
// out (their backend address is substituted from the request, or they
// need TLS).
func TestRewriteApache(t *testing.T) {
	h := apachetest.Need(t)
	backend := startEchoBackend(t)
	for _, path := range goldenFiles(t, "rewrite") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readConfigGolden(t, path)
			if strings.Contains(g.config, "# apache: skip") {
				t.Skip("marked # apache: skip")
			}
			tb := mustParseFile(t, path, g.config)
			addr := startApache(t, h, strings.ReplaceAll(g.config, "127.0.0.1:9001", backend))
			for _, l := range g.lines {
				rl, ok := parseRouteLine(t, l)
				if !ok {
					continue
				}
				r := rl.request()
				want := "?"
				switch m, err := tb.Match(r); {
				case err != nil:
					want = result(m, err)
				case m.Redirect != nil:
					want = rewriteOutcome(m, nil)
				case m.Balancer != nil:
					want = "proxied " + m.Member(m.Balancer.Members[0]).RequestURI
				default:
					want = "proxied " + m.RequestURI
				}
				got := apacheAnswer(t, addr, rl, r.Header)
				got = strings.ReplaceAll(got, backend, "127.0.0.1:9001")
				if got != want {
					t.Errorf("Apache answers %s with %q; wsgate with %q", l[:strings.LastIndex(l, " -> ")], got, want)
				}
			}
		})
	}
}

// apacheAnswer sends rl on a raw connection and sums up Apache's answer:
// "proxied TARGET" when the backend answered, "STATUS LOCATION" for a
// redirect, else the status.
func apacheAnswer(t *testing.T, addr string, rl routeLine, header http.Header) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.%d\r\n", rl.target, rl.minor)
	fmt.Fprintf(&req, "Host: %s\r\n", rl.host)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	if header.Get("Connection") == "" {
		req.WriteString("Connection: close\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	status := strings.SplitN(lines[0], " ", 3)
	if len(status) < 2 {
		t.Fatalf("GET %s: bad response %q", rl.target, resp)
	}
	code, _ := strconv.Atoi(status[1])
	location, echo := "", false
	for _, h := range lines[1:] {
		k, v, _ := strings.Cut(h, ":")
		switch strings.ToLower(k) {
		case "location":
			location = strings.TrimSpace(v)
		case "x-echo":
			echo = true
		}
	}
	switch {
	case code == 200 && echo:
		return "proxied " + body
	case isRedirect(code):
		return strconv.Itoa(code) + " " + location
	}
	return strconv.Itoa(code)
}

// TestRewriteVariables checks the %{VAR} values that the goldens cannot
// set: the method, TLS, the client's and the server's addresses, and a
// request without Host. The values were observed with Apache 2.4.71 for
// the same requests (HTTPS and REQUEST_SCHEME from mod_rewrite's source:
// on a TLS connection mod_ssl answers on and https).
func TestRewriteVariables(t *testing.T) {
	vars := []string{"HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "REQUEST_SCHEME", "HTTPS",
		"REQUEST_METHOD", "REMOTE_ADDR", "REMOTE_PORT", "SERVER_ADDR", "SERVER_PROTOCOL",
		"THE_REQUEST", "QUERY_STRING", "REQUEST_URI", "http_host", "HTTP:X-A"}
	local := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 8443}
	tests := []struct {
		name string
		req  *http.Request
		want string
	}{
		{"plain", &http.Request{Method: "POST", RequestURI: "/v/a%20b?x=1", Host: "Example.COM.:8080",
			Header: http.Header{"X-A": {"1", "2"}}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "192.0.2.7:50000"},
			"Example.COM.:8080|example.com|8080|http|off|POST|192.0.2.7|50000||HTTP/1.1|POST /v/a%20b?x=1 HTTP/1.1|x=1|/v/a b|Example.COM.:8080|1, 2"},
		{"TLS, default port", (&http.Request{Method: "GET", RequestURI: "/v/", Host: "h.example", TLS: &tls.ConnectionState{},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "[2001:db8::1]:443"}).
			WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, local)),
			"h.example|h.example|443|https|on|GET|2001:db8::1|443|10.0.0.1|HTTP/1.1|GET /v/ HTTP/1.1||/v/|h.example|"},
		{"IPv6 Host", &http.Request{Method: "GET", RequestURI: "/v/", Host: "[::1]:8080", ProtoMajor: 1, ProtoMinor: 1},
			"[::1]:8080|[::1]|8080|http|off|GET||||HTTP/1.1|GET /v/ HTTP/1.1||/v/|[::1]:8080|"},
		{"HTTP/1.0 without Host", &http.Request{Method: "GET", RequestURI: "/v/", ProtoMajor: 1, ProtoMinor: 0},
			"|localhost|80|http|off|GET||||HTTP/1.0|GET /v/ HTTP/1.0||/v/||"},
		{"no request", nil, "|localhost|80|http|off|GET||||HTTP/1.1|GET /v/ HTTP/1.1||/v/||"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "/v/"
			if tc.req != nil {
				target = tc.req.RequestURI
			}
			raw, query, hasQuery, err := SplitTarget(target)
			if err != nil {
				t.Fatal(err)
			}
			uri, err := NormalizePath(raw)
			if err != nil {
				t.Fatal(err)
			}
			in := newRewriteInput(target, tc.req, uri, query, hasQuery)
			c := rewriteCtx{in: in, args: query}
			got := make([]string, len(vars))
			for i, v := range vars {
				got[i] = c.expand("%{" + v + "}")
			}
			if g := strings.Join(got, "|"); g != tc.want {
				t.Errorf("%s =\n%s; want\n%s", strings.Join(vars, "|"), g, tc.want)
			}
		})
	}
}

// TestRewriteMethodAndTLS checks conditions on the request method and on
// TLS through Match, and the redirect to https that snippets use.
func TestRewriteMethodAndTLS(t *testing.T) {
	tb := mustParseFile(t, "f.conf", `RewriteEngine On
RewriteCond %{REQUEST_METHOD} =post [NC]
RewriteRule ^/post/ ws://127.0.0.1:9001/post [P]
RewriteCond %{HTTPS} off
RewriteRule ^/(.*) https://%{SERVER_NAME}/$1 [R=301,L]
RewriteCond %{REQUEST_SCHEME} =https
RewriteRule ^/(.*) ws://127.0.0.1:9001/tls/$1 [P]
`)
	tests := []struct {
		method string
		tls    bool
		target string
		want   string
	}{
		{"POST", false, "/post/", "ws://127.0.0.1:9001/post"},
		{"GET", false, "/post/?q", "301 https://h.example/post/?q"},
		{"GET", false, "/a%20b", "301 https://h.example/a%20b"},
		{"GET", true, "/a%20b", "ws://127.0.0.1:9001/tls/a%20b"},
	}
	for _, tc := range tests {
		r := &http.Request{Method: tc.method, RequestURI: tc.target, Host: "H.example:8080", Header: http.Header{}}
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := rewriteOutcome(tb.Match(r)); got != tc.want {
			t.Errorf("%s %s (TLS %v) = %s; want %s", tc.method, tc.target, tc.tls, got, tc.want)
		}
	}
}

// dirRules parses RewriteRules as written inside a <Location>.
func dirRules(t *testing.T, lines ...string) []*Rule {
	t.Helper()
	var rules []*Rule
	var conds []*Cond
	for i, l := range lines {
		name, rest, _ := strings.Cut(l, " ")
		args, end, lexErr := splitRewriteArgs(Pos{File: "f.conf", Line: i + 1, Col: len(name) + 2}, rest)
		if lexErr != nil {
			t.Fatal(lexErr)
		}
		d := directive{pos: Pos{File: "f.conf", Line: i + 1, Col: 1}, name: name, args: args, end: end}
		if name == "RewriteCond" {
			c, err := parseCond(d)
			if err != nil {
				t.Fatal(err)
			}
			conds = append(conds, c)
			continue
		}
		r, err := parseRewriteDir(d, conds)
		if err != nil {
			t.Fatal(err)
		}
		rules, conds = append(rules, r), nil
	}
	return rules
}

// TestRewriteDir checks the RewriteRules of a <Location>, as Apache 2.4.71
// applies them (observed with DocumentRoot /var/www/html, the default):
// the pattern sees "proxy:URL" once a ProxyPass maps the request, else
// DocumentRoot + path; a server rule with [END] turns them off; a
// relative substitution is relative to the location.
func TestRewriteDir(t *testing.T) {
	tb, err := FromFlags([]string{"/l2 http://127.0.0.1:9002/back2"})
	if err != nil {
		t.Fatal(err)
	}
	echo := dirRules(t, "RewriteRule (.*) http://127.0.0.1:9001/m=$1 [P]")
	tests := []struct {
		name   string
		rules  []*Rule
		dir    string
		target string
		header http.Header
		mapped bool // map the request with tb's ProxyPass first
		end    bool
		want   string // "-" when the rules leave the request as it was
	}{
		{"file path", echo, "/l1", "/l1/a%20b?q=1", nil, false, false, "http://127.0.0.1:9001/m=/var/www/html/l1/a%20b?q=1"},
		{"file path, bare", echo, "/l1", "/l1", nil, false, false, "http://127.0.0.1:9001/m=/var/www/html/l1"},
		{"proxy URL", echo, "/l2", "/l2/a%20b?q=1", nil, true, false, "http://127.0.0.1:9001/m=proxy:http://127.0.0.1:9002/back2/a%20b?q=1"},
		{"encoded in the ProxyPass target", echo, "/l2", "/l2/%C3%A9%22", nil, true, false, "http://127.0.0.1:9001/m=proxy:http://127.0.0.1:9002/back2/%C3%A9%22"},
		{"after END", echo, "/l1", "/l1/a", nil, false, true, "-"},
		{"Jupyter's snippet", dirRules(t,
			"RewriteCond %{HTTP:Upgrade} ^WebSocket$ [NC,OR]",
			"RewriteCond %{HTTP:Connection} ^Upgrade$ [NC]",
			"RewriteRule .* ws://127.0.0.1:9001%{REQUEST_URI} [P]"),
			"/", "/api/kernels/x?token=1", http.Header{"Upgrade": {"websocket"}}, false, false, "ws://127.0.0.1:9001/api/kernels/x?token=1"},
		{"Jupyter's snippet, no upgrade", dirRules(t,
			"RewriteCond %{HTTP:Upgrade} ^WebSocket$ [NC,OR]",
			"RewriteCond %{HTTP:Connection} ^Upgrade$ [NC]",
			"RewriteRule .* ws://127.0.0.1:9001%{REQUEST_URI} [P]"),
			"/", "/api/x", nil, false, false, "-"},
		// Observed: "/(.*)" captures from the first "/" of proxy:URL.
		{"/(.*) after a ProxyPass", dirRules(t,
			"RewriteCond %{HTTP:Upgrade} websocket [NC]",
			"RewriteRule /(.*) http://127.0.0.1:9001/$1 [P,L]"),
			"/l2", "/l2/a/b?q=1", http.Header{"Upgrade": {"websocket"}}, true, false, "http://127.0.0.1:9001//127.0.0.1:9002/back2/a/b?q=1"},
		{"relative redirect", dirRules(t, "RewriteRule ^(.*)/rel/(.*)$ x/$2 [R=301]"),
			"/rel", "/rel/a%20b?q", nil, false, false, "301 http://localhost/rel/x/a%20b?q"},
		{"QSA", dirRules(t, "RewriteRule ^(.*)/qsa/(.*)$ http://127.0.0.1:9001/q/$2?v=1 [P,QSA]"),
			"/qsa", "/qsa/a?b", nil, false, false, "http://127.0.0.1:9001/q/a?v=1&b"},
		{"query with a space", dirRules(t, "RewriteRule ^(.*)/relp/(.*)$ http://127.0.0.1:9001/q?v=$2 [P]"),
			"/relp", "/relp/a%20b", nil, false, false, "403"},
		{"NE", dirRules(t, "RewriteRule ^(.*)/ne/(.*)$ http://127.0.0.1:9001/q/$2 [P,NE]"),
			"/ne", "/ne/a%22b%C3%A9?x", nil, false, false, "http://127.0.0.1:9001/q/a\"b\xc3\xa9?x"},
		{"no match", dirRules(t, "RewriteRule ^x$ http://127.0.0.1:9001/x [P]"),
			"/l4", "/l4/x", nil, false, false, "-"},
		{"forbidden", dirRules(t, "RewriteRule .* - [F]"), "/f", "/f/x", nil, false, false, "403"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: "GET", RequestURI: tc.target, Host: "localhost", Header: tc.header, ProtoMajor: 1, ProtoMinor: 1}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			raw, query, hasQuery, err := SplitTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			uri, err := NormalizePath(raw)
			if err != nil {
				t.Fatal(err)
			}
			var mapped *Match
			if tc.mapped {
				m, err := tb.Match(r)
				if err != nil {
					t.Fatal(err)
				}
				mapped = &m
			}
			in := newRewriteInput(tc.target, r, uri, query, hasQuery)
			in.end = tc.end
			m, done, err := tb.rewriteDir(tc.rules, tc.dir, in, mapped)
			got := "-"
			if done {
				got = rewriteOutcome(m, err)
			}
			if got != tc.want {
				t.Errorf("rewriteDir(%s) = %s; want %s", tc.target, got, tc.want)
			}
		})
	}
}

// TestParseRewriteDir checks what a <Location> refuses: Apache would
// start an internal redirect, which wsgate does not do.
func TestParseRewriteDir(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"RewriteRule ^(.*)$ /new/$1", `f.conf:1:20: RewriteRule: in <Location>, a substitution to the local path "/new/$1" makes Apache start an internal redirect, which wsgate does not do (write an absolute URL with [P], or redirect with [R])`},
		{"RewriteRule .* new [L]", `f.conf:1:16: RewriteRule: in <Location>, a substitution to the local path "new" makes Apache start an internal redirect, which wsgate does not do (write an absolute URL with [P], or redirect with [R])`},
		{"RewriteRule .* /x [PT]", `f.conf:1:19: RewriteRule: [PT] is not supported in <Location>: Apache ignores it there and makes an internal redirect, which wsgate does not do`},
	} {
		name, rest, _ := strings.Cut(tc.line, " ")
		args, end, _ := splitRewriteArgs(Pos{File: "f.conf", Line: 1, Col: len(name) + 2}, rest)
		_, err := parseRewriteDir(directive{pos: Pos{File: "f.conf", Line: 1, Col: 1}, name: name, args: args, end: end}, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("parseRewriteDir(%s) = %v; want %s", tc.line, err, tc.want)
		}
	}
}

// TestRewriteRoundTrip checks that every flag prints as a directive that
// reads back into the same rule.
func TestRewriteRoundTrip(t *testing.T) {
	for _, src := range []string{
		`RewriteRule ^/static - [L]`,
		`RewriteRule ^/a/(.*) "https://example.com/x/$1" [END,NE,R=301]`,
		`RewriteRule !^/b ws://h/b [NC,P,L,QSA,QSD,QSL,NS,UnsafeAllow3F,UnsafePrefixStat]`,
		`RewriteRule ^/c /d [PT]`,
		`RewriteRule ^/f - [F]`,
		`RewriteRule ^/g - [G]`,
		`RewriteRule ^/r /s [R=303]`,
		"RewriteCond %{QUERY_STRING} transport=websocket [NC]\nRewriteRule ^/socket.io/(.*) \"ws://127.0.0.1:9001/socket.io/$1?x=1\" [P,QSA,L]",
	} {
		tb, err := ParseFile("f.conf", []byte("RewriteEngine On\n"+src), Options{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		r := tb.Rules[0]
		s := r.String()
		tb2, err := ParseFile("f.conf", []byte("RewriteEngine On\n"+s), Options{})
		if err != nil {
			t.Fatalf("%s prints as %s: %v", src, s, err)
		}
		r2 := tb2.Rules[0]
		if r2.String() != s || r2.Flags != r.Flags && !(r.Flags.Proxy && !r.Flags.Last) || r2.Status != r.Status ||
			r2.NoCanon != r.NoCanon || r2.NoCase != r.NoCase || r2.Subst != r.Subst || r2.Path != r.Path {
			t.Errorf("%s prints as %s, which reads back as %s (%+v; was %+v)", src, s, r2, r2.Flags, r.Flags)
		}
	}
}

// TestRewriteCheck checks the warnings of Check about RewriteRules.
func TestRewriteCheck(t *testing.T) {
	tb := mustParseFile(t, "checks", `RewriteEngine On
RewriteRule ^/dashp - [P]
RewriteRule ^/old/(.*)$ /new/$1 [L]
RewriteRule ^/chain/(.*)$ /chained/$1
RewriteRule ^/chained/(.*)$ ws://127.0.0.1:9001/c/$1 [P]
RewriteRule ^/pt/(.*)$ /new/$1 [PT]
`)
	tb.Locations = append(tb.Locations, &Location{Path: "/", Rewrite: dirRules(t,
		"RewriteRule /(.*) ws://127.0.0.1:9001/$1 [P,L]",
		"RewriteRule .* ws://127.0.0.1:9001%{REQUEST_URI} [P]")})
	var got []string
	for _, w := range tb.checkRewrite() {
		got = append(got, w.Error())
	}
	want := []string{
		`wsgate.conf:2:1: RewriteRule "^/dashp": [P] with the "-" substitution proxies nothing: Apache ignores P there and only stops rewriting, as [L] does, so the request goes on to the ProxyPass lines`,
		`wsgate.conf:3:1: RewriteRule "^/old/(.*)$": rewrites to the local path "/new/$1", which Apache serves from its DocumentRoot without consulting ProxyPass; wsgate serves no files, so these requests get 404 (add [PT] to hand the new path to the ProxyPass lines)`,
		`f.conf:1:1: RewriteRule "/(.*)": in <Location>, Apache matches PATTERN against "proxy:" and the backend URL once a ProxyPass maps the request, else against DocumentRoot + path (wsgate: /var/www/html + path), never against the URL-path alone; match ".*" and build the URL from %{REQUEST_URI}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checkRewrite() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
