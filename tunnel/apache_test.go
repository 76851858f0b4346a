package tunnel

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/apachetest"
	"github.com/wsgate/wsgate/rules"
)

// TestEditsApache sends the same requests through a real Apache httpd 2.4
// and through wsgate, both serving editsApacheConf, and compares what the
// backend received and what the client got, header by header:
//
//	WSGATE_APACHE=/usr/sbin/apache2 go test -run TestEditsApache -v ./tunnel/
//
// WSGATE_APACHE_MODULES overrides the module directory
// (/usr/lib/apache2/modules); WSGATE_APACHE_PORT=N makes Apache listen on
// port N and the backend on N+50, instead of free ports.
func TestEditsApache(t *testing.T) {
	t.Parallel()
	h := apachetest.Need(t)
	base := apachetest.Port()
	backend, seenc := apacheBackend(t, base)
	conf := strings.NewReplacer("BACKEND", backend, "DEAD", deadAddr(t)).Replace(editsApacheConf)
	config := func(listen []string) apachetest.Config {
		return apachetest.Config{Modules: editsModules, Listen: listen, ServerName: "apache.test", Directives: conf}
	}
	apache := "127.0.0.1:" + strconv.Itoa(base)
	if base == 0 {
		apache = h.StartOnFreePorts(t, 1, config)[0]
	} else {
		h.Start(t, config([]string{apache}))
	}
	table, err := rules.ParseFile("wsgate.conf", []byte(conf), rules.Options{})
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	wsgate, _ := serveConfig(t, Config{Table: table, Logger: log, ServerName: "apache.test"})

	sentHeaders := []string{"Host", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Empty",
		"X-App", "X-Merge", "X-Drop", "X-Env", "X-Expr", "X-Route", "Upgrade", "Cookie"}
	gotHeaders := []string{"X-B1", "X-B2", "X-Dup", "X-Resp", "Location", "Content-Location", "Set-Cookie", "Content-Type"}
	for _, tc := range []struct {
		name, target, header string
		upgrade, http10      bool
	}{
		{"plain", "/app/a/x?q=1&" + editsQuery("X-B1: 1", "X-B2: 2", "X-Dup: backend"), "", false, false},
		{"upgrade", "/ws/x", "", true, false},
		{"upgrade refused", "/ws/x?s=403&" + editsQuery("X-B1: 1", "X-B2: 2", "X-Dup: backend"), "", true, false},
		{"Location", "/app/x?s=302&" + editsQuery("Location: http://"+backend+"/app/y?q=1", "Content-Location: /app/rel"), "", false, false},
		{"Location, HTTP/1.0", "/app/x?s=302&" + editsQuery("Location: http://"+backend+"/app/y"), "", false, true},
		{"cookies", "/app/x?" + editsQuery("Set-Cookie: a=1; path=/app/sub; domain=backend.internal.x",
			"Set-Cookie: b=2; Path=/app; Domain=BACKEND.internal"), "", false, false},
		{"balancer, no route", "/bal/x?s=302&" + editsQuery("Location: http://"+backend+"/app/z"), "", false, false},
		{"balancer, route", "/bal/x", "Cookie: ROUTEID=.1\r\n", false, false},
		{"balancer, other route", "/bal/x", "Cookie: ROUTEID=.9\r\n", false, false},
		{"backend down", "/dead/x", "", false, false},
		{"no rule", "/nope", "", false, false},
		{"redirect", "/old/sub?q=1", "", false, false},
		{"redirect to a path", "/so/y?z", "", false, false},
		{"redirect of an upgrade", "/old/ws", "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := editsRequest(tc.target, tc.header, tc.upgrade, tc.http10)
			var sent [2]http.Header
			var got [2]*http.Response
			var body [2]string
			for i, front := range []string{apache, wsgate} {
				got[i], body[i] = sendEditsRequest(t, front, req)
				// apacheBackend reports a request before it answers it,
				// and a front answers only after the backend did: a
				// request that reached the backend is in seenc by now.
				select {
				case s := <-seenc:
					sent[i] = s.header
					sent[i].Set("Host", s.host)
				default:
				}
			}
			if (sent[0] == nil) != (sent[1] == nil) {
				t.Fatalf("reached the backend: Apache %v, wsgate %v", sent[0] != nil, sent[1] != nil)
			}
			if got[0].StatusCode != got[1].StatusCode {
				t.Errorf("status: Apache %d, wsgate %d", got[0].StatusCode, got[1].StatusCode)
			}
			for _, k := range sentHeaders {
				if sent[0] != nil && !slices.Equal(sent[0].Values(k), sent[1].Values(k)) {
					t.Errorf("backend received %s: Apache %q, wsgate %q", k, sent[0].Values(k), sent[1].Values(k))
				}
			}
			for _, k := range gotHeaders {
				a, w := got[0].Header.Values(k), got[1].Header.Values(k)
				if k == "Content-Type" && got[0].StatusCode >= 400 {
					continue // error pages need not match (APACHE.md section 7)
				}
				if !slices.Equal(a, w) {
					t.Errorf("client got %s: Apache %q, wsgate %q", k, a, w)
				}
			}
			if s := got[0].StatusCode; s >= 300 && s < 400 && body[0] != body[1] {
				t.Errorf("redirect page: Apache\n%s\nwsgate\n%s", body[0], body[1])
			}
			if testing.Verbose() {
				t.Logf("backend received (Apache) %v\nclient got (Apache) %d %v", sent[0], got[0].StatusCode, got[0].Header)
			}
		})
	}
}

// editsApacheConf is the configuration both servers run: the lines the
// pasted snippets use, and the corners Apache was seen to treat
// surprisingly. The client's Host is proxy.test:8080 for both.
const editsApacheConf = `
ProxyPass /app/ http://BACKEND/app/
ProxyPass /ws/ ws://BACKEND/ws/
ProxyPass /dead/ http://DEAD/
<Proxy "balancer://cluster">
    BalancerMember "http://BACKEND" route=1
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /bal/ balancer://cluster/app/
ProxyPassReverse /pub/ http://BACKEND/app/
ProxyPassReverse /bal/ balancer://cluster/app/
ProxyPassReverseCookiePath /app/ /pub/
ProxyPassReverseCookieDomain backend.internal public.example
SetEnvIf User-Agent "^Mozilla/(\d+)" MOZ=v$1
SetEnvIf Request_URI "^/app/(a|b)" SECTION=$1
RequestHeader set X-Forwarded-For forced
RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}
RequestHeader set X-Real-IP %{REMOTE_ADDR}s
RequestHeader setifempty X-Empty was-empty
RequestHeader append X-App appended
RequestHeader merge X-Merge m1
RequestHeader unset X-Drop
RequestHeader set X-Env "moz=%{MOZ}e sec=%{SECTION}e"
RequestHeader set X-Expr "expr=%{HTTP_HOST}|%{SERVER_NAME}|%{REQUEST_URI}|%{QUERY_STRING}|%{req:X-In}"
RequestHeader set X-Route %{BALANCER_WORKER_ROUTE}e
Header unset X-B1
Header always unset X-B2
Header always set X-Dup always
Header set X-Resp r1
Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
Redirect permanent /old http://new.example/new
Redirect seeother /so /relative/x
`

// editsQuery asks apacheBackend to answer with these header lines.
func editsQuery(lines ...string) string {
	var q []string
	for _, l := range lines {
		q = append(q, "h="+strings.NewReplacer("%", "%25", " ", "%20", ";", "%3B", "=", "%3D", "&", "%26", "?", "%3F").Replace(l))
	}
	return strings.Join(q, "&")
}

// editsRequest is the request sent to both servers, byte for byte.
func editsRequest(target, header string, upgrade, http10 bool) string {
	var b strings.Builder
	if http10 {
		fmt.Fprintf(&b, "GET %s HTTP/1.0\r\n", target)
	} else {
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: proxy.test:8080\r\n", target)
	}
	b.WriteString("User-Agent: Mozilla/5.0 test\r\nX-App: orig\r\nX-Merge: m1\r\nX-Drop: d\r\nX-In: in\r\n" + header)
	if upgrade {
		b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n")
	} else {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// sendEditsRequest sends req on a new connection and reads the response
// head, and the body unless it switched protocols.
func sendEditsRequest(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: read response: %v", addr, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, ""
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// apacheBackend answers with the status ?s= and the header lines ?h=,
// and accepts WebSocket upgrades that ask for no status; it reports what
// it received.
func apacheBackend(t *testing.T, base int) (string, <-chan seen) {
	t.Helper()
	addr := "127.0.0.1:0"
	if base > 0 {
		addr = "127.0.0.1:" + strconv.Itoa(base+50)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan seen, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{uri: r.RequestURI, host: r.Host, header: r.Header.Clone()}
		q := r.URL.Query()
		if q.Get("s") == "" && r.Header.Get("Upgrade") != "" {
			echo.Handler(echo.Options{}).ServeHTTP(w, r)
			return
		}
		for _, l := range q["h"] {
			k, v, _ := strings.Cut(l, ": ")
			w.Header().Add(k, v)
		}
		status := 200
		fmt.Sscan(q.Get("s"), &status)
		w.WriteHeader(status)
	}), ErrorLog: slogDiscard()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), ch
}

// editsModules are the modules editsApacheConf needs.
var editsModules = []string{"mpm_event", "authz_core", "proxy", "proxy_http", "proxy_wstunnel", "proxy_balancer",
	"lbmethod_byrequests", "slotmem_shm", "rewrite", "alias", "headers", "setenvif", "ssl"}
