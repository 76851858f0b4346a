package tunnel

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// failureHistory is how many failed requests a Snapshot reports.
const failureHistory = 20

// FailureInfo is one request the proxy answered with an error, or one
// upgrade its backend refused: what Snapshot.Failed counts, told one by one.
type FailureInfo struct {
	Time   time.Time
	Client string
	Path   string // request target as the client sent it; "" when the head could not be read
	Route  string // the rule that matched, as TunnelInfo.Route; "" when none did
	Status int    // what the client was answered
	// Reason is the cause in a few words, for a glance: "backend refused
	// connection", "origin not allowed", "bad Sec-WebSocket-Accept",
	// "backend timeout", "upgrade refused by backend". Error says it all.
	Reason string
	Error  string
}

// fail counts a failed request and keeps it in the history: the one place
// every failure goes through, so that Snapshot.Failed and
// Snapshot.Failures agree.
func (r *registry) fail(f FailureInfo) {
	r.failed.Add(1)
	r.mu.Lock()
	r.counts(f.Route).failures[failKey{f.Status, f.Reason}]++
	if len(r.failures) < failureHistory {
		r.failures = append(r.failures, f)
	} else {
		r.failures[r.failNext] = f
	}
	r.failNext = (r.failNext + 1) % failureHistory
	r.mu.Unlock()
}

// recentFailures is the history, newest first; the caller holds r.mu.
func (r *registry) recentFailures() []FailureInfo {
	n := len(r.failures)
	out := make([]FailureInfo, 0, n)
	for i := range n {
		out = append(out, r.failures[(r.failNext-1-i+n)%n])
	}
	return out
}

// failure describes a failed request r, which matched m (if m.Rule is
// set), answered code because of err.
func failure(r *http.Request, m rules.Match, code int, err error) FailureInfo {
	f := FailureInfo{Time: time.Now(), Client: r.RemoteAddr, Path: r.RequestURI, Status: code,
		Reason: failReason(err, code), Error: err.Error()}
	if m.Rule != nil {
		f.Route = routeName(m.Rule)
	}
	return f
}

// reasonError names the cause of a failure where the error's type does
// not tell it (a 403 for an origin, a 101 with the wrong accept key). Its
// text is err's: logs read the same with or without it.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

// failReason is FailureInfo.Reason for err, answered code: statusFor's
// companion, which says why where statusFor says what.
func failReason(err error, code int) string {
	var re *reasonError
	var oe *net.OpError
	var ne net.Error
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &re):
		return re.reason
	case errors.Is(err, errShuttingDown):
		return "shutting down"
	case errors.Is(err, errNoMember):
		return "no balancer member"
	case errors.Is(err, errTooManyTunnels):
		return "too many tunnels"
	case errors.Is(err, errBodyTooLarge):
		return "body too large"
	case errors.As(err, &cv):
		return "backend certificate"
	case errors.As(err, &rh):
		return "backend not TLS"
	case errors.As(err, &oe) && oe.Op == "dial":
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return "backend refused connection"
		case oe.Timeout():
			return "connect timeout"
		}
		return "backend unreachable"
	case errors.As(err, &ne) && ne.Timeout():
		return "backend timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "backend hung up"
	}
	return strings.ToLower(http.StatusText(code))
}
