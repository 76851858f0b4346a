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
	// for the main server.
	VirtualHost *VirtualHost
	// Location is the <Location> or <LocationMatch> whose ProxyPass,
	// RewriteRule or Redirect decided; nil when a server's line did.
	Location *Location
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
// virtual host is chosen (hostFor); the request path is normalised and
// decoded as the core does before translate_name; RewriteRule [P] rules
// are tried first, in order (mod_rewrite's translate_name hook runs before
// mod_proxy's); then the ProxyPass of the <Location> the request falls in,
// and the ProxyPass and ProxyPassMatch rules, walked in order, the first
// match winning, exclusions included; then Redirect lines (see mapURI). A
// ProxyPass glues the rest of the path to its target, a ProxyPassMatch or
// RewriteRule substitutes its groups; the result is re-encoded
// (ap_proxy_canonenc) unless the rule has nocanon, and the query is
// appended unchanged. A redirect is returned in Match.Redirect.
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
	vh := t.hostFor(r)
	if vh == nil {
		return t.match(target, r)
	}
	m, err := vh.Table.match(target, r)
	if err == nil {
		m.VirtualHost = vh
	}
	return m, err
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
func (t *Table) mapTarget(target string, r *http.Request) (m Match, err error) {
	rawPath, query, hasQuery, err := SplitTarget(target)
	if err != nil {
		return Match{}, err
	}
	uri, err := decodePath(rawPath, t.AllowEncodedSlashes)
	if err != nil {
		return Match{}, err
	}
	// The matching <Location> sections' settings and header lines apply
	// to every answer, whichever module maps the request.
	in := t.locate(uri)
	defer func() {
		if err == nil {
			m = t.finish(m, in)
		}
	}()
	// mod_rewrite's translate_name runs first: its rules may proxy,
	// redirect or answer the request, or ([PT]) change the path and
	// query the ProxyPass lines see.
	rw := newRewriteInput(target, r, uri, query, hasQuery)
	if t.host != nil {
		rw.ServerName = t.host.ServerName
	}
	if m, done, err := t.rewrite(t.Rules, rw); done {
		if l := in.rewrite; l != nil && err == nil && m.Redirect == nil {
			// A <Location>'s rules still run after a [P] (observed),
			// on "proxy:" and its URL.
			if dm, ddone, derr := t.rewriteDir(l.Rewrite, l.Path, rw, &m); ddone {
				return dm, derr
			}
		}
		return m, err
	}
	return t.mapURI(target, rw, r, in)
}

// mapURI is mapTarget after mod_rewrite, in the order of Apache's hooks
// (each observed with Apache 2.4.71):
//
//  1. mod_proxy's translate_name: the ProxyPass of the last <Location>
//     that matches uri and has one (when it matches uri too; its "!"
//     stops mod_proxy), then the server's ProxyPass and ProxyPassMatch
//     lines in order, the first match winning, exclusions included;
//  2. when mod_proxy declined: mod_alias's Redirect lines, in order (a
//     ProxyPass wins over a Redirect for the same path);
//  3. the fixups: the RewriteRules of the last matching <Location> that
//     has some (mod_rewrite's, rewriteDir), then the Redirect of the last
//     one that has one; both win over a ProxyPass (observed: the fixups
//     run before the handler).
//
// rw is the request as the server's RewriteRules left it ([PT] may have
// changed its path and query); in is what the locations matching the
// path say.
func (t *Table) mapURI(target string, rw *rewriteInput, r *http.Request, in locations) (Match, error) {
	uri, q := rw.URI, queryPart{raw: rw.Query, has: rw.hasQuery}
	m, err, declined := t.proxyPass(in.pass, target, uri, q, r)
	if declined {
		for _, rule := range t.Rules {
			if rule.Kind != Redirection {
				continue
			}
			rd, rerr := redirectMatch(rule, uri, q, r, t.host)
			if rerr != nil {
				return Match{}, rerr
			}
			if rd != nil {
				return Match{Rule: rule, Redirect: rd}, nil
			}
		}
	}
	if l := in.rewrite; l != nil {
		var mapped *Match
		if err == nil {
			mapped = &m
		}
		if dm, done, derr := t.rewriteDir(l.Rewrite, l.Path, rw, mapped); done {
			dm.Location = l
			return dm, derr
		}
	}
	if rule := in.redirect; rule != nil {
		rd, rerr := finishRedirect(rule, rule.Subst, q, r, t.host)
		if rerr != nil {
			return Match{}, rerr
		}
		return Match{Rule: rule, Redirect: rd, Location: in.redirectLoc}, nil
	}
	return m, err
}

// proxyPass is mod_proxy's mapping of uri: loc's ProxyPass (the "short
// way" of proxy_trans), then the server's list. declined is true when no
// rule proxies the request (no match, or an exclusion): err is then the
// 404 to answer if nothing else takes it.
func (t *Table) proxyPass(loc *Location, target, uri string, q queryPart, r *http.Request) (m Match, err error, declined bool) {
	if loc != nil {
		m, err, out := t.tryPass(loc.Rule, target, uri, q, r)
		switch out {
		case passMatched:
			m.Location = loc
			return m, err, false
		case passExcluded:
			return Match{}, err, true
		}
	}
	for _, rule := range t.Rules {
		// The prefix test first: tryPass returns a Match by value, and
		// zeroing one per rule made a miss over 1,000 rules 4 times slower.
		if rule.Kind != Prefix && rule.Kind != Regex || rule.Kind == Prefix && aliasMatch(uri, rule.Path) == 0 {
			continue
		}
		m, err, out := t.tryPass(rule, target, uri, q, r)
		switch out {
		case passMatched:
			return m, err, false
		case passExcluded:
			return Match{}, err, true
		}
	}
	return Match{}, &RequestError{Status: http.StatusNotFound,
		Reason: fmt.Sprintf("no rule matches %q", uri)}, true
}

// passOutcome is what one ProxyPass or ProxyPassMatch line does with a
// request.
type passOutcome uint8

const (
	passNoMatch  passOutcome = iota // the next line is tried
	passSkipped                     // legacy routing skips the line: the next is tried
	passExcluded                    // "!": mod_proxy declines the request
	passMatched                     // proxied (or an error answers it)
)

// tryPass tries one ProxyPass or ProxyPassMatch rule.
//
// Under ProxyWebsocketFallbackToProxyHttp Off (Table.Legacy), a rule with
// a ws:// or wss:// target is skipped for a request without an Upgrade
// header, as mod_proxy_wstunnel's check_trans does.
func (t *Table) tryPass(rule *Rule, target, uri string, q queryPart, r *http.Request) (Match, error, passOutcome) {
	var n int
	var groups []int
	switch rule.Kind {
	case Prefix:
		n = aliasMatch(uri, rule.Path)
		if n == 0 {
			return Match{}, nil, passNoMatch
		}
	case Regex:
		groups = rule.regexOf().FindStringSubmatchIndex(uri)
		if groups == nil {
			return Match{}, nil, passNoMatch
		}
	}
	switch {
	case rule.Exclude:
		return Match{}, excluded(rule), passExcluded
	case t.legacySkip(rule, r):
		return Match{}, nil, passSkipped
	case rule.Kind == Prefix:
		m, err := t.matchPrefix(rule, target, uri, n, q.raw, q.has)
		return m, err, passMatched
	}
	// nocanon substitutes from the raw target when the pattern matches
	// it too (ap_proxy_trans_match's use_uri).
	src, raw := uri, false
	if rule.NoCanon {
		if g := rule.regexOf().FindStringSubmatchIndex(target); g != nil {
			src, groups, raw = target, g, true
		}
	}
	authority := regsub(rule.Target.Host, src, groups)
	path := regsub(targetPath(rule.Target), src, groups)
	if authority == rule.Target.Host && path == targetPath(rule.Target) {
		// No substitution: Apache appends the whole path.
		path += src
	}
	m, err := t.fromURL(rule, authority, path, raw, q.raw, q.has)
	return m, err, passMatched
}

// legacySkip reports whether legacy routing skips rule for r.
func (t *Table) legacySkip(rule *Rule, r *http.Request) bool {
	if !t.Legacy || (rule.Target.Scheme != "ws" && rule.Target.Scheme != "wss") {
		return false
	}
	// An HTTP/1.0 request's Upgrade is ignored (RFC 9110 section 7.8; a
	// deliberate difference), so it skips the line too.
	return r == nil || len(r.Header.Values("Upgrade")) == 0 || r.ProtoMajor == 1 && r.ProtoMinor == 0
}

// locations is what the <Location> sections matching a request say.
type locations struct {
	// pass is the last matching location with a ProxyPass; rewrite the
	// last with RewriteRules (and RewriteEngine On); redirect the last
	// with a Redirect (in redirectLoc).
	pass        *Location
	rewrite     *Location
	redirect    *Rule
	redirectLoc *Location
	// preserveHost and addHeaders are the last matching locations'
	// settings, nil when none sets them.
	preserveHost, addHeaders *bool
	// edits are the matching locations' header lines, in file order;
	// nil when they have none.
	edits []*Scope
}

// locate walks t's locations (the main server's, then the virtual
// host's, in file order) for uri, as Apache's location walk merges them:
// a later section's setting wins over an earlier one's.
func (t *Table) locate(uri string) locations {
	var in locations
	for _, l := range t.Locations {
		if !l.matches(uri) {
			continue
		}
		if l.Rule != nil {
			in.pass = l
		}
		if l.Redirect != nil {
			in.redirect, in.redirectLoc = l.Redirect, l
		}
		if len(l.Rewrite) > 0 && l.RewriteOn {
			// Observed: a later matching section without RewriteRules
			// leaves an earlier one's in force.
			in.rewrite = l
		}
		in.preserveHost = cmp.Or(l.PreserveHost, in.preserveHost)
		in.addHeaders = cmp.Or(l.AddHeaders, in.addHeaders)
		if !l.Scope.empty() {
			in.edits = append(in.edits, &l.Scope)
		}
	}
	return in
}

// finish applies to m what the matching locations say: ProxyPreserveHost
// and ProxyAddHeaders (observed: a location's wins over the server's and
// over a <Proxy> section's) and the header lines, the server's first.
func (t *Table) finish(m Match, in locations) Match {
	if in.preserveHost != nil {
		m.PreserveHost = *in.preserveHost
	}
	if in.addHeaders != nil {
		m.AddHeaders = *in.addHeaders
	}
	m.Edits = t.Scope
	for _, s := range in.edits {
		m.Edits = mergeScope(m.Edits, *s)
	}
	return m
}

// empty reports whether s holds no line.
func (s *Scope) empty() bool {
	return len(s.RequestHeaders) == 0 && len(s.ResponseHeaders) == 0 && len(s.SetEnv) == 0 &&
		len(s.Reverse) == 0 && len(s.CookieDomains) == 0 && len(s.CookiePaths) == 0
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
	m.RequestURI = t.canon(path)
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
	m.KeepAlive = m.Rule.KeepAlive
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

// Action is what the proxy does with a matched request.
type Action int

const (
	ActPlain           Action = iota // proxied as plain HTTP (ws:// as http://)
	ActTunnel                        // the upgrade is forwarded; a valid 101 opens a tunnel
	ActUpgradeRequired               // 426: a legacy rule refuses this Upgrade
	ActRedirect                      // answered by wsgate itself (Redirect, RedirectMatch)
)

// Action decides what happens to r once it matched m: the one decision
// that the server, wsgate route and wsgate check all make. For a balancer
// it needs a member applied (Member): the member's URL decides. It also
// returns the protocol the backend is asked for, for Tunnel.
func (m Match) Action(r *http.Request) (Action, string) {
	if m.Redirect != nil {
		return ActRedirect, ""
	}
	// An HTTP/1.0 request's Upgrade header is ignored (RFC 9110 §7.8);
	// Apache would tunnel without ever sending the 101 status line.
	if !r.ProtoAtLeast(1, 1) {
		return ActPlain, ""
	}
	asked := strings.Join(r.Header.Values("Upgrade"), ", ")
	if proto, ok := m.Rule.UpgradeTo(asked); ok {
		return ActTunnel, proto
	}
	if m.Legacy && asked != "" {
		return ActUpgradeRequired, ""
	}
	return ActPlain, ""
}
