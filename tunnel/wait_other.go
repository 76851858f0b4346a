//go:build !linux

package tunnel

import (
	"net"
	"syscall"
)

// rawConn is nil where waitReadable is not implemented: the relay then
// keeps its buffer while it waits, as before.
func rawConn(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) error { return nil }
