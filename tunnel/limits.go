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
const (
	// defaultMaxHeaderBytes bounds a request's line and headers. Go's
	// default is 1 MiB; Apache allows 100 fields of 8190 bytes.
	defaultMaxHeaderBytes = 64 << 10
	// maxRequestLine is the longest request line Apache accepts with its
	// default LimitRequestLine 8190: observed on 2.4.71, a line of 8191
	// bytes (CRLF not counted) is served and one of 8192 is answered 414.
	maxRequestLine = 8191
)

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

// requestLineTooLong reports whether r's request line is longer than
// Apache's LimitRequestLine allows. Go has no such limit (a line longer
// than MaxHeaderBytes is answered 431 with the headers): this check sees
// the lines that got through.
func requestLineTooLong(r *http.Request) bool {
	return len(r.Method)+1+len(r.RequestURI)+1+len(r.Proto) > maxRequestLine
}

// admitRequest answers 414 to a request whose line is too long, as Apache
// does (and closes the connection after it, as Apache does for a 414).
func (s *Server) admitRequest(w http.ResponseWriter, r *http.Request) bool {
	if !requestLineTooLong(r) {
		return true
	}
	w.Header().Set("Connection", "close")
	s.fail(w, r, &rules.RequestError{Status: http.StatusRequestURITooLong,
		Reason: fmt.Sprintf("request line of %d bytes is longer than %d", len(r.Method)+len(r.RequestURI)+len(r.Proto)+2, maxRequestLine)})
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
		return &rules.RequestError{Status: http.StatusForbidden,
			Reason: fmt.Sprintf("origin %q is not allowed (WsgateAllowOrigin, --allow-origin)", origin)}
	}
	if n := s.cfg.MaxTunnels; n > 0 && s.reg.open() >= n {
		return fmt.Errorf("%w (%d, --max-tunnels)", errTooManyTunnels, n)
	}
	return nil
}

// open is the number of live tunnels.
func (r *registry) open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}
