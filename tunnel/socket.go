package tunnel

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsgate/wsgate/internal/midpage"
)

// The relay's seam with the platform. A direction reads its source through
// a reader and writes its destination through a writer, and each has two
// implementations:
//
//   - the portable path, connReader and connWriter: Read and Write on the
//     net.Conn, for TLS connections and on every system;
//   - the Linux path (socket_linux.go), for plain TCP sockets: raw system
//     calls inside Go's poller, no buffer held while waiting, frame-sized
//     reads (SO_RCVLOWAT), and parking idle directions in an epoll set of
//     the server's (parker_linux.go) so that they hold no goroutine.
//
// Both are the product: the tests run the whole suite on each
// (WSGATE_RELAY=portable forces the portable path; docs/design.md).

// reader is how a direction waits for bytes and reads them.
type reader interface {
	// read waits until the source has bytes, EOF or an error, or the
	// read deadline passes, and returns what came. The bytes are valid
	// until the next call.
	read() ([]byte, error)
	// setDeadline sets the read deadline; zero: none.
	setDeadline(time.Time)
	// release gives back the buffer held between reads, if any.
	release()
	// parks reports whether park can hand the wait to the parker.
	parks() bool
	// park registers the source with the parker, which starts the
	// direction again when bytes or EOF arrive, and returns errParked;
	// or the error that made parking impossible (a closed socket).
	park() error
}

// writer writes one direction's bytes to its destination.
type writer interface {
	// write writes all of p, or fails; n is how much went out. After
	// every piece that went out it stores the time in the tunnel's
	// activity clock, if it has one (an idle timeout).
	write(p []byte) (n int, err error)
}

// portable forces the portable path on every connection (tests).
var portable = false

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

// buffer is a direction's read buffer, taken from the pools while bytes
// flow and given back when they stop.
type buffer struct {
	bp  *[]byte // nil: none held
	big bool    // a read has filled the small buffer: take the big one
}

// get returns the buffer to read into, taking one if none is held.
func (b *buffer) get() []byte {
	if b.bp != nil && b.big && len(*b.bp) == smallBufSize {
		b.put() // grown: the bytes of the last read are passed on by now
	}
	if b.bp == nil {
		if b.big {
			b.bp = bigBufs.Get().(*[]byte)
		} else {
			b.bp = smallBufs.Get().(*[]byte)
		}
	}
	return *b.bp
}

// filled notes a read of n bytes into the buffer.
func (b *buffer) filled(n int) {
	if n == smallBufSize && len(*b.bp) == smallBufSize {
		b.big = true
	}
}

func (b *buffer) put() {
	if b.bp == nil {
		return
	}
	if len(*b.bp) == bigBufSize {
		bigBufs.Put(b.bp)
	} else {
		smallBufs.Put(b.bp)
	}
	b.bp = nil
}

// connReader is the portable reader: Read on the connection, which holds
// its buffer while it waits.
type connReader struct {
	c   net.Conn
	buf buffer
}

func (r *connReader) read() ([]byte, error) {
	b := r.buf.get()
	n, err := r.c.Read(b)
	r.buf.filled(n)
	return b[:n], err
}

func (r *connReader) setDeadline(at time.Time) { r.c.SetReadDeadline(at) }
func (r *connReader) release()                 { r.buf.put() }
func (r *connReader) parks() bool              { return false }
func (r *connReader) park() error              { return errParked } // never called: parks is false

// pieceSize bounds what the portable writer hands Write at once when a
// tunnel has an idle timeout: progress is only seen when a Write returns,
// so a peer that reads slowly but steadily must see Writes return. A TLS
// record holds 16 KiB, so TLS loses nothing by it.
const pieceSize = 16 << 10

// connWriter is the portable writer: Write on the connection.
type connWriter struct {
	c      net.Conn
	active *atomic.Int64 // the tunnel's activity clock; nil: no idle timeout
}

func (w *connWriter) write(p []byte) (int, error) {
	if w.active == nil {
		return w.c.Write(p)
	}
	n := 0
	for n < len(p) {
		m, err := w.c.Write(p[n:min(len(p), n+pieceSize)])
		n += m
		if m > 0 {
			w.active.Store(time.Now().UnixNano())
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
