package tunnel

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Metrics are the server's counts for a metrics scrape (Prometheus): per
// route, what RouteInfo has (the byte and message counters the relay
// already keeps, read at scrape time), and what only a scrape reads, which
// the registry counts as tunnels open and close and requests fail or
// finish, never on the relay's path. Unlike Snapshot it lists no tunnel:
// a scrape with thousands open stays cheap.
type Metrics struct {
	Time time.Time
	// Routes are per rule, in the order rules were first used; a
	// request that failed before any rule matched counts under Route "".
	Routes    []RouteMetrics
	Balancers []BalancerInfo
}

// RouteMetrics are one route's counts.
type RouteMetrics struct {
	RouteInfo // Open, Total (tunnels opened), and the flows summed
	// Handshake is the time from a request's arrival to its 101 sent,
	// for the tunnels opened; Duration the time each closed tunnel was
	// open.
	Handshake, Duration Histogram
	// Closes counts closed tunnels by who ended them and the code of the
	// first close frame; Failures the requests answered with an error
	// (and upgrades the backend refused) by status and reason; HTTP the
	// plain requests proxied, by the class of their status.
	Closes   []CloseCount
	Failures []FailureCount
	HTTP     []HTTPCount
}

// CloseCount is how many tunnels ended one way. ClosedBy is
// TunnelInfo.ClosedBy; Code is CloseClass's.
type CloseCount struct {
	ClosedBy, Code string
	N              uint64
}

// FailureCount is how many requests failed with one status and reason.
type FailureCount struct {
	Status int
	Reason string
	N      uint64
}

// HTTPCount is how many plain requests got a status of one class:
// "1xx" to "5xx", or "none" when no answer was written.
type HTTPCount struct {
	Class string
	N     uint64
}

// Histogram counts observations (seconds) in buckets: Counts[i] those at
// most Bounds[i] and above the bound before, the last one those above
// every bound. Sum is their total.
type Histogram struct {
	Bounds []float64 // shared: never change it
	Counts []uint64
	Sum    float64
}

// The buckets of the two histograms, in seconds: a handshake on loopback
// takes a few hundred microseconds and a slow backend seconds; a tunnel
// lasts from an instant to days.
var (
	handshakeBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	durationBounds  = []float64{0.1, 1, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 86400}
)

func (h *Histogram) observe(bounds []float64, seconds float64) {
	if h.Counts == nil {
		h.Bounds, h.Counts = bounds, make([]uint64, len(bounds)+1)
	}
	i, _ := slices.BinarySearch(bounds, seconds)
	h.Counts[i]++
	h.Sum += seconds
}

func (h Histogram) clone(bounds []float64) Histogram {
	if h.Counts == nil {
		return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
	}
	h.Counts = slices.Clone(h.Counts)
	return h
}

// CloseClass is the close code a closed tunnel is counted under: the code
// of the first close frame ("1000", "1001", "1011"...; "3xxx" and "4xxx"
// for the registered and private ranges, "other" for a code outside
// them), "1006" for an abnormal end (TunnelInfo.Abnormal), and "none"
// when no close frame passed otherwise (an idle timeout, a stop, a
// protocol that has none).
func CloseClass(ti TunnelInfo) string {
	code := 0
	switch ti.CloseFirst {
	case "client":
		code = ti.Up.CloseCode
	case "backend":
		code = ti.Down.CloseCode
	}
	switch {
	case code == 0 && ti.Abnormal():
		return "1006"
	case code == 0:
		return "none"
	case code >= 1000 && code <= 1015:
		return strconv.Itoa(code)
	case code >= 3000 && code <= 3999:
		return "3xxx"
	case code >= 4000 && code <= 4999:
		return "4xxx"
	}
	return "other"
}

// httpClass is the class of a plain request's status.
func httpClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return string(rune('0'+status/100)) + "xx"
}

// routeCounts is what the registry counts of a route for Metrics only.
type routeCounts struct {
	handshake, duration Histogram
	closes              map[[2]string]uint64
	failures            map[failKey]uint64
	http                map[string]uint64
}

type failKey struct {
	status int
	reason string
}

// counts returns the metrics-only counts of route name; the caller holds
// r.mu.
func (r *registry) counts(name string) *routeCounts {
	if r.byRoute == nil {
		r.byRoute = make(map[string]*routeCounts)
	}
	c := r.byRoute[name]
	if c == nil {
		c = &routeCounts{closes: map[[2]string]uint64{}, failures: map[failKey]uint64{}, http: map[string]uint64{}}
		r.byRoute[name] = c
	}
	return c
}

// opened counts a tunnel's handshake, from its request's arrival to the
// 101 sent.
func (r *registry) opened(route string, took time.Duration) {
	r.mu.Lock()
	r.counts(route).handshake.observe(handshakeBounds, took.Seconds())
	r.mu.Unlock()
}

// plainDone counts a plain request proxied for route, answered status (0:
// no answer written).
func (r *registry) plainDone(route string, status int) {
	r.mu.Lock()
	r.counts(route).http[httpClass(status)]++
	r.mu.Unlock()
}

// closedCounts counts a tunnel that ended; the caller holds r.mu.
func (r *registry) closedCounts(ti TunnelInfo) {
	c := r.counts(ti.Route)
	c.duration.observe(durationBounds, ti.End.Sub(ti.Start).Seconds())
	c.closes[[2]string{ti.ClosedBy, CloseClass(ti)}]++
}

// metrics reads the counts, and the flows of the open tunnels as the
// relay counts them, under the lock that open and close take.
func (r *registry) metrics(now time.Time) Metrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := Metrics{Time: now, Routes: make([]RouteMetrics, 0, len(r.routes)+1)}
	index := make(map[string]int, len(r.routes)+1)
	for _, ri := range r.routes {
		index[ri.Route] = len(m.Routes)
		m.Routes = append(m.Routes, RouteMetrics{RouteInfo: *ri})
	}
	// Routes that carried plain requests or failures but no tunnel yet,
	// and the failures no rule matched ("").
	for _, name := range slices.Sorted(maps.Keys(r.byRoute)) {
		if _, ok := index[name]; !ok {
			index[name] = len(m.Routes)
			m.Routes = append(m.Routes, RouteMetrics{RouteInfo: RouteInfo{Route: name}})
		}
	}
	for t := range r.live {
		rm := &m.Routes[index[t.Route]]
		addFlow(&rm.Up, t.flows[Up].snapshot())
		addFlow(&rm.Down, t.flows[Down].snapshot())
	}
	for i := range m.Routes {
		rm := &m.Routes[i]
		c := r.byRoute[rm.Route]
		if c == nil {
			c = &routeCounts{}
		}
		rm.Handshake = c.handshake.clone(handshakeBounds)
		rm.Duration = c.duration.clone(durationBounds)
		for k, n := range c.closes {
			rm.Closes = append(rm.Closes, CloseCount{k[0], k[1], n})
		}
		slices.SortFunc(rm.Closes, func(a, b CloseCount) int {
			return cmp.Or(cmp.Compare(a.ClosedBy, b.ClosedBy), cmp.Compare(a.Code, b.Code))
		})
		for k, n := range c.failures {
			rm.Failures = append(rm.Failures, FailureCount{k.status, k.reason, n})
		}
		slices.SortFunc(rm.Failures, func(a, b FailureCount) int {
			return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Reason, b.Reason))
		})
		for class, n := range c.http {
			rm.HTTP = append(rm.HTTP, HTTPCount{class, n})
		}
		slices.SortFunc(rm.HTTP, func(a, b HTTPCount) int { return cmp.Compare(a.Class, b.Class) })
	}
	return m
}

// Metrics returns the counts a metrics scrape reports.
func (s *Server) Metrics() Metrics {
	now := time.Now()
	m := s.reg.metrics(now)
	cur := s.cur.Load()
	m.Balancers = cur.pools.snapshot(cur.table, now)
	return m
}

// Count is how many observations h holds.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}
