package tunnel

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConn returns the socket of a plain TCP connection, whose readiness
// can be awaited without a buffer; nil for anything else (TLS keeps
// decrypted bytes of its own, so its socket says nothing).
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

// waitReadable blocks, in Go's network poller and honouring the read
// deadline, until the socket has a byte to read, has reached EOF or has
// failed; the Read that follows then returns at once. It peeks one byte
// (MSG_PEEK) so nothing is consumed, and calls recvfrom directly because
// syscall.Recvfrom allocates the peer address.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		return errno != syscall.EAGAIN && errno != syscall.EINTR
	})
}
