package rules

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/apachetest"
)

// TestMatchApache replays every testdata/match golden against a real
// Apache httpd 2.4, so that the golden files record what Apache does and
// not what we believe it does. It needs an httpd binary and its modules:
//
//	apt-get install apache2
//	WSGATE_APACHE=/usr/sbin/apache2 go test -run TestMatchApache ./rules/
//
// WSGATE_APACHE_MODULES overrides the module directory
// (/usr/lib/apache2/modules). Each rule's target is pointed at a local
// backend that answers with the request target it received; ws/wss
// targets become ws, https becomes http (mod_proxy_http maps them all the
// same way). Targets with spaces or control bytes cannot be sent on a
// request line and are skipped; Go's server rejects them before Match.
func TestMatchApache(t *testing.T) {
	h := apachetest.Need(t)
	backend := startEchoBackend(t)
	compare := func(t *testing.T, tb *Table, addr, target string) {
		t.Helper()
		want := "?"
		switch m, err := tb.match(target, nil); err := err.(type) {
		case nil:
			want = m.RequestURI
		case *RequestError:
			want = strconv.Itoa(err.Status)
		}
		if got := apacheGet(t, addr, target, nil); got != want {
			t.Errorf("Apache maps %q to %s; Match gives %s", target, got, want)
		}
	}
	for _, path := range goldenFiles(t, "match") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readGolden(t, path)
			tb := mustTable(t, g)
			addr := startApache(t, h, apacheConfig(t, tb, backend))
			for _, l := range g.lines {
				if ml, ok := parseMatchLine(t, l); ok && isVisible(ml.target) {
					compare(t, tb, addr, ml.target)
				}
			}
		})
	}
	// The rules-file goldens, requests with their headers, except those
	// marked "# apache: skip" (their hosts are substituted, or they
	// record settings rather than routing).
	for _, path := range goldenFiles(t, "route") {
		t.Run("route/"+filepath.Base(path), func(t *testing.T) {
			g := readConfigGolden(t, path)
			if strings.Contains(g.config, "# apache: skip") {
				t.Skip("marked # apache: skip")
			}
			tb := mustParseFile(t, path, g.config)
			addr := startApache(t, h, apacheConfig(t, tb, backend))
			for _, l := range g.lines {
				rl, ok := parseRouteLine(t, l)
				if !ok {
					continue
				}
				r := rl.request()
				want := routeOutcome(tb, r)
				if m, err := tb.Match(r); err == nil && want != "426" {
					want = m.RequestURI
				} else if i := strings.IndexByte(want, ' '); i >= 0 {
					want = want[:i]
				}
				if got := apacheGet(t, addr, rl.target, r.Header); got != want {
					t.Errorf("Apache maps %s to %s; wsgate gives %s", l[:strings.LastIndex(l, " -> ")], got, want)
				}
			}
		})
	}
	// Random targets built from the pieces that matter to normalisation,
	// decoding and matching, against rules that exercise each feature.
	t.Run("random", func(t *testing.T) {
		tb, err := FromFlags([]string{
			"/x/private !", "/x/ ws://h/x/", "/ws/ ws://h/echo/",
			"/nc/ ws://h/nc/ nocanon", "/nc2 ws://h/nc2 nocanon",
			"/ts2 ws://h/ts2b", "/ts4 ws://h/ts4b/", "//m//s ws://h/ms",
			"/p%41/ ws://h/pa/", "/q?/ ws://h/q/", "/é/ ws://h/e/",
		})
		if err != nil {
			t.Fatal(err)
		}
		addr := startApache(t, h, apacheConfig(t, tb, backend))
		pieces := []string{"/", "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F",
			"%41", "%", "%4", "%zz", "a", "ws", "nc", "nc2", "x", "private",
			"privateer", "ts2", "ts4", "m", "s", "p%41", "pA", "q", "?", "%3f",
			"%00", "%25", "é", "%C3%A9", "~", "%7e", "%20", "+", "%2B", "'", "\"",
			"<", "%5B", "\\", "\xff", "#"}
		r := rand.New(rand.NewPCG(1, 2))
		for range 3000 {
			target := ""
			if r.IntN(4) == 0 {
				target = "http://localhost"
			}
			target += "/"
			for range 1 + r.IntN(10) {
				target += pieces[r.IntN(len(pieces))]
			}
			compare(t, tb, addr, target)
		}
	})
}

// startEchoBackend answers every request with its request target as the
// body, and an X-Echo header so that Apache's own answers are told apart.
func startEchoBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				line, _ := br.ReadString('\n')
				for {
					if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				f := strings.Split(strings.TrimRight(line, "\r\n"), " ")
				if len(f) != 3 {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Echo: 1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(f[1]), f[1])
			}()
		}
	}()
	return ln.Addr().String()
}

// apacheConfig is tb as a rules file for Apache, every target retargeted
// at backend: ws and wss become ws, http and https http (mod_proxy_http
// maps them all the same way); a target whose host is substituted keeps
// it. Listen, TLS and <Proxy> sections are left out: they do not change
// routing.
func apacheConfig(t *testing.T, tb *Table, backend string) string {
	t.Helper()
	c := &Table{Legacy: tb.Legacy}
	for _, r := range tb.Rules {
		r2 := *r
		if !r.Exclude && !strings.ContainsAny(r.Target.Host, "$%") {
			scheme := map[string]string{"ws": "ws", "wss": "ws", "http": "http", "https": "http"}[r.Target.Scheme]
			u := *r.Target
			u.Scheme, u.Host = scheme, backend
			r2.Target = &u
		}
		c.Rules = append(c.Rules, &r2)
	}
	return c.config()
}

// apacheModules are the modules the rules goldens need.
var apacheModules = []string{"mpm_event", "authz_core", "proxy", "proxy_http", "proxy_wstunnel", "rewrite",
	"proxy_balancer", "lbmethod_byrequests", "lbmethod_bybusyness", "lbmethod_bytraffic", "slotmem_shm"}

// startApache runs httpd with the directives rules on a free port and
// returns its address.
func startApache(t *testing.T, h apachetest.Httpd, rules string) string {
	t.Helper()
	return h.StartOnFreePorts(t, 1, func(listen []string) apachetest.Config {
		return apachetest.Config{Modules: apacheModules, Listen: listen, Directives: "KeepAlive Off\n" + rules}
	})[0]
}

// apacheGet sends target on a raw request line, with header, and returns
// what reached the backend, or Apache's status code.
func apacheGet(t *testing.T, addr, target string, header http.Header) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var extra strings.Builder
	hasConnection := false
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&extra, "%s: %s\r\n", k, v)
		}
		hasConnection = hasConnection || k == "Connection"
	}
	if !hasConnection {
		extra.WriteString("Connection: close\r\n")
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", target, extra.String())
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
	status := strings.SplitN(head, " ", 3)
	if len(status) < 2 {
		t.Fatalf("GET %s: bad response %q", target, resp)
	}
	if status[1] == "200" && strings.Contains(head, "\r\nX-Echo: 1") {
		return body
	}
	return status[1]
}
