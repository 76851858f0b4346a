package tunnel

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/rules"
)

// namedBackend is a WebSocket backend that sends its name first, then
// echoes. It can be stopped and started again on the same address.
type namedBackend struct {
	name string
	addr string
	srv  *httptest.Server
	mu   sync.Mutex
}

func startNamed(t *testing.T, name string) *namedBackend {
	t.Helper()
	nb := &namedBackend{name: name}
	nb.start(t, "127.0.0.1:0")
	t.Cleanup(nb.stop)
	return nb
}

func (nb *namedBackend) start(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if c.Write(r.Context(), websocket.MessageText, []byte(nb.name)) != nil {
			return
		}
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, p) != nil {
				return
			}
		}
	}))
	srv.Listener = ln
	srv.Start()
	nb.mu.Lock()
	nb.srv, nb.addr = srv, ln.Addr().String()
	nb.mu.Unlock()
}

// stop closes the listener and every connection: the member is dead.
func (nb *namedBackend) stop() {
	nb.mu.Lock()
	srv := nb.srv
	nb.srv = nil
	nb.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func memberOf(t *testing.T, nb *namedBackend, set func(*rules.Member)) *rules.Member {
	m := &rules.Member{URL: mustURL(t, "ws://"+nb.addr), LoadFactor: 1}
	if set != nil {
		set(m)
	}
	return m
}

// balancerProxy serves ProxyPass /chat/ balancer://chat/ over members.
func balancerProxy(t *testing.T, b *rules.Balancer) (string, *Server) {
	t.Helper()
	b.Name = "chat"
	table := flagTable(t, "/chat/ balancer://chat/")
	table.Balancers = []*rules.Balancer{b}
	// The flag table resolved no balancer; the rule's target names it.
	return serveTable(t, table)
}

// openTunnel dials through the proxy and returns the backend's name and the
// connection, left open.
func openTunnel(t *testing.T, ctx context.Context, proxy string, opts *websocket.DialOptions) (string, *websocket.Conn) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/chat/room", opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	_, name, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read the backend's name: %v", err)
	}
	return string(name), c
}

// count opens n tunnels one after the other, closing each, and counts
// which backend each reached.
func count(t *testing.T, proxy string, n int) map[string]int {
	t.Helper()
	ctx := testContext(t)
	got := map[string]int{}
	for range n {
		name, c := openTunnel(t, ctx, proxy, nil)
		got[name]++
		c.Close(websocket.StatusNormalClosure, "")
	}
	return got
}

func TestByRequests(t *testing.T) {
	t.Parallel()
	a, b, c := startNamed(t, "a"), startNamed(t, "b"), startNamed(t, "c")
	proxy, _ := balancerProxy(t, &rules.Balancer{Members: []*rules.Member{
		memberOf(t, a, func(m *rules.Member) { m.LoadFactor = 2 }), memberOf(t, b, nil), memberOf(t, c, nil)}})
	// Weighted round robin is exact. Apache 2.4.71 with the same members
	// (loadfactor 2, 1, 1) sent 8 requests to a b c a a b c a.
	ctx := testContext(t)
	var order string
	for range 8 {
		name, c := openTunnel(t, ctx, proxy, nil)
		order += name
		c.Close(websocket.StatusNormalClosure, "")
	}
	if order != "abcaabca" {
		t.Errorf("8 tunnels went %s; want abcaabca, as Apache's byrequests", order)
	}
}

func TestByBusyness(t *testing.T) {
	t.Parallel()
	a, b := startNamed(t, "a"), startNamed(t, "b")
	proxy, srv := balancerProxy(t, &rules.Balancer{Method: "bybusyness", Members: []*rules.Member{memberOf(t, a, nil), memberOf(t, b, nil)}})
	ctx := testContext(t)
	held := map[string][]*websocket.Conn{}
	for range 4 {
		name, c := openTunnel(t, ctx, proxy, nil)
		held[name] = append(held[name], c)
	}
	if len(held["a"]) != 2 || len(held["b"]) != 2 {
		t.Fatalf("4 long tunnels went a=%d b=%d; want 2 and 2", len(held["a"]), len(held["b"]))
	}
	for _, c := range held["a"] {
		c.Close(websocket.StatusNormalClosure, "")
	}
	waitOpen(t, srv, 2)
	// a is idle, b holds two: the next two go to a.
	for range 2 {
		if name, _ := openTunnel(t, ctx, proxy, nil); name != "a" {
			t.Errorf("new tunnel went to %s; want a, the less busy", name)
		}
	}
}

func TestByTraffic(t *testing.T) {
	t.Parallel()
	a, b := startNamed(t, "a"), startNamed(t, "b")
	proxy, srv := balancerProxy(t, &rules.Balancer{Method: "bytraffic", Members: []*rules.Member{memberOf(t, a, nil), memberOf(t, b, nil)}})
	ctx := testContext(t)
	name, c := openTunnel(t, ctx, proxy, nil)
	if name != "a" {
		t.Fatalf("first tunnel went to %s; want a (no traffic yet, first member)", name)
	}
	big := make([]byte, 100<<10)
	c.Write(ctx, websocket.MessageBinary, big)
	c.Read(ctx)
	c.Close(websocket.StatusNormalClosure, "")
	waitOpen(t, srv, 0)
	for range 3 {
		name, c := openTunnel(t, ctx, proxy, nil)
		if name != "b" {
			t.Errorf("tunnel went to %s; want b, which relayed far less", name)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func memberState(srv *Server, i int) string { return srv.Snapshot().Balancers[0].Members[i].State }

func TestFailoverAndRetry(t *testing.T) {
	a, b, c := startNamed(t, "a"), startNamed(t, "b"), startNamed(t, "c")
	proxy, srv := balancerProxy(t, &rules.Balancer{Members: []*rules.Member{
		memberOf(t, a, func(m *rules.Member) { m.Retry = 500 * time.Millisecond }), memberOf(t, b, nil), memberOf(t, c, nil)}})
	addr := a.addr
	a.stop()
	// The client sees nothing of the dead member: every tunnel opens.
	got := count(t, proxy, 6)
	if got["a"] != 0 || got["b"]+got["c"] != 6 {
		t.Errorf("with a dead, 6 tunnels went %v; want all on b and c", got)
	}
	if st := memberState(srv, 0); st != "error" {
		t.Errorf("dead member state = %q; want error", st)
	}
	a.start(t, addr)
	eventually.True(t, 5*time.Second, func() bool { return memberState(srv, 0) != "error" },
		eventually.Says("member still in error after its retry time"))
	if got := count(t, proxy, 6); got["a"] == 0 {
		t.Errorf("after the retry time, 6 tunnels went %v; want a used again", got)
	}
}

func TestAllMembersDown(t *testing.T) {
	a, b := startNamed(t, "a"), startNamed(t, "b")
	proxy, _ := balancerProxy(t, &rules.Balancer{Members: []*rules.Member{memberOf(t, a, nil), memberOf(t, b, nil)}})
	a.stop()
	b.stop()
	_, resp, err := websocket.Dial(testContext(t), "ws://"+proxy+"/chat/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Dial with every member down = %v, %v; want 503", resp, err)
	}
}

func TestHotStandby(t *testing.T) {
	a, h := startNamed(t, "a"), startNamed(t, "h")
	proxy, _ := balancerProxy(t, &rules.Balancer{Members: []*rules.Member{
		memberOf(t, a, nil), memberOf(t, h, func(m *rules.Member) { m.HotStandby = true })}})
	if got := count(t, proxy, 3); got["a"] != 3 {
		t.Errorf("with a up, tunnels went %v; want all on a, h is standby", got)
	}
	a.stop()
	if got := count(t, proxy, 3); got["h"] != 3 {
		t.Errorf("with a down, tunnels went %v; want all on the standby", got)
	}
}

func TestStickySession(t *testing.T) {
	t.Parallel()
	a, b := startNamed(t, "a"), startNamed(t, "b")
	proxy, _ := balancerProxy(t, &rules.Balancer{StickySession: "ROUTEID|routeid", Members: []*rules.Member{
		memberOf(t, a, func(m *rules.Member) { m.Route = "ra" }), memberOf(t, b, func(m *rules.Member) { m.Route = "rb" })}})
	ctx := testContext(t)
	hdr := http.Header{"Cookie": {"ROUTEID=session42.rb"}}
	for range 4 {
		name, c := openTunnel(t, ctx, proxy, &websocket.DialOptions{HTTPHeader: hdr})
		if name != "b" {
			t.Errorf("tunnel with cookie route rb went to %s; want b", name)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/chat/room?routeid=x.ra", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, name, _ := c.Read(ctx); string(name) != "a" {
		t.Errorf("tunnel with URL route ra went to %s; want a", name)
	}
}

func TestHealthCheck(t *testing.T) {
	a, b := startNamed(t, "a"), startNamed(t, "b")
	check := rules.HealthCheck{Method: "TCP", Interval: 30 * time.Millisecond, Fails: 2, Passes: 2}
	proxy, srv := balancerProxy(t, &rules.Balancer{Members: []*rules.Member{
		memberOf(t, a, func(m *rules.Member) { m.Check = check }), memberOf(t, b, nil)}})
	waitState := func(want string) {
		t.Helper()
		eventually.True(t, 5*time.Second, func() bool { return memberState(srv, 0) == want },
			func() string { return fmt.Sprintf("member a state = %q; want %q", memberState(srv, 0), want) })
	}
	addr := a.addr
	a.stop()
	waitState("failing checks")
	if got := count(t, proxy, 3); got["b"] != 3 {
		t.Errorf("with a failing its checks, tunnels went %v; want all on b", got)
	}
	a.start(t, addr)
	waitState("ok")
	if got := count(t, proxy, 4); got["a"] != 2 {
		t.Errorf("with a back, tunnels went %v; want a in the rotation again", got)
	}
	if !strings.Contains(srv.Snapshot().Balancers[0].Name, "balancer://chat") {
		t.Errorf("Snapshot.Balancers = %+v", srv.Snapshot().Balancers)
	}
}

func TestPlainRequestFailover(t *testing.T) {
	dead := startNamed(t, "dead")
	live, _ := recordingBackend(t)
	deadAddr := dead.addr
	dead.stop()
	proxy, srv := balancerProxy(t, &rules.Balancer{Members: []*rules.Member{
		{URL: mustURL(t, "http://"+deadAddr), LoadFactor: 1}, {URL: mustURL(t, "http://"+live), LoadFactor: 1}}})
	// Apache 2.4.71 answers this first request from the live member too.
	for range 3 {
		resp, err := http.Get("http://" + proxy + "/chat/page")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET with the first member dead = %d; want 200 from the other", resp.StatusCode)
		}
	}
	if st := memberState(srv, 0); st != "error" {
		t.Errorf("dead member state = %q; want error", st)
	}
}

// TestStickyPickCounts: a sticky pick moves the byrequests counters as if
// the method had chosen that member. Each order of requests below (no
// cookie, or a cookie naming a route, app09 naming none) went to these
// members on Apache 2.4.71 with three members app01..app03 and
// stickysession=SERVERID.
func TestStickyPickCounts(t *testing.T) {
	t.Parallel()
	cases := []struct{ cookies, want string }{
		{"- - app03 app09", "app01 app02 app03 app01"},
		{"- - app09", "app01 app02 app03"},
		{"app03 -", "app03 app01"},
		{"- app03 -", "app01 app03 app02"},
		{"- app03 - -", "app01 app03 app02 app01"},
		{"app09 app09 app09", "app01 app02 app03"},
		{"- app02 app02 - -", "app01 app02 app02 app03 app01"},
		{"app01 app01 -", "app01 app01 app02"},
	}
	names := []*namedBackend{startNamed(t, "app01"), startNamed(t, "app02"), startNamed(t, "app03")}
	for _, tc := range cases {
		t.Run(tc.cookies, func(t *testing.T) {
			var members []*rules.Member
			for _, nb := range names {
				members = append(members, memberOf(t, nb, func(m *rules.Member) { m.Route = nb.name }))
			}
			proxy, _ := balancerProxy(t, &rules.Balancer{StickySession: "SERVERID", Members: members})
			ctx := testContext(t)
			var got []string
			for _, c := range strings.Fields(tc.cookies) {
				var opts *websocket.DialOptions
				if c != "-" {
					opts = &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"SERVERID=sticky." + c}}}
				}
				name, conn := openTunnel(t, ctx, proxy, opts)
				got = append(got, name)
				conn.Close(websocket.StatusNormalClosure, "")
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("members = %s; want %s (Apache 2.4.71)", g, tc.want)
			}
		})
	}
}
