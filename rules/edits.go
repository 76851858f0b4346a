package rules

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file applies a Scope to one request, as Apache 2.4 does, in pure
// functions that the server, `wsgate route` and tests share:
//
//	SetEnvIf lines          → Env                  (post_read_request)
//	RequestHeader lines     → request to backend   (fixups, before mod_proxy
//	                                                adds X-Forwarded-*)
//	ProxyPassReverse*       → response headers     (as mod_proxy_http reads them)
//	Header lines            → response to client   (output filter: after the
//	                                                balancer chose a member)
//
// Observed with Apache 2.4.71: Header lines do not touch a 101 Switching
// Protocols; Header without "always" edits every proxied response
// whatever its status but none that Apache answers itself (errors,
// redirects); "always" edits a separate table that is sent before the
// backend's headers, so "Header always unset X" does not remove a
// backend's X and "Header always set X" adds a second X.

// Env is the environment of one request, Apache's subprocess_env: what
// SetEnvIf lines set and what the server adds (the BALANCER_* variables).
// Names are case-insensitive, as in Apache's tables; keys are upper case.
type Env map[string]string

// Get returns the variable called name.
func (e Env) Get(name string) (string, bool) {
	v, ok := e[strings.ToUpper(name)]
	return v, ok
}

// Edits is a Scope applied to one request, made by Table.Edits. A nil
// *Edits is valid and changes nothing. Methods are not safe for
// concurrent use; a request uses its Edits from one goroutine at a time.
type Edits struct {
	scope      Scope
	table      *Table // for the balancers of balancer:// ProxyPassReverse lines
	req        *http.Request
	start      time.Time
	serverName string
	env        Env
	problems   []string
}

// Edits returns the edits of scope s (a Match's Edits, or ErrorScope for
// a request that matched nothing) for request r, which arrived at start,
// with its SetEnvIf lines already run. serverName stands for the Host a
// request without one would have named (Apache's ServerName). It returns
// nil when s holds nothing, so that a table without these lines costs
// nothing per request.
func (t *Table) Edits(s Scope, r *http.Request, start time.Time, serverName string) *Edits {
	if len(s.RequestHeaders)+len(s.ResponseHeaders)+len(s.SetEnv)+len(s.Reverse)+
		len(s.CookieDomains)+len(s.CookiePaths) == 0 {
		return nil
	}
	x := &Edits{scope: s, table: t, req: r, start: start, serverName: serverName, env: Env{}}
	x.setEnv()
	return x
}

// ErrorScope is the scope whose lines apply to the answer to r when Match
// fails (no rule, a bad path): that of r's virtual host, else the main
// server's. Apache sends its "Header always" lines with its own 404 too.
func (t *Table) ErrorScope(r *http.Request) Scope {
	if vh := t.hostFor(r); vh != nil {
		return vh.Table.Scope
	}
	return t.Scope
}

// Env is the request's environment (read only).
func (x *Edits) Env() Env {
	if x == nil {
		return nil
	}
	return x.env
}

// Problems are the edits that could not be applied so far, each with the
// position of its line, for the server to log once with the request.
func (x *Edits) Problems() []string {
	if x == nil {
		return nil
	}
	return x.problems
}

func (x *Edits) problem(pos Pos, format string, a ...any) {
	p := origin(pos) + ": " + fmt.Sprintf(format, a...)
	if !slices.Contains(x.problems, p) {
		x.problems = append(x.problems, p)
	}
}

// setEnv runs the SetEnvIf lines in order, each seeing what the earlier
// ones set, as mod_setenvif's match_headers does.
func (x *Edits) setEnv() {
	for _, s := range x.scope.SetEnv {
		val := x.attribute(s)
		m := s.regexOf().FindStringSubmatchIndex(val)
		if m == nil {
			continue
		}
		for _, v := range s.Vars {
			if v.Unset {
				delete(x.env, strings.ToUpper(v.Name))
				continue
			}
			x.env[strings.ToUpper(v.Name)] = cleanValue(regsub(v.Value, val, m))
		}
	}
}

// attribute is the value a SetEnvIf line tests: a special name, else a
// request header, else a variable set earlier, else "" (so that "^$"
// matches a missing header, as in Apache).
func (x *Edits) attribute(s SetEnvIf) string {
	r := x.req
	switch strings.ToLower(s.Attribute) {
	case "remote_addr", "remote_host": // HostnameLookups Off: the address
		ip, _ := splitAddr(r.RemoteAddr)
		return ip
	case "server_addr":
		ip, _ := splitAddr(localAddr(r))
		return ip
	case "request_method":
		return r.Method
	case "request_protocol":
		return r.Proto
	case "request_uri":
		// At server level Apache runs SetEnvIf before the path is
		// decoded (post_read_request); inside a <Location>, after.
		if s.decoded {
			return x.decodedPath()
		}
		raw, _ := x.rawPath()
		return raw
	}
	if nameRe := s.nameRegexOf(); nameRe != nil {
		// The last header whose name matches, as mod_setenvif walks
		// them; Go keeps no arrival order, so names are sorted.
		val := ""
		if nameRe.MatchString("Host") {
			val = r.Host
		}
		for _, k := range slices.Sorted(maps.Keys(r.Header)) {
			if nameRe.MatchString(k) {
				val = strings.Join(r.Header[k], ", ")
			}
		}
		return val
	}
	if v, ok := x.header(s.Attribute); ok {
		return v
	}
	v, _ := x.env.Get(s.Attribute)
	return v
}

// header is the request's header called name, repeated lines joined as
// Apache's core joins them; Host is r.Host.
func (x *Edits) header(name string) (string, bool) {
	if strings.EqualFold(name, "Host") {
		return x.req.Host, x.req.Host != ""
	}
	vs := x.req.Header.Values(name)
	return strings.Join(vs, ", "), len(vs) > 0
}

// Request applies the RequestHeader lines to h, the header being sent to
// the backend, before the server adds X-Forwarded-* (which Apache appends
// to whatever the lines left). host is the Host header; it is edited like
// any other (RequestHeader set Host ...) and the result returned, for
// ProxyPreserveHost and X-Forwarded-Host.
func (x *Edits) Request(h http.Header, host string) string {
	if x == nil || len(x.scope.RequestHeaders) == 0 {
		return host
	}
	if host != "" {
		h.Set("Host", host)
	}
	var hostLine *HeaderEdit
	for i, e := range x.scope.RequestHeaders {
		switch strings.ToLower(e.Name) {
		case "content-length", "transfer-encoding":
			x.problem(e.Pos, "RequestHeader %s %s: not applied: wsgate frames the request body itself", e.Action, e.Name)
			continue
		case "host":
			hostLine = &x.scope.RequestHeaders[i]
		}
		x.edit(h, e)
	}
	edited := h.Get("Host")
	h.Del("Host")
	if hostLine != nil && edited != "" && checkAuthority(edited) != "" {
		x.problem(hostLine.Pos, "RequestHeader %s Host: %q is not a valid host[:port]; the client's Host is kept", hostLine.Action, edited)
		return host
	}
	return edited
}

// Response applies the Header lines to h, the header of a response to the
// client. proxied is true for a backend's response: the lines without
// "always" edit h, the "always" ones a table of their own whose values
// come first. For an answer of wsgate's own (an error, a redirect) only
// the "always" lines apply, to h itself.
func (x *Edits) Response(h http.Header, proxied bool) {
	if x == nil {
		return
	}
	var always http.Header
	for _, e := range x.scope.ResponseHeaders {
		if !e.Always && !proxied {
			continue
		}
		switch strings.ToLower(e.Name) {
		case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te":
			x.problem(e.Pos, "Header %s %s: not applied: wsgate frames responses itself", e.Action, e.Name)
			continue
		}
		target := h
		if e.Always && proxied {
			if always == nil {
				always = http.Header{}
			}
			target = always
		}
		x.edit(target, e)
	}
	for k, vs := range always {
		h[k] = append(vs, h[k]...)
	}
}

// edit applies one line to h when its env= condition holds.
func (x *Edits) edit(h http.Header, e HeaderEdit) {
	if e.Env != "" {
		if _, set := x.env.Get(e.Env); set == e.EnvNot {
			return
		}
	}
	key := textproto.CanonicalMIMEHeaderKey(e.Name)
	if e.Action == "unset" {
		delete(h, key)
		return
	}
	v := x.value(e)
	old := h[key]
	switch e.Action {
	case "set":
		h[key] = []string{v}
	case "setifempty":
		if len(old) == 0 {
			h[key] = []string{v}
		}
	case "add":
		h[key] = append(old, v)
	case "merge":
		if hasToken(old, v) {
			return
		}
		fallthrough
	case "append":
		if len(old) > 0 {
			v = strings.Join(old, ", ") + ", " + v
		}
		h[key] = []string{v}
	}
}

// hasToken is mod_headers' merge test: v is one of the comma-separated
// items of the values, compared byte for byte after leading white space
// (quoted commas do not separate).
func hasToken(values []string, v string) bool {
	for _, s := range values {
		for s != "" {
			s = strings.TrimLeft(s, " \t\n\v\f\r")
			i, quoted := 0, false
			for ; i < len(s) && (quoted || s[i] != ','); i++ {
				if s[i] == '"' {
					quoted = !quoted
				}
			}
			if s[:i] == v {
				return true
			}
			if i < len(s) {
				i++
			}
			s = s[i:]
		}
	}
	return false
}

// value expands a line's value for this request.
func (x *Edits) value(e HeaderEdit) string {
	if e.Expr {
		parts, _ := parseExpr(e.Value)
		return cleanValue(x.expr(parts))
	}
	parts, _ := parseFormat(e.Value)
	var b strings.Builder
	for _, f := range parts {
		switch f.tag {
		case 0:
			b.WriteString(f.arg)
		case 't':
			b.WriteString("t=" + strconv.FormatInt(x.start.UnixMicro(), 10))
		case 'D':
			b.WriteString("D=" + strconv.FormatInt(time.Since(x.start).Microseconds(), 10))
		case 'e':
			b.WriteString(orNull(x.env.Get(f.arg)))
		case 's':
			v, _ := x.sslVar(f.arg)
			b.WriteString(orNull(v, v != ""))
		}
	}
	return cleanValue(b.String())
}

// orNull is Apache's "(null)" for a variable that is not set.
func orNull(v string, ok bool) string {
	if !ok {
		return "(null)"
	}
	return v
}

// cleanValue replaces CR, LF and NUL, which would end or corrupt a header
// line, with spaces. The parser refuses them in values; this keeps
// anything taken from the request harmless too.
func cleanValue(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") {
		return strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ").Replace(s)
	}
	return s
}

// formatPart is a piece of a mod_headers value: literal text (tag 0) or a
// format specifier %t, %D, %{arg}e or %{arg}s.
type formatPart struct {
	tag byte
	arg string
}

// parseFormat splits a mod_headers value as parse_format_string does:
// backslash escapes \\ \t (and \r \n, refused here) in the text, %% and a
// final % for "%", and the specifiers wsgate can expand. The ones that
// report the state of Apache's own workers (%l, %i, %b) are refused; %i
// in particular is not a request header.
func parseFormat(v string) ([]formatPart, string) {
	var parts []formatPart
	var lit strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v):
			switch v[i+1] {
			case '\\':
				lit.WriteByte('\\')
				i++
			case 't':
				lit.WriteByte('\t')
				i++
			case 'r', 'n':
				return nil, fmt.Sprintf(`\%c in a header value would end the header line`, v[i+1])
			default:
				lit.WriteByte('\\')
			}
		case c != '%':
			lit.WriteByte(c)
		case i+1 == len(v) || v[i+1] == '%':
			lit.WriteByte('%')
			i++
		default:
			i++
			arg := ""
			if v[i] == '{' {
				end := strings.IndexByte(v[i:], '}')
				if end < 0 {
					return nil, fmt.Sprintf("%%{ without a closing } in %q", v)
				}
				arg, i = v[i+1:i+end], i+end+1
			}
			if i == len(v) {
				return nil, fmt.Sprintf("%%{%s} without a format letter (want %%{VAR}e or %%{VAR}s)", arg)
			}
			switch tag := v[i]; tag {
			case 't', 'D', 'e', 's':
				if lit.Len() > 0 {
					parts = append(parts, formatPart{arg: lit.String()})
					lit.Reset()
				}
				if (tag == 'e' || tag == 's') && arg == "" {
					return nil, fmt.Sprintf("%%%c needs a variable name: %%{VAR}%c", tag, tag)
				}
				parts = append(parts, formatPart{tag: tag, arg: arg})
			case 'i':
				return nil, fmt.Sprintf("%%{%s}i is Apache's count of idle workers, not a request header, and wsgate has no workers; for a request header write expr=%%{req:%s}", arg, arg)
			case 'l', 'b':
				return nil, fmt.Sprintf("%%%c reports Apache's own load (load average, busy workers), which wsgate does not have", tag)
			default:
				return nil, fmt.Sprintf("unrecognized header format %%%c (want %%t, %%D, %%{VAR}e, %%{VAR}s or %%%%)", tag)
			}
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, formatPart{arg: lit.String()})
	}
	return parts, ""
}

// exprPart is a piece of an expr= value: literal text, %{VAR}, or
// %{FUNC:ARG}.
type exprPart struct {
	lit, fn, arg string
}

// requestVars are the request variables ap_expr (expr= values) and
// mod_ssl (%{NAME}s) both know, and wsgate answers (requestVar).
var requestVars = []string{"REQUEST_SCHEME", "HTTPS", "HTTP_HOST", "HTTP_USER_AGENT", "HTTP_REFERER",
	"HTTP_COOKIE", "HTTP_FORWARDED", "HTTP_ACCEPT", "HTTP_PROXY_CONNECTION", "REMOTE_ADDR",
	"REMOTE_PORT", "REMOTE_HOST", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REQUEST_METHOD",
	"REQUEST_URI", "DOCUMENT_URI", "QUERY_STRING", "THE_REQUEST"}

// exprFuncs are the ap_expr functions an expr= value may call.
var exprFuncs = []string{"req", "http", "reqenv", "env", "tolower", "toupper"}

// parseExpr reads an ap_expr string expression of the kind the snippets
// use: text with %{VAR} and %{FUNC:ARG}. Names are checked now, as Apache
// checks them when it starts ("Variable 'X' does not exist").
func parseExpr(v string) ([]exprPart, string) {
	var parts []exprPart
	for v != "" {
		i := strings.Index(v, "%{")
		if i < 0 {
			parts = append(parts, exprPart{lit: v})
			break
		}
		if i > 0 {
			parts = append(parts, exprPart{lit: v[:i]})
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			return nil, fmt.Sprintf("%%{ without a closing } in %q", v)
		}
		inner := v[i+2 : i+end]
		v = v[i+end+1:]
		if fn, arg, ok := strings.Cut(inner, ":"); ok {
			lower := strings.ToLower(fn)
			if !slices.Contains(exprFuncs, lower) {
				return nil, fmt.Sprintf("function %q is not supported by wsgate (it knows %s)", fn, strings.Join(exprFuncs, ", "))
			}
			parts = append(parts, exprPart{fn: lower, arg: arg})
			continue
		}
		name := strings.ToUpper(inner)
		if !slices.Contains(requestVars, name) {
			return nil, fmt.Sprintf("variable %%{%s} is not one wsgate supports (it knows %s, and %%{req:NAME} for a request header)",
				inner, strings.Join(requestVars, ", "))
		}
		parts = append(parts, exprPart{arg: name})
	}
	return parts, ""
}

// expr evaluates the parts of an expr= value.
func (x *Edits) expr(parts []exprPart) string {
	var b strings.Builder
	for _, p := range parts {
		switch p.fn {
		case "":
			if p.arg == "" {
				b.WriteString(p.lit)
				continue
			}
			v, _ := x.requestVar(p.arg)
			b.WriteString(v)
		case "req", "http":
			v, _ := x.header(p.arg)
			b.WriteString(v)
		case "reqenv", "env":
			v, _ := x.env.Get(p.arg)
			b.WriteString(v)
		case "tolower":
			b.WriteString(strings.ToLower(p.arg))
		case "toupper":
			b.WriteString(strings.ToUpper(p.arg))
		}
	}
	return b.String()
}

// requestVar is one of the request variables ap_expr and mod_ssl's
// lookup share; ok is false for a name it does not know.
func (x *Edits) requestVar(name string) (string, bool) {
	r := x.req
	if h, ok := strings.CutPrefix(name, "HTTP_"); ok && name != "HTTP_HOST" {
		switch h {
		case "USER_AGENT", "REFERER", "COOKIE", "FORWARDED", "ACCEPT", "PROXY_CONNECTION":
			v, _ := x.header(strings.ReplaceAll(h, "_", "-"))
			return v, true
		}
		return "", false
	}
	switch name {
	case "REQUEST_SCHEME":
		return x.scheme(), true
	case "HTTPS":
		if r.TLS != nil {
			return "on", true
		}
		return "off", true
	case "HTTP_HOST":
		return r.Host, true
	case "REMOTE_ADDR", "REMOTE_HOST":
		ip, _ := splitAddr(r.RemoteAddr)
		return ip, true
	case "REMOTE_PORT":
		_, port := splitAddr(r.RemoteAddr)
		return port, true
	case "SERVER_NAME":
		return x.hostName(), true
	case "SERVER_PORT":
		return x.port(), true
	case "SERVER_PROTOCOL":
		return r.Proto, true
	case "REQUEST_METHOD":
		return r.Method, true
	case "REQUEST_URI", "DOCUMENT_URI":
		return x.decodedPath(), true
	case "QUERY_STRING":
		_, q := x.rawPath()
		return q, true
	case "THE_REQUEST":
		return r.Method + " " + x.target() + " " + r.Proto, true
	}
	return "", false
}

// sslVars are the mod_ssl variables of a connection that wsgate knows,
// besides the request variables and HTTP:NAME and ENV:NAME.
var sslVars = []string{"SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI", "SSL_SESSION_RESUMED", "SSL_CLIENT_VERIFY"}

// knownSSLVar reports whether %{name}s is a variable sslVar answers.
func knownSSLVar(name string) bool {
	return slices.Contains(requestVars, name) || slices.Contains(sslVars, name) ||
		strings.HasPrefix(name, "HTTP:") || strings.HasPrefix(name, "ENV:")
}

// sslVar is %{name}s: mod_ssl's ssl_var_lookup, which answers request
// variables as well as those of the TLS connection. The cipher is named
// as Go names it (IANA), not as OpenSSL does.
func (x *Edits) sslVar(name string) (string, bool) {
	if v, ok := x.requestVar(name); ok {
		return v, true
	}
	if h, ok := strings.CutPrefix(name, "HTTP:"); ok {
		v, _ := x.header(h)
		return v, true
	}
	if e, ok := strings.CutPrefix(name, "ENV:"); ok {
		v, _ := x.env.Get(e)
		return v, true
	}
	cs := x.req.TLS
	if cs == nil || !slices.Contains(sslVars, name) {
		return "", false
	}
	switch name {
	case "SSL_PROTOCOL":
		return strings.Replace(tls.VersionName(cs.Version), "TLS ", "TLSv", 1), true
	case "SSL_CIPHER":
		return tls.CipherSuiteName(cs.CipherSuite), true
	case "SSL_TLS_SNI":
		return cs.ServerName, true
	case "SSL_SESSION_RESUMED":
		if cs.DidResume {
			return "Resumed", true
		}
		return "Initial", true
	case "SSL_CLIENT_VERIFY":
		return "NONE", true
	}
	return "", false
}

// scheme is the client's scheme, ap_http_scheme.
func (x *Edits) scheme() string {
	if x.req.TLS != nil {
		return "https"
	}
	return "http"
}

// hostName is Apache's server name for this request with UseCanonicalName
// Off (its default): the Host's name, lower-cased, without port or
// brackets; the server's name when the request has no Host.
func (x *Edits) hostName() string {
	h, _ := splitHost(x.req.Host)
	if h == "" {
		return x.serverName
	}
	return strings.ToLower(h)
}

// port is the Host's port, else the scheme's default, as
// ap_get_server_port with UseCanonicalName Off (observed: a Host without
// port gives URLs without port).
func (x *Edits) port() string {
	if _, p := splitHost(x.req.Host); p != "" {
		return p
	}
	if x.req.TLS != nil {
		return "443"
	}
	return "80"
}

// target is the request target as sent (r.RequestURI), or rebuilt.
func (x *Edits) target() string {
	if x.req.RequestURI != "" {
		return x.req.RequestURI
	}
	if x.req.URL != nil {
		return x.req.URL.RequestURI()
	}
	return "/"
}

// rawPath is the request's path as sent, and its query.
func (x *Edits) rawPath() (path, query string) {
	raw, q, _, err := splitTarget(x.target())
	if err != nil {
		return x.target(), ""
	}
	return raw, q
}

// decodedPath is Apache's r->uri: decoded and normalised.
func (x *Edits) decodedPath() string {
	raw, _ := x.rawPath()
	if p, err := normalizePath(raw); err == nil {
		return p
	}
	return raw
}

// splitHost splits a Host header into name and port; either may be empty.
func splitHost(h string) (host, port string) {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return h, ""
		}
		host, rest := h[1:end], h[end+1:]
		return host, strings.TrimPrefix(rest, ":")
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i], h[i+1:]
	}
	return h, ""
}

// splitAddr splits an address "ip:port" (RemoteAddr, a local address).
func splitAddr(a string) (ip, port string) {
	ip, port, err := net.SplitHostPort(a)
	if err != nil {
		return a, ""
	}
	return ip, port
}

// localAddr is the address the request came in on, when the server
// recorded it.
func localAddr(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return ""
}

// constructURL is ap_construct_url: path made absolute with the client's
// scheme and the request's server name and port (the port left out when
// it is the scheme's default).
func (x *Edits) constructURL(path string) string {
	host := x.hostName()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := x.port()
	if (port == "80" && x.req.TLS == nil) || (port == "443" && x.req.TLS != nil) {
		port = ""
	} else {
		port = ":" + port
	}
	return x.scheme() + "://" + host + port + path
}

// AbsoluteURL is u when it is a URL, else u made absolute for this
// request as Apache makes Location headers absolute: for a redirect whose
// target is a path. It needs no Scope, so it is a function of r.
func AbsoluteURL(u string, r *http.Request, serverName string) string {
	if isURL(u) {
		return u
	}
	x := &Edits{req: r, serverName: serverName}
	return x.constructURL(u)
}

// isURL is ap_is_url: a scheme of letters, digits, "+", "-" or "."
// followed by ":".
func isURL(u string) bool {
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

// SetBalancer records the balancer member chosen for the request in its
// environment, as mod_proxy_balancer does before proxying (so Header
// lines see them, RequestHeader lines, which Apache runs earlier, do
// not): BALANCER_NAME, BALANCER_WORKER_NAME, BALANCER_WORKER_ROUTE, and,
// when the request named a route under the sticky name sticky,
// BALANCER_SESSION_STICKY and BALANCER_SESSION_ROUTE; BALANCER_ROUTE_CHANGED
// is set when the member has a route other than the request's. This is
// what makes the usual sticky-cookie line work:
//
//	Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
func (x *Edits) SetBalancer(b *Balancer, mem *Member, sticky, route string) {
	if x == nil || b == nil || mem == nil {
		return
	}
	x.env["BALANCER_NAME"] = strings.ToLower(b.URL())
	x.env["BALANCER_WORKER_NAME"] = targetString(mem.URL)
	x.env["BALANCER_WORKER_ROUTE"] = mem.Route
	delete(x.env, "BALANCER_SESSION_STICKY")
	delete(x.env, "BALANCER_SESSION_ROUTE")
	delete(x.env, "BALANCER_ROUTE_CHANGED")
	if route != "" {
		x.env["BALANCER_SESSION_STICKY"] = sticky
		x.env["BALANCER_SESSION_ROUTE"] = route
	}
	if mem.Route != "" && route != mem.Route {
		x.env["BALANCER_ROUTE_CHANGED"] = "1"
	}
}

// regexOf returns the line's compiled pattern; a SetEnvIf built by hand
// is compiled here, each time.
func (s SetEnvIf) regexOf() *regexp.Regexp {
	if s.re != nil {
		return s.re
	}
	return compileOrNothing(s.Regex, s.NoCase)
}

// nameRegexOf is the compiled header-name pattern of a line whose
// Attribute is one, else nil.
func (s SetEnvIf) nameRegexOf() *regexp.Regexp {
	if s.nameRe != nil || !isNameRegex(s.Attribute) {
		return s.nameRe
	}
	return compileOrNothing(s.Attribute, s.NoCase)
}

// compileOrNothing compiles a pattern the parser has checked, or returns
// one that matches nothing.
func compileOrNothing(pattern string, nocase bool) *regexp.Regexp {
	if re, _ := compileRegex(pattern, nocase); re != nil {
		return re
	}
	return regexp.MustCompile(`[^\x00-\x{10FFFF}]`)
}
