package rules

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/apachetest"
)

// TestBalancerApacheSyntax records, for balancer lines, whether wsgate and
// Apache httpd 2.4 (apache2 -t) accept them, and checks the wsgate half
// always and the Apache half when WSGATE_APACHE names an httpd binary:
//
//	WSGATE_APACHE=/usr/sbin/apache2 go test -run TestBalancerApacheSyntax ./rules/
//
// Where the two disagree, why says which way and why.
func TestBalancerApacheSyntax(t *testing.T) {
	const member = "<Proxy balancer://b>\n    BalancerMember ws://127.0.0.1:9001 %s\n</Proxy>\nProxyPass /b/ balancer://b/\n"
	const set = "<Proxy balancer://b>\n    BalancerMember ws://127.0.0.1:9001\n    ProxySet %s\n</Proxy>\nProxyPass /b/ balancer://b/\n"
	tests := []struct {
		name           string
		conf           string
		wsgate, apache bool
		why            string
	}{
		{"example", "<Proxy \"balancer://chat\">\n BalancerMember \"ws://127.0.0.1:9001\" loadfactor=2\n BalancerMember \"ws://127.0.0.1:9002\" route=b2 retry=5\n BalancerMember \"ws://127.0.0.1:9003\" status=+H hcmethod=TCP hcinterval=5 hcfails=2 hcpasses=1\n ProxySet lbmethod=bybusyness stickysession=ROUTEID|routeid\n</Proxy>\nProxyPass \"/chat/\" \"balancer://chat/\"\n", true, true, ""},
		{"outside forms", "BalancerMember balancer://b ws://127.0.0.1:9001\nProxySet balancer://b lbmethod=bytraffic nofailover=On\nProxyPass /b/ balancer://b/ stickysession=S\n", true, true, ""},
		{"name case", "<Proxy balancer://B/>\n BalancerMember ws://127.0.0.1:9001\n</Proxy>\nProxyPass /b/ balancer://b/\n", true, true, ""},
		{"ProxyPassMatch", "<Proxy balancer://b>\n BalancerMember ws://127.0.0.1:9001\n</Proxy>\nProxyPassMatch ^/b/(.*) balancer://b/$1 nocanon\n", true, true, ""},
		{"loadfactor=0", fmt.Sprintf(member, "loadfactor=0"), false, false, ""},
		{"loadfactor=101", fmt.Sprintf(member, "loadfactor=101"), false, false, ""},
		{"loadfactor=2.5", fmt.Sprintf(member, "loadfactor=2.5"), false, true, "Apache takes decimal load factors; the data model holds whole numbers"},
		{"status=+H-D", fmt.Sprintf(member, "status=+H-D"), true, true, ""},
		{"status=S", fmt.Sprintf(member, "status=S"), true, true, ""},
		{"status=+E", fmt.Sprintf(member, "status=+E"), true, true, ""},
		{"status=+I", fmt.Sprintf(member, "status=+I"), false, true, "ignore-errors is not implemented"},
		{"status=+N", fmt.Sprintf(member, "status=+N"), false, true, "drain is not implemented"},
		{"status=+R", fmt.Sprintf(member, "status=+R"), false, true, "hot spare is not implemented"},
		{"status=+C", fmt.Sprintf(member, "status=+C"), false, true, "health-check-failed at start is not implemented"},
		{"status=+X", fmt.Sprintf(member, "status=+X"), false, false, ""},
		{"retry=0", fmt.Sprintf(member, "retry=0"), true, true, ""},
		{"retry=-1", fmt.Sprintf(member, "retry=-1"), false, false, ""},
		{"member params", fmt.Sprintf(member, "upgrade=foo timeout=3 connectiontimeout=5ms ttl=5 keepalive=On"), true, true, ""},
		{"hcmethod=GET", fmt.Sprintf(member, "hcmethod=GET hcuri=/ping hcinterval=500ms"), true, true, ""},
		{"hcmethod=GET11", fmt.Sprintf(member, "hcmethod=GET11"), true, true, ""},
		{"hcmethod=NONE", fmt.Sprintf(member, "hcmethod=NONE"), true, true, ""},
		{"hcmethod=OPTIONS", fmt.Sprintf(member, "hcmethod=OPTIONS"), false, true, "OPTIONS checks are not implemented"},
		{"hcmethod=CPING", fmt.Sprintf(member, "hcmethod=CPING"), false, false, ""},
		{"hcinterval=50ms", fmt.Sprintf(member, "hcmethod=TCP hcinterval=50ms"), false, false, ""},
		{"hcpasses=-1", fmt.Sprintf(member, "hcmethod=TCP hcpasses=-1"), false, false, ""},
		{"hcfails=0", fmt.Sprintf(member, "hcmethod=TCP hcfails=0"), true, true, ""},
		{"member query", "<Proxy balancer://b>\n BalancerMember ws://127.0.0.1:9001/?x=1\n</Proxy>\nProxyPass /b/ balancer://b/\n", false, false, ""},
		{"member with name inside", "<Proxy balancer://b>\n BalancerMember balancer://b ws://127.0.0.1:9001\n</Proxy>\n", false, false, ""},
		{"member without name outside", "BalancerMember ws://127.0.0.1:9001\n", false, false, ""},
		{"member nocanon", fmt.Sprintf(member, "nocanon"), false, false, ""},
		{"lbmethod=heartbeat", fmt.Sprintf(set, "lbmethod=heartbeat"), false, false, "mod_lbmethod_heartbeat is not loaded here; wsgate refuses it whatever the modules"},
		{"lbmethod=bybusyness", fmt.Sprintf(set, "lbmethod=bybusyness"), true, true, ""},
		{"balancer no-ops", fmt.Sprintf(set, "timeout=5 growth=2 nonce=None scolonpathdelim=Off failontimeout=Off forcerecovery=On stickysessionsep=."), true, true, ""},
		{"maxattempts", fmt.Sprintf(set, "maxattempts=1"), false, true, "not implemented: wsgate tries every usable member"},
		{"failonstatus", fmt.Sprintf(set, "failonstatus=503"), false, true, "not implemented"},
		{"upgrade on ProxySet", fmt.Sprintf(set, "upgrade=websocket"), false, false, ""},
		{"upgrade on ProxyPass", "<Proxy balancer://b>\n BalancerMember ws://127.0.0.1:9001\n</Proxy>\nProxyPass /b/ balancer://b/ upgrade=websocket\n", false, false, ""},
		{"ProxySet before", "ProxySet balancer://b lbmethod=bybusyness\n<Proxy balancer://b>\n BalancerMember ws://127.0.0.1:9001\n</Proxy>\n", false, false, ""},
		{"unknown balancer", "ProxyPass /b/ balancer://nope/\n", false, true, "Apache answers 503 at run time"},
		{"empty balancer", "<Proxy balancer://b>\n</Proxy>\nProxyPass /b/ balancer://b/\n", false, true, "Apache answers 503 at run time"},
		{"member in a URL section", "<Proxy ws://127.0.0.1:9001/>\n BalancerMember ws://127.0.0.1:9001\n</Proxy>\n", false, true, "Apache accepts it; what it means there is unclear"},
	}
	h, withApache := apachetest.Lookup()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile("b.conf", []byte(tc.conf), Options{})
			if got := err == nil; got != tc.wsgate {
				t.Errorf("wsgate accepts = %v (%v); want %v", got, err, tc.wsgate)
			}
			if !withApache {
				return
			}
			out, ok := h.Check(t, apachetest.Config{Modules: balancerModules, Listen: []string{"127.0.0.1:1"}, Directives: tc.conf})
			if ok != tc.apache {
				t.Errorf("apache2 -t accepts = %v; want %v\n%s", ok, tc.apache, out)
			}
		})
	}
}

// balancerModules are what TestBalancerApacheSyntax has apache2 -t load.
var balancerModules = []string{"mpm_event", "authz_core", "proxy", "proxy_http", "proxy_wstunnel", "rewrite", "proxy_balancer",
	"lbmethod_byrequests", "lbmethod_bybusyness", "lbmethod_bytraffic", "slotmem_shm", "proxy_hcheck"}

// TestFromFlagsBalancer checks the --pass short form and that a lone URL
// still parses exactly as before.
func TestFromFlagsBalancer(t *testing.T) {
	tb, err := FromFlags([]string{"/chat/ ws://127.0.0.1:9001/ ws://127.0.0.1:9002/ lbmethod=bybusyness timeout=5", "/one/ ws://127.0.0.1:9003/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Balancers) != 1 || tb.Balancers[0].Name != "pass1" || tb.Balancers[0].Method != "bybusyness" || len(tb.Balancers[0].Members) != 2 {
		t.Fatalf("Balancers = %+v; want pass1 with two members", tb.Balancers)
	}
	for _, m := range tb.Balancers[0].Members {
		if m.Timeout != 5*time.Second || m.LoadFactor != 1 || m.Pos.File != "--pass" || m.Pos.Line != 1 {
			t.Errorf("member %+v; want timeout=5s, loadfactor 1, at --pass 1", m)
		}
	}
	one, err := ParsePass(Pos{File: "--pass", Line: 2}, "/one/ ws://127.0.0.1:9003/")
	if err != nil {
		t.Fatal(err)
	}
	if !sameRule(tb.Rules[1], one) || tb.Rules[1].Pos != one.Pos {
		t.Errorf("lone URL = %+v; want %+v", tb.Rules[1], one)
	}
	m, err := tb.Match(&http.Request{RequestURI: "/chat/a?b"})
	if err != nil || m.Balancer != tb.Balancers[0] || m.URL() != "balancer://pass1/a?b" {
		t.Errorf("Match(/chat/a?b) = %+v, %v; want balancer://pass1/a?b with Balancer pass1", m, err)
	}
	if _, err := ParsePass(Pos{File: "--pass", Line: 1}, "/chat/ ws://a:1/ ws://b:1/"); err == nil ||
		!strings.Contains(err.Error(), "several backends make a balancer") {
		t.Errorf("ParsePass with two URLs = %v; want an error pointing at balancers", err)
	}
}

// TestMatchMember checks Match.Member: the member's URL, path and
// parameters replace the balancer's.
func TestMatchMember(t *testing.T) {
	conf := "Timeout 20\n<Proxy balancer://b>\n BalancerMember ws://127.0.0.1:9001/sub/ timeout=90 connectiontimeout=2 upgrade=foo\n BalancerMember http://127.0.0.1:9002\n</Proxy>\n" +
		"ProxyWebsocketFallbackToProxyHttp Off\nProxyPass /b/ balancer://b/x/\n"
	tb, err := ParseFile("b.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tb.Match(&http.Request{RequestURI: "/b/a%20b?q", Header: http.Header{"Upgrade": {"foo"}}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Legacy {
		t.Errorf("Legacy = true for a balancer with an http:// member")
	}
	tests := []struct {
		mem        *Member
		url        string
		idle, resp time.Duration
		legacy     bool
		upgrade    bool
	}{
		{tb.Balancers[0].Members[0], "ws://127.0.0.1:9001/sub//x/a%20b?q", 90 * time.Second, 90 * time.Second, true, true},
		{tb.Balancers[0].Members[1], "http://127.0.0.1:9002/x/a%20b?q", 20 * time.Second, 20 * time.Second, false, false},
	}
	for _, tc := range tests {
		mm := m.Member(tc.mem)
		_, up := mm.Rule.UpgradeTo("foo")
		if mm.URL() != tc.url || mm.IdleTimeout != tc.idle || mm.ResponseTimeout != tc.resp || mm.Legacy != tc.legacy || up != tc.upgrade {
			t.Errorf("Member(%s) = %s idle=%v response=%v legacy=%v upgrade=%v; want %s %v %v %v %v", targetString(tc.mem.URL),
				mm.URL(), mm.IdleTimeout, mm.ResponseTimeout, mm.Legacy, up, tc.url, tc.idle, tc.resp, tc.legacy, tc.upgrade)
		}
		if _, ok := tc.mem.UpgradeTo("foo"); ok != tc.upgrade {
			t.Errorf("Member.UpgradeTo(foo) = %v; want %v", ok, tc.upgrade)
		}
	}
	// A hand-built table whose balancer is missing: a 500, not a panic.
	hand := &Table{Rules: tb.Rules}
	if _, err := hand.Match(&http.Request{RequestURI: "/b/a"}); result(Match{}, err) != "500" {
		t.Errorf("Match without the balancer = %v; want a 500", err)
	}
}

// TestBalancerApacheRoutes replays testdata/route/balancer.txt against a
// real Apache httpd 2.4 (WSGATE_APACHE, as TestMatchApache): each
// balancer keeps only its first member, pointed at a backend that echoes
// the request target, and what reaches it must be Match.Member's
// RequestURI for that member.
func TestBalancerApacheRoutes(t *testing.T) {
	h := apachetest.Need(t)
	backend := startEchoBackend(t)
	path := filepath.Join("testdata", "route", "balancer.txt")
	g := readConfigGolden(t, path)
	tb := mustParseFile(t, path, g.config)
	c := &Table{Rules: tb.Rules}
	for _, b := range tb.Balancers {
		b2 := *b
		m := *b.Members[0]
		u := *m.URL
		u.Scheme, u.Host = "ws", backend
		m.URL = &u
		b2.Members = []*Member{&m}
		c.Balancers = append(c.Balancers, &b2)
	}
	addr := startApache(t, h, c.config())
	for _, l := range g.lines {
		rl, ok := parseRouteLine(t, l)
		if !ok {
			continue
		}
		want := routeOutcome(c, rl.request())
		if m, err := c.Match(rl.request()); err == nil {
			want = m.Member(m.Balancer.Members[0]).RequestURI
		}
		if got := apacheGet(t, addr, rl.target, rl.header); got != want {
			t.Errorf("Apache maps %s to %s; wsgate gives %s", rl.target, got, want)
		} else if testing.Verbose() {
			t.Logf("%s -> %s", rl.target, got)
		}
	}
}

// TestValidate checks a table combined from flags and a file, as the
// command line combines them.
func TestValidate(t *testing.T) {
	file, err := ParseFile("f.conf", []byte("<Proxy balancer://pass1>\n BalancerMember ws://127.0.0.1:9001\n</Proxy>\nProxyPass /f/ balancer://pass1/\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	flags, err := FromFlags([]string{"/a/ ws://127.0.0.1:9002 ws://127.0.0.1:9003", "/b/ balancer://pass1/", "/c/ balancer://nope/"})
	if err != nil {
		t.Fatal(err)
	}
	combined := &Table{Rules: append(flags.Rules, file.Rules...), Balancers: append(flags.Balancers, file.Balancers...)}
	want := "f.conf:1:1: balancer://pass1 is defined twice (also at --pass 1)\n" +
		`--pass 3:5: ProxyPass: unknown balancer "balancer://nope": no <Proxy "balancer://nope"> section, BalancerMember balancer://nope line or --pass with several URLs defines it`
	if err := combined.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v; want\n%s", err, want)
	}
	if err := file.Validate(); err != nil {
		t.Errorf("Validate() of a parsed file = %v", err)
	}
}

// TestFromFlagsRoundTrip checks that a table with implicit balancers
// prints as a rules file that means the same.
func TestFromFlagsRoundTrip(t *testing.T) {
	g := readGolden(t, filepath.Join("testdata", "table", "balancer.txt"))
	tb := mustTable(t, g)
	conf := tb.config()
	tb2, err := ParseFile("dump.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatalf("the dump does not parse: %v\n%s", err, conf)
	}
	if got := tb2.config(); got != conf {
		t.Errorf("dump after round trip =\n%s\nwant\n%s", got, conf)
	}
}
