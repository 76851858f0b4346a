package tunnel

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// A direction with nothing to read gives up its goroutine, and so its
// stack: it registers its socket with one epoll instance shared by the
// server, and a goroutine is started for it again when bytes (or EOF)
// arrive. An idle tunnel then costs heap only, a few KiB, instead of two
// parked goroutines. The epoll descriptor is itself waited for in Go's
// poller, so no thread blocks on it.
type parker struct {
	ep   int
	rc   syscall.RawConn
	file *os.File
	done chan struct{}

	mu     sync.Mutex
	parked map[uint64]parkedDir
	closed bool
}

// parkedDir is a direction waiting for bytes in the parker.
type parkedDir struct {
	t *Tunnel
	d Direction
}

// errParked ends a relay goroutine whose direction now waits in the parker.
var errParked = errors.New("parked")

func newParker() *parker {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil // relay goroutines then wait in Go's poller, as elsewhere
	}
	if err := syscall.SetNonblock(ep, true); err != nil {
		syscall.Close(ep)
		return nil
	}
	f := os.NewFile(uintptr(ep), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	p := &parker{ep: ep, rc: rc, file: f, done: make(chan struct{}), parked: map[uint64]parkedDir{}}
	go p.serve()
	return p
}

// park registers direction d of t, whose socket is src, to be resumed when
// the socket turns readable (level-triggered: bytes or a FIN that came
// before it was armed wake it at once). armed says src is in the epoll
// set already. It returns errParked, or the error that made parking
// impossible (the connection was closed).
func (p *parker) park(t *Tunnel, d Direction, src syscall.RawConn, armed *bool) error {
	key := t.ID<<1 | uint64(d)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd: int32(key), Pad: int32(key >> 32)}
	// Held while the socket is armed, so that its event (or unpark) cannot
	// resume the direction before this goroutine is done with it.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	var cerr error
	err := src.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !*armed {
			op = syscall.EPOLL_CTL_ADD
		}
		cerr = syscall.EpollCtl(p.ep, op, int(fd), &ev)
		*armed = cerr == nil
	})
	if err = errors.Join(err, cerr); err != nil {
		return err // closed meanwhile: the direction sees it and ends
	}
	p.parked[key] = parkedDir{t, d}
	return errParked
}

// unpark resumes both directions of t if they are parked: closing a socket
// removes it from the epoll set, so a closed tunnel would never wake.
func (p *parker) unpark(t *Tunnel) {
	p.resume(t.ID << 1)
	p.resume(t.ID<<1 | 1)
}

// resume starts the relay goroutine of a parked direction, once.
func (p *parker) resume(key uint64) {
	p.mu.Lock()
	pd, ok := p.parked[key]
	delete(p.parked, key)
	p.mu.Unlock()
	if ok {
		go pd.t.relay(pd.d, nil, true)
	}
}

func (p *parker) serve() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		err := p.rc.Read(func(uintptr) bool {
			for {
				n, err := syscall.EpollWait(p.ep, events, 0)
				if err == syscall.EINTR {
					continue
				}
				if n <= 0 {
					return false // nothing ready: back to Go's poller
				}
				for _, ev := range events[:n] {
					p.resume(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32)
				}
				if n < len(events) {
					// Drained. An event that comes from now on is a
					// new edge for Go's poller, so asking again
					// would only return nothing: one call per wake.
					return false
				}
			}
		})
		if err != nil {
			return // closed by close
		}
	}
}

// close stops the parker. Every tunnel must be over: a direction still
// parked would never resume.
func (p *parker) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.file.Close()
	<-p.done
}
