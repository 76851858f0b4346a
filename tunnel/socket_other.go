//go:build !linux

package tunnel

import (
	"net"
	"sync/atomic"
)

// Off Linux every connection takes the portable path (socket.go).

func newReader(_ *Tunnel, _ Direction, c net.Conn) reader { return &connReader{c: c} }

func newWriter(c net.Conn, active *atomic.Int64) writer {
	return &connWriter{c: c, active: active}
}
