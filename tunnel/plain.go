package tunnel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/wsgate/wsgate/rules"
)

type matchKey struct{}

// plainTarget travels with a plain request to the reverse proxy's hooks.
type plainTarget struct {
	m  rules.Match
	bt *balanced
}

// errUnexpectedSwitch refuses a 101 to a request that asked for no upgrade:
// httputil.ReverseProxy would otherwise tunnel it.
var errUnexpectedSwitch = errors.New("backend switched protocols on a plain HTTP request")

// newReverseProxy builds the plain HTTP path: Apache's default
// (ProxyWebsocketFallbackToProxyHttp On) sends a request without an
// acceptable Upgrade to the same backend URL over HTTP, ws:// as http://.
func (s *Server) newReverseProxy() *httputil.ReverseProxy {
	s.transport = &http.Transport{
		Proxy:                 nil, // a local dev proxy must not follow HTTP_PROXY
		DialContext:           (&net.Dialer{Timeout: s.cfg.ConnectTimeout}).DialContext,
		TLSClientConfig:       s.cfg.BackendTLS,
		DisableCompression:    true, // pass bytes as the backend sent them
		ResponseHeaderTimeout: s.cfg.ResponseTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       apacheTimeout,
	}
	return &httputil.ReverseProxy{
		Rewrite:   s.rewrite,
		Transport: s.transport,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				return errUnexpectedSwitch
			}
			if resp.StatusCode < 100 || resp.StatusCode > 999 {
				return fmt.Errorf("backend answered with invalid status %d", resp.StatusCode)
			}
			pt, _ := resp.Request.Context().Value(matchKey{}).(plainTarget)
			editBackendResponse(resp.Request, resp.Header, pt.bt)
			return nil
		},
		ErrorHandler: s.plainError,
		ErrorLog:     nil,
	}
}

// plainError answers a plain request the backend failed. A balancer member
// that refused the connection is left out, and a request without a body is
// sent to the next member, as mod_proxy_balancer does: nothing was sent
// anywhere yet. (A body may be half read by then, so such a request fails.)
func (s *Server) plainError(w http.ResponseWriter, r *http.Request, err error) {
	pt, ok := r.Context().Value(matchKey{}).(plainTarget)
	if !ok || pt.bt == nil || pt.bt.mem == nil || !isDialError(err) {
		s.failMatch(w, r, pt.m, err)
		return
	}
	next, ferr := pt.bt.failover(r, err)
	if ferr != nil || (r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0) {
		s.failMatch(w, r, pt.m, cmp.Or(ferr, err))
		return
	}
	pt.m = next
	pt.bt.mem.open.Add(1)
	pt.bt.mem.total.Add(1)
	defer pt.bt.mem.open.Add(-1)
	s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), matchKey{}, pt)))
}

// rewrite points the outbound request at the matched backend URL, keeping
// its request target byte for byte as rules.Match made it.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	m := pr.In.Context().Value(matchKey{}).(plainTarget).m
	path, query, hasQuery := strings.Cut(m.RequestURI, "?")
	u := &url.URL{
		Scheme:     httpScheme(m.Scheme),
		Host:       m.Host,
		RawPath:    path,
		RawQuery:   query,
		ForceQuery: hasQuery && query == "",
	}
	var err error
	if u.Path, err = url.PathUnescape(path); err != nil {
		u.Path, u.RawPath = path, ""
	}
	pr.Out.URL = u
	pr.Out.Header, pr.Out.Host = outboundHeader(pr.In, m, s.serverNameOf(m))
}

func httpScheme(s string) string {
	switch s {
	case "ws":
		return "http"
	case "wss":
		return "https"
	}
	return s
}

// answerRecorder notes what a plain request was answered, for its log line:
// the final status and the body's size. Unwrap lets the reverse proxy
// reach the connection's Flusher through it.
type answerRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *answerRecorder) WriteHeader(code int) {
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *answerRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *answerRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
