package rules

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file holds mod_rewrite as pasted proxy configurations use it:
// RewriteCond on request headers and server variables, and RewriteRule
// with the flags that proxy ([P]), redirect ([R], [F], [G]), stop
// rewriting ([L], [END]), hand a new path to the ProxyPass lines ([PT])
// or change the query ([QSA], [QSD], [QSL]).
//
// The engine, rewriteRun, follows apply_rewrite_list and
// apply_rewrite_rule of Apache 2.4's mod_rewrite.c: each pattern is
// matched against what the rules before it made of the request (its
// r->filename), so rules chain, and a rule without [L] lets the next ones
// run. What the result means follows hook_uri2file for the rules at the
// top of a file or in a <VirtualHost> (Table.rewrite) and hook_fixup for
// the rules in a <Location> (Table.rewriteDir). Every behaviour below was
// compared with Apache 2.4.71 (testdata/rewrite, TestRewriteApache).

// RewriteFlags are a RewriteRule's flags, other than [NC] (Rule.NoCase),
// [NE] (Rule.NoCanon) and [R], [F] and [G] (Rule.Status).
type RewriteFlags struct {
	// Proxy is [P]: the substitution, an absolute URL, is the backend.
	// It stops rewriting, as [L] does.
	Proxy bool
	// Last is [L]: no later rule of the list is tried.
	Last bool
	// End is [END]: as [L], and the rules of a <Location> are not
	// applied afterwards either.
	End bool
	// PassThrough is [PT]: the new path is handed to the ProxyPass lines.
	// Without it Apache serves a rewritten path from its DocumentRoot.
	PassThrough bool
	// QSAppend is [QSA]: a query in the substitution is put before the
	// request's ("new&old") instead of replacing it. QSDiscard is [QSD]:
	// the request's query is dropped. QSLast is [QSL]: the query starts
	// at the last "?" of the substitution instead of the first.
	QSAppend, QSDiscard, QSLast bool
	// UnsafeAllow3F is [UnsafeAllow3F]: a "?" that a reference brought
	// into the substitution (a decoded %3F, a header) may start the
	// query. Without it the request is answered 403, as Apache does since
	// 2.4.60 (CVE-2024-38474, AH10508).
	UnsafeAllow3F bool
	// UnsafePrefixStat is [UnsafePrefixStat], read and without effect: it
	// concerns local files, which wsgate never serves.
	UnsafePrefixStat bool
	// NoSubReq is [NS], read and without effect: wsgate makes no
	// subrequests.
	NoSubReq bool
	// NotMatch is a PATTERN written "!PATTERN": the rule applies when the
	// pattern does not match, and $N are empty.
	NotMatch bool
}

// defaultDocRoot stands for Apache's DocumentRoot in what the rules of a
// <Location> match (see rewriteDir). wsgate serves no files and skips
// DocumentRoot lines; this is Debian's and Ubuntu's default, which is
// where pasted snippets mostly come from.
const defaultDocRoot = "/var/www/html"

// rewriteVars are the %{VAR} variables wsgate expands, besides
// %{HTTP:Name}. Names are case-insensitive, as in mod_rewrite's
// lookup_variable.
var rewriteVars = map[string]bool{
	"HTTP_HOST": true, "HTTP_USER_AGENT": true, "HTTP_REFERER": true, "HTTP_COOKIE": true,
	"HTTP_ACCEPT": true, "HTTP_FORWARDED": true, "HTTP_PROXY_CONNECTION": true,
	"REQUEST_URI": true, "QUERY_STRING": true, "THE_REQUEST": true, "REQUEST_METHOD": true,
	"REQUEST_SCHEME": true, "HTTPS": true, "SERVER_NAME": true, "SERVER_PORT": true,
	"SERVER_ADDR": true, "SERVER_PROTOCOL": true, "REMOTE_ADDR": true, "REMOTE_PORT": true,
}

// apacheOnlyVars are the other variables Apache expands. They are refused
// by name; a name Apache does not know is refused as unknown (Apache would
// silently expand it to nothing).
var apacheOnlyVars = map[string]bool{
	"TIME": true, "TIME_YEAR": true, "TIME_MON": true, "TIME_DAY": true, "TIME_HOUR": true,
	"TIME_MIN": true, "TIME_SEC": true, "TIME_WDAY": true, "IPV6": true, "IS_SUBREQ": true,
	"PATH_INFO": true, "AUTH_TYPE": true, "REMOTE_HOST": true, "REMOTE_USER": true,
	"REMOTE_IDENT": true, "SCRIPT_USER": true, "SCRIPT_GROUP": true, "API_VERSION": true,
	"SERVER_ADMIN": true, "DOCUMENT_ROOT": true, "CONTEXT_PREFIX": true,
	"CONTEXT_DOCUMENT_ROOT": true, "SCRIPT_FILENAME": true, "REQUEST_FILENAME": true,
	"SERVER_SOFTWARE": true, "CONN_REMOTE_ADDR": true,
}

// parseCond validates a raw RewriteCond directive.
func parseCond(d directive) (*Cond, error) {
	errAt := func(p Pos, format string, a ...any) *Error {
		return &Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)}
	}
	if len(d.args) < 2 {
		return nil, errAt(d.end, "want TESTSTRING CONDPATTERN [flags]")
	}
	var errs ErrorList
	c := &Cond{Pos: d.pos, TestString: d.args[0].text}
	if msg := checkExpansion(c.TestString); msg != "" {
		errs.add(errAt(d.args[0].pos, "%s", msg))
	}
	p := d.args[1].text
	if rest, ok := strings.CutPrefix(p, "!"); ok {
		c.Negate, p = true, rest
	}
	// As cmd_rewritecond: a pattern of one byte is always a regular
	// expression ("=" alone is the regex "="), `=""` is the empty string.
	switch {
	case strings.EqualFold(c.TestString, "expr"):
		errs.add(errAt(d.args[0].pos, "RewriteCond expr is not supported yet"))
	case isSpecialCondPattern(p):
		errs.add(errAt(d.args[1].pos, "CondPattern %q is not supported yet (wsgate reads regular expressions, =string and !=string)", d.args[1].text))
	case len(p) >= 2 && p[0] == '=':
		c.Equal, c.Pattern = true, p[1:]
		if c.Pattern == `""` {
			c.Pattern = ""
		}
	default:
		c.Pattern = p
	}
	if len(d.args) > 2 {
		flags, err := parseFlags(d, d.args[2])
		errs.add(err)
		for _, f := range flags {
			switch f {
			case "nc", "nocase":
				c.NoCase = true
			case "or", "ornext":
				c.OrNext = true
			case "nv", "novary":
				// Vary is not added by wsgate anyway.
			default:
				errs.add(errAt(d.args[2].pos, "unknown flag %q (RewriteCond takes NC, OR and NV)", strings.ToUpper(f)))
			}
		}
	}
	if len(d.args) > 3 {
		errs.add(errAt(d.args[3].pos, "unexpected %q after the flags", d.args[3].text))
	}
	if !c.Equal {
		re, msg := compileRegex(c.Pattern, c.NoCase)
		if msg != "" {
			errs.add(errAt(d.args[1].pos, "%s", msg))
		}
		c.re = re
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// isSpecialCondPattern reports whether p is one of mod_rewrite's
// comparisons or file tests rather than a regular expression.
func isSpecialCondPattern(p string) bool {
	switch {
	case len(p) < 2:
		return false
	case len(p) == 2 && p[0] == '-':
		return strings.IndexByte("dfFhlLsSUxH", p[1]) >= 0
	case p[0] == '<' || p[0] == '>':
		return true
	}
	for _, pre := range []string{"-eq", "-ge", "-gt", "-le", "-lt", "-ne"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// parseRewrite validates a RewriteRule of the server context (the top of
// a file or a <VirtualHost>); conds are the RewriteConds read since the
// previous RewriteRule.
func parseRewrite(d directive, conds []*Cond) (*Rule, error) {
	return parseRewriteIn(d, conds, false)
}

// parseRewriteDir validates a RewriteRule written inside a <Location> or
// <LocationMatch>. It refuses what would make Apache start an internal
// redirect there (a substitution to a local path without [R], and [PT],
// which Apache ignores in that context): wsgate does not re-run the
// mapping of a request.
func parseRewriteDir(d directive, conds []*Cond) (*Rule, error) {
	return parseRewriteIn(d, conds, true)
}

func parseRewriteIn(d directive, conds []*Cond, perDir bool) (*Rule, error) {
	if len(d.args) < 2 {
		return nil, &Error{Pos: d.end, Msg: d.name + ": want PATTERN SUBSTITUTION [flags]"}
	}
	var errs ErrorList
	r := &Rule{Pos: d.pos, Kind: Rewrite, Path: d.args[0].text, Subst: d.args[1].text, Conds: conds}
	if rest, ok := strings.CutPrefix(r.Path, "!"); ok {
		r.Flags.NotMatch, r.Path = true, rest
	}
	var flagErr error
	if len(d.args) > 2 {
		flagErr = r.setFlags(d, d.args[2], perDir)
		errs.add(flagErr)
	}
	if len(d.args) > 3 {
		errs.add(&Error{Pos: d.args[3].pos, Msg: fmt.Sprintf("%s: unexpected %q after the flags", d.name, d.args[3].text)})
	}
	if flagErr == nil {
		// What the substitution may be depends on the flags.
		errs.add(r.checkSubst(d, d.args[1], perDir))
	}
	re, msg := compileRegex(r.Path, r.NoCase)
	if msg != "" {
		errs.add(&Error{Pos: d.args[0].pos, Msg: d.name + ": " + msg})
	}
	r.re = re
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// setFlags reads a RewriteRule's [flags] as cmd_rewriterule_setflag does:
// names and values are case-insensitive, each flag has a short and a long
// name.
func (r *Rule) setFlags(d directive, a arg, perDir bool) error {
	errAt := func(format string, v ...any) *Error {
		return &Error{Pos: a.pos, Msg: d.name + ": " + fmt.Sprintf(format, v...)}
	}
	flags, err := parseFlags(d, a)
	if err != nil {
		return err
	}
	var errs ErrorList
	for _, f := range flags {
		name, val, _ := strings.Cut(f, "=")
		switch name = strings.TrimSpace(name); name {
		case "p", "proxy":
			r.Flags.Proxy = true
		case "l", "last":
			r.Flags.Last = true
		case "end":
			r.Flags.End = true
		case "nc", "nocase":
			r.NoCase = true
		case "ne", "noescape":
			r.NoCanon = true
		case "pt", "passthrough":
			r.Flags.PassThrough = true
		case "qsa", "qsappend":
			r.Flags.QSAppend = true
		case "qsd", "qsdiscard":
			r.Flags.QSDiscard = true
		case "qsl", "qslast":
			r.Flags.QSLast = true
		case "ns", "nosubreq":
			r.Flags.NoSubReq = true
		case "unsafeallow3f":
			r.Flags.UnsafeAllow3F = true
		case "unsafeprefixstat":
			r.Flags.UnsafePrefixStat = true
		case "r", "redirect":
			status, msg := redirectStatus(strings.TrimSpace(val))
			if msg != "" {
				errs.add(errAt("%s", msg))
			}
			r.Status = status
		case "f", "forbidden":
			r.Status = http.StatusForbidden
		case "g", "gone":
			r.Status = http.StatusGone
		case "b", "backrefescaping", "bnp", "backrefnoplus", "bctls", "bne", "c", "chain",
			"co", "cookie", "d", "dpi", "discardpath", "e", "env", "h", "handler", "n", "next",
			"s", "skip", "t", "type":
			errs.add(errAt("flag %q is not supported yet (wsgate reads P, L, END, NC, NE, PT, QSA, QSD, QSL, R, F, G, NS and UnsafeAllow3F)", strings.ToUpper(name)))
		default:
			errs.add(errAt("unknown flag %q", name))
		}
	}
	switch {
	case r.Flags.Proxy && r.Status != 0:
		errs.add(errAt("[P] cannot be combined with [R], [F] or [G]: Apache would do only one of them"))
	case r.Flags.PassThrough && (r.Flags.Proxy || isRedirect(r.Status)):
		errs.add(errAt("[PT] cannot be combined with [P] or [R]: Apache would then hand \"proxy:\" or a URL to ProxyPass and answer 404"))
	case r.Flags.PassThrough && perDir:
		errs.add(errAt("[PT] is not supported in <Location>: Apache ignores it there and makes an internal redirect, which wsgate does not do"))
	}
	return errs.err()
}

// redirectStatus is the status of [R] (val "") or [R=val]: permanent,
// temp, seeother or a number. As in Apache, a status that is not a
// redirection is answered as it is (R=403, R=410); only 3xx, 4xx and 5xx
// statuses are accepted here.
func redirectStatus(val string) (int, string) {
	switch strings.ToLower(val) {
	case "":
		return http.StatusFound, ""
	case "permanent":
		return http.StatusMovedPermanently, ""
	case "temp":
		return http.StatusFound, ""
	case "seeother":
		return http.StatusSeeOther, ""
	}
	n, err := strconv.Atoi(leadingDigits(val))
	switch {
	case err != nil:
		return 0, fmt.Sprintf("R=%s: want a status, permanent, temp or seeother", val)
	case http.StatusText(n) == "":
		return 0, fmt.Sprintf("invalid HTTP response code %q for flag R", val)
	case n < 300:
		return 0, fmt.Sprintf("R=%d is not supported: wsgate redirects (3xx) or answers an error status (4xx, 5xx)", n)
	}
	return n, ""
}

// isRedirect is ap_is_HTTP_REDIRECT.
func isRedirect(status int) bool { return status >= 300 && status <= 399 }

// statusOnly reports whether the rule only answers a status ([F], [G],
// [R=4xx]): Apache then ignores its substitution (RULEFLAG_NOSUB).
func (r *Rule) statusOnly() bool { return r.Status != 0 && !isRedirect(r.Status) }

// Kinds of substitution, as far as its text tells before expansion.
const (
	substNone     = iota // "-"
	substPath            // a URL-path: "/..."
	substURL             // an absolute URL with its scheme written out
	substDynamic         // starts with a reference: known only per request
	substRelative        // anything else: a relative path
)

func substKind(s string) int {
	switch {
	case s == "-":
		return substNone
	case strings.HasPrefix(s, "/"):
		return substPath
	case absoluteURI(s) > 0:
		return substURL
	case len(s) > 1 && (s[0] == '$' || s[0] == '%') && (isDigit(s[1]) || s[1] == '{'):
		return substDynamic
	}
	return substRelative
}

// checkSubst validates the substitution against the flags, and sets
// Target for a [P] rule.
func (r *Rule) checkSubst(d directive, a arg, perDir bool) error {
	errAt := func(format string, v ...any) error {
		return &Error{Pos: a.pos, Msg: d.name + ": " + fmt.Sprintf(format, v...)}
	}
	sub := r.Subst
	if r.statusOnly() {
		return nil // Apache ignores the substitution
	}
	if msg := checkExpansion(sub); msg != "" {
		return errAt("%s", msg)
	}
	kind := substKind(sub)
	switch {
	case r.Flags.Proxy && kind == substURL:
		q := literalQuery(sub)
		switch scheme := strings.ToLower(sub[:strings.IndexByte(sub, ':')]); scheme {
		case "ws", "wss", "http", "https", "balancer":
		default:
			return errAt("[P] to %s: is not supported (wsgate proxies to ws, wss, http and https)", scheme)
		}
		target, msg := proxyTemplate(sub[:q])
		if msg != "" {
			return errAt("%s", msg)
		}
		r.Target = target
	case r.Flags.Proxy && kind == substDynamic:
		return errAt("[P] needs the backend URL's scheme and host written out, not %q", sub)
	case r.Flags.Proxy && kind != substNone:
		return errAt("[P] needs an absolute ws://, wss://, http:// or https:// URL; with %q Apache would proxy the request to itself", sub)
	case kind == substURL:
		switch scheme := strings.ToLower(sub[:strings.IndexByte(sub, ':')]); scheme {
		case "http", "https", "ws", "wss":
		default:
			return errAt("a redirect to %s: is not supported (wsgate redirects to http, https, ws and wss URLs)", scheme)
		}
	case perDir && (kind == substPath || kind == substRelative) && !isRedirect(r.Status):
		return errAt("in <Location>, a substitution to the local path %q makes Apache start an internal redirect, which wsgate does not do (write an absolute URL with [P], or redirect with [R])", sub)
	case kind == substRelative && !isRedirect(r.Status):
		return errAt("SUBSTITUTION %q is neither \"-\", a URL-path starting with \"/\" nor an absolute URL (Apache answers 400, or 404 with [PT])", sub)
	}
	return nil
}

// proxyTemplate parses the URL of a [P] rule (without its query) into
// Target: the scheme, the authority template and the rest, as written.
// The authority ends at the first "/" or "?", or where a reference starts
// the path: %{REQUEST_URI} (which always starts with "/"), or any
// reference after a complete host:port, as in
// "ws://localhost:8888%{REQUEST_URI}" and "http://h:1$1". A reference
// inside the host or the port stays part of it, whatever it expands to
// (see Table.fromURL).
func proxyTemplate(s string) (*url.URL, string) {
	i := strings.Index(s, "://") + 3
	end := authorityEnd(s[i:])
	var u *url.URL
	var msg string
	if isBalancerURL(s) {
		// The balancer is named as written; Table.Validate and the
		// parser check that it exists.
		u, msg = balancerTarget(s[:i+end])
	} else {
		u, msg = parseTemplate(s[:i+end]+"/", "$%")
	}
	if msg != "" {
		return nil, msg
	}
	rest := s[i+end:]
	if !isVisible(rest) {
		return nil, fmt.Sprintf("URL %q contains spaces or control characters", s)
	}
	u.Path, u.RawPath = rest, rest
	return u, ""
}

// authorityEnd is where the authority of the text after "://" ends (see
// proxyTemplate).
func authorityEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/', c == '?':
			return i
		case c == '\\':
			i++
		case c == '%' && strings.HasPrefix(strings.ToUpper(s[i:]), "%{REQUEST_URI}"):
			return i
		case (c == '$' || c == '%') && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '{') && hasPort(s[:i]):
			return i
		}
	}
	return len(s)
}

// hasPort reports whether a literal authority ends in ":" and digits.
func hasPort(a string) bool {
	i := strings.LastIndexByte(a, ':')
	return i >= 0 && i+1 < len(a) && strings.Trim(a[i+1:], "0123456789") == "" && !strings.ContainsAny(a, "$%")
}

// literalQuery is the index of the first "?" written in s itself (not
// escaped, not inside a %{...}), or len(s).
func literalQuery(s string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case s[i] == '%' && i+1 < len(s) && s[i+1] == '{':
			if end := closingCurly(s, i+2); end > 0 {
				i = end
			}
		case s[i] == '?':
			return i
		}
	}
	return len(s)
}

// substParts splits a [P] rule's substitution after its scheme into
// the authority and the rest (the path and, if written, the query), as
// proxyTemplate does.
func (r *Rule) substParts() (authority, rest string) {
	i := strings.Index(r.Subst, "://") + 3
	end := i + authorityEnd(r.Subst[i:])
	return r.Subst[i:end], r.Subst[end:]
}

// parseFlags splits "[A,B=c]" into lower-case flags.
func parseFlags(d directive, a arg) ([]string, error) {
	s := a.text
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, &Error{Pos: a.pos, Msg: fmt.Sprintf("%s: flags %q must be written [FLAG,FLAG...]", d.name, s)}
	}
	var flags []string
	for _, f := range strings.Split(s[1:len(s)-1], ",") {
		if f = strings.TrimSpace(f); f != "" {
			flags = append(flags, strings.ToLower(f))
		}
	}
	return flags, nil
}

// checkExpansion checks the %{...} variables and ${...} maps of a test
// string or substitution against what wsgate expands, and returns what is
// wrong, or "".
func checkExpansion(s string) string {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
		case (s[i] == '%' || s[i] == '$') && i+1 < len(s) && s[i+1] == '{':
			end := closingCurly(s, i+2)
			if end < 0 {
				return fmt.Sprintf("unterminated %q in %q", s[i:i+2], s)
			}
			name := s[i+2 : end]
			if s[i] == '$' {
				return fmt.Sprintf("RewriteMap lookups (${%s}) are not supported yet", name)
			}
			if msg := checkVariable(name); msg != "" {
				return msg
			}
			i = end
		}
	}
	return ""
}

// checkVariable checks the name of one %{NAME}.
func checkVariable(name string) string {
	upper := strings.ToUpper(name)
	switch {
	case len(name) > 5 && strings.HasPrefix(upper, "HTTP:"), rewriteVars[upper]:
		return ""
	case strings.HasPrefix(upper, "ENV:"), strings.HasPrefix(upper, "SSL:"),
		strings.HasPrefix(upper, "LA-U:"), strings.HasPrefix(upper, "LA-F:"), apacheOnlyVars[upper]:
		return fmt.Sprintf("%%{%s} is not supported yet (wsgate reads %%{HTTP:Name} and the variables docs/rules.md lists)", name)
	}
	return fmt.Sprintf("unknown variable %%{%s}: Apache would expand it to nothing (wsgate reads %%{HTTP:Name} and the variables docs/rules.md lists)", name)
}

// closingCurly is find_closing_curly: the index of the "}" that closes
// the "{" before s[from], nested braces counted, or -1.
func closingCurly(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// rewriteInput is a request as mod_rewrite sees it. Table.rewrite may
// change uri and query ([PT]) and set end ([END]); the ProxyPass lines and
// a <Location>'s rules then see the changes, as in Apache.
type rewriteInput struct {
	req *http.Request // nil: no headers, GET, HTTP/1.1, plain HTTP
	// target is the raw request target (r->unparsed_uri), for
	// %{THE_REQUEST}.
	target string
	// uri is r->uri: the decoded, normalised path, for %{REQUEST_URI}.
	uri string
	// query is r->args; hasQuery tells an empty query ("/p?") from none.
	query    string
	hasQuery bool
	// end is set by a rule with [END]: no <Location>'s rules apply.
	end bool
	// serverName names the server for a request without Host (an
	// HTTP/1.0 request): the virtual host's ServerName. Empty: localhost.
	serverName string
}

func newRewriteInput(target string, r *http.Request, uri, query string, hasQuery bool) *rewriteInput {
	return &rewriteInput{req: r, target: target, uri: uri, query: query, hasQuery: hasQuery}
}

// header is the request header name as mod_rewrite's lookup_header sees
// it: Apache merges repeated lines with ", "; Go's server keeps Host
// apart.
func (in *rewriteInput) header(name string) string {
	if in.req == nil {
		return ""
	}
	if strings.EqualFold(name, "Host") && in.req.Host != "" {
		return in.req.Host
	}
	return strings.Join(in.req.Header.Values(name), ", ")
}

func (in *rewriteInput) method() string {
	if in.req == nil || in.req.Method == "" {
		return http.MethodGet
	}
	return in.req.Method
}

func (in *rewriteInput) proto() string {
	switch {
	case in.req == nil || in.req.ProtoMajor == 0:
		return "HTTP/1.1"
	case in.req.Proto != "":
		return in.req.Proto
	}
	return fmt.Sprintf("HTTP/%d.%d", in.req.ProtoMajor, in.req.ProtoMinor)
}

// scheme is ap_http_scheme: https on a TLS connection.
func (in *rewriteInput) scheme() string {
	if in.req != nil && in.req.TLS != nil {
		return "https"
	}
	return "http"
}

// hostPort splits the Host header as Apache's fix_hostname does: the
// name in lower case without trailing dots (an IPv6 address without its
// brackets), and the port, "" when none.
func (in *rewriteInput) hostPort() (string, string) {
	host := in.header("Host")
	port := ""
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host, port = host[1:i], strings.TrimPrefix(host[i+1:], ":")
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host, port = host[:i], host[i+1:]
	}
	return strings.TrimRight(strings.ToLower(host), "."), port
}

// serverNameForURL is %{SERVER_NAME}, ap_get_server_name_for_url under
// UseCanonicalName Off: the Host header's name, an IPv6 address in
// brackets; the ServerName when the request has no Host.
func (in *rewriteInput) serverNameForURL() string {
	host, _ := in.hostPort()
	switch {
	case host == "" && in.serverName != "":
		return in.serverName
	case host == "":
		return "localhost"
	case strings.Contains(host, ":"):
		return "[" + host + "]"
	}
	return host
}

// serverPort is %{SERVER_PORT}, ap_get_server_port under UseCanonicalName
// Off: the Host header's port, else the scheme's default (not the port
// the connection came to: Apache answers 80 on any port).
func (in *rewriteInput) serverPort() int {
	if _, port := in.hostPort(); port != "" {
		if n, err := strconv.Atoi(port); err == nil {
			return n
		}
	}
	return schemePort(in.scheme())
}

func schemePort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// selfURL is this server's URL as fully_qualify_uri writes it: scheme,
// %{SERVER_NAME} and %{SERVER_PORT} unless it is the scheme's default.
func (in *rewriteInput) selfURL() string {
	u := in.scheme() + "://" + in.serverNameForURL()
	if p := in.serverPort(); p != schemePort(in.scheme()) {
		u += ":" + strconv.Itoa(p)
	}
	return u
}

// addrPart returns the host or the port of a "host:port" address.
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

// variable is lookup_variable for the variables of rewriteVars.
func (c *rewriteCtx) variable(name string) string {
	in := c.in
	if len(name) > 5 && strings.EqualFold(name[:5], "HTTP:") {
		return in.header(name[5:])
	}
	upper := strings.ToUpper(name)
	// The HTTP_ variables of rewriteVars (HTTP_HOST, HTTP_USER_AGENT, ...)
	// are request headers named as in CGI: HTTP_PROXY_CONNECTION is
	// Proxy-Connection. Other HTTP_ names are not variables in Apache.
	if h, ok := strings.CutPrefix(upper, "HTTP_"); ok && rewriteVars[upper] {
		return in.header(strings.ReplaceAll(h, "_", "-"))
	}
	switch upper {
	case "REQUEST_URI":
		return in.uri
	case "QUERY_STRING":
		return c.args
	case "THE_REQUEST":
		return in.method() + " " + in.target + " " + in.proto()
	case "REQUEST_METHOD":
		return in.method()
	case "REQUEST_SCHEME":
		return in.scheme()
	case "HTTPS":
		if in.scheme() == "https" {
			return "on"
		}
		return "off"
	case "SERVER_NAME":
		return in.serverNameForURL()
	case "SERVER_PORT":
		return strconv.Itoa(in.serverPort())
	case "SERVER_PROTOCOL":
		return in.proto()
	case "SERVER_ADDR":
		if in.req != nil {
			if a, ok := in.req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
				return addrPart(a.String(), false)
			}
		}
	case "REMOTE_ADDR":
		if in.req != nil {
			return addrPart(in.req.RemoteAddr, false)
		}
	case "REMOTE_PORT":
		if in.req != nil {
			return addrPart(in.req.RemoteAddr, true)
		}
	}
	return ""
}

// rewriteCtx is what the expansions of one rule read.
type rewriteCtx struct {
	in   *rewriteInput
	args string // r->args as the rules before left it, for %{QUERY_STRING}
	// src is what the rule's pattern matched, rule its groups there (nil
	// for a negated pattern: $N are empty).
	src  string
	rule []int
	// cond are the groups of the last RewriteCond that matched, in
	// condSrc.
	cond    []int
	condSrc string
}

// expansion is a substitution being expanded: the text, and where its
// first and last "?" are and whether each came from a reference.
type expansion struct {
	b                 strings.Builder
	firstQ, lastQ     int
	firstRef, lastRef bool
}

func (e *expansion) add(s string, ref bool) {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		if e.firstQ < 0 {
			e.firstQ, e.firstRef = e.b.Len()+i, ref
		}
		e.lastQ, e.lastRef = e.b.Len()+strings.LastIndexByte(s, '?'), ref
	}
	e.b.WriteString(s)
}

// split is where splitout_queryargs splits the result (-1: nowhere), and
// whether that "?" came from a reference.
func (e *expansion) split(last bool) (int, bool) {
	if last {
		return e.lastQ, e.lastRef
	}
	return e.firstQ, e.firstRef
}

// expand is mod_rewrite's do_expand: a backslash makes the next byte
// literal, $N is a group of the rule's pattern, %N one of the last
// RewriteCond that matched, %{VAR} a variable. It is done in one pass,
// so that what a reference brings in is never expanded again.
func (c *rewriteCtx) expand(s string) string {
	if !strings.ContainsAny(s, `\$%`) {
		return s
	}
	return c.expansion(s).b.String()
}

func (c *rewriteCtx) expansion(s string) *expansion {
	e := &expansion{firstQ: -1, lastQ: -1}
	for i := 0; i < len(s); {
		j := strings.IndexAny(s[i:], `\$%`)
		if j < 0 {
			e.add(s[i:], false)
			break
		}
		e.add(s[i:i+j], false)
		i += j
		switch ch := s[i]; {
		case i+1 == len(s):
			e.add(s[i:], false)
			i++
		case ch == '\\':
			e.add(s[i+1:i+2], false)
			i += 2
		case ch == '$' && isDigit(s[i+1]):
			e.add(group(c.src, c.rule, int(s[i+1]-'0')), true)
			i += 2
		case ch == '%' && isDigit(s[i+1]):
			e.add(group(c.condSrc, c.cond, int(s[i+1]-'0')), true)
			i += 2
		case ch == '%' && s[i+1] == '{' && closingCurly(s, i+2) > 0:
			end := closingCurly(s, i+2)
			e.add(c.variable(s[i+2:end]), true)
			i = end + 1
		default:
			e.add(s[i:i+1], false)
			i++
		}
	}
	return e
}

// conds evaluates the rule's RewriteConds as mod_rewrite's
// apply_rewrite_rule does, [OR] chains included, and leaves the last
// matching regular expression's groups in c for %N.
func (c *rewriteCtx) conds(conds []*Cond) bool {
	for i := 0; i < len(conds); i++ {
		cd := conds[i]
		ok := c.cond1(cd)
		if cd.OrNext {
			if !ok {
				continue
			}
			// Skip the rest of the OR chain, its last member included.
			for i < len(conds) && conds[i].OrNext {
				i++
			}
			continue
		}
		if !ok {
			return false
		}
	}
	return true
}

// cond1 is apply_rewrite_cond for one condition. [NC] applies to "=" too.
func (c *rewriteCtx) cond1(cd *Cond) bool {
	input := c.expand(cd.TestString)
	var ok bool
	if cd.Equal {
		if cd.NoCase {
			ok = strings.EqualFold(input, cd.Pattern)
		} else {
			ok = input == cd.Pattern
		}
	} else {
		re := cd.re
		if re == nil {
			re, _ = compileRegex(cd.Pattern, cd.NoCase)
		}
		m := re.FindStringSubmatchIndex(input)
		ok = m != nil
		if ok && !cd.Negate {
			c.cond, c.condSrc = m, input
		}
	}
	return ok != cd.Negate
}

// rewriteRun is one pass over a list of RewriteRules (apply_rewrite_list):
// the state of the request the rules share.
type rewriteRun struct {
	in *rewriteInput
	// dir is the <Location>'s path with a trailing "/" (mod_rewrite's
	// per-directory prefix), "" for the server context.
	dir string
	// proxyReq is r->proxyreq: a ProxyPass mapped the request before a
	// <Location>'s rules run, and filename starts as "proxy:URL".
	proxyReq bool

	filename string // r->filename: what the next pattern is matched against
	args     string // r->args; hasArgs: it is set (it may be empty)
	hasArgs  bool
	status   int // r->status: from [R], or 302 for an absolute substitution

	rule    *Rule // the last rule that substituted
	changed bool  // a rule substituted, so the result means something
	pass    bool  // [PT]
	proxy   bool  // [P]: authority and path are the backend URL's
	backend struct{ authority, path string }
}

// maxRewriteLen is twice LimitRequestLine: a longer result is a 500, as
// mod_rewrite catches rules that keep growing the path.
const maxRewriteLen = 2 * 8190

// run applies rules in order until one stops the list.
func (s *rewriteRun) run(rules []*Rule) error {
	for _, rule := range rules {
		if rule.Kind != Rewrite {
			continue
		}
		ok, err := s.apply(rule)
		switch {
		case err != nil:
			return err
		case !ok:
			continue
		case len(s.filename) > maxRewriteLen:
			return &RequestError{Status: http.StatusInternalServerError,
				Reason: fmt.Sprintf("%s: the rewritten URL exceeds %d bytes", origin(rule.Pos), maxRewriteLen)}
		}
		switch f := rule.Flags; {
		case f.PassThrough:
			s.pass, s.changed = true, true
			return nil
		case f.End:
			s.in.end = true
			return nil
		case f.Proxy, f.Last:
			return nil
		}
	}
	return nil
}

// apply is apply_rewrite_rule: it reports whether the rule applied (its
// pattern and conditions matched) and does what it says to s. An error is
// what the request is answered: [F], [G], [R=4xx], or a 403 for a "?"
// that a reference brought in.
func (s *rewriteRun) apply(rule *Rule) (bool, error) {
	proxied := s.proxyReq && strings.HasPrefix(s.filename, "proxy:")
	subject := s.filename
	if s.dir != "" && !proxied && strings.HasPrefix(subject, s.dir) {
		subject = subject[len(s.dir):] // strip the per-directory prefix
	}
	groups := rule.regexOf().FindStringSubmatchIndex(subject)
	if (groups != nil) == rule.Flags.NotMatch {
		return false, nil
	}
	if rule.Flags.NotMatch {
		groups = nil
	}
	c := rewriteCtx{in: s.in, src: subject, rule: groups}
	if s.hasArgs {
		c.args = s.args
	}
	if !c.conds(rule.Conds) {
		return false, nil
	}
	switch {
	case rule.statusOnly():
		return true, &RequestError{Status: rule.Status,
			Reason: fmt.Sprintf("%s: answered %d by %s", origin(rule.Pos), rule.Status, describe(rule))}
	case rule.Subst == "-":
		return true, nil // matched, nothing substituted
	case rule.Flags.Proxy:
		return true, s.proxyTo(rule, &c)
	}
	e := c.expansion(rule.Subst)
	q, ref := e.split(rule.Flags.QSLast)
	if ref && !rule.Flags.UnsafeAllow3F {
		return true, unsafeQuery(rule)
	}
	s.filename = s.splitQuery(e.b.String(), q, rule)
	if s.dir != "" && !proxied && !strings.HasPrefix(s.filename, "/") && absoluteURI(s.filename) == 0 {
		s.filename = s.dir + s.filename // a relative substitution is relative to the <Location>
	}
	switch {
	case isRedirect(rule.Status):
		s.fullyQualify()
		s.status = rule.Status
	case absoluteURI(s.filename) > 0:
		// An absolute URL without [P] or [R] is a redirect too. Apache
		// would first strip http://thishost[:port], but only when
		// ServerName carries the port or the virtual host is named by
		// host; wsgate never does (see docs/rules.md).
		s.status = http.StatusFound
	}
	s.rule, s.changed = rule, true
	return true, nil
}

// proxyTo substitutes a [P] rule. Its authority and the rest are expanded
// apart, so that whatever a reference puts in the host part stays there
// (and is checked strictly by fromURL) instead of being split again as
// Apache would.
func (s *rewriteRun) proxyTo(rule *Rule, c *rewriteCtx) error {
	authTmpl, rest := rule.substParts()
	authority := c.expand(authTmpl)
	if rule.Target.Scheme == "balancer" {
		authority = rule.Target.Host // the name in lower case, no references
	}
	if strings.Contains(authority, "?") && !rule.Flags.UnsafeAllow3F {
		return unsafeQuery(rule)
	}
	e := c.expansion(rest)
	q, ref := e.split(rule.Flags.QSLast)
	if ref && !rule.Flags.UnsafeAllow3F {
		return unsafeQuery(rule)
	}
	s.backend.authority = authority
	s.backend.path = s.splitQuery(e.b.String(), q, rule)
	s.filename = rule.Target.Scheme + "://" + authority + s.backend.path // for error messages
	s.rule, s.changed, s.proxy = rule, true, true
	return nil
}

func unsafeQuery(rule *Rule) error {
	return &RequestError{Status: http.StatusForbidden,
		Reason: fmt.Sprintf("%s: a \"?\" that a reference brought into the substitution would start the query (AH10508; [UnsafeAllow3F] allows it)", origin(rule.Pos))}
}

// splitQuery is splitout_queryargs: the substitution's query, from its
// "?" at q (-1: none), replaces the request's, or with [QSA] goes before
// it; [QSD] drops the request's. An empty result is no query, and a
// trailing "&" is dropped. It returns text without the query.
func (s *rewriteRun) splitQuery(text string, q int, rule *Rule) string {
	if rule.Flags.QSDiscard {
		s.args, s.hasArgs = "", false
	}
	if q < 0 {
		return text
	}
	qs := text[q+1:]
	switch {
	case !rule.Flags.QSAppend:
		s.args, s.hasArgs = qs, true
	case qs != "":
		s.args, s.hasArgs = qs+"&"+s.args, true
	}
	if s.hasArgs {
		s.args = strings.TrimSuffix(s.args, "&")
		s.hasArgs = s.args != ""
	}
	return text[:q]
}

// fullyQualify is fully_qualify_uri: a path becomes an absolute URL on
// this server, as the client named it.
func (s *rewriteRun) fullyQualify() {
	if absoluteURI(s.filename) > 0 {
		return
	}
	sep := ""
	if !strings.HasPrefix(s.filename, "/") {
		sep = "/"
	}
	s.filename = s.in.selfURL() + sep + s.filename
}

// absoluteURI is is_absolute_uri: the length of u's "scheme://" (or
// "scheme:" for mailto and news) when its scheme is one mod_rewrite
// knows, else 0. Other schemes are taken as relative paths, as in Apache.
func absoluteURI(u string) int {
	if len(u) <= 5 || u[0] == '/' {
		return 0
	}
	for _, scheme := range []string{"ajp://", "balancer://", "fcgi://", "ftp://", "gopher://",
		"h2://", "h2c://", "http://", "https://", "ldap://", "mailto:", "news:", "nntp://",
		"scgi://", "ws://", "wss://"} {
		if len(u) >= len(scheme) && strings.EqualFold(u[:len(scheme)], scheme) {
			return len(scheme)
		}
	}
	return 0
}

// rewrite applies the RewriteRules among rules (those of the top of a
// file, or of a <VirtualHost>) to a request, as mod_rewrite's
// translate_name hook does before mod_proxy's. done reports whether they
// decided the request: m proxies or redirects it (m.Redirect), or err is
// the *RequestError to answer ([F], [G], a path rewritten to a local file,
// which Apache serves from its DocumentRoot and wsgate answers 404). When
// not done, the ProxyPass lines go on with in.uri and in.query, which
// [PT] may have changed, and the rules of a <Location> still apply
// (rewriteDir) unless in.end.
func (t *Table) rewrite(rules []*Rule, in *rewriteInput) (m Match, done bool, err error) {
	s := rewriteRun{in: in, filename: in.uri, args: in.query, hasArgs: in.hasQuery}
	if err := s.run(rules); err != nil {
		return Match{}, true, err
	}
	switch {
	case !s.changed:
		return Match{}, false, nil
	case s.proxy:
		m, err := t.proxyMatch(&s)
		return m, true, err
	case s.pass:
		if !strings.HasPrefix(s.filename, "/") {
			return Match{}, true, &RequestError{Status: http.StatusNotFound,
				Reason: fmt.Sprintf("[PT] handed %q, which is not a URL-path, to the ProxyPass lines", s.filename)}
		}
		in.uri, in.query, in.hasQuery = s.filename, s.args, s.hasArgs
		return Match{}, false, nil
	case absoluteURI(s.filename) > 0:
		m, err := s.redirect()
		return m, true, err
	case !strings.HasPrefix(s.filename, "/"):
		return Match{}, true, &RequestError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("%s: rewritten to %q, neither a URL-path nor an absolute URL", origin(s.rule.Pos), s.filename)}
	}
	return Match{}, true, &RequestError{Status: http.StatusNotFound,
		Reason: fmt.Sprintf("%s: rewritten to the local path %q, which Apache serves from its DocumentRoot without consulting ProxyPass; wsgate serves no files ([PT] hands the path to ProxyPass)",
			origin(s.rule.Pos), s.filename)}
}

// rewriteDir applies the RewriteRules of a <Location> (Location.Rewrite,
// when Location.RewriteOn; dir is the location's path) to a request, as
// mod_rewrite's fixup hook does: after translate_name, so after the
// top-level rules and the ProxyPass lines, whose result it may override.
// mapped is the Match the request has by then (from a ProxyPass, in a
// <Location> or not, or from a top-level [P] rule), nil when it has none;
// it is not called for a request already redirected or answered, nor after
// a rule with [END] (in.end).
//
// The patterns are not matched against the URL-path. Apache matches them
// against r->filename at that point: "proxy:" and the backend URL (its
// path decoded, without the query) when the request is proxied, else the
// file the path maps to, DocumentRoot + path. wsgate, which serves no
// files, takes /var/www/html for DocumentRoot (defaultDocRoot). Snippets
// written for <Location> therefore match anything (".*") and build the
// target from %{REQUEST_URI}; "^/(.*)" with $1 does not do what it seems
// to, in Apache as here (Check warns).
//
// done reports whether the rules decided the request (m proxies or
// redirects it, or err is the *RequestError to answer); when not, mapped
// stands.
func (t *Table) rewriteDir(rules []*Rule, dir string, in *rewriteInput, mapped *Match) (m Match, done bool, err error) {
	if in.end {
		return Match{}, false, nil
	}
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	s := rewriteRun{in: in, dir: dir, args: in.query, hasArgs: in.hasQuery, filename: defaultDocRoot + in.uri}
	if mapped != nil && mapped.Redirect == nil && mapped.Scheme != "" {
		s.filename, s.proxyReq = "proxy:"+mapped.filename(), true
	}
	if err := s.run(rules); err != nil {
		return Match{}, true, err
	}
	switch {
	case !s.changed:
		return Match{}, false, nil
	case s.proxy:
		m, err := t.proxyMatch(&s)
		return m, true, err
	case absoluteURI(s.filename) > 0:
		m, err := s.redirect()
		return m, true, err
	}
	// parseRewriteDir refuses the substitutions that lead here unless
	// they start with a reference.
	return Match{}, true, &RequestError{Status: http.StatusInternalServerError,
		Reason: fmt.Sprintf("%s: rewritten to the local path %q, for which Apache would start an internal redirect; wsgate does not", origin(s.rule.Pos), s.filename)}
}

// filename is m's backend URL as Apache's r->filename holds it after
// "proxy:" when a <Location>'s rules run: the path decoded (undoing
// canonPath, which escapes every "%" it keeps), without the query.
func (m Match) filename() string {
	path, _, _ := strings.Cut(m.RequestURI, "?")
	return m.Scheme + "://" + m.Host + unescapePath(path)
}

// unescapePath decodes the %XX escapes of p; a "%" that starts none is
// kept.
func unescapePath(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			b = append(b, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}

// proxyMatch is the Match of a [P] result: the path re-encoded like a
// ProxyPass target and the query appended, or with [NE] both as they are
// (mod_rewrite sets proxy-nocanon).
func (t *Table) proxyMatch(s *rewriteRun) (Match, error) {
	path := s.backend.path
	if path != "" && path[0] != '/' {
		// The reference that was to start the path runs on into the
		// port: Apache fails the request (observed: 500).
		return Match{}, &RequestError{Status: http.StatusInternalServerError,
			Reason: fmt.Sprintf("%s: backend URL %q: the path does not start with \"/\"", origin(s.rule.Pos), s.filename)}
	}
	if !s.rule.NoCanon {
		return t.fromURL(s.rule, s.backend.authority, path, false, s.args, s.hasArgs)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if s.hasArgs {
		path += "?" + s.args
	}
	return t.fromURL(s.rule, s.backend.authority, path, true, "", false)
}

// redirect is hook_uri2file's answer to a substitution that ended as an
// absolute URL: the Location escaped as ap_escape_uri does unless [NE],
// with the query appended (escaped too when a rule changed it), and the
// status of [R], else 302. A Location that would hold a control
// character is a 500, as Apache's header check makes it (AH02430).
func (s *rewriteRun) redirect() (Match, error) {
	loc := s.filename
	noEscape := s.rule.NoCanon
	if !noEscape {
		loc = escapeAbsoluteURI(loc)
	}
	if s.hasArgs {
		if noEscape || s.in.hasQuery && s.args == s.in.query {
			loc += "?" + s.args
		} else {
			loc += "?" + escapeURI(s.args)
		}
	}
	status := s.status
	if !isRedirect(status) {
		status = http.StatusFound
	}
	for i := 0; i < len(loc); i++ {
		if c := loc[i]; c < ' ' && c != '\t' || c == 0x7f {
			return Match{}, &RequestError{Status: http.StatusInternalServerError,
				Reason: fmt.Sprintf("%s: the redirect's Location %q contains control characters (AH02430)", origin(s.rule.Pos), loc)}
		}
	}
	return Match{Rule: s.rule, Redirect: &Redirect{Rule: s.rule, Status: status, Location: loc}}, nil
}

// escapeAbsoluteURI is escape_absolute_uri: what follows the scheme and
// the authority's "/" is escaped with escapeURI.
func escapeAbsoluteURI(u string) string {
	n := absoluteURI(u)
	if strings.HasSuffix(u[:n], "/") {
		i := strings.IndexByte(u[n:], '/')
		if i < 0 || n+i+1 == len(u) {
			return u
		}
		n += i + 1
	}
	return u[:n] + escapeURI(u[n:])
}

// escapeURI is ap_escape_uri: bytes other than ASCII alphanumerics and
// $-_.+!*'(),:;@&=/~ become %xx, in lower case as Apache writes them.
func escapeURI(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("$-_.+!*'(),:;@&=/~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// rewriteLines prints a RewriteRule after its RewriteConds, flags in a
// fixed order; a [P] rule is printed with L, which [P] implies, and its
// URL from Target, so that a copy with another Target prints as such.
func (r *Rule) rewriteLines() []directiveLine {
	var l []directiveLine
	for _, c := range r.Conds {
		l = append(l, directiveLine{c.Pos, c.String()})
	}
	pattern := r.Path
	if r.Flags.NotMatch {
		pattern = "!" + pattern
	}
	subst := r.Subst
	if r.Target != nil {
		// Target as printed (scheme in lower case), then the query.
		subst = targetString(r.Target) + subst[literalQuery(subst):]
	}
	s := "RewriteRule " + quoteRewriteArg(pattern) + " " + quoteRewriteArg(subst)
	var flags []string
	add := func(on bool, name string) {
		if on {
			flags = append(flags, name)
		}
	}
	f := r.Flags
	add(r.NoCase, "NC")
	add(f.Proxy, "P")
	add(f.PassThrough, "PT")
	add(f.Proxy || f.Last, "L")
	add(f.End, "END")
	add(r.NoCanon, "NE")
	add(f.QSAppend, "QSA")
	add(f.QSDiscard, "QSD")
	add(f.QSLast, "QSL")
	add(f.NoSubReq, "NS")
	switch r.Status {
	case 0:
	case http.StatusForbidden:
		flags = append(flags, "F")
	case http.StatusGone:
		flags = append(flags, "G")
	default:
		flags = append(flags, "R="+strconv.Itoa(r.Status))
	}
	add(f.UnsafeAllow3F, "UnsafeAllow3F")
	add(f.UnsafePrefixStat, "UnsafePrefixStat")
	if len(flags) > 0 {
		s += " [" + strings.Join(flags, ",") + "]"
	}
	return append(l, directiveLine{r.Pos, s})
}

// checkRewrite warns about RewriteRules that are valid but probably not
// what the user meant (see Check): a [P] with "-", which proxies nothing;
// a rewrite to a local path, which Apache serves from its DocumentRoot
// and wsgate answers 404; and a <Location> rule whose pattern or $N
// assume it sees the URL-path.
func (t *Table) checkRewrite() []*Error {
	var warns []*Error
	warn := func(r *Rule, format string, a ...any) {
		warns = append(warns, &Error{Pos: r.Pos, Msg: describe(r) + ": " + fmt.Sprintf(format, a...)})
	}
	var server []*Rule
	for _, r := range t.Rules {
		if r.Kind == Rewrite {
			server = append(server, r)
		}
	}
	for i, r := range server {
		switch {
		case r.Subst == "-" && r.Flags.Proxy && !r.statusOnly():
			warn(r, "[P] with the \"-\" substitution proxies nothing: Apache ignores P there and only stops rewriting, as [L] does, so the request goes on to the ProxyPass lines")
		case substKind(r.Subst) == substPath && !r.Flags.PassThrough && r.Status == 0 &&
			(r.Flags.Last || r.Flags.End || i == len(server)-1):
			warn(r, "rewrites to the local path %q, which Apache serves from its DocumentRoot without consulting ProxyPass; wsgate serves no files, so these requests get 404 (add [PT] to hand the new path to the ProxyPass lines)", r.Subst)
		}
	}
	for _, loc := range t.Locations {
		for _, r := range loc.Rewrite {
			if strings.HasPrefix(r.Path, "^/") || usesRuleGroups(r.Subst) {
				warn(r, "in <Location>, Apache matches PATTERN against \"proxy:\" and the backend URL once a ProxyPass maps the request, else against DocumentRoot + path (wsgate: %s + path), never against the URL-path alone; match \".*\" and build the URL from %%{REQUEST_URI}", defaultDocRoot)
			}
		}
	}
	return warns
}

// usesRuleGroups reports whether a substitution reads $N.
func usesRuleGroups(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case s[i] == '$' && isDigit(s[i+1]):
			return true
		}
	}
	return false
}
