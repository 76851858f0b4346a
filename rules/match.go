package rules

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Match is where a request goes: the rule that matched and the backend
// URL, split so that the tunnel can dial Host and send RequestURI
// without parsing (and so re-encoding) anything.
type Match struct {
	Rule *Rule
	// Scheme and Host are the rule's target's, Host as written in the
	// rule (for example "127.0.0.1:9001").
	Scheme, Host string
	// RequestURI is the request target to send to the backend: always an
	// origin-form path starting with "/", with the client's query appended
	// byte for byte. It contains no space or control byte.
	RequestURI string
	// Balancer is set when the target is balancer://NAME: Scheme is then
	// "balancer", Host is NAME, and RequestURI is what follows NAME; the
	// server picks a member and sends Member.URL's path + RequestURI.
	Balancer *Balancer

	// The settings that apply to this request, resolved from the rule,
	// the <Proxy> sections whose prefix the backend URL starts with, and
	// the server-wide directives, so that the server needs nothing else.

	// PreserveHost sends the client's Host to the backend.
	PreserveHost bool
	// AddHeaders appends X-Forwarded-For/-Host/-Server (ProxyAddHeaders).
	AddHeaders bool
	// Legacy: the rule is a ws:// or wss:// rule under
	// ProxyWebsocketFallbackToProxyHttp Off. A request whose Upgrade the
	// rule does not allow is answered 426 (Upgrade: the rule's protocol or
	// "WebSocket", Connection: Upgrade) instead of being proxied as HTTP.
	Legacy bool
	// IdleTimeout closes a tunnel that saw no byte either way for this
	// long: max(Timeout, the backend timeout), when any of them is
	// configured; zero otherwise (no idle timeout).
	IdleTimeout time.Duration
	// ResponseTimeout bounds the wait for the backend's answer: timeout=,
	// else ProxyTimeout, else Timeout; zero: the server's default.
	ResponseTimeout time.Duration
	// ConnectTimeout bounds connecting: connectiontimeout=; zero: the
	// server's default.
	ConnectTimeout time.Duration

	// KeepAlive is the rule's keepalive=On.
	KeepAlive bool
	// Redirect, when set, is answered by wsgate itself: nothing is
	// proxied (Scheme and Host are empty).
	Redirect *Redirect
	// VirtualHost is the virtual host the request was given to; nil
	// when the table has none.
	VirtualHost *VirtualHost
	// Edits are the header, SetEnvIf and reverse-mapping lines that apply
	// to the request: the main server's (or its virtual host's, which
	// include them), then those of the matching locations in file order.
	Edits Scope

	// clientTimeout and legacyTable are Table.Timeout and Table.Legacy,
	// for Member.
	clientTimeout time.Duration
	legacyTable   bool
}

// Member is m sent to mem, one of m.Balancer's members: its URL replaces
// balancer://NAME, and its upgrade=, timeout= and connectiontimeout= win
// over the rule's and the sections'. The member's path and RequestURI are
// joined verbatim, as mod_proxy_balancer joins them (observed with Apache
// 2.4.71: member ws://h/sub/ and balancer://NAME/a give /sub//a; the
// member's own path is re-encoded, /s%20b giving /s%2520b). The idle
// timeout is recomputed with the member's timeout, and Legacy follows the
// member's scheme. Rule is a copy whose Target is the member's URL, so
// that Rule.UpgradeTo answers for the member.
func (m Match) Member(mem *Member) Match {
	rule := *m.Rule
	rule.Target = mem.URL
	rule.Upgrade = cmp.Or(mem.Upgrade, rule.Upgrade)
	m.Rule = &rule
	m.Scheme, m.Host = mem.URL.Scheme, mem.URL.Host
	m.RequestURI = canonPath(targetPath(mem.URL)) + m.RequestURI
	if mem.Timeout > 0 {
		m.ResponseTimeout = mem.Timeout
		m.IdleTimeout = max(cmp.Or(m.clientTimeout, apacheTimeout), mem.Timeout)
	}
	m.ConnectTimeout = cmp.Or(mem.ConnectTimeout, m.ConnectTimeout)
	m.Legacy = m.legacyTable && (m.Scheme == "ws" || m.Scheme == "wss")
	return m
}

// URL is the backend URL, as Apache would log it.
func (m Match) URL() string { return m.Scheme + "://" + m.Host + m.RequestURI }

// Match maps a request to a backend the way Apache httpd 2.4 maps it: the
// request path is normalised and decoded as the core does before
// translate_name; RewriteRule [P] rules are tried first, in order
// (mod_rewrite's translate_name hook runs before mod_proxy's); then the
// ProxyPass and ProxyPassMatch rules are walked in order and the first
// match wins, exclusions included. A ProxyPass glues the rest of the path
// to its target, a ProxyPassMatch or RewriteRule substitutes its groups;
// the result is re-encoded (ap_proxy_canonenc) unless the rule has
// nocanon, and the query is appended unchanged.
//
// Under ProxyWebsocketFallbackToProxyHttp Off (Table.Legacy), a ProxyPass
// or ProxyPassMatch with a ws:// or wss:// target is skipped for a request
// without an Upgrade header, as mod_proxy_wstunnel's check_trans does.
//
// The target is r.RequestURI, the raw request target as the client sent
// it (origin-form or absolute-form); when it is empty, as in a request
// built by hand, r.URL.RequestURI() stands in for it. RewriteConds read
// r.Header and r.Host.
//
// A request that is not proxied gets a *RequestError with the status
// Apache answers: 400 for a malformed target, a path above the root or a
// substitution that makes an invalid host, 404 for an encoded "/" or NUL,
// an exclusion or no match, 403 for a query with spaces or control bytes,
// 500 for a rule whose target has no path and whose rest would be glued
// onto the host name.
func (t *Table) Match(r *http.Request) (Match, error) {
	target := r.RequestURI
	if target == "" && r.URL != nil {
		target = r.URL.RequestURI()
	}
	return t.match(target, r)
}

// match is Match on the raw request target; r may be nil (no headers).
// A balancer:// target must name one of t's balancers (always true for a
// table made by this package).
func (t *Table) match(target string, r *http.Request) (Match, error) {
	m, err := t.mapTarget(target, r)
	if err == nil && m.Scheme == "balancer" && m.Balancer == nil {
		return Match{}, &RequestError{Status: http.StatusInternalServerError,
			Reason: fmt.Sprintf("%s: no balancer %q in the table", origin(m.Rule.Pos), "balancer://"+m.Host)}
	}
	return m, err
}

// mapTarget is match without the balancer check.
func (t *Table) mapTarget(target string, r *http.Request) (Match, error) {
	rawPath, query, hasQuery, err := splitTarget(target)
	if err != nil {
		return Match{}, err
	}
	uri, err := normalizePath(rawPath)
	if err != nil {
		return Match{}, err
	}
	for _, rule := range t.Rules {
		if rule.Kind != Rewrite {
			continue
		}
		groups := rule.regexOf().FindStringSubmatchIndex(uri)
		if groups == nil {
			continue
		}
		c := rewriteCtx{req: r, uri: uri, rule: groups}
		if !c.conds(rule.Conds) {
			continue
		}
		return t.fromURL(rule, c.expand(rule.Target.Host), c.expand(targetPath(rule.Target)), false, query, hasQuery)
	}
	legacySkip := func(rule *Rule) bool {
		if !t.Legacy || (rule.Target.Scheme != "ws" && rule.Target.Scheme != "wss") {
			return false
		}
		// An HTTP/1.0 request's Upgrade is ignored (RFC 9110 section
		// 7.8; a deliberate difference), so it skips the line too.
		return r == nil || len(r.Header.Values("Upgrade")) == 0 || r.ProtoMajor == 1 && r.ProtoMinor == 0
	}
	for _, rule := range t.Rules {
		switch rule.Kind {
		case Prefix:
			n := aliasMatch(uri, rule.Path)
			if n == 0 {
				continue
			}
			if rule.Exclude {
				return Match{}, excluded(rule)
			}
			if legacySkip(rule) {
				continue
			}
			return t.matchPrefix(rule, target, uri, n, query, hasQuery)
		case Regex:
			re := rule.regexOf()
			groups := re.FindStringSubmatchIndex(uri)
			if groups == nil {
				continue
			}
			if rule.Exclude {
				return Match{}, excluded(rule)
			}
			if legacySkip(rule) {
				continue
			}
			// nocanon substitutes from the raw target when the pattern
			// matches it too (ap_proxy_trans_match's use_uri).
			src, raw := uri, false
			if rule.NoCanon {
				if g := re.FindStringSubmatchIndex(target); g != nil {
					src, groups, raw = target, g, true
				}
			}
			authority := regsub(rule.Target.Host, src, groups)
			path := regsub(targetPath(rule.Target), src, groups)
			if authority == rule.Target.Host && path == targetPath(rule.Target) {
				// No substitution: Apache appends the whole path.
				path += src
			}
			return t.fromURL(rule, authority, path, raw, query, hasQuery)
		}
	}
	return Match{}, &RequestError{Status: http.StatusNotFound,
		Reason: fmt.Sprintf("no rule matches %q", uri)}
}

func excluded(rule *Rule) error {
	return &RequestError{Status: http.StatusNotFound,
		Reason: fmt.Sprintf("%s: excluded by %s", origin(rule.Pos), rule)}
}

// matchPrefix builds the Match of a ProxyPass rule that matched n bytes
// of uri.
func (t *Table) matchPrefix(rule *Rule, target, uri string, n int, query string, hasQuery bool) (Match, error) {
	m := Match{Rule: rule, Scheme: rule.Target.Scheme, Host: rule.Target.Host}
	// nocanon forwards the raw target, but only when the rule matches
	// it exactly as it matched the decoded path (ap_proxy_trans_match
	// compares alias_match on r->unparsed_uri, query and all, with the
	// one on r->uri). Otherwise decoding or normalising changed what
	// matched, and Apache falls back to the canonical path (AH01136).
	if rule.NoCanon && aliasMatch(target, rule.Path) == n {
		raw, err := join(rule, target[n:])
		switch {
		case err != nil:
			return Match{}, err
		case !isVisible(raw):
			// The raw target carries the query: the same check as
			// AH10409, done by mod_proxy_http on the whole of it.
			return Match{}, &RequestError{Status: http.StatusForbidden,
				Reason: "nocanon path or query to forward contains control characters or spaces"}
		}
		t.resolve(&m, targetString(rule.Target)+target[n:])
		m.RequestURI = raw
		return m, nil
	}
	path, err := join(rule, uri[n:])
	if err != nil {
		return Match{}, err
	}
	t.resolve(&m, targetString(rule.Target)+uri[n:])
	m.RequestURI = canonPath(path)
	if hasQuery {
		// AH10409: Apache refuses to forward a query with bytes that
		// would break the request line.
		if !isVisible(query) {
			return Match{}, &RequestError{Status: http.StatusForbidden,
				Reason: "query to forward contains control characters or spaces (AH10409)"}
		}
		m.RequestURI += "?" + query
	}
	return m, nil
}

// join glues rest, what follows the matched prefix, to the rule's target
// path: verbatim concatenation, as Apache does, so "/ts3/ → …/ts3b" maps
// /ts3/a to /ts3ba. A target written without a path is the one case where
// Apache's concatenation lands in the host name (ws://h:1 + "a" is host
// "h:1a"); Apache then fails the request, so does this.
func join(rule *Rule, rest string) (string, error) {
	p := targetPath(rule.Target)
	if p == "" {
		switch {
		case rest == "":
			return "/", nil
		case rest[0] != '/':
			return "", &RequestError{Status: http.StatusInternalServerError,
				Reason: fmt.Sprintf("%s: %s has no path, so %q would be appended to its host name",
					origin(rule.Pos), targetString(rule.Target), rest)}
		}
	}
	return p + rest, nil
}

// splitTarget splits a raw request target into its path, before any
// decoding, and its query. hasQuery tells "/p?" (an empty query, which
// Apache forwards as "?") from "/p".
//
// The checks are those of Apache's request line parsing: an absolute-form
// target must be http or https (its host does not take part in mapping),
// and a fragment, which clients must not send, is a 400 (Go's server lets
// "#" through).
func splitTarget(target string) (rawPath, query string, hasQuery bool, err error) {
	bad := func(why string) (string, string, bool, error) {
		return "", "", false, &RequestError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("invalid request target %q: %s", target, why)}
	}
	rest := target
	if !strings.HasPrefix(rest, "/") {
		scheme, after, ok := strings.Cut(rest, "://")
		if !ok || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
			return bad("want a path or an http(s) URL")
		}
		// The authority ends at the path or the query.
		i := strings.IndexAny(after, "/?")
		if i < 0 {
			i = len(after)
		}
		rest = after[i:]
		if !strings.HasPrefix(rest, "/") {
			rest = "/" + rest
		}
	}
	if strings.Contains(rest, "#") {
		return bad("a fragment is not allowed")
	}
	rawPath, query, hasQuery = strings.Cut(rest, "?")
	if !isVisible(rawPath) {
		return bad("control characters or spaces in the path")
	}
	return rawPath, query, hasQuery, nil
}

// normalizePath turns a raw request path into Apache's r->uri, in the two
// steps of ap_process_request_internal:
//
//  1. ap_normalize_path with AP_NORMALIZE_DECODE_UNRESERVED,
//     MERGE_SLASHES and NOT_ABOVE_ROOT: %-escapes of unreserved bytes
//     (ALPHA DIGIT - . _ ~) are decoded first, so %2e%2e is "..", then
//     runs of "/" are merged and "." and "seg/.." segments removed. A bad
//     escape or a ".." above the root is a 400 (AH10244).
//  2. ap_unescape_url_ex with AP_UNESCAPE_URL_FORBID_SLASHES: the other
//     escapes are decoded once; %2F (AllowEncodedSlashes Off) and %00
//     are a 404 (AH00026).
//
// Matching the decoded, normalised path is what keeps /x/%70rivate and
// /y/../x/private from slipping past a "ProxyPass /x/private !".
func normalizePath(raw string) (string, error) {
	if !strings.Contains(raw, "%") && !strings.Contains(raw, "//") && !strings.Contains(raw, "/.") {
		return raw, nil // the common case: nothing to decode or remove
	}
	b := []byte(raw)

	// Step 1a: decode unreserved bytes. Apache decodes them on the fly
	// while removing dot segments; decoding first gives the same result.
	w := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' {
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return "", &RequestError{Status: http.StatusBadRequest,
					Reason: fmt.Sprintf("invalid URI path %q: bad %%-escape (AH10244)", raw)}
			}
			if d := unhex(b[i+1])<<4 | unhex(b[i+2]); isUnreserved(d) {
				c = d
				i += 2
			}
		}
		b[w] = c
		w++
	}
	b = b[:w]

	// Step 1b: merge slashes and remove dot segments, in place, exactly
	// as ap_normalize_path does: l reads, w writes, w <= l.
	aboveRoot := false
	w = 1
	for l := 1; l < len(b); {
		if b[w-1] == '/' {
			switch {
			case b[l] == '/': // merge a run of slashes
				for l < len(b) && b[l] == '/' {
					l++
				}
				continue
			case b[l] == '.' && (l+1 == len(b) || b[l+1] == '/'): // "./"
				l += 2
				continue
			case b[l] == '.' && l+1 < len(b) && b[l+1] == '.' && (l+2 == len(b) || b[l+2] == '/'): // "../"
				if w > 1 {
					for w--; w > 0 && b[w-1] != '/'; w-- {
					}
				} else {
					aboveRoot = true
				}
				l += 3
				continue
			}
		}
		b[w] = b[l]
		w++
		l++
	}
	b = b[:w]
	if aboveRoot {
		return "", &RequestError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("invalid URI path %q: goes above the root (AH10244)", raw)}
	}

	// Step 2: decode what is left; every '%' now starts a valid escape.
	w = 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' {
			c = unhex(b[i+1])<<4 | unhex(b[i+2])
			i += 2
			if c == '/' || c == 0 {
				return "", &RequestError{Status: http.StatusNotFound,
					Reason: fmt.Sprintf("encoded %q or NUL in URI path %q (AH00026)", "/", raw)}
			}
		}
		b[w] = c
		w++
	}
	return string(b[:w]), nil
}

// aliasMatch is mod_proxy's alias_match: it returns how many bytes of uri
// the rule path alias matches, or 0. Any run of '/' in alias matches any
// run of one or more '/' in uri, other bytes compare literally, and unless
// alias ends in '/' the match must end at a segment boundary (/ts2
// matches /ts2 and /ts2/a, not /ts2extra; /ws/ does not match /ws). The
// count can exceed len(alias) when uri has doubled slashes.
func aliasMatch(uri, alias string) int {
	a, u := 0, 0
	for a < len(alias) && u < len(uri) {
		if alias[a] == '/' {
			if uri[u] != '/' {
				return 0
			}
			for a < len(alias) && alias[a] == '/' {
				a++
			}
			for u < len(uri) && uri[u] == '/' {
				u++
			}
			continue
		}
		if uri[u] != alias[a] {
			return 0
		}
		a++
		u++
	}
	if a < len(alias) { // uri ended first
		return 0
	}
	if alias[len(alias)-1] != '/' && u < len(uri) && uri[u] != '/' {
		return 0
	}
	return u
}

// canonPath is ap_proxy_canonenc(enc_path) for a reverse proxy: bytes that
// are ASCII alphanumerics, one of ~$-_.+!*'(),;:@&= or '/' are sent as
// they are, every other byte, '%' included, as %XX in upper case. Apache
// applies it to the whole path, the target's own part included, so a
// target written as /a%20b/ reaches the backend as /a%2520b/.
func canonPath(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if !pathSafe(p[i]) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		if c := p[i]; pathSafe(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func pathSafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("~$-_.+!*'(),;:@&=/", c) >= 0
}

// isUnreserved reports whether c is unreserved in RFC 3986 section 2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isVisible is Apache's test with ap_scan_vchar_obstext: no control byte
// and no space, bytes >= 0x80 (obs-text) allowed.
func isVisible(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// apacheTimeout is Apache's default Timeout, which stands in for an unset
// Timeout once any timeout is configured.
const apacheTimeout = 60 * time.Second

// resolve fills in the settings that apply to a request matched by
// m.Rule whose backend URL, before canonicalisation, is backend: the
// server-wide directives, overridden by every <Proxy> section whose URL
// is a prefix of backend (later sections win, as Apache merges them in
// order), then by the rule's own parameters.
func (t *Table) resolve(m *Match, backend string) {
	m.PreserveHost = t.PreserveHost
	m.AddHeaders = !t.NoAddHeaders
	m.Legacy = t.Legacy && (m.Scheme == "ws" || m.Scheme == "wss")
	m.clientTimeout, m.legacyTable = t.Timeout, t.Legacy
	if m.Scheme == "balancer" {
		// Apache's legacy check_trans declines balancer:// targets, so
		// a request without Upgrade is not skipped; the ws:// member's
		// handler then answers 426 (observed with 2.4.71). Legacy is
		// set when every member is ws or wss; Member recomputes it.
		m.Balancer = t.Balancer(m.Host)
		m.Legacy = t.Legacy && m.Balancer != nil && allWebSocket(m.Balancer)
	}
	var sectionTimeout, sectionConnect time.Duration
	for _, s := range t.Sections {
		if !strings.HasPrefix(backend, s.Prefix) {
			continue
		}
		if s.PreserveHost != nil {
			m.PreserveHost = *s.PreserveHost
		}
		if s.AddHeaders != nil {
			m.AddHeaders = *s.AddHeaders
		}
		sectionTimeout = cmp.Or(s.Timeout, sectionTimeout)
		sectionConnect = cmp.Or(s.ConnectTimeout, sectionConnect)
	}
	m.ConnectTimeout = cmp.Or(m.Rule.ConnectTimeout, sectionConnect)
	backendTimeout := cmp.Or(m.Rule.Timeout, sectionTimeout, t.ProxyTimeout, t.Timeout)
	m.ResponseTimeout = backendTimeout
	// No idle timeout unless one is configured (a deliberate difference:
	// Apache's Timeout defaults to 60 s). Once one is, Apache's rule
	// applies, with its defaults for the rest: the tunnel's idle timeout
	// is max(client Timeout, backend timeout), PR 65886.
	if backendTimeout > 0 {
		m.IdleTimeout = max(cmp.Or(t.Timeout, apacheTimeout), backendTimeout)
	}
}

// allWebSocket reports whether every member of b is ws:// or wss://.
func allWebSocket(b *Balancer) bool {
	for _, m := range b.Members {
		if m.URL.Scheme != "ws" && m.URL.Scheme != "wss" {
			return false
		}
	}
	return len(b.Members) > 0
}
