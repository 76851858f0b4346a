package rules

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// This file holds ProxyPassMatch and what it shares with RewriteRule:
// regular expressions, URL templates with $N references, and turning a
// substituted URL into a Match.

// ParsePassMatch parses value, the arguments of one ProxyPassMatch
// directive (the --pass-match flag):
//
//	REGEX URL [nocanon] [key=value ...]
//	REGEX !
//
// REGEX is Go regular expression syntax (RE2), matched case-sensitively
// against the decoded, normalised request path without its query; URL may
// hold $0 to $9. Positions and errors are as for ParsePass.
func ParsePassMatch(pos Pos, value string) (*Rule, error) {
	return parseLine(pos, "ProxyPassMatch", value, parsePassMatch)
}

// passMatchUsage is what ProxyPassMatch takes.
const passMatchUsage = "want REGEX URL [key=value ...] or REGEX !"

// parsePassMatch validates a raw ProxyPassMatch directive.
func parsePassMatch(d directive) (*Rule, error) {
	errAt := func(p Pos, format string, a ...any) *Error {
		return &Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)}
	}
	switch len(d.args) {
	case 0:
		return nil, errAt(d.end, "missing REGEX and URL (%s)", passMatchUsage)
	case 1:
		return nil, errAt(d.end, "missing URL after REGEX %q (%s)", d.args[0].text, passMatchUsage)
	}
	r := &Rule{Pos: d.pos, Kind: Regex, Path: d.args[0].text, urlPos: d.args[1].pos}
	var errs ErrorList
	re, msg := compileRegex(r.Path, false)
	if msg != "" {
		errs.add(errAt(d.args[0].pos, "%s", msg))
	}
	r.re = re
	if d.args[1].text == "!" {
		if len(d.args) > 2 {
			errs.add(errAt(d.args[2].pos, "unexpected %q after \"!\" (an exclusion takes no parameters)", d.args[2].text))
		}
		r.Exclude = true
		if err := errs.err(); err != nil {
			return nil, err
		}
		return r, nil
	}
	if isBalancerURL(d.args[1].text) {
		name, _ := splitURL(d.args[1].text)
		target, msg := balancerTarget(d.args[1].text)
		switch {
		case strings.Contains(name, "$"):
			errs.add(errAt(d.args[1].pos, "URL %q: the balancer name cannot hold a $N reference", d.args[1].text))
		case msg != "":
			errs.add(errAt(d.args[1].pos, "%s", msg))
		}
		r.Target = target
		errs.add(balancerRule(d, r, d.args[2:]))
		if err := errs.err(); err != nil {
			return nil, err
		}
		return r, nil
	}
	target, msg := parseTemplate(d.args[1].text, "$")
	if msg != "" {
		errs.add(errAt(d.args[1].pos, "%s", msg))
	}
	r.Target = target
	if err := parseParams(d, r, d.args[2:]); err != nil {
		errs.add(err)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// compileRegex compiles a ProxyPassMatch or RewriteRule pattern as httpd
// 2.4 compiles it (RegexDefaultOptions DOTALL DOLLAR_ENDONLY: "." matches
// a newline and "$" only the very end), case-insensitively for [NC]. A
// PCRE feature that Go's RE2 syntax lacks gets a message naming it.
func compileRegex(pattern string, nocase bool) (*regexp.Regexp, string) {
	flags := "(?s)"
	if nocase {
		flags = "(?si)"
	}
	re, err := regexp.Compile(flags + escapedSpaces(pattern))
	if err == nil {
		return re, ""
	}
	for _, f := range pcreOnly {
		if f.re.MatchString(pattern) {
			return nil, fmt.Sprintf("regular expression %q uses %s, a PCRE feature that Go's RE2 syntax does not have", pattern, f.name)
		}
	}
	if _, perr := syntax.Parse(pattern, syntax.Perl); perr != nil {
		err = perr // the same error, without the flags added above
	}
	msg := err.Error()
	if e, ok := err.(*syntax.Error); ok {
		msg = e.Code.String() + ": `" + e.Expr + "`"
	}
	return nil, fmt.Sprintf("invalid regular expression %q: %s", pattern, strings.TrimPrefix(msg, "error parsing regexp: "))
}

// escapedSpaces rewrites "\ " (an escaped space, as mod_rewrite's
// argument syntax needs it, and a literal space for PCRE) as "\x20",
// which RE2 accepts; likewise for the other white space bytes.
func escapedSpaces(p string) string {
	if !strings.Contains(p, "\\") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			if isSpace(p[i+1]) {
				fmt.Fprintf(&b, "\\x%02x", p[i+1])
			} else {
				b.WriteString(p[i : i+2])
			}
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// pcreOnly are the PCRE constructs RE2 refuses, to name them in errors.
var pcreOnly = []struct {
	name string
	re   *regexp.Regexp
}{
	{"a lookahead (?= or (?!", regexp.MustCompile(`\(\?[=!]`)},
	{"a lookbehind (?<= or (?<!", regexp.MustCompile(`\(\?<[=!]`)},
	{"an atomic group (?>", regexp.MustCompile(`\(\?>`)},
	{"a backreference (\\1, \\k<name>, \\g1)", regexp.MustCompile(`\\([1-9]|k[<{']|g\{?-?[0-9])`)},
	{"a possessive quantifier (*+, ++, ?+, }+)", regexp.MustCompile(`[*+?}]\+`)},
	{"recursion ((?R), (?1), (?&name))", regexp.MustCompile(`\(\?(R|[0-9+-]|&|P>)`)},
	{"a branch reset group (?|", regexp.MustCompile(`\(\?\|`)},
	{"a comment group (?#", regexp.MustCompile(`\(\?#`)},
	{"a conditional group (?(", regexp.MustCompile(`\(\?\(`)},
	{`\G, \K, \Z, \R, \h, \X or a similar PCRE escape`, regexp.MustCompile(`\\[GKZRhHvVXNE]`)},
}

// parseTemplate checks a URL that may hold references (refs is the
// characters that start one: "$" for ProxyPassMatch, "$%" for
// RewriteRule) and returns it as a url.URL whose Host and RawPath are the
// templates as written, for targetString to print back. The scheme must
// be written out; a host written out must be valid.
func parseTemplate(s, refs string) (*url.URL, string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || strings.ContainsAny(scheme, refs) {
		if strings.HasPrefix(strings.ToLower(s), "balancer:") {
			return nil, "balancer:// URLs are not supported yet"
		}
		return nil, fmt.Sprintf("URL %q must start with ws://, wss://, http:// or https:// written out", s)
	}
	switch lower := strings.ToLower(scheme); lower {
	case "ws", "wss", "http", "https":
		scheme = lower
	case "balancer":
		return nil, "balancer:// URLs are not supported yet"
	default:
		return nil, fmt.Sprintf("unsupported scheme %q (want ws, wss, http or https)", scheme)
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	switch {
	case authority == "":
		return nil, fmt.Sprintf("URL %q has no host", s)
	case strings.ContainsAny(s, "?"):
		return nil, fmt.Sprintf("URL %q must not have a query (Apache would send the \"?\" encoded, as %%3F, in the path)", s)
	case strings.Contains(s, "#"):
		return nil, fmt.Sprintf("URL %q must not have a fragment", s)
	case strings.Contains(authority, "@"):
		return nil, fmt.Sprintf("URL %q: user information is not supported", s)
	case !strings.ContainsAny(authority, refs):
		if msg := CheckAuthority(authority); msg != "" {
			return nil, fmt.Sprintf("URL %q: %s", s, msg)
		}
	}
	if !isVisible(s) {
		return nil, fmt.Sprintf("URL %q contains spaces or control characters", s)
	}
	return &url.URL{Scheme: scheme, Host: authority, Path: path, RawPath: path}, ""
}

// CheckAuthority validates host[:port] strictly: a bracketed IPv6
// address or a name of letters, digits, "-", "." and "_", and a port from
// 1 to 65535. It returns what is wrong, or "". A substituted authority
// goes through it before anything is dialled or written into a request,
// so that $1 cannot smuggle a CR, LF, space, "@" or "/" into either.
func CheckAuthority(a string) string {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return fmt.Sprintf("invalid host %q", a)
		}
		host, port = a[1:i], a[i+1:]
		if host == "" || strings.Trim(host, "0123456789abcdefABCDEF:.") != "" {
			return fmt.Sprintf("invalid IPv6 address %q", host)
		}
		if port != "" && port[0] != ':' {
			return fmt.Sprintf("invalid host %q", a)
		}
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i:]
		if host == "" {
			return fmt.Sprintf("invalid host %q", a)
		}
		for j := 0; j < len(host); j++ {
			if c := host[j]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
				return fmt.Sprintf("invalid host %q", host)
			}
		}
	} else {
		for j := 0; j < len(host); j++ {
			if c := host[j]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
				return fmt.Sprintf("invalid host %q", host)
			}
		}
	}
	if port != "" {
		p := port[1:]
		n, err := strconv.Atoi(p)
		if err != nil || leadingDigits(p) != p || n < 1 || n > 65535 {
			return fmt.Sprintf("invalid port %q", p)
		}
	}
	return ""
}

// regsub is ap_pregsub: $0 to $9 are replaced with what the groups of m
// (indexes into src) matched, an unset group with nothing; a backslash
// makes the next byte literal.
func regsub(tmpl, src string, m []int) string {
	if !strings.ContainsAny(tmpl, `$\`) {
		return tmpl
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '$' && i+1 < len(tmpl) && '0' <= tmpl[i+1] && tmpl[i+1] <= '9':
			i++
			b.WriteString(group(src, m, int(tmpl[i]-'0')))
		case c == '\\' && i+1 < len(tmpl):
			i++
			b.WriteByte(tmpl[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// group is what group n of the match m matched in src, "" when unset.
func group(src string, m []int, n int) string {
	if 2*n+1 >= len(m) || m[2*n] < 0 || m[2*n] >= m[2*n+1] {
		return ""
	}
	return src[m[2*n]:m[2*n+1]]
}

// regexOf returns the rule's compiled pattern. Rules made by this
// package always have one; a Rule built by hand is compiled here, each
// time.
func (r *Rule) regexOf() *regexp.Regexp {
	if r.re != nil {
		return r.re
	}
	re, _ := compileRegex(r.Path, r.NoCase)
	if re == nil {
		re = regexp.MustCompile(`[^\x00-\x{10FFFF}]`) // matches nothing
	}
	return re
}

// splitURL splits a URL or template that starts with scheme "://" into
// its authority and its path (from the first "/" on, "" when none).
func splitURL(s string) (authority, path string) {
	_, rest, _ := strings.Cut(s, "://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
}

// fromURL turns a substituted backend URL, given as its authority and its
// path, into a Match: the authority is checked strictly (a 400 when a
// substitution made it invalid: whatever a substitution put in the host
// part of the template stays there, so a "/" or "@" in it is refused, not
// reinterpreted), the path re-encoded with ap_proxy_canonenc unless raw,
// and the query appended.
func (t *Table) fromURL(rule *Rule, authority, path string, raw bool, query string, hasQuery bool) (Match, error) {
	found := rule.Target.Scheme + "://" + authority + path
	if msg := CheckAuthority(authority); msg != "" || authority == "" {
		if msg == "" {
			msg = "no host"
		}
		return Match{}, &RequestError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("%s: backend URL %q: %s", origin(rule.Pos), found, msg)}
	}
	if path == "" {
		path = "/"
	}
	m := Match{Rule: rule, Scheme: rule.Target.Scheme, Host: authority}
	t.resolve(&m, found)
	if raw {
		if !isVisible(path) {
			return Match{}, &RequestError{Status: http.StatusForbidden,
				Reason: "nocanon path or query to forward contains control characters or spaces"}
		}
		m.RequestURI = path
		return m, nil
	}
	m.RequestURI = t.canon(path)
	if hasQuery {
		if !isVisible(query) {
			return Match{}, &RequestError{Status: http.StatusForbidden,
				Reason: "query to forward contains control characters or spaces (AH10409)"}
		}
		m.RequestURI += "?" + query
	}
	return m, nil
}
