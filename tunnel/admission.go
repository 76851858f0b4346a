package tunnel

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// Defaults of the limits in Config, documented in docs/cli.md and
// docs/security.md ("Limits").
// defaultMaxHeaderBytes bounds a request's line and headers together. Go's
// default is 1 MiB; Apache allows 100 fields of 8190 bytes, but each is
// also bounded by itself (rules.Limits).
const defaultMaxHeaderBytes = 64 << 10

// errTooManyTunnels refuses an upgrade past Config.MaxTunnels.
var errTooManyTunnels = errors.New("too many open tunnels")

// maxHeaderBytes is Config.MaxHeaderBytes or its default.
func (s *Server) maxHeaderBytes() int {
	if s.cfg.MaxHeaderBytes > 0 {
		return s.cfg.MaxHeaderBytes
	}
	return defaultMaxHeaderBytes
}

// headerTimeout is Config.HeaderTimeout or its default.
func (s *Server) headerTimeout() time.Duration {
	if s.cfg.HeaderTimeout > 0 {
		return s.cfg.HeaderTimeout
	}
	return apacheTimeout
}

// checkHead applies Apache's LimitRequestLine, LimitRequestFieldSize and
// LimitRequestFields to a request Go's server has read. Go has no limit
// per line (only MaxHeaderBytes for the whole head), so a header line of
// 16 KiB would otherwise be forwarded, which Apache, nginx and HAProxy
// refuse. Go keeps no raw lines: a header line is counted as
// "Name: value", with one space, and folded lines as Go joined them.
func checkHead(r *http.Request, lim rules.Limits) error {
	if n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto); n > lim.Line+1 {
		return &rules.RequestError{Status: http.StatusRequestURITooLong,
			Reason: fmt.Sprintf("request line of %d bytes is longer than LimitRequestLine %d allows", n, lim.Line)}
	}
	fields := 0
	if r.Host != "" { // Go moves the Host line out of Header
		fields++
		if n := len("Host: ") + len(r.Host); n > lim.FieldSize+1 {
			return fieldTooLong("Host", n, lim)
		}
	}
	for name, values := range r.Header {
		fields += len(values)
		for _, v := range values {
			if n := len(name) + 2 + len(v); n > lim.FieldSize+1 {
				return fieldTooLong(name, n, lim)
			}
		}
	}
	if lim.Fields > 0 && fields > lim.Fields {
		return &rules.RequestError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("%d header lines, more than LimitRequestFields %d allows", fields, lim.Fields)}
	}
	return nil
}

func fieldTooLong(name string, n int, lim rules.Limits) error {
	return &rules.RequestError{Status: http.StatusBadRequest,
		Reason: fmt.Sprintf("header line %s of %d bytes is longer than LimitRequestFieldSize %d allows", name, n, lim.FieldSize)}
}

// admitRequest answers a request whose head is over the limits as Apache
// does (414 or 400), and closes the connection after it, as Apache does.
func (s *Server) admitRequest(w http.ResponseWriter, r *http.Request, t *rules.Table) bool {
	err := checkHead(r, t.RequestLimits())
	if err == nil {
		return true
	}
	w.Header().Set("Connection", "close")
	s.fail(w, r, err)
	return false
}

// admitUpgrade decides whether an upgrade request that a rule allows may
// try to open a tunnel: its Origin must match one of the table's patterns,
// if any (cross-site WebSocket hijacking: browsers send cookies with a
// WebSocket handshake from any site), and there must be room for one more
// tunnel. The count is checked again, under the registry's lock, when the
// tunnel is added; checking here first spares the backend a handshake
// that would be thrown away.
func (s *Server) admitUpgrade(r *http.Request, t *rules.Table) error {
	// Several Origin headers are joined with ", ", which matches nothing.
	origin := headerValue(r.Header, "Origin")
	_, hasOrigin := r.Header["Origin"]
	if !rules.OriginAllowed(t.AllowOrigins, origin, hasOrigin) {
		return &reasonError{"origin not allowed", &rules.RequestError{Status: http.StatusForbidden,
			Reason: fmt.Sprintf("origin %q is not allowed (WsgateAllowOrigin, --allow-origin)", origin)}}
	}
	if n := s.cfg.MaxTunnels; n > 0 && s.reg.open() >= n {
		return fmt.Errorf("%w (%d, --max-tunnels)", errTooManyTunnels, n)
	}
	return nil
}
