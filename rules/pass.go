package rules

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// passUsage is what ProxyPass takes, for errors about missing arguments.
const passUsage = "want PATH URL [key=value ...] or PATH !"

// FromFlags builds a Table from --pass values, each the argument list of
// one ProxyPass directive, in the order given. The i-th value's rule and
// errors are located at Pos{File: "--pass", Line: i+1}. All values are
// parsed and up to 10 errors are returned together as an ErrorList, so a
// user fixes a command line in one go.
//
// A value with several URLs is the short form of a balancer:
//
//	/chat/ ws://127.0.0.1:9001/ ws://127.0.0.1:9002/ [key=value ...]
//
// makes a balancer named after the flag ("pass1" for the first --pass)
// with those members, in Table.Balancers, and a rule to balancer://pass1.
// lbmethod=, stickysession= and nofailover= are the balancer's, nocanon
// the rule's, and every other parameter (upgrade=, timeout=, retry=,
// hcmethod= ...) applies to each member. A value with one URL parses
// exactly as ParsePass parses it.
//
// A balancer://NAME target that no --pass defines is left for the rules
// file the flags are combined with: call Validate on the combined table.
func FromFlags(passes []string) (*Table, error) {
	t := &Table{Rules: make([]*Rule, 0, len(passes))}
	var errs ErrorList
	var refs []balancerRef
	for i, v := range passes {
		pos := Pos{File: "--pass", Line: i + 1, Col: 1}
		args, end, lexErr := splitArgs(pos, v)
		if lexErr != nil {
			lexErr.Msg = "ProxyPass: " + lexErr.Msg
			if !errs.add(lexErr) {
				break
			}
			continue
		}
		d := directive{pos: pos, name: "ProxyPass", args: args, end: end}
		if isShortForm(args) {
			r, b, err := parseShortForm(d, fmt.Sprintf("pass%d", i+1))
			if err != nil {
				if !errs.add(err) {
					break
				}
				continue
			}
			t.Rules = append(t.Rules, r)
			t.Balancers = append(t.Balancers, b)
			continue
		}
		r, err := parsePass(d)
		if err != nil {
			if !errs.add(err) {
				break
			}
			continue
		}
		t.Rules = append(t.Rules, r)
		if isBalancerRule(r) {
			refs = append(refs, balancerRef{rule: r, pos: args[1].pos})
		}
	}
	// A balancer:// target may name a balancer of the rules file the flags
	// are used with: only those that the flags define are linked here
	// (see Table.Validate for the rest).
	var known []balancerRef
	for _, ref := range refs {
		switch {
		case t.Balancer(ref.rule.Target.Host) != nil:
			known = append(known, ref)
		case ref.rule.bal != nil:
			errs.add(&Error{Pos: ref.pos, Msg: fmt.Sprintf("ProxyPass: balancer parameters for %q, which no --pass with several URLs defines: give them in the rules file's <Proxy> section",
				"balancer://"+ref.rule.Target.Host)})
		}
	}
	if len(errs) <= maxErrors {
		set := map[*Balancer]map[string]Pos{}
		setOf := func(b *Balancer) map[string]Pos {
			if set[b] == nil {
				set[b] = map[string]Pos{}
			}
			return set[b]
		}
		errs.add(linkBalancers(t, known, setOf, nil))
		slices.SortStableFunc(errs, func(a, b *Error) int { return cmp.Or(a.Pos.Line-b.Pos.Line, a.Pos.Col-b.Pos.Col) })
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// isShortForm reports whether a --pass value has several URLs.
func isShortForm(args []arg) bool {
	return len(args) >= 3 && isURLArg(args[1].text) && isURLArg(args[2].text)
}

// isURLArg tells a URL from a key=value parameter.
func isURLArg(s string) bool {
	i := strings.Index(s, "://")
	return i > 0 && !strings.Contains(s[:i], "=")
}

// memberOnly are the member parameters that make no sense for every
// member at once.
var memberOnly = []string{"loadfactor", "route", "status"}

// parseShortForm parses "PATH URL URL... [params]" into a rule to an
// implicit balancer called name.
func parseShortForm(d directive, name string) (*Rule, *Balancer, error) {
	var errs ErrorList
	fail := func(p Pos, format string, a ...any) {
		errs.add(&Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)})
	}
	path := d.args[0]
	switch {
	case path.text == "~":
		fail(path.pos, `"~" (a regular expression PATH, as in ProxyPassMatch) is not supported yet`)
	case !strings.HasPrefix(path.text, "/"):
		fail(path.pos, `PATH %q must start with "/"`, path.text)
	}
	k := 1
	for k < len(d.args) && isURLArg(d.args[k].text) {
		k++
	}
	urls, params := d.args[1:k], d.args[k:]
	var balArgs, ruleArgs, memberArgs []arg
	for _, a := range params {
		key, _, hasVal := strings.Cut(a.text, "=")
		key = strings.ToLower(key)
		switch {
		case !hasVal && (key == "nocanon" || key == "interpolate" || key == "noquery"):
			ruleArgs = append(ruleArgs, a)
		case slices.Contains(balancerParams, key) && key != "timeout":
			balArgs = append(balArgs, a)
		case slices.Contains(memberOnly, key):
			fail(a.pos, "%s= is set per member: write the balancer as a <Proxy \"balancer://NAME\"> section in a rules file", key)
		default:
			memberArgs = append(memberArgs, a)
		}
	}
	target := "/"
	if !strings.HasSuffix(path.text, "/") {
		target = ""
	}
	r := &Rule{Pos: d.pos, Kind: Prefix, Path: path.text,
		Target: &url.URL{Scheme: "balancer", Host: name, Path: target, RawPath: target}}
	errs.add(parseParams(d, r, ruleArgs))
	b := &Balancer{Pos: d.pos, Name: name, Method: defaultMethod}
	s, err := parseBalancerParams(d, balArgs)
	errs.add(err)
	errs.add(s.apply(b, map[string]Pos{}, d.name))
	tmpl, err := parseMember(d, urls[0], memberArgs)
	errs.add(err)
	for _, u := range urls {
		if tmpl == nil {
			break
		}
		m := *tmpl
		m.Pos = u.pos
		if isBalancerURL(u.text) {
			fail(u.pos, "a member must be a ws://, wss://, http:// or https:// URL, not a balancer")
			continue
		}
		target, msg := parseTarget(u.text)
		if msg != "" {
			if u != urls[0] {
				fail(u.pos, "%s", msg)
			}
			continue
		}
		// PATH's rest starts with "/" (the target is balancer://passN/):
		// without its trailing "/", the member's path joins it as a
		// lone URL would, not doubled as Apache joins a member's.
		target.Path, target.RawPath = strings.TrimSuffix(target.Path, "/"), strings.TrimSuffix(target.RawPath, "/")
		m.URL = target
		b.Members = append(b.Members, &m)
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Pos.Col - b.Pos.Col })
	if err := errs.err(); err != nil {
		return nil, nil, err
	}
	return r, b, nil
}

// ParsePass parses value, the arguments of one ProxyPass directive:
//
//	PATH URL [nocanon] [key=value ...]
//	PATH !
//
// pos is where value starts; the rule gets pos (with Col 1 when pos has no
// column) and errors point at the column of the offending argument. The
// error is an *Error, or an ErrorList when several arguments are wrong.
//
// Like Apache's add_pass and set_worker_param, keywords and parameter names
// are case-insensitive. Unlike Apache, which keeps the last of two equal
// parameters, a duplicate is an error, and Apache parameters wsgate does
// not implement yet are refused rather than ignored.
func ParsePass(pos Pos, value string) (*Rule, error) {
	return parseLine(pos, "ProxyPass", value, parsePass)
}

// parseLine reads value, a directive's arguments given on the command
// line, as a line of a file would be read, and hands it to parse.
func parseLine(pos Pos, name, value string, parse func(directive) (*Rule, error)) (*Rule, error) {
	if pos.Col == 0 {
		pos.Col = 1
	}
	args, end, err := splitArgs(pos, value)
	if err != nil {
		err.Msg = name + ": " + err.Msg
		return nil, err
	}
	return parse(directive{pos: pos, name: name, args: args, end: end})
}

// parsePass validates a raw ProxyPass directive. It is separate from
// ParsePass so that a rules file, whose directives carry their name and
// line, goes through the same checks as a --pass flag.
func parsePass(d directive) (*Rule, error) {
	errAt := func(p Pos, format string, a ...any) *Error {
		return &Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)}
	}
	switch {
	case len(d.args) == 0:
		return nil, errAt(d.end, "missing PATH and URL (%s)", passUsage)
	case d.args[0].text == "~":
		return nil, errAt(d.args[0].pos, `"~" (a regular expression PATH, as in ProxyPassMatch) is not supported yet`)
	case !strings.HasPrefix(d.args[0].text, "/"):
		return nil, errAt(d.args[0].pos, `PATH %q must start with "/"`, d.args[0].text)
	case len(d.args) == 1:
		return nil, errAt(d.end, "missing URL after PATH %q (%s)", d.args[0].text, passUsage)
	}

	r := &Rule{Pos: d.pos, Kind: Prefix, Path: d.args[0].text, urlPos: d.args[1].pos}
	if d.args[1].text == "!" {
		// Apache silently ignores anything after "!"; it can only be a
		// mistake, so say so.
		if len(d.args) > 2 {
			return nil, errAt(d.args[2].pos, "unexpected %q after \"!\" (an exclusion takes no parameters)", d.args[2].text)
		}
		r.Exclude = true
		return r, nil
	}

	// From here on, report every bad argument, not just the first.
	var errs ErrorList
	if isBalancerURL(d.args[1].text) {
		target, msg := balancerTarget(d.args[1].text)
		if msg != "" {
			errs.add(errAt(d.args[1].pos, "%s", msg))
		}
		r.Target = target
		errs.add(balancerRule(d, r, d.args[2:]))
		if err := errs.err(); err != nil {
			return nil, err
		}
		return r, nil
	}
	target, msg := parseTarget(d.args[1].text)
	if msg != "" {
		errs.add(errAt(d.args[1].pos, "%s", msg))
	}
	r.Target = target
	errs.add(parseParams(d, r, d.args[2:]))
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseParams reads a ProxyPass or ProxyPassMatch directive's keywords
// and key=value parameters into r, reporting every bad one.
func parseParams(d directive, r *Rule, args []arg) error {
	var errs ErrorList
	fail := func(p Pos, format string, a ...any) {
		errs.add(&Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)})
	}
	var msg string
	seen := make(map[string]bool) // parameters set so far
	for _, a := range args {
		key, val, hasVal := strings.Cut(a.text, "=")
		key = strings.ToLower(key)
		if seen[key] {
			fail(a.pos, "duplicate parameter %q", key)
			continue
		}
		switch {
		case key == "nocanon" && !hasVal:
			r.NoCanon, seen[key] = true, true
		case key == "upgrade" && hasVal:
			switch {
			case strings.TrimSpace(val) == "":
				fail(a.pos, "upgrade= needs a protocol name (upgrade=websocket, a comma list, ANY or NONE)")
			case strings.ContainsFunc(val, func(c rune) bool { return c < ' ' || c == 0x7f }):
				// The value may end up in an Upgrade header.
				fail(a.pos, "upgrade=%q contains control characters", val)
			}
			r.Upgrade, seen[key] = val, true
		case key == "timeout" && hasVal:
			r.Timeout, msg = parseTimeout(val)
			seen[key] = true
			if msg != "" {
				fail(a.pos, "timeout=%s: %s", val, msg)
			}
		case key == "connectiontimeout" && hasVal:
			r.ConnectTimeout, msg = parseConnectTimeout(val)
			seen[key] = true
			if msg != "" {
				fail(a.pos, "connectiontimeout=%s: %s", val, msg)
			}
		case isNoOp(key) && hasVal:
			seen[key] = true
			if msg := checkNoOp(key, val); msg != "" {
				fail(a.pos, "%s=%s: %s", key, val, msg)
			}
			if key == "keepalive" {
				r.KeepAlive = strings.EqualFold(val, "on")
			}
		case isNotYet(key):
			fail(a.pos, "parameter %q is not supported yet", key)
		case key == "nocanon":
			fail(a.pos, "nocanon takes no value")
		case !hasVal && (key == "upgrade" || key == "timeout" || key == "connectiontimeout" || isNoOp(key)):
			fail(a.pos, "parameter %q needs a value (%s=...)", key, key)
		default:
			if strings.HasPrefix(a.text, "#") {
				fail(a.pos, "unexpected %q (a comment must be on a line of its own)", a.text)
				return errs.err()
			} else if strings.Contains(a.text, "://") && !hasVal {
				fail(a.pos, "unexpected second URL %q: several backends make a balancer (see \"Balancers\" in docs/rules.md)", a.text)
			} else if s := suggest(key, knownParams); s != "" {
				fail(a.pos, "unknown parameter %q (did you mean %q?)", key, s)
			} else {
				fail(a.pos, "unknown parameter %q", key)
			}
		}
	}
	return errs.err()
}

// parseTarget checks a ProxyPass URL and returns it parsed, or a message.
// The URL's path is kept as written (url.URL.RawPath whenever Go would
// spell it differently) because Apache concatenates the written string
// and re-encodes the result.
func parseTarget(s string) (*url.URL, string) {
	if !strings.Contains(s, "://") {
		// 127.0.0.1:9001 or localhost:9001/x: a host without its scheme,
		// which url.Parse reads as a bad path or as scheme "localhost".
		host, _, _ := strings.Cut(s, "/")
		if host != "" && CheckAuthority(host) == "" && strings.ContainsAny(host, ":.") {
			return nil, fmt.Sprintf("URL %q has no scheme; did you mean ws://%s? (want ws://, wss://, http:// or https://)", s, s)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Sprintf("invalid URL %q: %v", s, err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	case "":
		return nil, fmt.Sprintf("URL %q has no scheme (want ws://, wss://, http:// or https://)", s)
	case "balancer":
		return nil, "balancer:// URLs are not supported yet"
	default:
		return nil, fmt.Sprintf("unsupported scheme %q (want ws, wss, http or https)", u.Scheme)
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Sprintf("URL %q has no host", s)
	case u.User != nil:
		return nil, fmt.Sprintf("URL %q: user information is not supported", s)
	case u.RawQuery != "" || u.ForceQuery:
		// Apache would encode the "?" into the path (%3F): never useful.
		return nil, fmt.Sprintf("URL %q must not have a query", s)
	case strings.Contains(s, "#"):
		return nil, fmt.Sprintf("URL %q must not have a fragment", s)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Sprintf("URL %q: invalid port %q", s, p)
		}
	}
	// The host as written, which Go may have unescaped: a host is a
	// name or an address, never %-encoded (url.Parse reads ws://%250 as
	// host "%0", which prints as an invalid URL).
	authority, _ := splitURL(s)
	if msg := CheckAuthority(authority); msg != "" {
		return nil, fmt.Sprintf("URL %q: %s", s, msg)
	}
	return u, ""
}

// maxSeconds bounds timeouts: Apache reads them into a C int.
const maxSeconds = 1<<31 - 1

// parseTimeout reads timeout=, which Apache 2.4 (set_worker_param) parses
// with atoi: whole seconds, at least 1. atoi stops at the first non-digit,
// so Apache reads "500ms" as 500 seconds and "1h" as 1 second; rather than
// silently differ from Apache in either direction, any suffix other than
// "s" is refused.
func parseTimeout(v string) (time.Duration, string) {
	num := leadingDigits(v)
	n := parseUint(num)
	switch unit := v[len(num):]; {
	case num == "":
		return 0, "must be a whole number of seconds"
	case unit != "" && unit != "s":
		return 0, fmt.Sprintf("must be whole seconds (Apache 2.4 would read %q as timeout=%s)", v, num)
	case n < 1:
		return 0, "must be at least 1 second"
	case n > maxSeconds:
		return 0, "too large"
	}
	return time.Duration(n) * time.Second, ""
}

// parseConnectTimeout reads connectiontimeout=, which Apache parses with
// ap_timeout_parameter_parse: an integer with an optional unit, s (the
// default), ms, mi (minutes) or h, at least one millisecond. Apache
// ignores bytes after the unit ("5sec"); here they are an error.
func parseConnectTimeout(v string) (time.Duration, string) {
	num := leadingDigits(v)
	ms := parseUint(num)
	switch unit := v[len(num):]; {
	case num == "":
		return 0, "must be a number with an optional unit s, ms, mi or h"
	case unit == "" || unit == "s":
		ms *= 1000
	case unit == "mi":
		ms *= 60 * 1000
	case unit == "h":
		ms *= 60 * 60 * 1000
	case unit != "ms":
		return 0, fmt.Sprintf("unknown unit %q (want s, ms, mi or h)", unit)
	}
	switch {
	case ms < 1:
		return 0, "must be at least 1ms"
	case ms > maxSeconds*1000:
		return 0, "too large"
	}
	return time.Duration(ms) * time.Millisecond, ""
}

// parseUint parses a run of ASCII digits; anything longer than any
// sensible timeout saturates instead of overflowing.
func parseUint(digits string) int64 {
	if len(digits) > 12 {
		return 1 << 40
	}
	n, _ := strconv.ParseInt(digits, 10, 64)
	return n
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// knownParams are the ProxyPass keywords and parameters Apache 2.4 knows,
// for "did you mean" hints. The first four are the ones wsgate implements.
var knownParams = append(append([]string{"upgrade", "timeout", "connectiontimeout", "nocanon"}, noOps...), notYet...)

// noOps are Apache 2.4 parameters that are accepted, checked and ignored,
// because ignoring them is what they mean for a tunnel that opens a new
// backend connection for every request and relays bytes as they come:
// they tune connection reuse (disablereuse, enablereuse, ttl; keepalive
// is kept in Rule.KeepAlive, for TCP keep-alive probes on the backend
// connection),
// the retry of a failed plain worker (retry: Apache retries a plain
// worker on every request anyway), and buffering (flushpackets,
// iobuffersize, receivebuffersize).
var noOps = []string{
	"retry", "disablereuse", "enablereuse", "keepalive", "ttl",
	"flushpackets", "iobuffersize", "receivebuffersize",
}

func isNoOp(key string) bool {
	for _, k := range noOps {
		if k == key {
			return true
		}
	}
	return false
}

// checkNoOp validates a no-op parameter's value as Apache does, so that a
// file wsgate accepts is one Apache accepts.
func checkNoOp(key, val string) string {
	switch key {
	case "disablereuse", "enablereuse", "keepalive":
		if !strings.EqualFold(val, "on") && !strings.EqualFold(val, "off") {
			return "must be On or Off"
		}
	case "flushpackets":
		if !strings.EqualFold(val, "on") && !strings.EqualFold(val, "off") && !strings.EqualFold(val, "auto") {
			return "must be On, Off or Auto"
		}
	default: // retry, ttl, iobuffersize, receivebuffersize: whole numbers
		if val == "" || leadingDigits(val) != val || len(val) > 10 {
			return "must be a whole number"
		}
	}
	return ""
}

// notYet are Apache 2.4 ProxyPass parameters (and the keywords interpolate
// and noquery) that wsgate does not implement yet. They are refused by
// name, so that a configuration relying on one fails loudly instead of
// behaving differently from Apache.
var notYet = []string{
	"max", "smax", "min", "acquire", "lbset", "loadfactor", "route",
	"redirect", "status", "ping", "secret", "hostname", "flusher", "mapping",
	"responsefieldsize", "addressttl", "interpolate", "noquery",
}

func isNotYet(key string) bool {
	for _, k := range notYet {
		if k == key {
			return true
		}
	}
	return false
}
