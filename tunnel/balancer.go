package tunnel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// defaultRetry is how long Apache leaves a member whose connection failed
// out of the rotation (retry=60).
const defaultRetry = 60 * time.Second

// errNoMember is a balancer with no usable member: 503, as Apache.
var errNoMember = errors.New("no usable balancer member")

// pool is the runtime state of one balancer: which member is up, how busy
// each is, and the byrequests counters. Choosing takes the pool's lock,
// once per new tunnel, never per read.
type pool struct {
	b       *rules.Balancer
	log     *slog.Logger
	mu      sync.Mutex
	members []*member
}

// member is one BalancerMember's state.
type member struct {
	m    *rules.Member
	name string // its URL, for logs and snapshots

	open    atomic.Int64  // tunnels and requests in flight (bybusyness)
	total   atomic.Uint64 // tunnels and requests sent to it
	traffic atomic.Int64  // bytes relayed both ways (bytraffic)

	// Under pool.mu.
	lbstatus   int       // byrequests' running credit
	errorUntil time.Time // left out until then after a failed connect
	checkFails bool      // taken out by its health check
	state      string    // last state logged
}

func newPool(b *rules.Balancer, log *slog.Logger, now time.Time) *pool {
	p := &pool{b: b, log: log}
	for _, m := range b.Members {
		mem := &member{m: m, name: m.URL.String()}
		if m.InError {
			mem.errorUntil = now.Add(retryOf(m))
		}
		mem.state = mem.stateAt(now)
		p.members = append(p.members, mem)
	}
	return p
}

func retryOf(m *rules.Member) time.Duration { return cmp.Or(m.Retry, defaultRetry) }

// stateAt names the member's state for logs, the live view and status.
func (mem *member) stateAt(now time.Time) string {
	switch {
	case mem.m.Disabled:
		return "disabled"
	case now.Before(mem.errorUntil):
		return "error"
	case mem.checkFails:
		return "failing checks"
	case mem.m.HotStandby:
		return "standby"
	}
	return "ok"
}

// usable reports whether the member may take a new tunnel now; standby
// members are usable only in the second round.
func (mem *member) usable(now time.Time, standby bool) bool {
	return !mem.m.Disabled && !now.Before(mem.errorUntil) && !mem.checkFails && mem.m.HotStandby == standby
}

// pick chooses a member for a new tunnel, leaving out those already tried
// for this request: the sticky route's member if the request names one
// that is usable, else by the balancer's method among the ordinary
// members, else among the hot standbys.
func (p *pool) pick(r *http.Request, tried []*member, now time.Time) (*member, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noteStates(now)
	if _, route := stickySession(r, p.b.StickySession); route != "" {
		for _, mem := range p.members {
			if mem.m.Route != route || slices.Contains(tried, mem) {
				continue
			}
			if mem.usable(now, false) || mem.usable(now, true) {
				p.stuck(mem, now, tried)
				return mem, nil
			}
			if p.b.NoFailover {
				return nil, fmt.Errorf("%w: sticky route %q is down and nofailover is on", errNoMember, route)
			}
		}
	}
	for _, standby := range []bool{false, true} {
		var cands []*member
		for _, mem := range p.members {
			if mem.usable(now, standby) && !slices.Contains(tried, mem) {
				cands = append(cands, mem)
			}
		}
		if len(cands) > 0 {
			return p.choose(cands), nil
		}
	}
	return nil, fmt.Errorf("%w in balancer://%s", errNoMember, p.b.Name)
}

// stuck counts a sticky pick in the byrequests credit as if the method had
// chosen mem: every usable member earns its factor and mem pays the total.
// Observed on Apache 2.4.71 with three members: after no cookie, no cookie
// and a cookie for the third, a cookie naming no member goes to the first
// (with the sticky pick left out of the count it would go to the third),
// and seven other orders agree (TestStickyPickCounts).
func (p *pool) stuck(mem *member, now time.Time, tried []*member) {
	if p.b.Method != "" && p.b.Method != "byrequests" {
		return
	}
	total := 0
	for _, m := range p.members {
		if m.usable(now, false) && !slices.Contains(tried, m) {
			m.lbstatus += factor(m)
			total += factor(m)
		}
	}
	mem.lbstatus -= total
}

// choose applies the lbmethod, as mod_lbmethod_* do.
func (p *pool) choose(cands []*member) *member {
	switch p.b.Method {
	case "bybusyness":
		// Fewest in flight; ties go to the byrequests credit, so that
		// equally idle members still take turns.
		var best *member
		total := 0
		for _, mem := range cands {
			mem.lbstatus += factor(mem)
			total += factor(mem)
			if best == nil || mem.open.Load() < best.open.Load() ||
				(mem.open.Load() == best.open.Load() && mem.lbstatus > best.lbstatus) {
				best = mem
			}
		}
		best.lbstatus -= total
		return best
	case "bytraffic":
		// Fewest bytes relayed per unit of load factor.
		var best *member
		for _, mem := range cands {
			if best == nil || mem.traffic.Load()/int64(factor(mem)) < best.traffic.Load()/int64(factor(best)) {
				best = mem
			}
		}
		return best
	}
	// byrequests: weighted round robin. Every candidate earns its load
	// factor, the richest is chosen and pays the total, so that over
	// time each is chosen in proportion to its factor, in a strict
	// rotation when the factors are equal.
	var best *member
	total := 0
	for _, mem := range cands {
		mem.lbstatus += factor(mem)
		total += factor(mem)
		if best == nil || mem.lbstatus > best.lbstatus {
			best = mem
		}
	}
	best.lbstatus -= total
	return best
}

func factor(mem *member) int { return max(mem.m.LoadFactor, 1) }

// failed leaves a member out for its retry time after a failed connect.
func (p *pool) failed(mem *member, err error, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mem.errorUntil = now.Add(retryOf(mem.m))
	p.noteStatesErr(now, mem, err)
}

// noteStates logs every member whose state changed since it was last
// logged: one line per change, as the issue asks.
func (p *pool) noteStates(now time.Time) { p.noteStatesErr(now, nil, nil) }

func (p *pool) noteStatesErr(now time.Time, failed *member, err error) {
	for _, mem := range p.members {
		st := mem.stateAt(now)
		if st == mem.state {
			continue
		}
		mem.state = st
		attrs := []any{"balancer", "balancer://" + p.b.Name, "member", mem.name, "state", st}
		if st == "error" {
			attrs = append(attrs, "until", mem.errorUntil.Format(time.TimeOnly))
		}
		if mem == failed && err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		p.log.Info("balancer member", attrs...)
	}
}

// stickySession is the route a request names, and the name it was found
// under (BALANCER_SESSION_STICKY), as mod_proxy_balancer finds it: the
// stickysession value "COOKIE|PARAM" names a URL parameter and a cookie;
// the route is what follows the first "." of the value.
func stickySession(r *http.Request, sticky string) (name, route string) {
	if sticky == "" {
		return "", ""
	}
	cookie, param, ok := strings.Cut(sticky, "|")
	if !ok {
		param = cookie
	}
	name, value := param, ""
	if r.URL != nil {
		value = r.URL.Query().Get(param)
	}
	if value == "" {
		name = cookie
		if c, err := r.Cookie(cookie); err == nil {
			value = c.Value
		}
	}
	_, route, ok = strings.Cut(value, ".")
	if !ok {
		return "", ""
	}
	return name, route
}

// memberMatch is m sent to a member: rules.Match.Member joins the member's
// URL and the request as Apache does, and lets its parameters win.
func memberMatch(m rules.Match, mem *member) rules.Match { return m.Member(mem.m) }

// pools is the balancers of one table, by definition.
type pools struct {
	byBalancer map[*rules.Balancer]*pool
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

// startPools builds the balancers' state and starts their health checks.
func (s *Server) startPools(t *rules.Table) *pools {
	ps := &pools{byBalancer: make(map[*rules.Balancer]*pool)}
	ctx, cancel := context.WithCancel(context.Background())
	ps.stop = cancel
	now := time.Now()
	for _, b := range t.Balancers {
		p := newPool(b, s.log, now)
		ps.byBalancer[b] = p
		for _, mem := range p.members {
			if mem.m.Check.Method != "" {
				ps.wg.Go(func() { s.healthCheck(ctx, p, mem) })
			}
		}
	}
	return ps
}

func (ps *pools) close() {
	ps.stop()
	ps.wg.Wait()
}

// healthCheck runs a member's hcmethod every hcinterval, as mod_proxy_hcheck:
// hcfails failures in a row take the member out of the rotation, hcpasses
// successes in a row bring it back. Tunnels already open are left alone.
func (s *Server) healthCheck(ctx context.Context, p *pool, mem *member) {
	hc := mem.m.Check
	tick := time.NewTicker(cmp.Or(hc.Interval, 30*time.Second))
	defer tick.Stop()
	passes, fails := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := s.probe(ctx, mem)
		if err == nil {
			passes, fails = passes+1, 0
		} else {
			passes, fails = 0, fails+1
		}
		p.mu.Lock()
		switch {
		case err != nil && !mem.checkFails && fails >= max(hc.Fails, 1):
			mem.checkFails = true
			p.noteStatesErr(time.Now(), mem, err)
		case err == nil && mem.checkFails && passes >= max(hc.Passes, 1):
			mem.checkFails = false
			p.noteStates(time.Now())
		}
		p.mu.Unlock()
	}
}

// probe is one health check: a TCP connect, or a GET or HEAD of hcuri that
// must answer below 400.
func (s *Server) probe(ctx context.Context, mem *member) error {
	hc := mem.m.Check
	timeout := cmp.Or(mem.m.ConnectTimeout, min(cmp.Or(hc.Interval, 30*time.Second), 10*time.Second))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if strings.EqualFold(hc.Method, "TCP") {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", withPort(mem.m.URL.Scheme, mem.m.URL.Host))
		if err != nil {
			return err
		}
		return c.Close()
	}
	u := *mem.m.URL
	u.Scheme = httpScheme(u.Scheme)
	if hc.URI != "" {
		ref, err := url.Parse(hc.URI)
		if err != nil {
			return err
		}
		u = *u.ResolveReference(ref)
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(hc.Method), u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("health check %s %s: %s", hc.Method, u.String(), resp.Status)
	}
	return nil
}

// BalancerInfo is one balancer in a Snapshot.
type BalancerInfo struct {
	Name    string // balancer://NAME
	Method  string
	Members []MemberInfo
}

// MemberInfo is one member in a Snapshot.
type MemberInfo struct {
	URL   string
	Route string
	// State is "ok", "error" (a connect failed; left out until
	// ErrorUntil), "standby", "disabled" or "failing checks".
	State      string
	ErrorUntil time.Time
	Open       int64  // tunnels and requests in flight
	Total      uint64 // tunnels and requests sent to it
	Bytes      int64  // bytes relayed both ways by its closed tunnels
}

func (ps *pools) snapshot(t *rules.Table, now time.Time) []BalancerInfo {
	var out []BalancerInfo
	for _, b := range t.Balancers {
		p := ps.byBalancer[b]
		if p == nil {
			continue
		}
		bi := BalancerInfo{Name: "balancer://" + b.Name, Method: cmp.Or(b.Method, "byrequests")}
		p.mu.Lock()
		for _, mem := range p.members {
			mi := MemberInfo{URL: mem.name, Route: mem.m.Route, State: mem.stateAt(now),
				Open: mem.open.Load(), Total: mem.total.Load(), Bytes: mem.traffic.Load()}
			if mi.State == "error" {
				mi.ErrorUntil = mem.errorUntil
			}
			bi.Members = append(bi.Members, mi)
		}
		p.mu.Unlock()
		out = append(out, bi)
	}
	return out
}
