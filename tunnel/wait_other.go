//go:build !linux

package tunnel

import (
	"net"
	"syscall"
)

// rawConn is nil where readFD is not implemented: the relay then calls
// Read, and keeps its buffer while it waits.
func rawConn(net.Conn) syscall.RawConn { return nil }

func readFD(uintptr, []byte) (int, error) { return 0, syscall.EINVAL }

type sender struct{ c net.Conn }

func newSender(c net.Conn) *sender { return &sender{c} }

func (s *sender) write(p []byte) (int, error) { return s.c.Write(p) }

func setRcvLowat(uintptr, int) error { return syscall.EINVAL }

func rcvBuf(uintptr) (int, error) { return 0, syscall.EINVAL }
