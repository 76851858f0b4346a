package tunnel

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/rules"
)

// The expectations in this file are what Apache httpd 2.4.71 did with the
// same lines, observed on loopback with a backend that printed what it
// received (see docs/rules.md, "Headers and reverse mapping").

// serveRules parses conf, with %[1]s standing for backend, and serves it.
func serveRules(t *testing.T, conf, backend string) (string, *Server) {
	t.Helper()
	table, err := rules.ParseFile("wsgate.conf", []byte(fmt.Sprintf(conf, backend)), rules.Options{})
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	return serveTable(t, table)
}

// answeringBackend records every request and answers it with respond; a
// WebSocket upgrade that respond leaves alone (writes nothing) is
// accepted and echoed.
func answeringBackend(t *testing.T, respond func(w http.ResponseWriter, r *http.Request) bool) (string, <-chan seen) {
	ch := make(chan seen, 16)
	addr := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{uri: r.RequestURI, host: r.Host, header: r.Header.Clone()}
		if respond != nil && respond(w, r) {
			return
		}
		if r.Header.Get("Upgrade") != "" {
			echo.Handler(echo.Options{}).ServeHTTP(w, r)
			return
		}
		io.WriteString(w, "plain")
	}))
	return addr, ch
}

// get sends a plain GET with extra header lines and returns the response,
// body read.
func get(t *testing.T, proxy, path, header string) *http.Response {
	t.Helper()
	_, _, resp := rawRequest(t, proxy, "GET "+path+" HTTP/1.1\r\nHost: "+proxy+"\r\n"+header+"Connection: close\r\n\r\n")
	return resp
}

func checkHeaders(t *testing.T, what string, h http.Header, want map[string][]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Values(k); !slices.Equal(got, v) {
			t.Errorf("%s %s = %q; want %q", what, k, got, v)
		}
	}
}

func TestRequestHeaderLines(t *testing.T) {
	t.Parallel()
	backend, seenc := answeringBackend(t, nil)
	proxy, _ := serveRules(t, `
ProxyPass /app/ ws://%[1]s/app/
SetEnvIf User-Agent "^Mozilla/(\d+)" MOZ=v$1
RequestHeader set X-Forwarded-For forced
RequestHeader set X-Forwarded-Proto expr=%%{REQUEST_SCHEME}
RequestHeader set X-Real-IP %%{REMOTE_ADDR}s
RequestHeader setifempty X-Empty was-empty
RequestHeader append X-App appended
RequestHeader unset X-Drop
RequestHeader set X-Moz %%{MOZ}e
RequestHeader set X-Route %%{BALANCER_WORKER_ROUTE}e
`, backend)
	const sent = "X-App: orig\r\nX-Drop: d\r\nUser-Agent: Mozilla/5.0 x\r\n"
	// What Apache's backend received, on the plain path and the upgrade
	// alike: RequestHeader runs before mod_proxy appends X-Forwarded-*.
	want := map[string][]string{
		"X-Forwarded-For":   {"forced, 127.0.0.1"},
		"X-Forwarded-Proto": {"http"},
		"X-Real-Ip":         {"127.0.0.1"},
		"X-Empty":           {"was-empty"},
		"X-App":             {"orig, appended"},
		"X-Drop":            nil,
		"X-Moz":             {"v5"},
		"X-Route":           {"(null)"},
		"X-Forwarded-Host":  {proxy},
	}
	t.Run("plain", func(t *testing.T) {
		if resp := get(t, proxy, "/app/x", sent); resp.StatusCode != 200 {
			t.Fatalf("status = %d; want 200", resp.StatusCode)
		}
		checkHeaders(t, "backend saw", (<-seenc).header, want)
	})
	t.Run("upgrade", func(t *testing.T) {
		if _, _, resp := rawUpgrade(t, proxy, "/app/ws", sent, ""); resp.StatusCode != 101 {
			t.Fatalf("status = %d; want 101", resp.StatusCode)
		}
		checkHeaders(t, "backend saw", (<-seenc).header, want)
	})
}

func TestRequestHeaderHost(t *testing.T) {
	t.Parallel()
	backend, seenc := answeringBackend(t, nil)
	proxy, _ := serveRules(t, `
ProxyPass /keep/ http://%[1]s/keep/
ProxyPass /app/ http://%[1]s/app/
<Proxy "http://%[1]s/keep/">
    ProxyPreserveHost On
</Proxy>
RequestHeader set Host edited.example
`, backend)
	cases := []struct{ path, host string }{
		{"/keep/x", "edited.example"}, // Apache: the edited Host is preserved
		{"/app/x", backend},
	}
	for _, tc := range cases {
		get(t, proxy, tc.path, "")
		got := <-seenc
		if got.host != tc.host || got.header.Get("X-Forwarded-Host") != "edited.example" {
			t.Errorf("%s: backend saw Host %q, X-Forwarded-Host %q; want %q, edited.example",
				tc.path, got.host, got.header.Get("X-Forwarded-Host"), tc.host)
		}
	}
}

func TestHeaderLines(t *testing.T) {
	t.Parallel()
	backend, _ := answeringBackend(t, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/ws/") && r.URL.Query().Get("s") == "" {
			return false // accept the upgrade
		}
		h := w.Header()
		h.Set("X-B1", "1")
		h.Set("X-B2", "2")
		h.Set("X-Dup", "backend")
		status := 200
		fmt.Sscan(r.URL.Query().Get("s"), &status)
		w.WriteHeader(status)
		return true
	})
	dead := deadAddr(t)
	proxy, _ := serveRules(t, `
ProxyPass /app/ http://%[1]s/app/
ProxyPass /ws/ ws://%[1]s/ws/
ProxyPass /dead/ http://`+dead+`/
Header unset X-B1
Header always unset X-B2
Header always set X-Dup always
Header set X-Resp r1
Header always set X-Always a1
`, backend)
	backendAnswer := map[string][]string{
		"X-B1": nil, "X-B2": {"2"}, "X-Dup": {"always", "backend"}, "X-Resp": {"r1"}, "X-Always": {"a1"},
	}
	ownAnswer := map[string][]string{
		"X-B1": nil, "X-B2": nil, "X-Dup": {"always"}, "X-Resp": nil, "X-Always": {"a1"},
	}
	cases := []struct {
		name, path string
		upgrade    bool
		status     int
		want       map[string][]string
	}{
		{"200", "/app/x", false, 200, backendAnswer},
		{"backend 404", "/app/x?s=404", false, 404, backendAnswer},
		{"backend 500", "/app/x?s=500", false, 500, backendAnswer},
		{"upgrade refused by backend", "/ws/x?s=403", true, 403, backendAnswer},
		// Apache's 101 carried none of the lines, "always" included.
		{"101", "/ws/x", true, 101, map[string][]string{"X-Resp": nil, "X-Always": nil, "X-Dup": nil}},
		{"backend down", "/dead/x", false, 503, ownAnswer},
		{"no rule", "/nope", false, 404, ownAnswer},
		{"upgrade, no rule", "/nope", true, 404, ownAnswer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.upgrade {
				_, _, resp = rawUpgrade(t, proxy, tc.path, "", "")
			} else {
				resp = get(t, proxy, tc.path, "")
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tc.status)
			}
			checkHeaders(t, "client got", resp.Header, tc.want)
		})
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestProxyPassReverse(t *testing.T) {
	t.Parallel()
	backend, _ := answeringBackend(t, func(w http.ResponseWriter, r *http.Request) bool {
		for _, kv := range r.URL.Query()["h"] {
			k, v, _ := strings.Cut(kv, ": ")
			w.Header().Add(k, v)
		}
		w.WriteHeader(http.StatusFound)
		return true
	})
	proxy, _ := serveRules(t, `
ProxyPass /app/ http://%[1]s/app/
ProxyPass /ws/ ws://%[1]s/ws/
ProxyPassReverse /pub/ http://%[1]s/app/
ProxyPassReverse /s http://%[1]s/slash/
ProxyPassReverseCookiePath /app/ /pub/
ProxyPassReverseCookieDomain backend.internal public.example
`, backend)
	q := func(kv ...string) string {
		var parts []string
		for _, s := range kv {
			parts = append(parts, "h="+strings.NewReplacer(" ", "%20", ";", "%3B", "=", "%3D").Replace(s))
		}
		return strings.Join(parts, "&")
	}
	cases := []struct {
		name, path string
		upgrade    bool
		header     string
		want       map[string][]string
	}{
		{"Location", "/app/x?" + q("Location: http://"+backend+"/app/y?q=1"), false, "",
			map[string][]string{"Location": {"http://" + proxy + "/pub/y?q=1"}}},
		{"Host without port", "/app/x?" + q("Location: http://"+backend+"/app/y"), false, "", nil},
		{"other headers", "/app/x?" + q("Content-Location: http://"+backend+"/slash/c", "URI: http://"+backend+"/slash/", "Location: /app/rel"), false, "",
			map[string][]string{"Content-Location": {"http://" + proxy + "/sc"}, "Uri": {"http://" + proxy + "/s"}, "Location": {"/app/rel"}}},
		{"cookies", "/app/x?" + q("Set-Cookie: a=1; path=/app/sub; domain=backend.internal.x", "Set-Cookie: b=2; Path=/app; Domain=BACKEND.internal"), false, "",
			map[string][]string{"Set-Cookie": {"a=1; path=/pub/; domain=public.example", "b=2; Path=/app; Domain=public.example"}}},
		{"refused upgrade", "/ws/x?" + q("Location: http://"+backend+"/app/z"), true, "",
			map[string][]string{"Location": {"http://" + proxy + "/pub/z"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			switch {
			case tc.upgrade:
				_, _, resp = rawUpgrade(t, proxy, tc.path, "", "")
			case tc.want == nil:
				// Apache: a Host without port gives a URL without one.
				_, _, resp = rawRequest(t, proxy, "GET "+tc.path+" HTTP/1.1\r\nHost: Example.COM\r\nConnection: close\r\n\r\n")
				tc.want = map[string][]string{"Location": {"http://example.com/pub/y"}}
			default:
				resp = get(t, proxy, tc.path, tc.header)
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status = %d; want 302", resp.StatusCode)
			}
			checkHeaders(t, "client got", resp.Header, tc.want)
		})
	}
}

// mod_proxy_balancer's documented sticky-cookie line works as in Apache:
// the member's route is set in a cookie when the request did not name it,
// and a request that names it goes back to that member.
func TestStickyCookieLine(t *testing.T) {
	t.Parallel()
	b1, seen1 := answeringBackend(t, nil)
	b2, seen2 := answeringBackend(t, nil)
	proxy, _ := serveRules(t, `
<Proxy "balancer://cluster">
    BalancerMember "http://%[1]s" route=1
    BalancerMember "http://`+b2+`" route=2
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /app/ balancer://cluster/app/
Header add Set-Cookie "ROUTEID=.%%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
Header set X-Route "%%{BALANCER_SESSION_ROUTE}e"
`, b1)
	which := func() string {
		select {
		case <-seen1:
			return "1"
		case <-seen2:
			return "2"
		}
	}
	first := get(t, proxy, "/app/x", "")
	route := which()
	if got, want := first.Header.Get("Set-Cookie"), "ROUTEID=."+route+"; path=/"; got != want {
		t.Errorf("first answer Set-Cookie = %q; want %q", got, want)
	}
	for range 3 {
		again := get(t, proxy, "/app/x", "Cookie: ROUTEID=."+route+"\r\n")
		if got := which(); got != route {
			t.Errorf("request with ROUTEID=.%s went to member %s", route, got)
		}
		if again.Header.Get("Set-Cookie") != "" || again.Header.Get("X-Route") != route {
			t.Errorf("answer with the route's cookie: Set-Cookie %q, X-Route %q; want none, %q",
				again.Header.Get("Set-Cookie"), again.Header.Get("X-Route"), route)
		}
	}
	// An unknown route is balanced normally and the cookie set again.
	other := get(t, proxy, "/app/x", "Cookie: ROUTEID=.9\r\n")
	if got, want := other.Header.Get("Set-Cookie"), "ROUTEID=."+which()+"; path=/"; got != want || other.Header.Get("X-Route") != "9" {
		t.Errorf("answer with ROUTEID=.9: Set-Cookie %q, X-Route %q; want %q, 9", got, other.Header.Get("X-Route"), want)
	}
}

func TestEditProblemsLoggedOnce(t *testing.T) {
	t.Parallel()
	backend, _ := answeringBackend(t, nil)
	table, err := rules.ParseFile("wsgate.conf", []byte("ProxyPass / http://"+backend+"/\n"+
		"RequestHeader set Content-Length 5\nHeader set Transfer-Encoding chunked\n"), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	proxy, _, logs := serveLogged(t, Config{Table: table})
	resp := get(t, proxy, "/x", "")
	if resp.StatusCode != 200 || len(resp.TransferEncoding) > 0 {
		t.Fatalf("status %d, Transfer-Encoding %q; want 200, none", resp.StatusCode, resp.TransferEncoding)
	}
	// The line is logged once the handler returns; the response may be
	// read a moment before.
	waitFor(t, func() bool { return strings.Contains(logs.String(), "header lines not applied") })
	if n := strings.Count(logs.String(), "header lines not applied"); n != 1 {
		t.Errorf("logged %d times; want once:\n%s", n, logs)
	}
	for _, want := range []string{
		"wsgate.conf:2: RequestHeader set Content-Length: not applied: wsgate frames the request body itself",
		"wsgate.conf:3: Header set Transfer-Encoding: not applied: wsgate frames responses itself",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	eventually.True(t, 5*time.Second, cond, eventually.Says("condition not met"))
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	backend, seenc := answeringBackend(t, nil)
	proxy, _ := serveRules(t, `
ProxyPass /app/ http://%[1]s/app/
Redirect permanent /old http://new.example/new
Redirect seeother /so /relative/x
Redirect 410 /gone
Header always set X-Always a1
Header set X-OnSuccess s1
`, backend)
	// Apache 2.4.71's answer to GET /old/sub?q=1, byte for byte.
	const movedBody = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<html><head>
<title>301 Moved Permanently</title>
</head><body>
<h1>Moved Permanently</h1>
<p>The document has moved <a href="http://new.example/new/sub?q=1">here</a>.</p>
</body></html>
`
	cases := []struct {
		name, path string
		upgrade    bool
		status     int
		location   string
		body       string
	}{
		{"301", "/old/sub?q=1", false, 301, "http://new.example/new/sub?q=1", movedBody},
		{"301 to an upgrade", "/old/ws", true, 301, "http://new.example/new/ws", ""},
		{"303 to a path", "/so/y?z", false, 303, "http://" + proxy + "/relative/x/y?z", ""},
		{"410", "/gone/x", false, 410, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if tc.upgrade {
				_, _, resp = rawUpgrade(t, proxy, tc.path, "", "")
				body, _ = io.ReadAll(resp.Body)
			} else {
				c, br, r := rawRequest(t, proxy, "GET "+tc.path+" HTTP/1.1\r\nHost: "+proxy+"\r\n\r\n")
				resp = r
				// rawRequest read the body; ask again to see it.
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.path, proxy)
				r2, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(r2.Body)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Errorf("answer = %d, Location %q; want %d, %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
			checkHeaders(t, "client got", resp.Header, map[string][]string{
				"X-Always": {"a1"}, "X-OnSuccess": nil, "Content-Type": {"text/html; charset=iso-8859-1"}})
			if tc.body != "" && string(body) != tc.body {
				t.Errorf("body =\n%s\nwant\n%s", body, tc.body)
			}
			if !strings.Contains(string(body), "<title>"+fmt.Sprint(tc.status)) {
				t.Errorf("body %q is not Apache's page for %d", body, tc.status)
			}
		})
	}
	select {
	case s := <-seenc:
		t.Errorf("backend was asked for %s; a redirect must never reach it", s.uri)
	default:
	}
}

// TestLegacyUpgradeLine: under ProxyWebsocketFallbackToProxyHttp Off the
// backend gets Apache's legacy Upgrade line (observed on 2.4.71:
// "WebSocket" whatever the client wrote), the rule's upgrade= as written,
// "WebSocket" for upgrade=NONE (which Apache refuses: docs/apache.md,
// difference 2), and for upgrade=ANY the client's protocol, where Apache
// sends "*" (difference 8). Without it, the client's spelling.
func TestLegacyUpgradeLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		legacy  bool
		param   string
		client  string
		backend string
	}{
		{true, "", "websocket", "WebSocket"},
		{true, "", "WEBSOCKET", "WebSocket"},
		{true, " upgrade=NONE", "websocket", "WebSocket"},
		{true, " upgrade=websocket", "WebSocket", "websocket"},
		{true, " upgrade=foo,WebSocket", "websocket", "foo,WebSocket"},
		{true, " upgrade=ANY", "WEBSOCKET", "WEBSOCKET"},
		{false, "", "WEBSOCKET", "WEBSOCKET"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("legacy=%v%s/%s", tc.legacy, tc.param, tc.client), func(t *testing.T) {
			backend, seenc := recordingBackend(t)
			conf := "ProxyPass /ws/ ws://%[1]s/" + tc.param + "\n"
			if tc.legacy {
				conf = "ProxyWebsocketFallbackToProxyHttp Off\n" + conf
			}
			proxy, _ := serveRules(t, conf, backend)
			_, _, resp := rawUpgradeWith(t, proxy, "/ws/x", tc.client, "", "")
			if resp.StatusCode != 101 {
				t.Fatalf("status = %d; want 101", resp.StatusCode)
			}
			if got := (<-seenc).header.Get("Upgrade"); got != tc.backend {
				t.Errorf("backend got Upgrade: %q; want %q", got, tc.backend)
			}
		})
	}
}
