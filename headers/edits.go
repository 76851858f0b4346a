// Package headers applies the request-time lines of a rules.Scope to one
// request, as Apache 2.4 does, in pure functions that the server and
// tests share:
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
package headers

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/internal/reqvar"
	"github.com/wsgate/wsgate/rules"
)

// Env is the environment of one request, Apache's subprocess_env: what
// SetEnvIf lines set and what the server adds (the BALANCER_* variables).
// Names are case-insensitive, as in Apache's tables; keys are upper case.
type Env map[string]string

// Get returns the variable called name.
func (e Env) Get(name string) (string, bool) {
	v, ok := e[strings.ToUpper(name)]
	return v, ok
}

// Edits is a Scope applied to one request, made by New. A nil *Edits is
// valid and changes nothing. Methods are not safe for concurrent use; a
// request uses its Edits from one goroutine at a time.
type Edits struct {
	scope rules.Scope
	table *rules.Table // for the balancers of balancer:// ProxyPassReverse lines
	req   *http.Request
	// vars is the request as Apache's variables see it; its URI is the
	// decoded path, rawPath the path as sent.
	vars     reqvar.Request
	rawPath  string
	start    time.Time
	env      Env
	problems []string
}

// New returns the edits of scope s (a Match's Edits, or the table's
// ErrorScope for a request that matched nothing) for request r, which
// arrived at start, with its SetEnvIf lines already run. serverName
// stands for the Host a request without one would have named (Apache's
// ServerName). It returns nil when s holds nothing, so that a table
// without these lines costs nothing per request.
func New(t *rules.Table, s rules.Scope, r *http.Request, start time.Time, serverName string) *Edits {
	if len(s.RequestHeaders)+len(s.ResponseHeaders)+len(s.SetEnv)+len(s.Reverse)+
		len(s.CookieDomains)+len(s.CookiePaths) == 0 {
		return nil
	}
	x := &Edits{scope: s, table: t, req: r, start: start, env: Env{}}
	x.vars = reqvar.Request{HTTP: r, ServerName: serverName}
	target := r.RequestURI
	if target == "" && r.URL != nil {
		target = r.URL.RequestURI()
	}
	x.rawPath = target
	if raw, q, _, err := rules.SplitTarget(target); err == nil {
		x.rawPath, x.vars.Query = raw, q
	}
	x.vars.URI = x.rawPath
	if p, err := rules.NormalizePath(x.rawPath); err == nil {
		x.vars.URI = p
	}
	x.setEnv()
	return x
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

func (x *Edits) problem(pos rules.Pos, format string, a ...any) {
	pos.Col = 0
	p := pos.String() + ": " + fmt.Sprintf(format, a...)
	if !slices.Contains(x.problems, p) {
		x.problems = append(x.problems, p)
	}
}

// setEnv runs the SetEnvIf lines in order, each seeing what the earlier
// ones set, as mod_setenvif's match_headers does.
func (x *Edits) setEnv() {
	for _, s := range x.scope.SetEnv {
		val := x.attribute(s)
		m := s.Pattern().FindStringSubmatchIndex(val)
		if m == nil {
			continue
		}
		for _, v := range s.Vars {
			if v.Unset {
				delete(x.env, strings.ToUpper(v.Name))
				continue
			}
			x.env[strings.ToUpper(v.Name)] = cleanValue(v.Expand(val, m))
		}
	}
}

// attribute is the value a SetEnvIf line tests: a special name, else a
// request header, else a variable set earlier, else "" (so that "^$"
// matches a missing header, as in Apache).
func (x *Edits) attribute(s rules.SetEnvIf) string {
	r := x.req
	switch strings.ToLower(s.Attribute) {
	case "remote_addr", "remote_host", "server_addr":
		v, _ := x.vars.Var(strings.ToUpper(s.Attribute))
		return v
	case "request_method":
		return r.Method
	case "request_protocol":
		return r.Proto
	case "request_uri":
		// At server level Apache runs SetEnvIf before the path is
		// decoded (post_read_request); inside a <Location>, after.
		if s.Decoded {
			return x.vars.URI
		}
		return x.rawPath
	}
	if nameRe := s.NamePattern(); nameRe != nil {
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
	if v, ok := x.vars.Header(s.Attribute); ok {
		return v
	}
	v, _ := x.env.Get(s.Attribute)
	return v
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
	var hostLine *rules.HeaderEdit
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
	if hostLine != nil && edited != "" && rules.CheckAuthority(edited) != "" {
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
func (x *Edits) edit(h http.Header, e rules.HeaderEdit) {
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
func (x *Edits) value(e rules.HeaderEdit) string {
	var b strings.Builder
	for _, p := range e.Parts {
		switch p.Kind {
		case rules.PartText:
			b.WriteString(p.Text)
		case rules.PartTime:
			b.WriteString("t=" + strconv.FormatInt(x.start.UnixMicro(), 10))
		case rules.PartDuration:
			b.WriteString("D=" + strconv.FormatInt(time.Since(x.start).Microseconds(), 10))
		case rules.PartEnv:
			b.WriteString(orNull(x.env.Get(p.Text)))
		case rules.PartSSL:
			v, _ := x.sslVar(p.Text)
			b.WriteString(orNull(v, v != ""))
		case rules.PartVar:
			v, _ := x.vars.Var(p.Text)
			b.WriteString(v)
		case rules.PartHeader:
			v, _ := x.vars.Header(p.Text)
			b.WriteString(v)
		case rules.PartExprEnv:
			v, _ := x.env.Get(p.Text)
			b.WriteString(v)
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

// sslVar is %{name}s: mod_ssl's ssl_var_lookup, which answers request
// variables as well as those of the TLS connection. The cipher is named
// as Go names it (IANA), not as OpenSSL does.
func (x *Edits) sslVar(name string) (string, bool) {
	if rules.IsRequestVar(name) {
		return x.vars.Var(name)
	}
	if h, ok := strings.CutPrefix(name, "HTTP:"); ok {
		v, _ := x.vars.Header(h)
		return v, true
	}
	if e, ok := strings.CutPrefix(name, "ENV:"); ok {
		v, _ := x.env.Get(e)
		return v, true
	}
	cs := x.req.TLS
	if cs == nil {
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
func (x *Edits) SetBalancer(b *rules.Balancer, mem *rules.Member, sticky, route string) {
	if x == nil || b == nil || mem == nil {
		return
	}
	x.env["BALANCER_NAME"] = strings.ToLower(b.URL())
	x.env["BALANCER_WORKER_NAME"] = mem.Name()
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
