package tunnel

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// apacheTimeout is Apache's default Timeout directive. It bounds the connect,
// the wait for the backend's answer and the reading of a request's headers
// when nothing more specific is configured. It is never an idle timeout:
// a tunnel without timeout= stays open while both peers keep it open.
const apacheTimeout = 60 * time.Second

// Config configures a Server. The zero value of every field but Table is
// valid and says what it means.
type Config struct {
	// Table is the routing table. Required; SetTable replaces it later.
	Table *rules.Table
	// Logger gets one line per tunnel opened and closed and one per
	// failed request. Nil discards them.
	Logger *slog.Logger
	// BackendTLS configures connections to wss:// and https:// backends.
	// Nil means the system roots with verification on; the server name is
	// taken from the backend URL unless set here.
	BackendTLS *tls.Config
	// ServerName is sent to backends as X-Forwarded-Server. Empty: the
	// machine's host name, which is what Apache uses without ServerName.
	ServerName string
	// ConnectTimeout bounds connecting to a backend (TCP and TLS) when the
	// rule sets no connectiontimeout=. Zero: 60 s, as Apache.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for the backend's answer when the
	// rule sets no timeout=. Zero: 60 s, as Apache. Expiry answers 502.
	ResponseTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers; past it the
	// request is answered 431 (Go's server allows 4 KiB of slack). Zero:
	// 64 KiB. A request line longer than Apache's 8191 bytes is answered
	// 414 whatever this says.
	MaxHeaderBytes int
	// HeaderTimeout bounds the reading of a request's line and headers
	// from its first byte, and the wait for the next request on a
	// keep-alive connection: a client that trickles its headers
	// (slowloris) or idles is disconnected. Zero: 60 s, Apache's Timeout.
	HeaderTimeout time.Duration
	// MaxTunnels bounds the open tunnels: past it an upgrade is answered
	// 503 and logged, while plain HTTP requests are still served. Zero:
	// no limit.
	MaxTunnels int

	// OnMessage, when set, is called for every WebSocket message and
	// control frame that passes a tunnel, from that tunnel's relay
	// goroutine: it must be quick and must not keep Payload. Nil: messages
	// are counted, never copied.
	OnMessage func(Message)
	// TraceBytes is how much of each payload a Message carries. Zero: 256.
	TraceBytes int
	// OnTunnel, when set, is called when a tunnel opens and when it closes.
	OnTunnel func(TunnelEvent)
	// OnHTTP, when set, is called once for every plain HTTP request (not
	// an upgrade, or an upgrade the rule falls back to HTTP for), from
	// its handler once the answer was written or cut short. Both bodies
	// are teed as they stream, their first TraceBytes kept, never held
	// back: a long poll's answer reaches the client as it would untraced.
	// Nil: the plain path copies nothing and wraps nothing.
	OnHTTP func(HTTPExchange)
	// KeepHandshakes keeps each tunnel's upgrade request and 101 header
	// for TunnelDetail (the live view's detail pane): about a kilobyte a
	// tunnel and a formatting per handshake, so only when someone may
	// look. False: TunnelDetail has the counters, not the headers.
	KeepHandshakes bool
	// StripCompression removes permessage-deflate from the extensions a
	// client offers, so that traced payloads are readable.
	StripCompression bool
	// Wrap, when set, wraps the server's handler on every listener: a
	// status page, say, that answers some paths itself.
	Wrap func(http.Handler) http.Handler
}

// Server is the proxy: an http.Handler that upgrades matched requests into
// tunnels and proxies the others as plain HTTP.
type Server struct {
	cfg        Config
	traceBytes int
	log        *slog.Logger
	serverName string
	cur        atomic.Pointer[current]
	reg        registry
	proxy      *httputil.ReverseProxy
	parkOnce   sync.Once
	parker     *parker // where idle tunnel directions wait, from the first tunnel on
	transport  *http.Transport

	mu       sync.Mutex
	servers  []*http.Server
	shutdown bool // Shutdown has begun: Serve must not start
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger, serverName: cfg.ServerName}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.serverName == "" {
		s.serverName, _ = os.Hostname()
	}
	if s.cfg.ConnectTimeout <= 0 {
		s.cfg.ConnectTimeout = apacheTimeout
	}
	if s.cfg.ResponseTimeout <= 0 {
		s.cfg.ResponseTimeout = apacheTimeout
	}
	s.traceBytes = cmp.Or(max(cfg.TraceBytes, 0), 256)
	s.cur.Store(&current{table: cfg.Table, pools: s.startPools(cfg.Table)})
	s.proxy = s.newReverseProxy()
	return s
}

// current is the table in use and its balancers' state, swapped together.
type current struct {
	table *rules.Table
	pools *pools
}

// SetTable makes new requests use t; open tunnels are not touched. The
// balancers start afresh.
func (s *Server) SetTable(t *rules.Table) {
	old := s.cur.Swap(&current{table: t, pools: s.startPools(t)})
	old.pools.close()
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown, like a clean stop should.
func (s *Server) Serve(ln net.Listener) error {
	var h http.Handler = s
	if s.cfg.Wrap != nil {
		h = s.cfg.Wrap(s)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.headerTimeout(),
		IdleTimeout:       s.headerTimeout(),
		MaxHeaderBytes:    s.maxHeaderBytes(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState:         headState,
	}
	ln = headListener{ln, s}
	s.mu.Lock()
	if s.shutdown {
		// Shutdown ran before this Serve got going: it must not start
		// accepting now, where no one would ever stop it.
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting and ends every tunnel gracefully: each peer of a
// WebSocket tunnel gets a close frame with 1001 (going away) between two
// frames, and the tunnels are given until ctx is done to finish; then
// whatever is left is closed. Requests in flight are waited for the same
// way. Hijacked connections are invisible to http.Server.Shutdown, hence
// the registry.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	servers := s.servers
	s.mu.Unlock()
	var away sync.WaitGroup
	s.reg.goAwayAll(&away)
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			// Requests still in flight (a plain request, an upgrade
			// waiting for its backend) are cut: closing their client
			// connections cancels their contexts.
			hs.Close()
			errs = append(errs, err)
		}
	}
	s.cur.Load().pools.close()
	s.transport.CloseIdleConnections()
	if !s.reg.wait(ctx) {
		n, what := s.reg.open(), "tunnels"
		if n == 1 {
			what = "tunnel"
		}
		errs = append(errs, fmt.Errorf("grace period over, %d %s closed at once: %w", n, what, ctx.Err()))
	}
	s.reg.stopAll()
	s.reg.wait(context.Background())
	away.Wait()
	s.parkOnce.Do(func() {}) // none after this
	if s.parker != nil {
		s.parker.close()
	}
	return errors.Join(errs...)
}

// tunnelParker returns the parker, started with the first tunnel so that a
// server that never tunnels runs no goroutine for it. Nil after Shutdown,
// or where epoll is missing: directions then wait in their goroutines.
func (s *Server) tunnelParker() *parker {
	s.parkOnce.Do(func() { s.parker = newParker() })
	return s.parker
}

// Snapshot returns the counters, the tunnels and the balancers.
func (s *Server) Snapshot() Snapshot {
	now := time.Now()
	snap := s.reg.snapshot(now)
	cur := s.cur.Load()
	snap.Balancers = cur.pools.snapshot(cur.table, now)
	return snap
}

// ServeHTTP routes one request: a matched request asking for an Upgrade the
// rule allows becomes a tunnel; any other matched request is proxied as
// plain HTTP (Apache's default, ProxyWebsocketFallbackToProxyHttp On).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cur := s.cur.Load()
	if !s.admitRequest(w, r, cur.table) {
		return
	}
	m, err := cur.table.Match(r)
	// The request's header lines; its server's for a request that
	// matched nothing, so that "Header always" reaches its 404 too.
	scope := m.Edits
	if err != nil {
		scope = cur.table.ErrorScope(r)
	}
	r = s.withEdits(r, cur.table, scope, m, start)
	defer s.logEdits(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if m.Redirect != nil {
		s.redirect(w, r, m)
		return
	}
	var bt balanced
	if m.Balancer != nil {
		if bt, err = cur.pick(r, m); err != nil {
			s.failMatch(w, r, m, err)
			return
		}
		m = memberMatch(m, bt.mem)
	}
	switch act, proto := m.Action(r); act {
	case rules.ActTunnel:
		if err := s.admitUpgrade(r, cur.table); err != nil {
			s.failMatch(w, r, m, err)
			return
		}
		s.upgrade(w, r, m, proto, bt, start)
		return
	case rules.ActUpgradeRequired:
		s.upgradeRequired(w, r, m)
		return
	}
	s.reg.plain.Add(1)
	if bt.mem != nil {
		bt.mem.open.Add(1)
		bt.mem.total.Add(1)
		defer bt.mem.open.Add(-1)
	}
	rec := &answerRecorder{ResponseWriter: w}
	pr := r.WithContext(context.WithValue(r.Context(), matchKey{}, plainTarget{m, &bt}))
	if s.cfg.OnHTTP != nil {
		s.proxyTraced(rec, pr, m, &bt, start)
	} else {
		s.proxy.ServeHTTP(rec, pr)
	}
	s.reg.plainDone(routeName(m.Rule), rec.status)
	if s.logs(slog.LevelInfo) {
		s.log.Info("http request", "client", r.RemoteAddr, "method", r.Method, "path", r.RequestURI,
			"status", rec.status, "bytes", rec.bytes, "duration", time.Since(start).Round(time.Microsecond), "backend", m.URL())
	}
}

// balanced is the balancer member a request was sent to, if any.
type balanced struct {
	pool  *pool
	mem   *member
	orig  rules.Match // the match before the member was applied
	tried []*member
}

func (c *current) pick(r *http.Request, m rules.Match) (balanced, error) {
	p := c.pools.byBalancer[m.Balancer]
	if p == nil {
		return balanced{}, fmt.Errorf("%w: balancer://%s has no state", errNoMember, m.Balancer.Name)
	}
	mem, err := p.pick(r, nil, time.Now())
	return balanced{pool: p, mem: mem, orig: m}, err
}

// failover marks the current member failed and picks another one not yet
// tried, as mod_proxy_balancer does when a connect fails.
func (bt *balanced) failover(r *http.Request, err error) (rules.Match, error) {
	now := time.Now()
	bt.pool.failed(bt.mem, err, now)
	bt.tried = append(bt.tried, bt.mem)
	next, perr := bt.pool.pick(r, bt.tried, now)
	if perr != nil {
		return rules.Match{}, fmt.Errorf("%w; last: %w", perr, err)
	}
	bt.mem = next
	return memberMatch(bt.orig, next), nil
}

// upgradeRequired answers an Upgrade the rule does not allow under
// ProxyWebsocketFallbackToProxyHttp Off, as Apache's legacy
// mod_proxy_wstunnel does: 426 naming the protocol the rule speaks.
func (s *Server) upgradeRequired(w http.ResponseWriter, r *http.Request, m rules.Match) {
	proto := m.Rule.Upgrade
	if proto == "" || strings.EqualFold(proto, "ANY") || strings.EqualFold(proto, "NONE") {
		proto = "WebSocket"
	}
	w.Header().Set("Upgrade", proto)
	w.Header().Set("Connection", "Upgrade")
	s.failMatch(w, r, m, &rules.RequestError{Status: http.StatusUpgradeRequired,
		Reason: fmt.Sprintf("Upgrade %q is not allowed by %s", headerValue(r.Header, "Upgrade"), m.Rule)})
}

var (
	errShuttingDown = errors.New("shutting down")
	errBodyTooLarge = errors.New("upgrade request body too large")
)

// statusFor is the one place that decides what a request that failed before
// any tunnel is answered, following what Apache answers in the same case.
func statusFor(err error) int {
	var re *rules.RequestError
	var oe *net.OpError
	switch {
	case errors.As(err, &re):
		return re.Status
	case errors.Is(err, errShuttingDown), errors.Is(err, errNoMember), errors.Is(err, errTooManyTunnels):
		return http.StatusServiceUnavailable
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &oe) && oe.Op == "dial":
		// Refused, unreachable or connect timeout: the backend was never
		// reached, which Apache answers 503 (ap_proxy_connect_backend),
		// unlike a backend that was reached and misbehaved (502).
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway // TLS, timeouts waiting for the answer, invalid answers
}

// fail answers a request that could not be proxied and logs why, once.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.failMatch(w, r, rules.Match{}, err)
}

// failMatch is fail for a request that matched m: it is counted under
// m's route.
func (s *Server) failMatch(w http.ResponseWriter, r *http.Request, m rules.Match, err error) {
	code := statusFor(err)
	level := slog.LevelWarn
	if code < 500 {
		level = slog.LevelInfo
	}
	s.reg.fail(failure(r, m, code, err))
	attrs := []any{"client", r.RemoteAddr, "path", r.RequestURI, "status", code, "error", err.Error()}
	if h := TLSHint(err); h != "" {
		attrs = append(attrs, "hint", h)
	}
	s.log.Log(r.Context(), level, "request failed", attrs...)
	editsOf(r).Response(w.Header(), false)
	http.Error(w, fmt.Sprintf("%d %s", code, http.StatusText(code)), code)
}

// TLSHint says how to trust a backend whose certificate failed
// verification, "" for any other error: the 502 alone does not say that
// the fix is one flag away.
func TLSHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &host):
		return "the backend's certificate does not name the host dialled: dial the name it has, or turn the check off with SSLProxyCheckPeerName off"
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &verify):
		return "to trust the backend's certificate, give its CA with --backend-ca FILE (SSLProxyCACertificateFile in a rules file), " +
			"or skip verification with --backend-insecure-skip-verify (SSLProxyVerify none)"
	}
	return ""
}

// dial connects to the backend of m, with TLS for wss:// and https://.
func (s *Server) dial(ctx context.Context, m rules.Match) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(m.ConnectTimeout, s.cfg.ConnectTimeout))
	defer cancel()
	addr := withPort(m.Scheme, m.Host)
	nd := backendDialer(m)
	if m.Scheme == "wss" || m.Scheme == "https" {
		d := tls.Dialer{NetDialer: nd, Config: s.cfg.BackendTLS}
		return d.DialContext(ctx, "tcp", addr)
	}
	return nd.DialContext(ctx, "tcp", addr)
}

// backendDialer sends TCP keep-alive probes only for a rule with
// keepalive=On, and then with the system's timings, as Apache does
// (APR_SO_KEEPALIVE, nothing else set); none otherwise.
func backendDialer(m rules.Match) *net.Dialer {
	if m.KeepAlive {
		return &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}}
	}
	return &net.Dialer{KeepAlive: -1}
}

// withPort adds the scheme's default port to host when it has none.
func withPort(scheme, host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if scheme == "wss" || scheme == "https" {
		return net.JoinHostPort(trimBrackets(host), "443")
	}
	return net.JoinHostPort(trimBrackets(host), "80")
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}
