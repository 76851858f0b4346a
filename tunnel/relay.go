package tunnel

import (
	"cmp"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsgate/wsgate/internal/midpage"
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

// A direction reads into a small buffer first and moves to a big one once
// a read fills the small one: messages stream in. 64 KiB, twice io.Copy's,
// relayed 64 KiB messages 4-5 % faster than 32 KiB (bench/compare.sh
// slices, side by side), but a tunnel of small messages (most of them)
// never needs it, and big buffers taken and dropped per handshake made
// the garbage collector run more often.
const (
	smallBufSize = 4 << 10
	bigBufSize   = 64 << 10
)

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}
	bigBufs   = sync.Pool{New: func() any { b := midpage.Make(bigBufSize); return &b }} // see midpage
)

func putBuf(bp *[]byte) {
	if len(*bp) == bigBufSize {
		bigBufs.Put(bp)
	} else {
		smallBufs.Put(bp)
	}
}

// errIdle ends a tunnel that saw no byte either way for its idle timeout.
var errIdle = errors.New("idle timeout")

// Tunnel is one upgraded connection pair. Its counters are atomics read by
// Snapshot while the copy loops run.
type Tunnel struct {
	ID      uint64
	Client  string // client address
	Path    string // request target as the client sent it
	Backend string // backend URL
	Route   string // the rule that matched, for per-route totals
	Start   time.Time

	flows      [2]flow        // indexed by Direction
	frames     [2]frameReader // indexed by Direction
	closeFirst atomic.Int32   // 1 + the Direction that sent the first close frame
	onMessage  func(Message)

	parker *parker      // nil: directions wait in their goroutines
	armed  [2]bool      // the direction's socket is in the parker's epoll set
	live   atomic.Int32 // directions not yet ended
	done   func(result) // called once both have
	err    error        // under mu: the first error that was not a clean EOF

	client, backend net.Conn
	out             [2]*sender // indexed by Direction: what it writes to; under wmu
	idle            time.Duration
	lastActive      atomic.Int64 // unix nanoseconds; kept only when idle > 0
	closeOnce       sync.Once
	mu              sync.Mutex // guards client while it is attached, and closed
	closed          bool
	firstDone       atomic.Int32 // 1 + the Direction that finished first
	stopped         atomic.Bool  // closed by the proxy (shutdown), not a peer

	// Going away (graceful shutdown, goaway.go): wmu[d] is held around
	// every write in direction d, so that a close frame can be put
	// between two frames from outside the relay goroutine.
	wmu        [2]sync.Mutex
	away       [2]bool // under wmu: our close frame was sent in this direction
	awayWanted atomic.Bool
}

// result is how a tunnel ended.
type result struct {
	closedBy string // "client", "backend", "idle" or "proxy"
	err      error  // the first error that was not a clean EOF
}

// start relays until both directions are done, closes both connections and
// calls done from the goroutine of the direction that ended last.
// pendingUp and pendingDown are bytes already read from the client and the
// backend while handling the handshake; they are forwarded first. With a
// parker, a direction that waits for bytes holds no goroutine.
func (t *Tunnel) start(pendingUp, pendingDown []byte, done func(result)) {
	if t.idle > 0 {
		t.lastActive.Store(time.Now().UnixNano())
	}
	t.done = done
	t.live.Store(2)
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
	dst, src := t.backend, t.client
	if d == Down {
		dst, src = t.client, t.backend
	}
	err := t.write(d, dst, pending)
	if err == nil {
		err = t.loop(d, dst, src, woken)
	}
	if err == errParked {
		return
	}
	t.ended(d, dst, err)
}

// ended finishes direction d. On EOF it half-closes dst, as Apache's
// ap_proxy_tunnel_run does, so the other direction keeps flowing; on any
// other error it closes both connections so the other direction ends too.
// The last direction to end reports the result.
func (t *Tunnel) ended(d Direction, dst net.Conn, err error) {
	t.firstDone.CompareAndSwap(0, int32(d)+1)
	if err == io.EOF || err == errAnswered {
		err = nil
		// When the other direction has ended, dst has been read to its
		// EOF and closeBoth below sends the FIN: a shutdown first would
		// only cost a system call per tunnel.
		cw, ok := dst.(interface{ CloseWrite() error })
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
	case errors.Is(res.err, errIdle):
		res.closedBy = "idle"
	case t.stopped.Load(), t.awayWanted.Load():
		res.closedBy = "proxy"
	default:
		res.closedBy = Direction(t.firstDone.Load() - 1).Side()
	}
	t.done(res)
}

// parkAfter is how long a woken direction keeps its goroutine once its
// bytes stop: a busy tunnel's next message then finds a goroutine waiting
// instead of going through the parker (an epoll_ctl, a wake-up and a new
// goroutine per message).
const parkAfter = time.Second

// loop relays src to dst. A direction that has drained its socket gives
// its buffer back to the pool and waits for the next bytes without one
// (where the platform lets it: see pump.run), so a burst on many tunnels
// leaves no buffers behind; while bytes keep coming, the buffer is kept.
//
// With a parker (and no idle timeout, which needs the read deadline) an
// idle direction holds no goroutine either: a new tunnel's directions
// start parked, and a direction that moved nothing for parkAfter parks
// again. loop then returns errParked, and the parker calls relay again,
// woken, when bytes arrive.
func (t *Tunnel) loop(d Direction, dst, src net.Conn, woken bool) error {
	rc := rawConn(src)
	parking := t.parker != nil && t.idle == 0 && rc != nil
	if parking && !woken {
		return t.parker.park(t, d, rc)
	}
	p := pump{t: t, d: d, dst: dst, src: src, rc: rc, lowat: 1}
	defer p.drop()
	switch {
	case parking:
		p.wait(time.Now().Add(parkAfter))
	case t.idle > 0:
		p.wait(time.Now().Add(t.idle))
	}
	for {
		err := p.run()
		// Only read deadlines end run with a timeout. errors.Is, unlike
		// errors.As into a net.Error, allocates nothing.
		timeout := errors.Is(err, os.ErrDeadlineExceeded)
		switch {
		case p.werr != nil:
			return p.werr
		case timeout && p.lowat > 1:
			p.unbatch() // the rest of a frame is slow: pass on what came
			continue
		case parking && timeout && !p.moved:
			return t.parker.park(t, d, rc)
		case parking && timeout:
			p.moved = false
			p.wait(time.Now().Add(parkAfter))
			continue
		case t.idle > 0 && timeout:
			// The deadline only says this direction was quiet; the
			// tunnel is idle when neither direction moved (Apache
			// polls both sockets with one timeout).
			last := time.Unix(0, t.lastActive.Load())
			if time.Since(last) < t.idle {
				p.wait(last.Add(t.idle))
				continue
			}
			return errIdle
		}
		return err
	}
}

// pump is loop's reading half: it fills a pooled buffer from src and
// passes each read to write.
type pump struct {
	t        *Tunnel
	d        Direction
	dst, src net.Conn
	rc       syscall.RawConn // src's socket; nil for TLS, and off Linux
	bp       *[]byte         // nil while waiting for bytes
	big      bool            // a read has filled the small buffer: take the big one
	moved    bool            // a byte went through since the read deadline was set
	werr     error           // the write that failed, which ends the direction
	until    time.Time       // the read deadline loop wants; zero: none
	lowat    int             // the socket's SO_RCVLOWAT (batch.go); 1, the default, when loop starts
	lowatCap int             // the most it may be; 0: not known yet, -1: never set it
	piece    int64           // the frame (its number) a drained read last ended inside
}

// wait sets the read deadline loop wants.
func (p *pump) wait(until time.Time) {
	p.until = until
	p.src.SetReadDeadline(until)
}

// run relays until a read or the wait for one fails (EOF, the deadline,
// a closed socket) or a write does (then werr is set).
//
// On a plain TCP socket it reads inside one RawConn.Read rather than
// calling Read in a loop. Go forgets a socket's readiness when a Read
// starts, so after a read that drained the socket the next Read must
// first fail with EAGAIN before it may wait: one wasted syscall per
// message, the difference between wsgate and nginx in the profiles. A
// short read from a TCP socket means it was drained, so the callback
// waits at once, and readiness that comes meanwhile is kept because the
// RawConn.Read has not returned.
func (p *pump) run() error {
	if p.rc == nil {
		for {
			p.take()
			n, err := p.src.Read(*p.bp)
			if n > 0 && !p.use(n) {
				return p.werr
			}
			if err != nil {
				return err
			}
		}
	}
	var rerr error
	err := p.rc.Read(func(fd uintptr) bool {
		for {
			p.take()
			n, err := readFD(fd, *p.bp)
			drained := n < len(*p.bp) // asked before use swaps the buffer
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				p.drop()
				return false
			case err != nil:
				rerr = &net.OpError{Op: "read", Net: "tcp", Source: p.src.LocalAddr(), Addr: p.src.RemoteAddr(),
					Err: os.NewSyscallError("read", err)}
				return true
			case n == 0:
				rerr = io.EOF
				return true
			case !p.use(n):
				return true
			case drained:
				p.drop()
				if p.lowatCap >= 0 {
					p.batch(fd)
				}
				return false // drained: wait for more
			}
		}
	})
	return cmp.Or(rerr, err)
}

// use writes the n bytes just read, and moves to the big buffer once a
// read has filled the small one.
func (p *pump) use(n int) bool {
	p.moved = true
	if p.werr = p.t.write(p.d, p.dst, (*p.bp)[:n]); p.werr != nil {
		return false
	}
	if n == smallBufSize && len(*p.bp) == smallBufSize {
		smallBufs.Put(p.bp)
		p.bp, p.big = bigBufs.Get().(*[]byte), true
	}
	return true
}

func (p *pump) take() {
	switch {
	case p.bp != nil:
	case p.big:
		p.bp = bigBufs.Get().(*[]byte)
	default:
		p.bp = smallBufs.Get().(*[]byte)
	}
}

func (p *pump) drop() {
	if p.bp != nil {
		putBuf(p.bp)
		p.bp = nil
	}
}

// watch prepares the frame readers. websocket is false for a protocol
// upgraded with upgrade=NAME: its bytes are relayed uncounted from the start.
func (t *Tunnel) watch(websocket bool, onMessage func(Message), traceBytes int) {
	t.onMessage = onMessage
	for d := range t.frames {
		r := &t.frames[d]
		r.t, r.dir, r.f = t, Direction(d), &t.flows[d]
		if onMessage != nil {
			r.traceMax = traceBytes
			r.capture = make([]byte, 0, traceBytes)
		}
		if !websocket {
			r.goRaw()
			r.feed(nil)
		}
	}
}

func (t *Tunnel) write(d Direction, dst net.Conn, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	t.wmu[d].Lock()
	defer t.wmu[d].Unlock()
	// Read the frames before passing them on: a trace then shows a
	// message before the answer it causes, whichever goroutine runs first.
	t.frames[d].feed(p)
	if t.away[d] {
		return t.afterAway(d)
	}
	if t.out[d] == nil {
		t.out[d] = newSender(dst) // on first use: a tunnel that never speaks costs none
	}
	n, err := t.out[d].write(p)
	t.flows[d].bytes.Add(int64(n))
	if t.idle > 0 {
		t.lastActive.Store(time.Now().UnixNano())
	}
	if err == nil && t.awayWanted.Load() {
		t.sayGoingAway(d, dst)
	}
	return err
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
	t.stopped.Store(true)
	t.closeBoth()
}

func (t *Tunnel) closeBoth() {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		client := t.client
		t.mu.Unlock()
		if client != nil {
			client.Close()
		}
		t.backend.Close()
		if t.parker != nil {
			t.parker.unpark(t)
		}
	})
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
