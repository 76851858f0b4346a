package tunnel

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Direction names one half of a tunnel. Logs, counters and the copy
// goroutines all use it, so "up" means the same thing everywhere.
type Direction uint8

const (
	Up   Direction = iota // client to backend
	Down                  // backend to client
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// Side returns which peer sends the bytes of this direction: the one whose
// EOF or error ends it.
func (d Direction) Side() string {
	if d == Up {
		return "client"
	}
	return "backend"
}

// Tunnel is one upgraded connection pair. Its counters are atomics read by
// Snapshot while the directions run.
//
// Who may touch what (docs/design.md, "Inside a tunnel"): each direction
// has one goroutine at a time (or none, parked), which alone reads its
// source and, under wmu, writes its destination. Anyone may close the
// tunnel (closeBoth); closing never waits for a peer.
type Tunnel struct {
	ID      uint64
	Client  string // client address
	Path    string // request target as the client sent it
	Backend string // backend URL
	Route   string // the rule that matched, for per-route totals
	Start   time.Time

	hs handshake // the upgrade's headers, for TunnelDetail; never changed

	flows      [2]flow        // indexed by Direction
	frames     [2]frameReader // indexed by Direction
	closeFirst atomic.Int32   // 1 + the Direction that sent the first close frame

	client, backend net.Conn
	parker          *parker // nil: directions wait in their goroutines
	armed           [2]bool // the direction's socket is in the parker's epoll set; its goroutine's, or the parker's

	live      atomic.Int32 // directions not yet ended
	firstDone atomic.Int32 // 1 + the Direction that ended first
	done      func(result) // called once both have
	err       error        // under mu: the first error that was not a clean EOF

	// The idle timeout (timeout=, ProxyTimeout): a timer, not a read
	// deadline, so that a direction blocked writing to a peer that reads
	// nothing counts as idle too (Apache polls both sockets, for reading
	// and for writing, with the one timeout).
	idle       time.Duration
	lastActive atomic.Int64 // unix nanoseconds of the last byte written; kept only when idle > 0
	idleTimer  *time.Timer  // under mu

	mu     sync.Mutex // guards client while it is attached, closed and idleTimer
	closed bool
	closer atomic.Int32 // who closed the tunnel, if not a peer: byProxy or byIdle

	// Writing, and going away (graceful shutdown, goaway.go): wmu[d] is
	// held around every write in direction d, so that a close frame can
	// be put between two frames from outside the relay goroutine.
	wmu        [2]sync.Mutex
	dst        [2]writer // under wmu; made on first use: a tunnel that never speaks costs none
	away       [2]bool   // under wmu: our close frame was sent in this direction
	awayWanted atomic.Bool
}

// Who closed a tunnel when its peers did not (Tunnel.closer).
const (
	byProxy = 1 + iota // a stop
	byIdle             // the idle timeout
)

// result is how a tunnel ended.
type result struct {
	closedBy string // "client", "backend", "idle" or "proxy"
	err      error  // the first error that was not a clean EOF
}

// errIdle ends a tunnel that saw no byte either way for its idle timeout.
var errIdle = errors.New("idle timeout")

// start relays until both directions are done, closes both connections and
// calls done from the goroutine of the direction that ended last.
// pendingUp and pendingDown are bytes already read from the client and the
// backend while handling the handshake; they are forwarded first.
func (t *Tunnel) start(pendingUp, pendingDown []byte, done func(result)) {
	t.done = done
	t.live.Store(2)
	if t.idle > 0 {
		t.lastActive.Store(time.Now().UnixNano())
		t.mu.Lock()
		if !t.closed {
			t.idleTimer = time.AfterFunc(t.idle, t.checkIdle)
		}
		t.mu.Unlock()
	}
	go t.relay(Down, pendingDown, false)
	go t.relay(Up, pendingUp, false)
}

// run is start for a caller that waits.
func (t *Tunnel) run(pendingUp, pendingDown []byte) result {
	c := make(chan result, 1)
	t.start(pendingUp, pendingDown, func(r result) { c <- r })
	return <-c
}

// relay runs direction d until it ends or parks. woken says it was parked
// and its socket turned readable.
func (t *Tunnel) relay(d Direction, pending []byte, woken bool) {
	// A reader per wake, not per tunnel: a parked direction then costs
	// nothing but its Tunnel's fields.
	src := newReader(t, d, t.from(d))
	err := t.write(d, pending)
	if err == nil {
		err = t.loop(d, src, woken)
	}
	if err == errQuiet {
		// Parked last of all: the parker may start d again at once.
		err = src.park()
	}
	if err == errParked {
		return
	}
	t.ended(d, err)
}

// errQuiet ends loop for a direction that should park.
var errQuiet = errors.New("quiet")

// parkAfter is how long a woken direction keeps its goroutine once its
// bytes stop: a busy tunnel's next message then finds a goroutine waiting
// instead of going through the parker (an epoll_ctl, a wake-up and a new
// goroutine per message).
var parkAfter = time.Second // a variable for the tests only

// loop is the relay: read what the source has, write it on, until EOF or
// an error. Where the source can park (a plain TCP socket on Linux), a
// new tunnel's directions start parked, and a direction that moved
// nothing for parkAfter parks again: loop returns errQuiet, relay parks
// it, and the parker calls relay again, woken, when bytes (or EOF) arrive.
func (t *Tunnel) loop(d Direction, src reader, woken bool) error {
	parks := src.parks()
	if parks && !woken {
		return errQuiet
	}
	defer src.release()
	if parks {
		src.setDeadline(time.Now().Add(parkAfter))
	}
	moved := false
	for {
		b, err := src.read()
		if len(b) > 0 {
			moved = true
			if werr := t.write(d, b); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil:
		// Only parkAfter's deadline ends a read with a timeout. errors.Is,
		// unlike errors.As into a net.Error, allocates nothing.
		case parks && errors.Is(err, os.ErrDeadlineExceeded):
			if !moved {
				return errQuiet
			}
			moved = false
			src.setDeadline(time.Now().Add(parkAfter))
		default:
			return err
		}
	}
}

// write passes p on in direction d, reading its frames first: a trace
// then shows a message before the answer it causes, whichever goroutine
// runs first.
func (t *Tunnel) write(d Direction, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	t.wmu[d].Lock()
	defer t.wmu[d].Unlock()
	t.frames[d].feed(p)
	if t.away[d] {
		return t.afterAway(d)
	}
	if t.dst[d] == nil {
		var active *atomic.Int64
		if t.idle > 0 {
			active = &t.lastActive
		}
		t.dst[d] = newWriter(t.to(d), active)
	}
	n, err := t.dst[d].write(p)
	t.flows[d].bytes.Add(int64(n))
	if err == nil && t.awayWanted.Load() {
		t.sayGoingAway(d)
	}
	return err
}

// from is the connection direction d reads from.
func (t *Tunnel) from(d Direction) net.Conn {
	if d == Up {
		return t.client
	}
	return t.backend
}

// to is the connection direction d writes to.
func (t *Tunnel) to(d Direction) net.Conn {
	if d == Up {
		return t.backend
	}
	return t.client
}

// ended finishes direction d. On EOF it half-closes the connection d
// writes to, as Apache's ap_proxy_tunnel_run does, so the other direction
// keeps flowing; on any other error it closes both connections so the
// other direction ends too. The last direction to end reports the result.
func (t *Tunnel) ended(d Direction, err error) {
	t.firstDone.CompareAndSwap(0, int32(d)+1)
	if err == io.EOF || err == errAnswered {
		err = nil
		// When the other direction has ended, its source has been read
		// to EOF and closeBoth below sends the FIN: a shutdown first
		// would only cost a system call per tunnel.
		cw, ok := t.to(d).(interface{ CloseWrite() error })
		if t.live.Load() > 1 && (!ok || cw.CloseWrite() != nil) {
			t.closeBoth()
		}
	} else {
		t.closeBoth()
	}
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
	if t.live.Add(-1) != 0 {
		return
	}
	t.closeBoth()
	res := result{err: t.err}
	switch {
	case t.closer.Load() == byIdle:
		res.closedBy, res.err = "idle", errIdle
	case t.closer.Load() == byProxy, t.awayWanted.Load():
		res.closedBy = "proxy"
	default:
		res.closedBy = Direction(t.firstDone.Load() - 1).Side()
	}
	t.done(res)
}

// checkIdle is the idle timer's: it closes the tunnel when no byte moved
// either way for the idle timeout, else sets itself for when that would
// be.
func (t *Tunnel) checkIdle() {
	last := time.Unix(0, t.lastActive.Load())
	if wait := t.idle - time.Since(last); wait > 0 {
		t.mu.Lock()
		if !t.closed {
			t.idleTimer.Reset(wait)
		}
		t.mu.Unlock()
		return
	}
	t.closer.CompareAndSwap(0, byIdle)
	t.closeBoth()
}

// watch prepares the frame readers. websocket is false for a protocol
// upgraded with upgrade=NAME: its bytes are relayed uncounted from the start.
func (t *Tunnel) watch(websocket bool, onMessage func(Message), traceBytes int) {
	for d := range t.frames {
		r := &t.frames[d]
		r.t, r.dir, r.f = t, Direction(d), &t.flows[d]
		if onMessage != nil {
			r.onMessage = onMessage
			r.traceMax = traceBytes
			r.capture = make([]byte, 0, traceBytes)
		}
		if !websocket {
			r.goRaw()
			r.feed(nil)
		}
	}
}

// info describes the tunnel as it is now.
func (t *Tunnel) info() TunnelInfo {
	ti := TunnelInfo{
		ID: t.ID, Client: t.Client, Path: t.Path, Backend: t.Backend, Route: t.Route,
		Start: t.Start, Up: t.flows[Up].snapshot(), Down: t.flows[Down].snapshot(),
	}
	if d := t.closeFirst.Load(); d != 0 {
		ti.CloseFirst = Direction(d - 1).Side()
	}
	return ti
}

// stop ends the tunnel from the proxy's side (shutdown).
func (t *Tunnel) stop() {
	t.closer.CompareAndSwap(0, byProxy)
	t.closeBoth()
}

// closeBoth closes both connections, once, at once: it waits for no peer.
// A direction blocked reading or writing wakes with an error, and a parked
// one is woken to see it.
func (t *Tunnel) closeBoth() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	client := t.client
	if t.idleTimer != nil {
		t.idleTimer.Stop()
	}
	t.mu.Unlock()
	if client != nil {
		closeNow(client)
	}
	closeNow(t.backend)
	for d := range t.frames {
		if f := t.frames[d].inf; f != nil {
			f.abort() // a message's inflating goroutine, if any, ends
		}
	}
	if t.parker != nil {
		t.parker.unpark(t)
	}
}

// closeNow closes c without waiting for its peer. A TLS connection's
// Close first sends close_notify, which waits up to 5 s for room in a
// stalled peer's buffer: its TCP connection is closed instead. A clean
// end has sent close_notify already (ended's CloseWrite).
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	c.Close()
}

// attach gives the tunnel its client connection, once hijacked. A tunnel is
// registered (so that Shutdown can reach it) before its client is known;
// if Shutdown already closed it, attach reports false and the caller
// closes the client.
func (t *Tunnel) attach(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.client = c
	return true
}
