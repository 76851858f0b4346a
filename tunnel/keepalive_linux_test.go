package tunnel

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/wsgate/wsgate/rules"
)

// keepalive=On turns TCP keep-alive probes on for the backend connection,
// with the system's timings as Apache does; without it there are none.
func TestDialKeepAlive(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	srv := New(Config{Table: &rules.Table{}})
	defer srv.Shutdown(context.Background())
	for _, on := range []bool{true, false} {
		c, err := srv.dial(testContext(t), rules.Match{Scheme: "ws", Host: ln.Addr().String(), KeepAlive: on})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var serr error
		raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
		c.Close()
		if serr != nil {
			t.Fatal(serr)
		}
		if got := v != 0; got != on {
			t.Errorf("keepalive=%v: SO_KEEPALIVE = %d", on, v)
		}
	}
}
