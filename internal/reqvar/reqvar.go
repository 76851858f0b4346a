// Package reqvar is a request as Apache's variables see it: %{HTTP_HOST},
// %{SERVER_NAME}, %{REMOTE_ADDR} and the rest, and the URLs Apache builds
// from them. mod_rewrite, ap_expr and mod_ssl read the same core
// functions in Apache (ap_get_server_name_for_url, ap_get_server_port,
// ap_construct_url); the rewrite engine (rules) and the header engine
// (headers) read this one package, so that the two cannot drift apart.
//
// Names are those of Apache's core with UseCanonicalName Off, its
// default: the server's name and port come from the request's Host.
package reqvar

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Request is one request with what Apache knows of it besides the
// request line and headers. The zero Request stands for "GET / HTTP/1.1"
// without headers, on plain HTTP.
type Request struct {
	// HTTP is the request as Go's server read it; nil: none (a rule
	// tested on a path alone).
	HTTP *http.Request
	// Target is the request target as sent (r->unparsed_uri), for
	// %{THE_REQUEST}. Empty: HTTP's RequestURI.
	Target string
	// URI is r->uri, the decoded, normalised path, for %{REQUEST_URI}.
	URI string
	// Query is r->args, for %{QUERY_STRING}.
	Query string
	// ServerName names the server for a request without Host (HTTP/1.0):
	// the virtual host's ServerName. Empty: localhost.
	ServerName string
}

// Header is the request header called name, repeated lines joined with
// ", " as Apache's core joins them, and whether there was one. Go's
// server keeps Host apart from the other headers; it is found here too.
func (q *Request) Header(name string) (string, bool) {
	if q.HTTP == nil {
		return "", false
	}
	if strings.EqualFold(name, "Host") && q.HTTP.Host != "" {
		return q.HTTP.Host, true
	}
	vs := q.HTTP.Header.Values(name)
	return strings.Join(vs, ", "), len(vs) > 0
}

// Method is the request method, GET when there is no request.
func (q *Request) Method() string {
	if q.HTTP == nil || q.HTTP.Method == "" {
		return http.MethodGet
	}
	return q.HTTP.Method
}

// Proto is the protocol of the request line, HTTP/1.1 when unknown.
func (q *Request) Proto() string {
	switch {
	case q.HTTP == nil || q.HTTP.ProtoMajor == 0:
		return "HTTP/1.1"
	case q.HTTP.Proto != "":
		return q.HTTP.Proto
	}
	return fmt.Sprintf("HTTP/%d.%d", q.HTTP.ProtoMajor, q.HTTP.ProtoMinor)
}

// Scheme is ap_http_scheme: https on a TLS connection, else http.
func (q *Request) Scheme() string {
	if q.HTTP != nil && q.HTTP.TLS != nil {
		return "https"
	}
	return "http"
}

// target is the raw request target.
func (q *Request) target() string {
	switch {
	case q.Target != "":
		return q.Target
	case q.HTTP == nil:
		return "/"
	case q.HTTP.RequestURI != "":
		return q.HTTP.RequestURI
	case q.HTTP.URL != nil:
		return q.HTTP.URL.RequestURI()
	}
	return "/"
}

// Host is the request's Host split by SplitHost.
func (q *Request) Host() (name, port string) {
	host, _ := q.Header("Host")
	return SplitHost(host)
}

// SplitHost splits a Host header as Apache's fix_hostname leaves it: the
// name in lower case without its trailing dot (an IPv6 address without
// its brackets), and the port, "" when none. This is the name Apache
// compares with ServerName and ServerAlias, and writes in URLs.
func SplitHost(host string) (name, port string) {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host, port = host[1:i], strings.TrimPrefix(host[i+1:], ":")
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host, port = host[:i], host[i+1:]
	}
	return strings.TrimSuffix(strings.ToLower(host), "."), port
}

// ServerNameForURL is %{SERVER_NAME}, ap_get_server_name_for_url: the Host's
// name, an IPv6 address in brackets; the ServerName when the request has
// no Host.
func (q *Request) ServerNameForURL() string {
	host, _ := q.Host()
	switch {
	case host == "" && q.ServerName != "":
		return q.ServerName
	case host == "":
		return "localhost"
	case strings.Contains(host, ":"):
		return "[" + host + "]"
	}
	return host
}

// Port is %{SERVER_PORT}, ap_get_server_port: the Host's port, else the
// scheme's default (not the port the connection came to: Apache answers
// 80 on any port when the Host names none).
func (q *Request) Port() int {
	if _, port := q.Host(); port != "" {
		if n, err := strconv.Atoi(port); err == nil {
			return n
		}
	}
	return defaultPort(q.Scheme())
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// URL is ap_construct_url: path made absolute with the request's scheme,
// server name and port, the port left out when it is the scheme's
// default.
func (q *Request) URL(path string) string {
	u := q.Scheme() + "://" + q.ServerNameForURL()
	if p := q.Port(); p != defaultPort(q.Scheme()) {
		u += ":" + strconv.Itoa(p)
	}
	return u + path
}

// Var is the request variable called name (upper case), as Apache's
// core and ap_expr answer it, and whether name is one. HTTP_NAME is the
// request header NAME with "_" for "-", as in CGI. Which names a
// directive may use is for its parser to say; Var answers all of them.
func (q *Request) Var(name string) (string, bool) {
	if h, ok := strings.CutPrefix(name, "HTTP_"); ok {
		v, _ := q.Header(strings.ReplaceAll(h, "_", "-"))
		return v, true
	}
	switch name {
	case "REQUEST_URI", "DOCUMENT_URI":
		return q.URI, true
	case "QUERY_STRING":
		return q.Query, true
	case "THE_REQUEST":
		return q.Method() + " " + q.target() + " " + q.Proto(), true
	case "REQUEST_METHOD":
		return q.Method(), true
	case "REQUEST_SCHEME":
		return q.Scheme(), true
	case "HTTPS":
		if q.Scheme() == "https" {
			return "on", true
		}
		return "off", true
	case "SERVER_NAME":
		return q.ServerNameForURL(), true
	case "SERVER_PORT":
		return strconv.Itoa(q.Port()), true
	case "SERVER_PROTOCOL":
		return q.Proto(), true
	case "SERVER_ADDR":
		return addrPart(q.LocalAddr(), false), true
	case "REMOTE_ADDR", "REMOTE_HOST": // HostnameLookups Off: the address
		return addrPart(q.remoteAddr(), false), true
	case "REMOTE_PORT":
		return addrPart(q.remoteAddr(), true), true
	}
	return "", false
}

func (q *Request) remoteAddr() string {
	if q.HTTP == nil {
		return ""
	}
	return q.HTTP.RemoteAddr
}

// LocalAddr is the address the request came in on, "" when the server
// did not record it.
func (q *Request) LocalAddr() string {
	if q.HTTP == nil {
		return ""
	}
	if a, ok := q.HTTP.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return ""
}

// addrPart is the host or the port of a "host:port" address, "" when it
// is not one.
func addrPart(addr string, port bool) string {
	host, p, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return ""
	case port:
		return p
	}
	return host
}

// IsURL is ap_is_url: a scheme of letters, digits, "+", "-" or "."
// followed by ":".
func IsURL(u string) bool {
	i := strings.IndexByte(u, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := u[j]
		if !(c == '+' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// AbsoluteURL is u when it is a URL, else u made absolute for r as
// Apache makes a redirect's Location absolute. serverName stands for the
// Host a request without one would have named.
func AbsoluteURL(u string, r *http.Request, serverName string) string {
	if IsURL(u) {
		return u
	}
	q := Request{HTTP: r, ServerName: serverName}
	return q.URL(u)
}
