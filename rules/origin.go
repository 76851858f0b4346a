package rules

import (
	"errors"
	"strings"
)

// An origin pattern names the browser origins (RFC 6454) whose pages may
// open tunnels, when any is set (WsgateAllowOrigin, --allow-origin). It is
// written like an origin, scheme://host[:port], where
//
//   - the scheme may be left out: "app.example.com" means http and https;
//   - the host may start with "*.": "*.example.com" matches every name that
//     ends in ".example.com" (a.example.com, a.b.example.com), not
//     example.com itself;
//   - the port may be "*": any port, or none; without a port only the
//     scheme's default port matches (browsers leave it out of Origin).
//
// Everything is compared case-insensitively. There is no other wildcard,
// and no path. "null", the origin of sandboxed frames and file:// pages,
// is refused as a pattern: any page can make its requests carry it, and no
// glob matches it.
type originPattern struct {
	scheme   string // "" for http or https
	host     string // lower case; without "*." when wild
	wildHost bool
	port     string // "" for the default port, "*" for any
}

// CheckOriginPattern reports why s is not a valid origin pattern, or nil.
func CheckOriginPattern(s string) error {
	_, err := parseOriginPattern(s)
	return err
}

func parseOriginPattern(s string) (originPattern, error) {
	var p originPattern
	rest := strings.ToLower(s)
	switch {
	case rest == "":
		return p, errors.New("empty origin pattern")
	case rest == "null":
		return p, errors.New(`"null" is not allowed: any page can send Origin: null from a sandboxed frame`)
	case rest == "*":
		return p, errors.New(`"*" would allow every origin: leave the origin patterns out instead`)
	}
	if scheme, after, ok := strings.Cut(rest, "://"); ok {
		if !validScheme(scheme) {
			return p, errors.New("invalid scheme " + quoteErr(scheme))
		}
		p.scheme, rest = scheme, after
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return p, errors.New("an origin has no path, query or fragment: " + quoteErr(rest[i:]))
	}
	host, port, err := splitOriginHost(rest, true)
	if err != nil {
		return p, err
	}
	if after, ok := strings.CutPrefix(host, "*."); ok {
		p.wildHost, host = true, after
	}
	if host == "" || strings.Contains(host, "*") {
		return p, errors.New(`"*" may only stand for the first labels of a host ("*.example.com") or for the port (":*")`)
	}
	p.host, p.port = host, defaultPort(p.scheme, port)
	return p, nil
}

// validScheme reports whether s is an RFC 3986 scheme.
func validScheme(s string) bool {
	for i, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// splitOriginHost splits host[:port], host possibly a bracketed IPv6
// address. The port must be digits (or "*" when wild is allowed).
func splitOriginHost(s string, wild bool) (host, port string, err error) {
	host = s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("unclosed [ in " + quoteErr(s))
		}
		host, s = s[:end+1], s[end+1:]
		if s != "" && s[0] != ':' {
			return "", "", errors.New("unexpected " + quoteErr(s) + " after ]")
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, s = s[:i], s[i:]
	} else {
		s = ""
	}
	if s != "" {
		port = s[1:]
		switch {
		case port == "*" && wild:
		case port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "":
			return "", "", errors.New("invalid port " + quoteErr(port))
		}
	}
	if host == "" {
		return "", "", errors.New("missing host")
	}
	return host, port, nil
}

// defaultPort drops a port that is the scheme's default, as browsers do.
func defaultPort(scheme, port string) string {
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		return ""
	}
	return port
}

func quoteErr(s string) string { return `"` + s + `"` }

// match reports whether the value of an Origin header matches p. A value
// that is not a single serialized origin (a list, "null", a path) never
// matches.
func (p originPattern) match(origin string) bool {
	origin = strings.ToLower(strings.TrimSpace(origin))
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok || !validScheme(scheme) || strings.ContainsAny(rest, "/?#* \t,") {
		return false
	}
	host, port, err := splitOriginHost(rest, false)
	if err != nil {
		return false
	}
	port = defaultPort(scheme, port)
	switch {
	case p.scheme == "" && scheme != "http" && scheme != "https":
		return false
	case p.scheme != "" && scheme != p.scheme:
		return false
	case p.port != "*" && port != p.port:
		return false
	case p.wildHost:
		return len(host) > len(p.host)+1 && strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}

// OriginAllowed reports whether a request with this Origin header may open
// a tunnel under patterns: always when there are no patterns or no Origin
// header (hasOrigin false: a client that is not a browser), otherwise when
// one pattern matches. Invalid patterns never match; CheckOriginPattern
// catches them first.
func OriginAllowed(patterns []string, origin string, hasOrigin bool) bool {
	if len(patterns) == 0 || !hasOrigin {
		return true
	}
	for _, s := range patterns {
		if p, err := parseOriginPattern(s); err == nil && p.match(origin) {
			return true
		}
	}
	return false
}

// allowOrigin reads WsgateAllowOrigin PATTERN [PATTERN ...], wsgate's own
// directive: the patterns add to those of earlier lines.
func (p *parser) allowOrigin(d directive) {
	if len(d.args) == 0 {
		p.errorf(d.end, "%s: missing origin pattern (https://app.example.com, *.example.com, http://localhost:*)", d.name)
		return
	}
	for _, a := range d.args {
		if err := CheckOriginPattern(a.text); err != nil {
			p.errorf(a.pos, "%s %s: %v", d.name, a.text, err)
			continue
		}
		p.t.AllowOrigins = append(p.t.AllowOrigins, a.text)
	}
}
