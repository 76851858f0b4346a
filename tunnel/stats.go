package tunnel

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot is a consistent-enough copy of the server's counters, taken
// without stopping the relay: counters are atomics read one by one.
type Snapshot struct {
	Time     time.Time
	Open     int    // tunnels open now
	Total    uint64 // tunnels opened since start
	Failed   uint64 // requests the proxy answered with an error, and upgrades the backend refused
	Requests uint64 // plain HTTP requests proxied
	Up       int64  // bytes client to backend, all tunnels
	Down     int64  // bytes backend to client, all tunnels
	// Tunnels are the open tunnels, oldest first.
	Tunnels []TunnelInfo
	// Closed are the most recently closed tunnels, newest first (at most
	// closedHistory of them).
	Closed []TunnelInfo
	// Routes are totals per rule, in the order rules first carried a tunnel.
	Routes []RouteInfo
	// Balancers are the balancers' members and their state.
	Balancers []BalancerInfo
}

// TunnelInfo describes one tunnel.
type TunnelInfo struct {
	ID      uint64
	Client  string
	Path    string // request target as the client sent it
	Backend string // backend URL
	Route   string // the rule that matched: its origin and path, e.g. "wsgate.conf:3 /chat/"
	Start   time.Time
	Up      Flow // client to backend
	Down    Flow // backend to client

	// Set once the tunnel is closed.
	End time.Time
	// ClosedBy is whose connection ended first: "client", "backend",
	// "idle" (the idle timeout) or "proxy" (shutdown).
	ClosedBy string
	// CloseFirst is who sent the first WebSocket close frame: "client",
	// "backend" or "" when neither did.
	CloseFirst string
	// Error is why the tunnel ended, when it was not a clean close.
	Error string
}

// Flow is one direction of a tunnel, as the frame reader saw it pass.
type Flow struct {
	Bytes    int64
	Frames   int64
	Messages int64 // complete text and binary messages
	// Compressed counts messages with RSV1 set (permessage-deflate).
	Compressed int64
	Pings      int64
	Pongs      int64
	// CloseCode is the status code of this side's close frame: 0 when it
	// sent none, 1005 when its close frame had no code (RFC 6455 §7.1.5).
	CloseCode   int
	CloseReason string
	// Raw is set when the bytes stopped looking like WebSocket frames (a
	// protocol upgraded with upgrade=NAME, or garbage): they are still
	// relayed, only no longer counted as frames.
	Raw bool
}

// RouteInfo is the totals of one rule.
type RouteInfo struct {
	Route    string
	Open     int
	Total    uint64
	Up, Down Flow // summed over its tunnels; close fields unused
}

// Opcode is a WebSocket frame opcode (RFC 6455 §5.2).
type Opcode uint8

const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode-%d", uint8(o))
}

// Message is one WebSocket message (text or binary, all its fragments) or
// control frame as it passed through a tunnel, for Config.OnMessage.
type Message struct {
	Tunnel uint64
	Time   time.Time // when its last byte was read, just before it is relayed
	Dir    Direction
	Opcode Opcode // OpText, OpBinary, OpClose, OpPing or OpPong
	// Len is the payload length: of the whole message for data.
	Len int64
	// Payload is the first Config.TraceBytes bytes of the payload,
	// unmasked; Truncated says there was more.
	Payload    []byte
	Truncated  bool
	Compressed bool // RSV1: the payload is deflated (permessage-deflate)
	// CloseCode and CloseReason are set for OpClose (1005: no code).
	CloseCode   int
	CloseReason string
}

// TunnelEvent reports a tunnel's handshake when it opens and its record
// when it closes, for Config.OnTunnel (an HTTP Archive writer, say).
type TunnelEvent struct {
	Closed bool
	Info   TunnelInfo
	// The request as received from the client and the 101 as sent to it.
	Method         string
	URL            string // as the client asked for it: scheme://host/target
	Proto          string
	RequestHeader  http.Header
	Status         int
	ResponseHeader http.Header
}

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

	// Under mu: totals of closed tunnels, the last closed ones (a ring),
	// and per-route totals in order of first use.
	done       flowPair
	closed     []TunnelInfo
	closedNext int
	routes     []*RouteInfo
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
	return s
}
