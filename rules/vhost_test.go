package rules

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/apachetest"
)

// A servers golden (testdata/servers) is a rules file with virtual hosts,
// locations or redirects, a "----" line, and request lines:
//
//	TARGET [@PORT] [Name:value ...] -> OUTCOME
//
// @PORT is the port of the listener the request came in on (none: not
// known, as with `wsgate route`). OUTCOME is what serverOutcome prints.
// Unless marked "# apache: skip", TestServersApache replays the lines
// that have a port against Apache with the very same file.
type serverLine struct {
	routeLine
	port int
}

var portToken = regexp.MustCompile(` @(\d+)\b`)

func parseServerLine(t testing.TB, l string) (serverLine, bool) {
	port := 0
	if m := portToken.FindStringSubmatch(l); m != nil {
		port, _ = strconv.Atoi(m[1])
		l = strings.Replace(l, m[0], "", 1)
	}
	rl, ok := parseRouteLine(t, l)
	return serverLine{rl, port}, ok
}

// request is the line's request, with the listener's address in its
// context as net/http puts it there.
func (sl serverLine) request() *http.Request {
	r := sl.routeLine.request()
	if sl.port != 0 {
		r = r.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey,
			&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sl.port}))
	}
	return r
}

// serverOutcome is what a servers golden records: the backend URL with
// the settings that differ from the defaults, the virtual host (by
// ServerName, or its position when it has none) and the location that
// decided; "redirect STATUS LOCATION"; or the status of the error.
func serverOutcome(tb *Table, r *http.Request) string {
	m, err := tb.Match(r)
	if err != nil {
		return result(m, err)
	}
	var out string
	if rd := m.Redirect; rd != nil {
		out = strings.TrimSpace(fmt.Sprintf("redirect %d %s", rd.Status, rd.Location))
	} else {
		out = m.URL()
		var flags []string
		if m.PreserveHost {
			flags = append(flags, "preservehost")
		}
		if !m.AddHeaders {
			flags = append(flags, "noaddheaders")
		}
		if m.KeepAlive {
			flags = append(flags, "keepalive")
		}
		if len(flags) > 0 {
			out += " [" + strings.Join(flags, " ") + "]"
		}
	}
	if vh := m.VirtualHost; vh != nil {
		name := vh.ServerName
		if name == "" {
			name = origin(vh.Pos)
		}
		out += " vhost=" + name
	}
	if m.Location != nil {
		out += " location=" + m.Location.Path
	}
	return out
}

// TestServersGolden checks testdata/servers/*.txt.
func TestServersGolden(t *testing.T) {
	replayRouteGoldens(t, "servers", serverOutcome)
}

// TestServersRoundTrip checks that the tables of testdata/servers print
// as rules files that parse back into tables that print the same and
// route every request of the golden the same way.
func TestServersRoundTrip(t *testing.T) {
	for _, path := range goldenFiles(t, "servers") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readConfigGolden(t, path)
			tb := mustParseFile(t, path, g.config)
			conf := tb.config()
			tb2, err := ParseFile("dump.conf", []byte(conf), Options{})
			if err != nil {
				t.Fatalf("the dump does not parse: %v\n%s", err, conf)
			}
			if got := tb2.config(); got != conf {
				t.Errorf("dump after round trip =\n%s\nwant\n%s", got, conf)
			}
			for _, l := range g.lines {
				if sl, ok := parseServerLine(t, l); ok {
					strip := regexp.MustCompile(`wsgate\.conf:\d+|dump\.conf:\d+`)
					got := strip.ReplaceAllString(serverOutcome(tb2, sl.request()), "POS")
					want := strip.ReplaceAllString(serverOutcome(tb, sl.request()), "POS")
					if got != want {
						t.Errorf("after round trip, %s -> %s; want %s", sl.target, got, want)
					}
				}
			}
		})
	}
}

// TestServersApache replays testdata/servers against a real Apache httpd
// with the same file (see TestMatchApache for the variables). The backends
// of the goldens, 127.0.0.1:18150 to 18152, answer with their port, the
// request target and the Host they got; Listen lines and virtual hosts
// use ports 18101 to 18109. So that it can run, nothing else may listen
// there.
func TestServersApache(t *testing.T) {
	h := apachetest.Need(t)
	for _, p := range []int{18150, 18151, 18152} {
		startPortEcho(t, p)
	}
	for _, path := range goldenFiles(t, "servers") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readConfigGolden(t, path)
			if strings.Contains(g.config, "# apache: skip") {
				t.Skip("marked # apache: skip")
			}
			tb := mustParseFile(t, path, g.config)
			// The golden's own Listen lines are kept, and its ServerName
			// comes after the preamble's, and wins.
			h.Start(t, apachetest.Config{Modules: serversModules, Wait: []string{tb.Listen[0].Addr},
				Directives: "KeepAlive Off\n" + g.config})
			for _, l := range g.lines {
				sl, ok := parseServerLine(t, l)
				if !ok || sl.port == 0 {
					continue
				}
				r := sl.request()
				want := apacheWant(tb, r)
				if got := apacheAsk(t, sl); got != want {
					t.Errorf("Apache answers %s with %s; wsgate gives %s", l[:strings.LastIndex(l, " -> ")], got, want)
				}
			}
		})
	}
}

// apacheWant is what Apache's answer to r must be for wsgate to agree:
// "PORT TARGET HOST" as the backend received it, "STATUS LOCATION" for a
// redirect, or the status.
func apacheWant(tb *Table, r *http.Request) string {
	m, err := tb.Match(r)
	switch {
	case err != nil:
		return result(m, err)
	case m.Redirect != nil:
		return strings.TrimSpace(fmt.Sprintf("%d %s", m.Redirect.Status, m.Redirect.Location))
	}
	_, port, _ := net.SplitHostPort(m.Host)
	host := m.Host
	if m.PreserveHost {
		host = r.Host
	}
	return port + " " + m.RequestURI + " " + host
}

// apacheAsk sends sl's request to Apache on sl.port and says what came
// back, in apacheWant's terms.
func apacheAsk(t *testing.T, sl serverLine) string {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(sl.port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var extra strings.Builder
	for k, vs := range sl.header {
		for _, v := range vs {
			fmt.Fprintf(&extra, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n", sl.target, sl.host, extra.String())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == 200 && resp.Header.Get("X-Echo") == "1":
		return string(body)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Location")))
	}
	return strconv.Itoa(resp.StatusCode)
}

// startPortEcho answers every request on 127.0.0.1:port with "PORT
// TARGET HOST".
func startPortEcho(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("the backends of testdata/servers need port %d: %v", port, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", "1")
		fmt.Fprintf(w, "%d %s %s", port, r.RequestURI, r.Host)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// serversModules are the modules the servers goldens need.
var serversModules = []string{"mpm_event", "authz_core", "proxy", "proxy_http", "proxy_wstunnel", "rewrite", "alias", "headers", "setenvif"}

func TestWildMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*.a.example", "x.a.example", true},
		{"*.a.example", "a.example", false},
		{"*.a.example", "x.y.a.example", true},
		{"w?.example", "wx.example", true},
		{"w?.example", "w.example", false},
		{"w?.example", "wxy.example", false},
		{"*", "", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
	}
	for _, tc := range tests {
		if got := wildMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildMatch(%q, %q) = %v; want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct {
		addr string
		port int
		ok   bool
	}{
		{"*:80", 80, true}, {"*", 0, true}, {"*:*", 0, true}, {"_default_:443", 443, true},
		{"example.com:8443", 8443, true}, {"[::1]:80", 80, true}, {"[::1]", 0, true},
		{"10.0.0.1", 0, true}, {":80", 0, false}, {"*:99999", 0, false}, {"*:http", 0, false},
	}
	for _, tc := range tests {
		port, ok := hostPort(tc.addr)
		if port != tc.port || ok != tc.ok {
			t.Errorf("hostPort(%q) = %d, %v; want %d, %v", tc.addr, port, ok, tc.port, tc.ok)
		}
	}
}

// TestHostInherits pins what a virtual host takes from the main server
// (observed with Apache 2.4.71 unless said otherwise).
func TestHostInherits(t *testing.T) {
	tb := mustParseFile(t, "inherit", `
Listen 127.0.0.1:18101
ProxyPreserveHost On
Timeout 30
RewriteEngine On
RewriteRule ^/rwmain/(.*) http://127.0.0.1:18150/rwmain/$1 [P]
<Proxy http://127.0.0.1:18150/>
  ProxyAddHeaders Off
</Proxy>
Redirect /both/ http://main.example/both/
Redirect /mr/ http://main.example/mr/
<VirtualHost *:18101>
  ServerName a.example
  RewriteRule ^/rwvh/(.*) http://127.0.0.1:18151/rwvh/$1 [P]
  ProxyPass /p/ http://127.0.0.1:18150/p/
</VirtualHost>
<VirtualHost *:18101>
  ServerName b.example
  ProxyPreserveHost Off
  Timeout 5
  RewriteOptions Inherit
  RewriteRule ^/rwvh/(.*) http://127.0.0.1:18152/rwvh/$1 [P]
  Redirect /both/ http://vh.example/both/
  ProxyPassInherit Off
</VirtualHost>
ProxyPass /late/ http://127.0.0.1:18150/late/
`)
	tests := []struct{ host, target, want string }{
		// RewriteEngine is inherited, RewriteRules are not.
		{"a.example", "/rwvh/x", "http://127.0.0.1:18151/rwvh/x [preservehost] vhost=a.example"},
		{"a.example", "/rwmain/x", "404"},
		// RewriteOptions Inherit (mod_rewrite's documentation).
		{"b.example", "/rwmain/x", "http://127.0.0.1:18150/rwmain/x [noaddheaders] vhost=b.example"},
		// <Proxy> sections are inherited; a main server line after the
		// section counts.
		{"a.example", "/p/x", "http://127.0.0.1:18150/p/x [preservehost noaddheaders] vhost=a.example"},
		{"a.example", "/late/x", "http://127.0.0.1:18150/late/x [preservehost noaddheaders] vhost=a.example"},
		// ProxyPassInherit Off.
		{"b.example", "/late/x", "404"},
		// Redirects: the virtual host's first, then the main server's.
		{"b.example", "/both/x", "redirect 302 http://vh.example/both/x vhost=b.example"},
		{"b.example", "/mr/x", "redirect 302 http://main.example/mr/x vhost=b.example"},
	}
	for _, tc := range tests {
		sl := serverLine{routeLine{target: tc.target, header: http.Header{}, host: tc.host, minor: 1}, 18101}
		if got := serverOutcome(tb, sl.request()); got != tc.want {
			t.Errorf("%s %s -> %s; want %s", tc.host, tc.target, got, tc.want)
		}
	}
	a, b := tb.Hosts[0].Table, tb.Hosts[1].Table
	if a.Timeout != 30*time.Second || b.Timeout != 5*time.Second {
		t.Errorf("Timeout = %v, %v; want 30s (inherited), 5s", a.Timeout, b.Timeout)
	}
}

// TestServersFlags checks that Servers reaches every virtual host, as the
// command line's --pass rules must.
func TestServersFlags(t *testing.T) {
	tb := mustParseFile(t, "flags", "<VirtualHost *:80>\nServerName a\n</VirtualHost>\n")
	r, err := ParsePass(Pos{File: "--pass", Line: 1}, "/f/ ws://127.0.0.1:9/f/")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tb.Servers() {
		s.Rules = append([]*Rule{r}, s.Rules...)
	}
	m, err := tb.Match(&http.Request{RequestURI: "/f/x", Host: "a", Header: http.Header{}})
	if err != nil || m.URL() != "ws://127.0.0.1:9/f/x" || m.VirtualHost != tb.Hosts[0] {
		t.Errorf("Match(/f/x) = %s in %v, %v; want ws://127.0.0.1:9/f/x in the virtual host", m.URL(), m.VirtualHost, err)
	}
}
