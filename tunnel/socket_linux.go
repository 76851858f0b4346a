package tunnel

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The Linux path of the seam (socket.go), for plain TCP sockets. Three
// things make it cheaper than the portable one, each measured in
// docs/performance.md:
//
//   - Reads and writes are raw system calls made inside RawConn.Read and
//     RawConn.Write: the socket is non-blocking, so they never wait, and
//     skipping entersyscall keeps Go's sysmon thread asleep (it woke once
//     per message on a tunnel that waits for its peer between messages).
//   - A direction that finds its socket drained gives its buffer back
//     before it waits, so idle tunnels hold none.
//   - Frame-sized reads: see batch below.
//
// A read that returns fewer bytes than asked says nothing about what
// follows: a FIN that came with the data is only seen by the next read,
// and Go's edge-triggered poller reports it no more. So a direction waits
// only after a read failed with EAGAIN, and the callback of
// RawConn.Read only reads: writing happens outside it, so that closing
// the source never waits for a write to a peer that does not read
// (Close waits for the callback to return).

// rawConn returns the socket of a plain TCP connection; nil for anything
// else (TLS keeps decrypted bytes of its own, so its socket says nothing),
// and when the portable path is forced.
func rawConn(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok || portable {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

func newReader(t *Tunnel, d Direction, c net.Conn) reader {
	rc := rawConn(c)
	if rc == nil {
		return &connReader{c: c}
	}
	r := &rawReader{t: t, d: d, c: c, rc: rc, lowat: 1}
	r.readFn = r.readOnce
	return r
}

func newWriter(c net.Conn, active *atomic.Int64) writer {
	rc := rawConn(c)
	if rc == nil {
		return &connWriter{c: c, active: active}
	}
	w := &rawWriter{c: c, rc: rc, active: active}
	w.writeFn = w.writeSome
	return w
}

// rawReader reads a plain TCP socket with raw system calls.
type rawReader struct {
	t      *Tunnel
	d      Direction
	c      net.Conn
	rc     syscall.RawConn
	buf    buffer
	readFn func(fd uintptr) bool // readOnce, made once so that a read allocates nothing
	n      int                   // readOnce's result: bytes read, or
	err    error                 // why not

	// Frame-sized reads (batch).
	until    time.Time // the read deadline loop wants; zero: none
	lowat    int       // the socket's SO_RCVLOWAT; 1, the default, at first
	lowatCap int       // the most it may be; 0: not known yet, -1: never set it
	piece    int64     // the frame (its number) a drained read last ended inside
	fresh    bool      // bytes came since the socket was last found drained
}

func (r *rawReader) read() ([]byte, error) {
	for {
		err := r.rc.Read(r.readFn)
		if r.n > 0 {
			n := r.n
			r.n = 0
			return (*r.buf.bp)[:n], nil
		}
		if r.err != nil {
			err, r.err = r.err, nil
		}
		if r.lowat > 1 && errors.Is(err, os.ErrDeadlineExceeded) {
			r.unbatch() // the rest of a frame is slow: pass on what came
			continue
		}
		return nil, err
	}
}

// readOnce is the RawConn.Read callback: one read, or, when the socket is
// drained, back to Go's poller (false) without a buffer.
func (r *rawReader) readOnce(fd uintptr) bool {
	for {
		b := r.buf.get()
		n, err := readFD(fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.buf.put()
			if r.fresh && r.lowatCap >= 0 {
				r.batch(fd)
			}
			r.fresh = false
			return false
		case err != nil:
			r.err = &net.OpError{Op: "read", Net: "tcp", Source: r.c.LocalAddr(), Addr: r.c.RemoteAddr(),
				Err: os.NewSyscallError("read", err)}
		case n == 0:
			r.err = io.EOF
		default:
			r.n, r.fresh = n, true
			r.buf.filled(n)
		}
		return true
	}
}

func (r *rawReader) setDeadline(at time.Time) {
	r.until = at
	r.c.SetReadDeadline(at)
}

func (r *rawReader) release()    { r.buf.put() }
func (r *rawReader) parks() bool { return r.t.parker != nil }
func (r *rawReader) park() error { return r.t.parker.park(r.t, r.d, r.rc, &r.t.armed[r.d]) }

// Frame-sized reads. A sender that writes a 64 KiB message in small
// pieces (coder/websocket's client writes 4 KiB at a time) wakes the relay
// for each piece, and every wake is a wait, a read and a write: 11 to 17
// system calls per message each way, counted with perf stat, and nginx
// makes as many. The frame reader knows how many bytes the frame in
// progress still owes, so once a frame has come in two pieces the relay
// asks the kernel (SO_RCVLOWAT) not to wake it before the rest is all
// there, and then moves it in one read and one write. The next hop gets
// fewer, bigger writes too. No proxy that does not read the framing can
// do this; see docs/performance.md for what it saves.
//
// Not after the first piece: many senders write a frame's rest in one go
// (coder/websocket's server writes 4 KiB, then the rest), and for them the
// mark would only add two setsockopt calls per frame.
//
// A sender may stop in the middle of a frame. The wait is therefore also
// bounded by batchWait: when it passes, the relay goes back to waking for
// any byte and passes on what has come, so a slow sender's bytes are
// delayed by at most that much. Small frames, which arrive whole, never
// change anything. A FIN or an error wakes the relay whatever the mark.
var batchWait = time.Millisecond // a variable for the tests only

// minBatch: below this, the rest of a frame comes in the next segment or
// two anyway, and the two setsockopt calls would cost more than they save.
const minBatch = 4 << 10

// batch sets the socket's low-water mark for what the frame in progress
// still owes, once the socket is drained. It runs inside RawConn.Read, on
// the socket fd.
func (r *rawReader) batch(fd uintptr) {
	want := 1
	fr := &r.t.frames[r.d]
	switch owed := fr.owed(); {
	case owed < minBatch:
	case r.piece != fr.frames:
		r.piece = fr.frames // its first piece: no mark yet (see above)
	default:
		if r.lowatCap == 0 {
			r.lowatCap = lowatCap(fd)
		}
		if r.lowatCap > 0 { // -1: no room for a mark (a negative one means "all")
			want = int(min(owed, int64(r.lowatCap)))
		}
	}
	changed := want != r.lowat
	if changed {
		if setRcvLowat(fd, want) != nil {
			r.lowatCap = -1 // not supported here: never again for this socket
			return
		}
		r.lowat = want
	}
	switch {
	case want > 1:
		r.deadline(time.Now().Add(batchWait))
	case changed:
		r.deadline(time.Time{})
	}
}

// unbatch is for a frame whose rest is slow to come: back to waking for
// any byte, and to loop's own deadline.
func (r *rawReader) unbatch() {
	r.rc.Control(func(fd uintptr) { setRcvLowat(fd, 1) })
	r.lowat = 1
	r.deadline(time.Time{})
}

// deadline sets the read deadline to the earlier of at (zero: none) and
// the one loop wants.
func (r *rawReader) deadline(at time.Time) {
	if at.IsZero() || (!r.until.IsZero() && r.until.Before(at)) {
		at = r.until
	}
	r.c.SetReadDeadline(at)
}

// lowatCap is the most the low-water mark may be for the socket fd. Linux
// grows the receive buffer to fit a mark, and kernels before late 2025
// then also clamped the TCP window to the mark, for good (a slow
// connection for a fast sender). A quarter of the buffer, which the
// kernel reckons holds twice the window at most, never needs growing.
// It never exceeds the relay's big buffer, which one read then fills.
func lowatCap(fd uintptr) int {
	n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil || n/4 < minBatch {
		return -1
	}
	return min(n/4, bigBufSize)
}

// rawWriter writes a plain TCP socket with raw system calls, waiting in
// Go's poller while the socket is full.
type rawWriter struct {
	c       net.Conn
	rc      syscall.RawConn
	active  *atomic.Int64 // the tunnel's activity clock; nil: no idle timeout
	p       []byte        // what is left to write, during write
	errno   syscall.Errno
	writeFn func(fd uintptr) bool // writeSome, made once so that a write allocates nothing
}

func (w *rawWriter) write(p []byte) (int, error) {
	w.p, w.errno = p, 0
	err := w.rc.Write(w.writeFn)
	n := len(p) - len(w.p)
	w.p = nil
	if w.errno != 0 {
		err = &net.OpError{Op: "write", Net: "tcp", Source: w.c.LocalAddr(), Addr: w.c.RemoteAddr(),
			Err: os.NewSyscallError("write", w.errno)}
	}
	return n, err
}

// writeSome is the RawConn.Write callback: false asks to be called again
// once the socket can take more.
func (w *rawWriter) writeSome(fd uintptr) bool {
	for len(w.p) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.p))), uintptr(len(w.p)))
		switch e {
		case 0:
			w.p = w.p[n:]
			if w.active != nil {
				w.active.Store(time.Now().UnixNano())
			}
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.errno = e
			return true
		}
	}
	return true
}

// readFD reads from a socket that Go's poller watches.
//
// It makes the system call raw, without telling the scheduler (the
// socket is non-blocking: the call never waits). syscall.Read would call
// entersyscall, which wakes the runtime's monitor thread (sysmon) if it
// sleeps because the process was idle: once per message on a tunnel that
// waits for its peer between messages, which is most of them. Each wake
// costs context switches on the proxy's CPU; see docs/performance.md.
func readFD(fd uintptr, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// setRcvLowat sets SO_RCVLOWAT on a socket, raw for the reason readFD is.
func setRcvLowat(fd uintptr, n int) error {
	v := int32(n)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT,
		uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	if e != 0 {
		return e
	}
	return nil
}
