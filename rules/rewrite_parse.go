package rules

import (
	"fmt"
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
// This file reads and checks the rules; rewrite_run.go runs them.

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
