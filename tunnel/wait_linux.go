package tunnel

import (
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn returns the socket of a plain TCP connection, which the relay
// reads itself so that it can wait for bytes without a buffer; nil for
// anything else (TLS keeps decrypted bytes of its own, so its socket says
// nothing).
func rawConn(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// readFD reads from a socket that Go's poller watches, for pump.run.
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

// sender writes one direction's bytes to its socket, raw for the reason
// readFD is, waiting in Go's poller while the socket is full. Its
// callback is made once per tunnel, so that a write allocates nothing.
type sender struct {
	c     net.Conn
	rc    syscall.RawConn // nil: not a plain TCP socket, use c.Write
	p     []byte          // what is left to write, during write
	errno syscall.Errno
	try   func(fd uintptr) bool
}

func newSender(c net.Conn) *sender {
	s := &sender{c: c, rc: rawConn(c)}
	s.try = s.writeSome
	return s
}

func (s *sender) write(p []byte) (int, error) {
	if s.rc == nil {
		return s.c.Write(p)
	}
	s.p, s.errno = p, 0
	err := s.rc.Write(s.try)
	n := len(p) - len(s.p)
	s.p = nil
	if s.errno != 0 {
		err = &net.OpError{Op: "write", Net: "tcp", Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(),
			Err: os.NewSyscallError("write", s.errno)}
	}
	return n, err
}

// writeSome is the RawConn.Write callback: false asks to be called again
// once the socket can take more.
func (s *sender) writeSome(fd uintptr) bool {
	for len(s.p) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.p))), uintptr(len(s.p)))
		switch e {
		case 0:
			s.p = s.p[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.errno = e
			return true
		}
	}
	return true
}

// setRcvLowat sets SO_RCVLOWAT on a socket (batch.go), raw for the reason
// readFD is.
func setRcvLowat(fd uintptr, n int) error {
	v := int32(n)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT,
		uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	if e != 0 {
		return e
	}
	return nil
}

// rcvBuf is a socket's receive buffer size (SO_RCVBUF).
func rcvBuf(fd uintptr) (int, error) {
	return syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
}
