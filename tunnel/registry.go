package tunnel

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// closedHistory is how many closed tunnels a Snapshot reports.
const closedHistory = 32

// registry holds the live tunnels, so that Snapshot can read them and
// Shutdown can reach them (http.Server.Shutdown does not track hijacked
// connections). The lock is taken on open, close and snapshot, never per read.
type registry struct {
	mu      sync.Mutex
	live    map[*Tunnel]struct{}
	wg      sync.WaitGroup
	nextID  atomic.Uint64
	failed  atomic.Uint64
	plain   atomic.Uint64
	stopped bool // after shutdown no tunnel may be added

	// Under mu: totals of closed tunnels, the last closed ones and the
	// last failed requests (rings), and per-route totals in order of
	// first use.
	done       flowPair
	closed     []TunnelInfo
	closedNext int
	failures   []FailureInfo
	failNext   int
	routes     []*RouteInfo
	// byRoute is what only Metrics reads, by route name ("": requests
	// no rule matched).
	byRoute map[string]*routeCounts
}

// flowPair sums the flows of closed tunnels.
type flowPair struct{ Up, Down Flow }

func (f *flowPair) add(up, down Flow) {
	addFlow(&f.Up, up)
	addFlow(&f.Down, down)
}

func addFlow(sum *Flow, f Flow) {
	sum.Bytes += f.Bytes
	sum.Frames += f.Frames
	sum.Messages += f.Messages
	sum.Compressed += f.Compressed
	sum.Pings += f.Pings
	sum.Pongs += f.Pongs
}

func (r *registry) route(name string) *RouteInfo {
	for _, ri := range r.routes {
		if ri.Route == name {
			return ri
		}
	}
	ri := &RouteInfo{Route: name}
	r.routes = append(r.routes, ri)
	return ri
}

// add registers t, unless shutdown has begun (errShuttingDown) or max
// tunnels (0: no limit) are already open (errTooManyTunnels): checked and
// added under one lock, so that concurrent upgrades cannot overshoot.
func (r *registry) add(t *Tunnel, max int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errShuttingDown
	}
	if max > 0 && len(r.live) >= max {
		return fmt.Errorf("%w (%d, --max-tunnels)", errTooManyTunnels, max)
	}
	if r.live == nil {
		r.live = make(map[*Tunnel]struct{})
	}
	r.live[t] = struct{}{}
	ri := r.route(t.Route)
	ri.Open++
	ri.Total++
	r.wg.Add(1)
	return nil
}

// remove records a finished tunnel in the totals and the history.
func (r *registry) remove(ti TunnelInfo, t *Tunnel) {
	r.mu.Lock()
	delete(r.live, t)
	r.done.add(ti.Up, ti.Down)
	ri := r.route(ti.Route)
	ri.Open--
	addFlow(&ri.Up, ti.Up)
	addFlow(&ri.Down, ti.Down)
	r.closedCounts(ti)
	if len(r.closed) < closedHistory {
		r.closed = append(r.closed, ti)
	} else {
		r.closed[r.closedNext] = ti
	}
	r.closedNext = (r.closedNext + 1) % closedHistory
	r.mu.Unlock()
	r.wg.Done()
}

// goAwayAll refuses new tunnels and sends every live one's peers a
// going-away close frame, each tunnel on a goroutine of its own (a write
// to a full buffer may wait up to awayWait). wg tracks them.
func (r *registry) goAwayAll(wg *sync.WaitGroup) {
	for _, t := range r.stop() {
		wg.Go(t.goAway)
	}
}

// wait waits for every tunnel to end, or ctx; it reports whether they did.
func (r *registry) wait(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopAll closes every live tunnel and refuses new ones. The lock is not
// held while connections close, so that looking (snapshot) never waits
// for them.
func (r *registry) stopAll() {
	for _, t := range r.stop() {
		t.stop()
	}
}

// stop refuses new tunnels and returns the live ones.
func (r *registry) stop() []*Tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	live := make([]*Tunnel, 0, len(r.live))
	for t := range r.live {
		live = append(live, t)
	}
	return live
}

func (r *registry) snapshot(now time.Time) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{
		Time:     now,
		Open:     len(r.live),
		Total:    r.nextID.Load(),
		Failed:   r.failed.Load(),
		Requests: r.plain.Load(),
		Up:       r.done.Up.Bytes,
		Down:     r.done.Down.Bytes,
		Tunnels:  make([]TunnelInfo, 0, len(r.live)),
		Routes:   make([]RouteInfo, len(r.routes)),
	}
	for i, ri := range r.routes {
		s.Routes[i] = *ri
	}
	for t := range r.live {
		ti := t.info()
		s.Up += ti.Up.Bytes
		s.Down += ti.Down.Bytes
		s.Tunnels = append(s.Tunnels, ti)
		for i := range s.Routes {
			if s.Routes[i].Route == ti.Route {
				addFlow(&s.Routes[i].Up, ti.Up)
				addFlow(&s.Routes[i].Down, ti.Down)
			}
		}
	}
	slices.SortFunc(s.Tunnels, func(a, b TunnelInfo) int { return cmp.Compare(a.ID, b.ID) })
	// Newest first: walk the ring backwards from the last write (while it
	// is filling, closedNext is its length).
	n := len(r.closed)
	for i := range n {
		s.Closed = append(s.Closed, r.closed[(r.closedNext-1-i+n)%n])
	}
	s.Failures = r.recentFailures()
	return s
}

// open is the number of live tunnels.
func (r *registry) open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}
