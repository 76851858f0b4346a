package tunnel

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/wsgate/wsgate/rules"
)

type matchKey struct{}

// plainTarget travels with a plain request to the reverse proxy's hooks.
type plainTarget struct {
	m  rules.Match
	bt balanced
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
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A plain request is not retried on another member (its body
			// may be gone), but a member that refused is left out.
			var oe *net.OpError
			if pt, ok := r.Context().Value(matchKey{}).(plainTarget); ok && pt.bt.mem != nil &&
				errors.As(err, &oe) && oe.Op == "dial" {
				pt.bt.pool.failed(pt.bt.mem, err, time.Now())
			}
			s.fail(w, r, err)
		},
		ErrorLog: nil,
	}
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
	pr.Out.Host = backendHost(pr.In, m, s.serverName)
	pr.Out.Header = outboundHeader(pr.In, m, s.serverName)
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
