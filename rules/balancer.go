package rules

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Balancer is a <Proxy "balancer://NAME"> section with its BalancerMember
// and ProxySet lines, as mod_proxy_balancer reads them. A rule whose target
// is balancer://NAME/... sends each new tunnel to one of its members.
type Balancer struct {
	Pos  Pos
	Name string // NAME of balancer://NAME, lower case as Apache keys it
	// Method is lbmethod=: "byrequests" (Apache's default), "bybusyness"
	// or "bytraffic". Tables made by this package always set it.
	Method string
	// StickySession is stickysession=: the cookie and URL parameter names
	// that carry a route, "NAME" or "COOKIE|PARAM". Empty: not sticky.
	StickySession string
	// NoFailover is nofailover=On: a sticky request whose member is
	// unusable fails instead of going elsewhere.
	NoFailover bool
	Members    []*Member
}

// Member is one BalancerMember.
type Member struct {
	Pos Pos
	// URL is the member's base URL (ws, wss, http or https), without a
	// query; the request's path after balancer://NAME is appended to it.
	URL *url.URL
	// LoadFactor is loadfactor=, 1 to 100; 1 when not given (tables made
	// by this package always set it).
	LoadFactor int
	// Route is route=, matched against a sticky session's route.
	Route string
	// Status flags from status=: +H hot standby, +D (or +S, stopped)
	// disabled, +E in error at start.
	HotStandby, Disabled, InError bool
	// Retry is retry=: how long a member whose connection failed is left
	// out before it is tried again. Zero: 60 s, Apache's default.
	// Negative: retry=0, tried again on the next request.
	Retry time.Duration
	// Upgrade, Timeout and ConnectTimeout are the member's upgrade=,
	// timeout= and connectiontimeout= (zero values: not set), as for a
	// ProxyPass rule.
	Upgrade                 string
	Timeout, ConnectTimeout time.Duration
	// Check is the member's health check (mod_proxy_hcheck); zero: none.
	Check HealthCheck
}

// HealthCheck is the hc* parameters of a member.
type HealthCheck struct {
	// Method is hcmethod=: "TCP", "GET", "HEAD" (upper case; GET11 and
	// HEAD11 are read as GET and HEAD), or "" for no check (hcmethod=NONE).
	Method string
	// URI is hcuri=, the path asked for by GET and HEAD checks.
	URI string
	// Interval is hcinterval=; zero: 30 s, as Apache.
	Interval time.Duration
	// Passes and Fails are hcpasses= and hcfails=: how many checks in a row
	// bring a member back or take it out; zero: 1, as Apache.
	Passes, Fails int
}

// This file also holds the parsing of balancers: <Proxy "balancer://NAME">
// sections, BalancerMember and ProxySet lines, balancer:// targets, and
// the --pass short form with several URLs.

// defaultMethod is Apache's lbmethod when none is given.
const defaultMethod = "byrequests"

// UpgradeTo is Rule.UpgradeTo for a member: its upgrade= or, when unset,
// WebSocket for ws:// and wss:// members and nothing for http(s)://.
func (m *Member) UpgradeTo(client string) (string, bool) {
	r := Rule{Target: m.URL, Upgrade: m.Upgrade}
	return r.UpgradeTo(client)
}

// String prints the member as a canonical BalancerMember line (without
// the balancer's name, as inside a section).
func (m *Member) String() string {
	var b strings.Builder
	b.WriteString("BalancerMember ")
	b.WriteString(quoteArg(targetString(m.URL)))
	if m.LoadFactor > 1 {
		fmt.Fprintf(&b, " loadfactor=%d", m.LoadFactor)
	}
	if m.Route != "" {
		b.WriteString(" " + word("route="+m.Route))
	}
	if m.HotStandby || m.Disabled || m.InError {
		b.WriteString(" status=+")
		for _, f := range []struct {
			on bool
			c  string
		}{{m.HotStandby, "H"}, {m.Disabled, "D"}, {m.InError, "E"}} {
			if f.on {
				b.WriteString(f.c)
			}
		}
	}
	switch {
	case m.Retry < 0:
		b.WriteString(" retry=0")
	case m.Retry > 0:
		b.WriteString(" retry=" + formatDuration(m.Retry))
	}
	if m.Upgrade != "" {
		b.WriteString(" " + word("upgrade="+m.Upgrade))
	}
	if m.Timeout > 0 {
		b.WriteString(" timeout=" + formatDuration(m.Timeout))
	}
	if m.ConnectTimeout > 0 {
		b.WriteString(" connectiontimeout=" + formatDuration(m.ConnectTimeout))
	}
	if c := m.Check; c.Method != "" {
		b.WriteString(" hcmethod=" + c.Method)
		if c.URI != "" {
			b.WriteString(" " + word("hcuri="+c.URI))
		}
		if c.Interval > 0 {
			b.WriteString(" hcinterval=" + formatDuration(c.Interval))
		}
		if c.Passes > 0 {
			fmt.Fprintf(&b, " hcpasses=%d", c.Passes)
		}
		if c.Fails > 0 {
			fmt.Fprintf(&b, " hcfails=%d", c.Fails)
		}
	}
	return b.String()
}

// settings is the balancer's ProxySet line without "ProxySet", or "" when
// every setting is Apache's default.
func (b *Balancer) settings() string {
	var s []string
	if b.Method != "" && b.Method != defaultMethod {
		s = append(s, "lbmethod="+b.Method)
	}
	if b.StickySession != "" {
		s = append(s, word("stickysession="+b.StickySession))
	}
	if b.NoFailover {
		s = append(s, "nofailover=On")
	}
	return strings.Join(s, " ")
}

// URL is the balancer's name as a URL, balancer://NAME.
func (b *Balancer) URL() string { return "balancer://" + b.Name }

// Balancer returns the balancer called name (case-insensitively), or nil.
func (t *Table) Balancer(name string) *Balancer {
	for _, b := range t.Balancers {
		if strings.EqualFold(b.Name, name) {
			return b
		}
	}
	return nil
}

// parseBalancerURL checks balancer://NAME[/path]: it returns NAME in lower
// case (Apache keys balancers in lower case) and the path, or a message.
// NAME is letters, digits, "-", "." and "_".
func parseBalancerURL(s string) (name, path, msg string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.EqualFold(scheme, "balancer") {
		return "", "", fmt.Sprintf("%q is not a balancer://NAME URL", s)
	}
	name, path = rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		name, path = rest[:i], rest[i:]
	}
	switch {
	case name == "":
		return "", "", fmt.Sprintf("balancer URL %q has no name (want balancer://NAME)", s)
	case strings.ContainsAny(s, "?#"):
		return "", "", fmt.Sprintf("balancer URL %q must not have a query or a fragment", s)
	case !isVisible(s):
		return "", "", fmt.Sprintf("balancer URL %q contains spaces or control characters", s)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", "", fmt.Sprintf("balancer name %q: want letters, digits, \"-\", \".\" and \"_\"", name)
		}
	}
	return strings.ToLower(name), path, ""
}

// isBalancerURL reports whether s starts with balancer:.
func isBalancerURL(s string) bool {
	return len(s) >= 9 && strings.EqualFold(s[:9], "balancer:")
}

// balancerTarget is a ProxyPass or ProxyPassMatch target balancer://NAME/path.
func balancerTarget(s string) (*url.URL, string) {
	name, path, msg := parseBalancerURL(s)
	if msg != "" {
		return nil, msg
	}
	return &url.URL{Scheme: "balancer", Host: name, Path: path, RawPath: path}, ""
}

// memberParams are the BalancerMember parameters wsgate implements.
var memberParams = []string{"loadfactor", "route", "status", "retry", "upgrade", "timeout",
	"connectiontimeout", "hcmethod", "hcuri", "hcinterval", "hcpasses", "hcfails"}

// memberNotYet are Apache worker parameters refused on a BalancerMember.
var memberNotYet = []string{"max", "smax", "min", "acquire", "lbset", "redirect", "ping",
	"secret", "hostname", "flusher", "flushwait", "responsefieldsize", "addressttl",
	"mapping", "hcexpr", "hctemplate"}

// balancerParams are the balancer parameters (ProxySet in a balancer
// section, or a ProxyPass to balancer://) wsgate implements or accepts.
var balancerParams = []string{"lbmethod", "stickysession", "nofailover", "timeout",
	"growth", "nonce", "scolonpathdelim", "failontimeout", "forcerecovery",
	"maxattempts", "failonstatus", "stickysessionsep"}

// parseMember reads BalancerMember URL [params]; u is the URL argument.
func parseMember(d directive, u arg, params []arg) (*Member, error) {
	var errs ErrorList
	fail := func(p Pos, format string, a ...any) {
		errs.add(&Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)})
	}
	m := &Member{Pos: d.pos, LoadFactor: 1}
	if isBalancerURL(u.text) {
		fail(u.pos, "a member must be a ws://, wss://, http:// or https:// URL, not a balancer")
	} else if target, msg := parseTarget(u.text); msg != "" {
		fail(u.pos, "%s", msg)
	} else {
		m.URL = target
	}
	seen := map[string]bool{}
	var worker []arg // upgrade, timeout, connectiontimeout and the no-ops
	for _, a := range params {
		key, val, hasVal := strings.Cut(a.text, "=")
		key = strings.ToLower(key)
		if seen[key] {
			fail(a.pos, "duplicate parameter %q", key)
			continue
		}
		seen[key] = true
		if !hasVal {
			switch {
			case key == "nocanon":
				fail(a.pos, "nocanon belongs on the ProxyPass line, not on a BalancerMember")
			case strings.HasPrefix(a.text, "#"):
				fail(a.pos, "unexpected %q (a comment must be on a line of its own)", a.text)
				return nil, errs.err()
			case strings.Contains(a.text, "://"):
				fail(a.pos, "unexpected %q: one URL per BalancerMember", a.text)
			default:
				fail(a.pos, "parameter %q needs a value (%s=...)", key, key)
			}
			continue
		}
		switch key {
		case "loadfactor":
			n, err := strconv.Atoi(val)
			switch {
			case err != nil && strings.Contains(val, "."):
				fail(a.pos, "loadfactor=%s: must be a whole number from 1 to 100 (Apache 2.4 also takes decimals; wsgate does not)", val)
			case err != nil || n < 1 || n > 100:
				fail(a.pos, "loadfactor=%s: must be a number from 1 to 100", val)
			default:
				m.LoadFactor = n
			}
		case "route":
			if val == "" || !isVisible(val) || strings.ContainsAny(val, ";&?=") {
				fail(a.pos, "route=%q: want a non-empty word without spaces, \";\", \"&\", \"?\" or \"=\"", val)
			}
			m.Route = val
		case "status":
			if msg := m.setStatus(val); msg != "" {
				fail(a.pos, "status=%s: %s", val, msg)
			}
		case "retry":
			num := leadingDigits(val)
			switch unit := val[len(num):]; {
			case num == "" || unit != "" && unit != "s":
				fail(a.pos, "retry=%s: must be a whole number of seconds", val)
			case parseUint(num) > maxSeconds:
				fail(a.pos, "retry=%s: too large", val)
			case parseUint(num) == 0:
				m.Retry = -1
			default:
				m.Retry = time.Duration(parseUint(num)) * time.Second
			}
		case "hcmethod":
			switch up := strings.ToUpper(val); up {
			case "TCP", "GET", "HEAD":
				m.Check.Method = up
			case "GET11", "HEAD11":
				m.Check.Method = strings.TrimSuffix(up, "11")
			case "NONE":
				m.Check.Method = ""
			case "OPTIONS", "OPTIONS11", "CPING", "PROVIDER":
				fail(a.pos, "hcmethod=%s is not supported (want TCP, GET, HEAD or NONE)", val)
			default:
				fail(a.pos, "unknown hcmethod %q (want TCP, GET, HEAD or NONE)", val)
			}
		case "hcuri":
			if !strings.HasPrefix(val, "/") || !isVisible(val) || strings.Contains(val, "#") {
				fail(a.pos, "hcuri=%q: want a path starting with \"/\", without spaces", val)
			}
			m.Check.URI = val
		case "hcinterval":
			v, msg := parseConnectTimeout(val)
			switch {
			case msg != "":
				fail(a.pos, "hcinterval=%s: %s", val, msg)
			case v < 100*time.Millisecond:
				fail(a.pos, "hcinterval=%s: must be at least 100ms, as in Apache", val)
			}
			m.Check.Interval = v
		case "hcpasses", "hcfails":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || leadingDigits(val) != val {
				fail(a.pos, "%s=%s: must be a whole number", key, val)
			}
			if key == "hcpasses" {
				m.Check.Passes = n
			} else {
				m.Check.Fails = n
			}
		case "upgrade", "timeout", "connectiontimeout":
			worker = append(worker, a)
		default:
			switch {
			case isNoOp(key):
				worker = append(worker, a)
			case slices.Contains(memberNotYet, key):
				fail(a.pos, "parameter %q is not supported yet", key)
			case slices.Contains(balancerParams, key):
				fail(a.pos, "%s is a balancer parameter: give it with ProxySet in the <Proxy \"balancer://...\"> section", key)
			default:
				if s := suggest(key, append(append(append([]string{}, memberParams...), noOps...), memberNotYet...)); s != "" {
					fail(a.pos, "unknown parameter %q (did you mean %q?)", key, s)
				} else {
					fail(a.pos, "unknown parameter %q", key)
				}
			}
		}
	}
	var r Rule
	errs.add(parseParams(d, &r, worker))
	m.Upgrade, m.Timeout, m.ConnectTimeout = r.Upgrade, r.Timeout, r.ConnectTimeout
	if m.Check.Method == "" && (seen["hcuri"] || seen["hcinterval"] || seen["hcpasses"] || seen["hcfails"]) && !seen["hcmethod"] {
		fail(d.pos, "hcuri=, hcinterval=, hcpasses= and hcfails= need hcmethod= (TCP, GET or HEAD)")
	}
	if m.Check.URI != "" && m.Check.Method == "TCP" {
		fail(d.pos, "hcuri= is not used by hcmethod=TCP")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// setStatus reads status=, mod_proxy's way: "+" sets and "-" clears the
// flags whose letters follow (case-insensitively), "+" by default.
func (m *Member) setStatus(v string) string {
	if v == "" {
		return "want flags such as +H (hot standby), +D (disabled) or +E (in error)"
	}
	set := true
	for _, c := range strings.ToUpper(v) {
		switch c {
		case '+':
			set = true
		case '-':
			set = false
		case 'H':
			m.HotStandby = set
		case 'D', 'S':
			// Stopped differs from disabled only in the balancer-manager,
			// which wsgate does not have: neither takes requests.
			m.Disabled = set
		case 'E':
			m.InError = set
		case 'I':
			return "I (ignore errors) is not supported yet"
		case 'N':
			return "N (drain) is not supported yet"
		case 'R':
			return "R (hot spare) is not supported yet; H (hot standby) is"
		case 'C':
			return "C (health check failed) is not supported yet; E (in error) is"
		default:
			return fmt.Sprintf("unknown flag %q (want H, D, S or E, after + or -)", c)
		}
	}
	return ""
}

// balancerSettings are the balancer parameters of one line, validated,
// with where each was set.
type balancerSettings struct {
	method, sticky string
	nofailover     *bool
	at             map[string]Pos
}

// parseBalancerParams reads balancer parameters (ProxySet in a balancer
// section or naming one, a ProxyPass to balancer://).
func parseBalancerParams(d directive, params []arg) (balancerSettings, error) {
	var errs ErrorList
	fail := func(p Pos, format string, a ...any) {
		errs.add(&Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)})
	}
	s := balancerSettings{at: map[string]Pos{}}
	onOff := func(a arg, key, val string) (bool, bool) {
		switch strings.ToLower(val) {
		case "on":
			return true, true
		case "off":
			return false, true
		}
		fail(a.pos, "%s=%s: must be On or Off", key, val)
		return false, false
	}
	for _, a := range params {
		key, val, hasVal := strings.Cut(a.text, "=")
		key = strings.ToLower(key)
		if _, dup := s.at[key]; dup {
			fail(a.pos, "duplicate parameter %q", key)
			continue
		}
		s.at[key] = a.pos
		if !hasVal {
			switch {
			case key == "nocanon" || key == "interpolate" || key == "noquery":
				// Keywords of the ProxyPass line, handled by parsePass.
				delete(s.at, key)
			case strings.HasPrefix(a.text, "#"):
				fail(a.pos, "unexpected %q (a comment must be on a line of its own)", a.text)
				return s, errs.err()
			default:
				fail(a.pos, "parameter %q needs a value (%s=...)", key, key)
			}
			continue
		}
		switch key {
		case "lbmethod":
			switch lower := strings.ToLower(val); lower {
			case "byrequests", "bybusyness", "bytraffic":
				s.method = lower
			case "heartbeat":
				fail(a.pos, "lbmethod=heartbeat is not supported (it needs mod_heartmonitor's backend reports); use bybusyness")
			default:
				fail(a.pos, "unknown lbmethod %q (want byrequests, bybusyness or bytraffic)", val)
			}
		case "stickysession":
			cookie, param, split := strings.Cut(val, "|")
			if cookie == "" || split && param == "" || strings.Contains(param, "|") || !isVisible(val) || strings.ContainsAny(val, ";,=\"") {
				fail(a.pos, "stickysession=%q: want NAME or COOKIE|PARAM", val)
			}
			s.sticky = val
		case "nofailover":
			if on, ok := onOff(a, key, val); ok {
				s.nofailover = &on
			}
		case "timeout":
			// The wait for a free member: members take any number of
			// connections here (no max=), so none is ever busy.
			if _, msg := parseTimeout(val); msg != "" {
				fail(a.pos, "timeout=%s: %s", val, msg)
			}
		case "growth", "nonce":
			// Room and a nonce for the balancer-manager, which wsgate
			// does not have.
			if key == "growth" && (leadingDigits(val) != val || val == "" || len(val) > 4) {
				fail(a.pos, "growth=%s: must be a whole number", val)
			}
		case "scolonpathdelim", "failontimeout":
			if on, ok := onOff(a, key, val); ok && on {
				fail(a.pos, "%s=On is not supported yet", key)
			}
		case "forcerecovery":
			if on, ok := onOff(a, key, val); ok && !on {
				fail(a.pos, "forcerecovery=Off is not supported yet")
			}
		case "stickysessionsep":
			if val != "." {
				fail(a.pos, "stickysessionsep=%s is not supported yet (the route follows the first \".\")", val)
			}
		case "maxattempts", "failonstatus":
			fail(a.pos, "parameter %q is not supported yet", key)
		case "upgrade", "connectiontimeout", "loadfactor", "route", "status", "retry", "hcmethod",
			"hcuri", "hcinterval", "hcpasses", "hcfails":
			fail(a.pos, "%s is a member parameter: give it on each BalancerMember (Apache: unknown Balancer parameter)", key)
		default:
			if s := suggest(key, balancerParams); s != "" {
				fail(a.pos, "unknown balancer parameter %q (did you mean %q?)", key, s)
			} else {
				fail(a.pos, "unknown balancer parameter %q", key)
			}
		}
	}
	return s, errs.err()
}

// apply sets s on b; a parameter that an earlier line set already is an
// error (Apache would keep the last one silently).
func (s balancerSettings) apply(b *Balancer, set map[string]Pos, name string) error {
	var errs ErrorList
	for key, pos := range s.at {
		differs := key == "lbmethod" && s.method != b.Method || key == "stickysession" && s.sticky != b.StickySession ||
			key == "nofailover" && s.nofailover != nil && *s.nofailover != b.NoFailover
		if prev, ok := set[key]; ok && differs {
			errs.add(&Error{Pos: pos, Msg: fmt.Sprintf("%s: %s of %s is already set differently at %s (Apache would keep the last)", name, key, b.URL(), origin(prev))})
			continue
		}
		set[key] = pos
	}
	if s.method != "" {
		b.Method = s.method
	}
	if s.sticky != "" {
		b.StickySession = s.sticky
	}
	if s.nofailover != nil {
		b.NoFailover = *s.nofailover
	}
	slices.SortFunc(errs, func(a, b *Error) int { return a.Pos.Col - b.Pos.Col })
	return errs.err()
}

// isBalancerRule reports whether r's target is balancer://NAME.
func isBalancerRule(r *Rule) bool {
	return r.Target != nil && r.Target.Scheme == "balancer"
}

// balancerRule reads the parameters of a ProxyPass or ProxyPassMatch to
// balancer://: as in Apache, they are the balancer's (lbmethod=,
// stickysession= ...), kept in r until the balancer is known; the
// keywords (nocanon) are the rule's.
func balancerRule(d directive, r *Rule, params []arg) error {
	var keywords, rest []arg
	for _, a := range params {
		if !strings.Contains(a.text, "=") && !strings.HasPrefix(a.text, "#") && !strings.Contains(a.text, "://") {
			keywords = append(keywords, a)
		} else {
			rest = append(rest, a)
		}
	}
	var errs ErrorList
	errs.add(parseParams(d, r, keywords))
	s, err := parseBalancerParams(d, rest)
	errs.add(err)
	if len(s.at) > 0 {
		r.bal = &s
	}
	return errs.err()
}

// linkBalancers checks that every balancer:// target names a balancer of
// t, moves the balancer parameters of those rules to their balancer, and
// checks that every balancer has a member. definedBy says what would
// define a balancer called name.
func linkBalancers(t *Table, refs []balancerRef, setOf func(*Balancer) map[string]Pos, definedBy func(name string) string) error {
	var errs ErrorList
	for _, ref := range refs {
		b := t.Balancer(ref.rule.Target.Host)
		if b == nil {
			msg := fmt.Sprintf("%s: unknown balancer \"balancer://%s\"", kindName(ref.rule.Kind), ref.rule.Target.Host)
			if definedBy != nil {
				msg += ": " + definedBy(ref.rule.Target.Host)
			}
			var names []string
			for _, b := range t.Balancers {
				names = append(names, b.Name)
			}
			if s := suggest(ref.rule.Target.Host, names); s != "" {
				msg += fmt.Sprintf(" (did you mean \"balancer://%s\"?)", s)
			}
			errs.add(&Error{Pos: ref.pos, Msg: msg})
			continue
		}
		if ref.rule.bal != nil {
			errs.add(ref.rule.bal.apply(b, setOf(b), kindName(ref.rule.Kind)))
			ref.rule.bal = nil
		}
	}
	for _, b := range t.Balancers {
		if len(b.Members) == 0 {
			errs.add(&Error{Pos: b.Pos, Msg: fmt.Sprintf("%s has no BalancerMember", b.URL())})
		}
	}
	return errs.err()
}

// Validate checks what a table assembled from several sources (the
// --pass flags and a rules file, say) must hold and ParseFile and
// FromFlags cannot check alone: every balancer:// target names a balancer
// of t, every balancer has a member, and no two balancers share a name.
// The error is an *Error or an ErrorList, located at the rules' URLs.
func (t *Table) Validate() error {
	var refs []balancerRef
	for _, r := range t.Rules {
		if isBalancerRule(r) {
			refs = append(refs, balancerRef{rule: r, pos: cmp.Or(r.urlPos, r.Pos)})
		}
	}
	var errs ErrorList
	seen := map[string]*Balancer{}
	for _, b := range t.Balancers {
		if prev := seen[b.Name]; prev != nil {
			errs.add(&Error{Pos: b.Pos, Msg: fmt.Sprintf("%s is defined twice (also at %s)", b.URL(), origin(prev.Pos))})
		}
		seen[b.Name] = b
	}
	errs.add(linkBalancers(t, refs, func(*Balancer) map[string]Pos { return map[string]Pos{} }, func(name string) string {
		return fmt.Sprintf("no <Proxy \"balancer://%[1]s\"> section, BalancerMember balancer://%[1]s line or --pass with several URLs defines it", name)
	}))
	return errs.err()
}

// Name is the member's URL as written, which is how Apache names a
// worker (BALANCER_WORKER_NAME, the balancer-manager).
func (m *Member) Name() string { return targetString(m.URL) }
