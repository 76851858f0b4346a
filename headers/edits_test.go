package headers

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// editsFor parses conf and returns its main server's edits for r.
func editsFor(t *testing.T, conf string, r *http.Request) *Edits {
	t.Helper()
	tb, err := rules.ParseFile("wsgate.conf", []byte(conf), rules.Options{})
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	x := New(tb, tb.Scope, r, time.Unix(1700000000, 123456000), "wsgate.test")
	if x == nil {
		t.Fatal("Edits = nil for a scope with lines")
	}
	return x
}

// testRequest is a request as Go's server hands it over.
func testRequest(method, target, host string, header ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RequestURI = target
	r.Host = host
	r.RemoteAddr = "127.0.0.1:35762"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	ln := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18301}
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, ln))
}

// The expectations below are what Apache 2.4.71 sent its backend for the
// same lines and request (with mod_ssl loaded, no TLS), less the
// X-Forwarded-* that mod_proxy adds afterwards.
func TestEditsRequest(t *testing.T) {
	conf := `
RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}
RequestHeader set X-Real-IP %{REMOTE_ADDR}s
RequestHeader set X-Https %{HTTPS}s
RequestHeader set X-Host expr=%{HTTP_HOST}
RequestHeader set X-SN expr=%{SERVER_NAME}
RequestHeader setifempty X-Empty "was-empty"
RequestHeader setifempty X-Merge "not set: present"
RequestHeader append X-App appended
RequestHeader add X-Add added
RequestHeader merge X-Merge m1
RequestHeader merge X-Merge2 m2
RequestHeader unset X-Drop
RequestHeader set X-T %t
RequestHeader set X-Pct "100%%"
RequestHeader set X-Esc "a\tb\\c\d"
RequestHeader set X-2 "expr=%{HTTP_HOST}|%{REMOTE_ADDR}|%{HTTPS}|%{SERVER_NAME}|%{SERVER_PORT}|%{REQUEST_METHOD}|%{REQUEST_URI}|%{QUERY_STRING}|%{THE_REQUEST}|%{SERVER_PROTOCOL}"
RequestHeader set X-3 "expr=lit-%{HTTP:X-In}-%{req:X-In}-%{reqenv:SEC}-%{env:SEC}-%{tolower:ABC}"
RequestHeader set X-4 "expr=%{HTTP_USER_AGENT} %{REMOTE_PORT}"
RequestHeader set X-7 "%{SSL_PROTOCOL}s|%{HTTPS}s|%{SERVER_NAME}s|%{HTTP_HOST}s|%{REQUEST_URI}s|%{HTTP:X-In}s|%{ENV:SEC}s"
RequestHeader set X-Unset %{NOPE}e
SetEnvIf Request_URI "^/app" SEC=yes
`
	r := testRequest("GET", "/app/a%20b?q=1", "127.0.0.1:18301",
		"X-App", "orig", "X-Merge", "m1", "X-Merge2", `"a,m2", b`, "X-Drop", "d", "X-Add", "a0", "X-In", "inval", "User-Agent", "UA")
	h := r.Header.Clone()
	host := editsFor(t, conf, r).Request(h, r.Host)
	want := map[string][]string{
		"X-Forwarded-Proto": {"http"},
		"X-Real-Ip":         {"127.0.0.1"},
		"X-Https":           {"off"},
		"X-Host":            {"127.0.0.1:18301"},
		"X-Sn":              {"127.0.0.1"},
		"X-Empty":           {"was-empty"},
		"X-App":             {"orig, appended"},
		"X-Add":             {"a0", "added"},
		"X-Merge":           {"m1"},
		"X-Merge2":          {`"a,m2", b, m2`},
		"X-Drop":            nil,
		"X-T":               {"t=1700000000123456"},
		"X-Pct":             {"100%"},
		"X-Esc":             {"a\tb\\c\\d"},
		"X-2":               {"127.0.0.1:18301|127.0.0.1|off|127.0.0.1|18301|GET|/app/a b|q=1|GET /app/a%20b?q=1 HTTP/1.1|HTTP/1.1"},
		"X-3":               {"lit-inval-inval-yes-yes-abc"},
		"X-4":               {"UA 35762"},
		"X-7":               {"(null)|off|127.0.0.1|127.0.0.1:18301|/app/a b|inval|yes"},
		"X-Unset":           {"(null)"},
	}
	for k, v := range want {
		if got := h[k]; !slices.Equal(got, v) {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	if host != "127.0.0.1:18301" || h.Get("Host") != "" {
		t.Errorf("Request returned Host %q and left Host %q in the header; want the client's, none", host, h.Get("Host"))
	}
	if r.Header.Get("X-Drop") != "d" || r.Header.Get("X-App") != "orig" {
		t.Errorf("the inbound request was changed: %v", r.Header)
	}
}

func TestEditsRequestHost(t *testing.T) {
	cases := []struct {
		conf, want string
		problem    bool
	}{
		// Apache: X-Forwarded-Host and a preserved Host become the value.
		{"RequestHeader set Host edited.example", "edited.example", false},
		{"RequestHeader unset Host", "", false},
		{"RequestHeader set Host \"a b\"", "client.example", true},
		{"RequestHeader set X-Other 1", "client.example", false},
	}
	for _, tc := range cases {
		t.Run(tc.conf, func(t *testing.T) {
			r := testRequest("GET", "/", "client.example")
			x := editsFor(t, tc.conf, r)
			if got := x.Request(http.Header{}, r.Host); got != tc.want {
				t.Errorf("Request = Host %q; want %q", got, tc.want)
			}
			if got := len(x.Problems()) > 0; got != tc.problem {
				t.Errorf("Problems() = %q; want some: %v", x.Problems(), tc.problem)
			}
		})
	}
}

func TestEditsFramingNotApplied(t *testing.T) {
	r := testRequest("GET", "/", "h")
	x := editsFor(t, "RequestHeader set Content-Length 5\nHeader set Transfer-Encoding chunked\nHeader always unset Content-Length\n", r)
	h := http.Header{}
	x.Request(h, r.Host)
	resp := http.Header{"Content-Length": {"2"}}
	x.Response(resp, true)
	if h.Get("Content-Length") != "" || resp.Get("Content-Length") != "2" || resp.Get("Transfer-Encoding") != "" {
		t.Errorf("framing headers edited: request %v, response %v", h, resp)
	}
	want := []string{
		"wsgate.conf:1: RequestHeader set Content-Length: not applied: wsgate frames the request body itself",
		"wsgate.conf:2: Header set Transfer-Encoding: not applied: wsgate frames responses itself",
		"wsgate.conf:3: Header unset Content-Length: not applied: wsgate frames responses itself",
	}
	if got := x.Problems(); !slices.Equal(got, want) {
		t.Errorf("Problems() =\n%q\nwant\n%q", got, want)
	}
}

// Observed with Apache 2.4.71 (curl -H X-Mode: DEBUG -A Mozilla/5.0 ...).
func TestEditsSetEnvIf(t *testing.T) {
	conf := `
SetEnvIf User-Agent "^Mozilla/(\d+)" MOZ=v$1 IS_MOZ
SetEnvIf Request_URI "^/app/(a|b)" SECTION=$1
SetEnvIfNoCase X-Mode "^debug$" DEBUG
SetEnvIf DEBUG "1" DEBUG2=yes
SetEnvIf Remote_Addr "^127\." LOCAL=1
SetEnvIf Request_Method "POST" POSTED
SetEnvIf Request_Protocol "HTTP/1\.1" P11
SetEnvIf X-None "^$" NONE_EMPTY
SetEnvIf X-Unset "." !LOCAL
SetEnvIf Host "^(.*):" HOSTNAME=$1
SetEnvIf ^X-Hdr-.* "." HDRRE=$0
SetEnvIf Request_URI "!^/app/a" NOT_A
SetEnvIf Server_Addr "^127" SADDR
SetEnvIf Remote_Host "^127" RHOST
RequestHeader set X-If-Debug "on" env=debug
RequestHeader set X-If-Not-Debug "on" env=!DEBUG
`
	cases := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"debug", testRequest("GET", "/app/a/x", "127.0.0.1:18301", "User-Agent", "Mozilla/5.0 x", "X-Mode", "DEBUG"),
			"DEBUG2=yes DEBUG=1 HOSTNAME=127.0.0.1 IS_MOZ=1 LOCAL=1 MOZ=v5 NONE_EMPTY=1 P11=1 RHOST=1 SADDR=1 SECTION=a | X-If-Debug"},
		{"post", testRequest("POST", "/app/c", "127.0.0.1:18301", "User-Agent", "curl", "X-Unset", "1", "X-Hdr-Foo", "bar"),
			"HDRRE=b HOSTNAME=127.0.0.1 NONE_EMPTY=1 P11=1 POSTED=1 RHOST=1 SADDR=1 | X-If-Not-Debug"},
		// At server level Request_URI is the path as sent: Apache did
		// not set SECTION for /app/%61/x.
		{"raw path", testRequest("GET", "/app/%61/x", "h"), "LOCAL=1 NONE_EMPTY=1 P11=1 RHOST=1 SADDR=1 | X-If-Not-Debug"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := editsFor(t, conf, tc.r)
			var vars []string
			for k, v := range x.Env() {
				vars = append(vars, k+"="+v)
			}
			slices.Sort(vars)
			h := http.Header{}
			x.Request(h, tc.r.Host)
			got := strings.Join(vars, " ") + " | " + strings.Join(slices.Sorted(func(yield func(string) bool) {
				for k := range h {
					if !yield(k) {
						return
					}
				}
			}), " ")
			if got != tc.want {
				t.Errorf("env | headers =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestEditsResponse(t *testing.T) {
	conf := `
Header unset X-B1
Header always unset X-B2
Header always set X-Dup always
Header set X-Dup2 onsuccess
Header always set X-Dup2 always
Header set X-Empty ""
`
	backend := func() http.Header {
		return http.Header{"X-B1": {"1"}, "X-B2": {"2"}, "X-Dup": {"backend"}, "X-Dup2": {"backend"}}
	}
	// Apache 2.4.71, backend answering 200 or 404 with those headers:
	// "always" does not reach the backend's headers and comes first.
	h := backend()
	editsFor(t, conf, testRequest("GET", "/", "h")).Response(h, true)
	want := http.Header{"X-B2": {"2"}, "X-Dup": {"always", "backend"}, "X-Dup2": {"always", "onsuccess"}, "X-Empty": {""}}
	if !equalHeader(h, want) {
		t.Errorf("proxied response = %v; want %v", h, want)
	}
	// Apache's own answers (503, 404, a redirect) get the "always" lines
	// only.
	own := http.Header{"Content-Type": {"text/html"}}
	editsFor(t, conf, testRequest("GET", "/", "h")).Response(own, false)
	want = http.Header{"Content-Type": {"text/html"}, "X-Dup": {"always"}, "X-Dup2": {"always"}}
	if !equalHeader(own, want) {
		t.Errorf("own answer = %v; want %v", own, want)
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// The Location values are what Apache 2.4.71 sent the client for the
// same ProxyPassReverse lines, backend Location and request Host.
func TestReverseURL(t *testing.T) {
	plain := `
ProxyPassReverse /pub/ http://127.0.0.1:18350/app/
ProxyPassReverse /r/ /rel/
ProxyPassReverse /s http://127.0.0.1:18350/slash/
ProxyPassReverse /w/ ws://127.0.0.1:18350/ws/
ProxyPassReverse http://public.example/x/ http://127.0.0.1:18350/ws/
`
	balancers := `
<Proxy "balancer://mycluster">
    BalancerMember "http://127.0.0.1:18350" route=1
    BalancerMember "http://127.0.0.1:18351/sub/" route=2
</Proxy>
<Proxy "balancer://other">
    BalancerMember "http://127.0.0.1:18352"
</Proxy>
ProxyPass /bal/ balancer://mycluster/app/
ProxyPass /o/ balancer://other/
ProxyPassReverse /bal/ balancer://mycluster/app/
ProxyPassReverse /root/ balancer://mycluster
ProxyPassReverse / balancer://other
`
	cases := []struct {
		conf, host, tls, in, want string
	}{
		{plain, "127.0.0.1:18301", "", "http://127.0.0.1:18350/app/y?q=1", "http://127.0.0.1:18301/pub/y?q=1"},
		{plain, "127.0.0.1:18301", "", "HTTP://127.0.0.1:18350/app/y", "http://127.0.0.1:18301/pub/y"},
		{plain, "Example.COM", "", "http://127.0.0.1:18350/app/y", "http://example.com/pub/y"},
		{plain, "example.com:80", "", "http://127.0.0.1:18350/app/y", "http://example.com/pub/y"},
		{plain, "example.com:8080", "", "http://127.0.0.1:18350/app/y", "http://example.com:8080/pub/y"},
		{plain, "[::1]:8080", "", "http://127.0.0.1:18350/app/y", "http://[::1]:8080/pub/y"},
		{plain, "example.com:443", "tls", "http://127.0.0.1:18350/app/y", "https://example.com/pub/y"},
		{plain, "", "", "http://127.0.0.1:18350/app/y", "http://wsgate.test/pub/y"}, // HTTP/1.0: ServerName
		{plain, "h", "", "/app/y", "/app/y"},
		{plain, "h", "", "/rel/y", "http://h/r/y"},
		{plain, "h", "", "http://other.host/rel/z", "http://h/r/z"},
		{plain, "h", "", "http://127.0.0.1:18350/slash/y", "http://h/sy"},
		{plain, "h", "", "http://127.0.0.1:18350/slash/", "http://h/s"},
		{plain, "h", "", "ws://127.0.0.1:18350/ws/y", "http://h/w/y"},
		{plain, "h", "", "http://127.0.0.1:18350/ws/c", "http://public.example/x/c"},
		{plain, "h", "", "http://127.0.0.1:9/else", "http://127.0.0.1:9/else"},
		{balancers, "127.0.0.1:18301", "", "http://127.0.0.1:18350/app/y", "http://127.0.0.1:18301/bal/y"},
		{balancers, "127.0.0.1:18301", "", "http://127.0.0.1:18351/sub/app/y", "http://127.0.0.1:18301/bal/y"},
		{balancers, "127.0.0.1:18301", "", "HTTP://127.0.0.1:18350/APP/y", "http://127.0.0.1:18301/root//APP/y"},
		{balancers, "127.0.0.1:18301", "", "http://127.0.0.1:18350/other", "http://127.0.0.1:18301/root//other"},
		{balancers, "127.0.0.1:18301", "", "http://127.0.0.1:18352/z", "http://127.0.0.1:18301/z"},
		{balancers, "127.0.0.1:18301", "", "http://127.0.0.1:18352", "http://127.0.0.1:18301/"},
	}
	for _, tc := range cases {
		t.Run(tc.host+" "+tc.in, func(t *testing.T) {
			r := testRequest("GET", "/x", tc.host)
			if tc.tls != "" {
				r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
			}
			if got := editsFor(t, tc.conf, r).ReverseURL(tc.in); got != tc.want {
				t.Errorf("ReverseURL(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReverseHeaders(t *testing.T) {
	x := editsFor(t, "ProxyPassReverse /s http://b/slash/\n", testRequest("GET", "/", "h"))
	h := http.Header{"Location": {"http://b/slash/y"}, "Uri": {"http://b/slash/"}, "Destination": {"http://b/slash/d"},
		"Content-Location": {"http://b/slash/c"}, "Link": {"<http://b/slash/l>"}}
	x.Reverse(h)
	want := http.Header{"Location": {"http://h/sy"}, "Uri": {"http://h/s"}, "Destination": {"http://h/sd"},
		"Content-Location": {"http://h/sc"}, "Link": {"<http://b/slash/l>"}}
	if !equalHeader(h, want) {
		t.Errorf("Reverse = %v; want %v", h, want)
	}
}

// Apache 2.4.71 with the same lines and Set-Cookie values.
func TestReverseCookie(t *testing.T) {
	conf := "ProxyPassReverseCookiePath /app/ /pub/\nProxyPassReverseCookieDomain backend.internal public.example\n"
	cases := []struct{ in, want string }{
		{"a=1; path=/app/sub; domain=backend.internal.x", "a=1; path=/pub/; domain=public.example"},
		{"b=2; Path=/app; Domain=BACKEND.internal", "b=2; Path=/app; Domain=public.example"},
		{"c=3; domain=backend.internal; path=/app/", "c=3; domain=public.example; path=/pub/"},
		{"d=path=/app/; HttpOnly", "d=path=/app/; HttpOnly"},
		{"e=5", "e=5"},
	}
	x := editsFor(t, conf, testRequest("GET", "/", "h"))
	for _, tc := range cases {
		if got := x.ReverseCookie(tc.in); got != tc.want {
			t.Errorf("ReverseCookie(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// Apache 2.4.71 with a two-member balancer and stickysession=ROUTEID set
// these variables; the Set-Cookie line is mod_proxy_balancer's
// documented idiom.
func TestSetBalancer(t *testing.T) {
	conf := `
<Proxy "balancer://mycluster">
    BalancerMember "http://127.0.0.1:18350" route=1
    BalancerMember "http://127.0.0.1:18351" route=2
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /bal/ balancer://mycluster/app/
Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
Header set X-Env "n=%{BALANCER_NAME}e wn=%{BALANCER_WORKER_NAME}e wr=%{BALANCER_WORKER_ROUTE}e ss=%{BALANCER_SESSION_STICKY}e sr=%{BALANCER_SESSION_ROUTE}e ch=%{BALANCER_ROUTE_CHANGED}e"
`
	tb, err := rules.ParseFile("wsgate.conf", []byte(conf), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := tb.Balancers[0]
	cases := []struct {
		member        int
		sticky, route string
		cookie, env   string
	}{
		{0, "", "", "ROUTEID=.1; path=/", "n=balancer://mycluster wn=http://127.0.0.1:18350 wr=1 ss=(null) sr=(null) ch=1"},
		{1, "ROUTEID", "2", "", "n=balancer://mycluster wn=http://127.0.0.1:18351 wr=2 ss=ROUTEID sr=2 ch=(null)"},
		{0, "ROUTEID", "9", "ROUTEID=.1; path=/", "n=balancer://mycluster wn=http://127.0.0.1:18350 wr=1 ss=ROUTEID sr=9 ch=1"},
	}
	for _, tc := range cases {
		x := New(tb, tb.Scope, testRequest("GET", "/bal/x", "h"), time.Now(), "")
		x.SetBalancer(b, b.Members[tc.member], tc.sticky, tc.route)
		h := http.Header{}
		x.Response(h, true)
		if h.Get("Set-Cookie") != tc.cookie || h.Get("X-Env") != tc.env {
			t.Errorf("member %d, route %q: Set-Cookie %q, X-Env %q; want %q, %q",
				tc.member, tc.route, h.Get("Set-Cookie"), h.Get("X-Env"), tc.cookie, tc.env)
		}
	}
}

func TestEditsNil(t *testing.T) {
	tb := &rules.Table{}
	x := New(tb, tb.Scope, testRequest("GET", "/", "h"), time.Now(), "")
	if x != nil {
		t.Fatalf("Edits of an empty scope = %v; want nil", x)
	}
	h := http.Header{"Location": {"http://b/"}}
	if got := x.Request(h, "h"); got != "h" {
		t.Errorf("nil Request = %q", got)
	}
	x.Response(h, true)
	x.Reverse(h)
	x.SetBalancer(nil, nil, "", "")
	if h.Get("Location") != "http://b/" || x.Env() != nil || x.Problems() != nil {
		t.Errorf("nil Edits changed something: %v", h)
	}
}

// Apache 2.4.71 with the same sections: the one-argument
// ProxyPassReverse takes the location's path, and SetEnvIf inside a
// <Location> sees the decoded path (/loc/%61/x set INLOC).
func TestLocationScope(t *testing.T) {
	tb, err := rules.ParseFile("wsgate.conf", []byte(`
<Location /loc/>
    ProxyPass http://127.0.0.1:18350/app/
    ProxyPassReverse http://127.0.0.1:18350/app/
    SetEnvIf Request_URI "^/loc/a" INLOC=yes
</Location>
<LocationMatch "^/lm/">
    ProxyPassReverse http://127.0.0.1:18350/lm/
</LocationMatch>
ProxyPass /lm/ http://127.0.0.1:18350/lm/
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantWarning := `wsgate.conf:8:5: ProxyPassReverse inside <LocationMatch>: Apache would write the regular expression itself into Location headers; skipped (write ProxyPassReverse PATH URL outside the section)`
	if len(tb.Warnings) != 1 || tb.Warnings[0].Error() != wantWarning {
		t.Errorf("warnings = %v; want %s", tb.Warnings, wantWarning)
	}
	for _, tc := range []struct{ target, in, want, inloc string }{
		{"/loc/%61/x", "http://127.0.0.1:18350/app/y", "http://127.0.0.1:18301/loc/y", "yes"},
		{"/lm/x", "http://127.0.0.1:18350/lm/y", "http://127.0.0.1:18350/lm/y", ""},
	} {
		r := testRequest("GET", tc.target, "127.0.0.1:18301")
		m, err := tb.Match(r)
		if err != nil {
			t.Fatalf("Match(%s): %v", tc.target, err)
		}
		x := New(tb, m.Edits, r, time.Now(), "")
		if got := x.ReverseURL(tc.in); got != tc.want {
			t.Errorf("%s: ReverseURL(%q) = %q; want %q", tc.target, tc.in, got, tc.want)
		}
		if got, _ := x.Env().Get("INLOC"); got != tc.inloc {
			t.Errorf("%s: INLOC = %q; want %q", tc.target, got, tc.inloc)
		}
	}
	for _, conf := range []string{"<Location /two>\nProxyPassReverse /x http://b/\n</Location>\n"} {
		_, err := rules.ParseFile("wsgate.conf", []byte(conf), rules.Options{})
		if want := "wsgate.conf:2:21: ProxyPassReverse can not have a path when defined in a location (want ProxyPassReverse URL)"; err == nil || err.Error() != want {
			t.Errorf("rules.ParseFile(%q) = %v; want %s", conf, err, want)
		}
	}
}

// FuzzEdits applies a scope with every kind of line to arbitrary
// requests and backend headers: nothing may panic, and no value the lines
// make may carry a CR, LF or NUL into a header.
func FuzzEdits(f *testing.F) {
	f.Add("/app/a%20b?q=1", "Example.COM:8080", "Mozilla/5.0", "http://b/app/x", "a=1; path=/app/; domain=b.internal")
	f.Add("/", "[::1", "", "/rel/y", "path=")
	f.Add("http://h/x?y", "h:", "x", "HTTP://B/APP\r\n", ";;domain=;path=/app/x")
	tb, err := rules.ParseFile("wsgate.conf", []byte(`
<Proxy "balancer://c">
    BalancerMember http://b/s/ route=1
</Proxy>
ProxyPass /bal/ balancer://c/
SetEnvIf User-Agent "^(.*)$" UA=$1
SetEnvIf ^X-.* "(.*)" X=$1
SetEnvIf Request_URI "(.*)" URI=$0
RequestHeader set X-A "%{UA}e %{X}e %{URI}e %{HTTP:User-Agent}s %{THE_REQUEST}s %t %D %%"
RequestHeader set X-B "expr=%{HTTP_HOST}|%{SERVER_NAME}|%{REQUEST_URI}|%{QUERY_STRING}|%{req:User-Agent}"
RequestHeader merge X-C "%{UA}e"
RequestHeader set Host "%{UA}e"
Header set X-D "%{BALANCER_WORKER_NAME}e %{BALANCER_SESSION_ROUTE}e"
Header always append X-E "%{URI}e"
ProxyPassReverse /pub/ http://b/app/
ProxyPassReverse / /rel/
ProxyPassReverse /bal/ balancer://c/
ProxyPassReverseCookiePath /app/ /pub/
ProxyPassReverseCookieDomain b.internal public
`), rules.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target, host, ua, location, cookie string) {
		// Go's server hands over no request with such bytes in a header.
		if strings.ContainsAny(host+ua, "\r\n\x00") {
			t.Skip()
		}
		r := testRequest("GET", "/", host, "User-Agent", ua, "X-Y", ua)
		r.RequestURI = target
		x := New(tb, tb.Scope, r, time.Now(), "wsgate.test")
		x.SetBalancer(tb.Balancers[0], tb.Balancers[0].Members[0], "ROUTEID", target)
		h := r.Header.Clone()
		made := http.Header{"Host": {x.Request(h, host)}}
		for _, k := range []string{"X-A", "X-B", "X-C"} {
			made[k] = h[k]
		}
		resp := http.Header{"Location": {location}, "Set-Cookie": {cookie}}
		x.Reverse(resp)
		x.Response(resp, true)
		x.Response(resp, false)
		for _, k := range []string{"X-D", "X-E"} {
			made[k] = resp[k]
		}
		if loc := resp.Get("Location"); loc != location {
			made["Location"] = []string{loc}
		}
		for k, vs := range made {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("%s carries a control byte: %q", k, v)
				}
			}
		}
	})
}
