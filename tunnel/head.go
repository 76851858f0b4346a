package tunnel

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Apache answers 400 to a request head with a bare LF anywhere: the
// request line, a header line, the blank line (observed on 2.4.71). Go's
// server reads such a head. headConn watches the bytes of each request
// head as net/http reads them off a plain TCP connection, without a second
// parser: it only checks that every LF follows a CR until the blank line
// that ends the head, and fails the read when one does not; net/http then
// answers "400 Bad Request" and closes the connection, as Apache does.
// After the head it passes bytes through untouched (a body may hold any
// byte) until the server goes idle between requests (ConnState), when it
// watches again. A TLS connection is not watched: net/http must see it as
// a *tls.Conn (docs/apache.md, difference 7).

var errBareLF = errors.New("bare LF in the request head (Apache answers 400)")

// headListener wraps the plain TCP connections it accepts in a headConn.
type headListener struct {
	net.Listener
	s *Server
}

func (l headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		return &headConn{TCPConn: tc, s: l.s, empty: true}, nil
	}
	return c, err
}

// headConn is a client connection whose request heads are watched.
type headConn struct {
	*net.TCPConn
	s      *Server
	done   atomic.Bool // the head has ended: pass bytes through
	cr     bool        // the last byte of the head so far was CR
	empty  bool        // the line in progress is empty so far
	lines  int         // lines of the head ended so far
	bad    bool        // a bare LF was found: the next read fails
	logged bool        // and the refusal was logged
}

// refuse fails the read that found a bare LF, and logs it once: net/http
// then answers 400 and closes the connection.
func (c *headConn) refuse() error {
	if !c.logged {
		c.logged = true
		c.s.reg.fail(FailureInfo{Time: time.Now(), Client: c.RemoteAddr().String(), Status: http.StatusBadRequest,
			Reason: "bare LF in head", Error: errBareLF.Error()})
		if c.s.logs(slog.LevelInfo) {
			c.s.log.Info("request failed", "client", c.RemoteAddr().String(), "status", http.StatusBadRequest,
				"error", errBareLF.Error())
		}
	}
	c.bad = true
	return errBareLF
}

// NetConn is the TCP connection, for a tunnel once the client is hijacked:
// the relay takes the Linux path on it.
func (c *headConn) NetConn() net.Conn { return c.TCPConn }

func (c *headConn) Read(p []byte) (int, error) {
	if c.bad {
		return 0, c.refuse()
	}
	n, err := c.TCPConn.Read(p)
	if c.done.Load() || n == 0 {
		return n, err
	}
	for i, b := range p[:n] {
		switch b {
		case '\n':
			if !c.cr {
				if i == 0 {
					return 0, c.refuse()
				}
				// The bytes before it first, and the error on the next
				// read: between two requests net/http peeks at the
				// next one, and closes without an answer if that fails.
				c.bad = true
				return i, nil
			}
			if c.empty && c.lines > 0 {
				// The blank line: the head has ended, and what follows
				// (a body, the next request) is net/http's to read.
				c.done.Store(true)
				return n, err
			}
			if !c.empty {
				c.lines++
			}
			c.cr, c.empty = false, true
		case '\r':
			c.cr = true
		default:
			c.cr, c.empty = false, false
		}
	}
	return n, err
}

// rearm watches the next request's head.
func (c *headConn) rearm() {
	c.cr, c.empty, c.lines = false, true, 0
	c.done.Store(false)
}

// ReadFrom keeps the TCP connection's sendfile and splice for responses.
func (c *headConn) ReadFrom(r io.Reader) (int64, error) { return c.TCPConn.ReadFrom(r) }

// headState is the http.Server's ConnState hook: an idle connection's
// next bytes are a new head.
func headState(c net.Conn, st http.ConnState) {
	if hc, ok := c.(*headConn); ok && st == http.StateIdle {
		hc.rearm()
	}
}
