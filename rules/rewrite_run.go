package rules

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/wsgate/wsgate/internal/reqvar"
)

// This file runs the rules that rewrite_parse.go reads. The engine,
// rewriteRun, follows apply_rewrite_list and apply_rewrite_rule of
// Apache 2.4's mod_rewrite.c: each pattern is
// matched against what the rules before it made of the request (its
// r->filename), so rules chain, and a rule without [L] lets the next ones
// run. What the result means follows hook_uri2file for the rules at the
// top of a file or in a <VirtualHost> (Table.rewrite) and hook_fixup for
// the rules in a <Location> (Table.rewriteDir). Every behaviour below was
// compared with Apache 2.4.71 (testdata/rewrite, TestRewriteApache).

// rewriteInput is a request as mod_rewrite sees it. Table.rewrite may
// change URI and Query ([PT]) and set end ([END]); the ProxyPass lines and
// a <Location>'s rules then see the changes, as in Apache.
type rewriteInput struct {
	reqvar.Request
	// hasQuery tells an empty query ("/p?") from none.
	hasQuery bool
	// end is set by a rule with [END]: no <Location>'s rules apply.
	end bool
}

func newRewriteInput(target string, r *http.Request, uri, query string, hasQuery bool) *rewriteInput {
	return &rewriteInput{Request: reqvar.Request{HTTP: r, Target: target, URI: uri, Query: query}, hasQuery: hasQuery}
}

// variable is lookup_variable for the variables of rewriteVars, and
// %{HTTP:Name}.
func (c *rewriteCtx) variable(name string) string {
	if len(name) > 5 && strings.EqualFold(name[:5], "HTTP:") {
		v, _ := c.in.Header(name[5:])
		return v
	}
	upper := strings.ToUpper(name)
	if upper == "QUERY_STRING" {
		return c.args
	}
	v, _ := c.in.Var(upper)
	return v
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
	s.filename = s.in.URL("") + sep + s.filename
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
// not done, the ProxyPass lines go on with in.URI and in.Query, which
// [PT] may have changed, and the rules of a <Location> still apply
// (rewriteDir) unless in.end.
func (t *Table) rewrite(rules []*Rule, in *rewriteInput) (m Match, done bool, err error) {
	s := rewriteRun{in: in, filename: in.URI, args: in.Query, hasArgs: in.hasQuery}
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
		in.URI, in.Query, in.hasQuery = s.filename, s.args, s.hasArgs
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
	s := rewriteRun{in: in, dir: dir, args: in.Query, hasArgs: in.hasQuery, filename: defaultDocRoot + in.URI}
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
		if noEscape || s.in.hasQuery && s.args == s.in.Query {
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
