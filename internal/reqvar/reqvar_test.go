package reqvar

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// request is a request as Go's server hands it over, on 127.0.0.1:18301
// from 127.0.0.1:35762.
func request(host string) *http.Request {
	r := httptest.NewRequest("GET", "/a%20b?q=1", nil)
	r.Host = host
	r.RemoteAddr = "127.0.0.1:35762"
	ln := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18301}
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, ln))
}

func TestAbsoluteURL(t *testing.T) {
	cases := []struct{ u, host, want string }{
		{"http://new.example/new", "h:1", "http://new.example/new"},
		{"/relative/x/y?z", "127.0.0.1:18301", "http://127.0.0.1:18301/relative/x/y?z"},
		{"/p", "", "http://wsgate.test/p"},
		{"/p", "Example.COM.:80", "http://example.com/p"},
		{"/p", "[::1]:8080", "http://[::1]:8080/p"},
	}
	for _, tc := range cases {
		if got := AbsoluteURL(tc.u, request(tc.host), "wsgate.test"); got != tc.want {
			t.Errorf("AbsoluteURL(%q, Host %q) = %q; want %q", tc.u, tc.host, got, tc.want)
		}
	}
}

// The values are Apache 2.4.71's for the same request, as mod_rewrite,
// ap_expr and mod_ssl all answer them (UseCanonicalName Off).
func TestVar(t *testing.T) {
	plain := Request{HTTP: request("[::1]:8080"), URI: "/a b", Query: "q=1"}
	secure := Request{HTTP: request("Example.com."), ServerName: "wsgate.test"}
	secure.HTTP.TLS = &tls.ConnectionState{}
	none := Request{ServerName: "vhost.test"}
	cases := []struct {
		q          *Request
		name, want string
	}{
		{&plain, "SERVER_NAME", "[::1]"},
		{&plain, "SERVER_PORT", "8080"},
		{&plain, "HTTP_HOST", "[::1]:8080"},
		{&plain, "REQUEST_URI", "/a b"},
		{&plain, "QUERY_STRING", "q=1"},
		{&plain, "THE_REQUEST", "GET /a%20b?q=1 HTTP/1.1"},
		{&plain, "REMOTE_ADDR", "127.0.0.1"},
		{&plain, "REMOTE_PORT", "35762"},
		{&plain, "SERVER_ADDR", "127.0.0.1"},
		{&plain, "HTTPS", "off"},
		{&secure, "SERVER_NAME", "example.com"},
		{&secure, "SERVER_PORT", "443"},
		{&secure, "REQUEST_SCHEME", "https"},
		{&secure, "HTTPS", "on"},
		{&none, "SERVER_NAME", "vhost.test"},
		{&none, "SERVER_PORT", "80"},
		{&none, "THE_REQUEST", "GET / HTTP/1.1"},
		{&none, "REMOTE_ADDR", ""},
	}
	for i, tc := range cases {
		if got, ok := tc.q.Var(tc.name); !ok || got != tc.want {
			t.Errorf("case %d: Var(%s) = %q, %v; want %q", i, tc.name, got, ok, tc.want)
		}
	}
	if v, ok := plain.Var("NO_SUCH_VAR"); ok {
		t.Errorf("Var(NO_SUCH_VAR) = %q, true; want false", v)
	}
}
