package headers

import (
	"net/http"
	"strings"

	"github.com/wsgate/wsgate/internal/reqvar"
	"github.com/wsgate/wsgate/rules"
)

// This file is ProxyPassReverse, ProxyPassReverseCookieDomain and
// ProxyPassReverseCookiePath applied to a backend's response: mod_proxy's
// ap_proxy_location_reverse_map and ap_proxy_cookie_reverse_map.

// reverseHeaders are the response headers ProxyPassReverse maps, those of
// mod_proxy's process_proxy_header.
var reverseHeaders = []string{"Location", "Content-Location", "Uri", "Destination"}

// Reverse maps the backend URLs in a backend response's header back to
// the client's (ProxyPassReverse), and the domain= and path= of its
// cookies (ProxyPassReverseCookieDomain, ProxyPassReverseCookiePath). It
// runs before Response, as mod_proxy maps while reading the backend's
// headers and mod_headers edits afterwards.
func (x *Edits) Reverse(h http.Header) {
	if x == nil {
		return
	}
	if len(x.scope.Reverse) > 0 {
		for _, name := range reverseHeaders {
			for i, v := range h[name] {
				h[name][i] = x.ReverseURL(v)
			}
		}
	}
	if len(x.scope.CookieDomains)+len(x.scope.CookiePaths) > 0 {
		for i, v := range h["Set-Cookie"] {
			h["Set-Cookie"][i] = x.ReverseCookie(v)
		}
	}
}

// ReverseURL is ap_proxy_location_reverse_map: the first ProxyPassReverse
// whose URL v starts with (case-insensitively, no segment boundary) gives
// PATH + the rest of v, made absolute with the client's scheme, Host and
// port. A URL that is a path ("/app/") is compared with the path of v,
// whatever its host; a balancer://NAME[/PATH] URL with each member's URL
// (followed by PATH). Anything that matches no line is returned as is;
// relative Locations are not touched by an absolute URL.
func (x *Edits) ReverseURL(v string) string {
	if x == nil {
		return v
	}
	for _, m := range x.scope.Reverse {
		var u string
		var ok bool
		if m.Balancer != "" {
			u, ok = x.reverseBalancer(m, v)
		} else {
			u, ok = reversePlain(m, v)
		}
		if !ok {
			continue
		}
		if reqvar.IsURL(u) {
			return cleanValue(u)
		}
		return cleanValue(x.vars.URL(u))
	}
	return v
}

func reversePlain(m rules.ReverseMap, v string) (string, bool) {
	part := v
	if strings.HasPrefix(m.URL, "/") {
		if i := strings.Index(v, "://"); i >= 0 {
			if j := strings.IndexByte(v[i+3:], '/'); j >= 0 {
				part = v[i+3+j:]
			}
		}
	}
	if m.URL == "" || !hasPrefixFold(part, m.URL) {
		return "", false
	}
	return m.Path + part[len(m.URL):], true
}

// reverseBalancer compares v with the members of the balancer a
// balancer:// ProxyPassReverse names, as Apache compares the workers'
// names: BalancerMember http://h/foo with ProxyPassReverse /bash
// balancer://alias/bar maps http://h/foo/bar/that to /bash/that.
func (x *Edits) reverseBalancer(m rules.ReverseMap, v string) (string, bool) {
	if x.table == nil {
		return "", false
	}
	b := x.table.Balancer(m.Balancer)
	if b == nil {
		return "", false
	}
	urlpart := m.BalancerPath
	for _, mem := range b.Members {
		w := mem.Name()
		if urlpart != "" {
			w = strings.TrimSuffix(w, "/")
			if hasPrefixFold(v, w) && strings.HasPrefix(v[len(w):], urlpart) {
				return m.Path + v[len(w)+len(urlpart):], true
			}
			continue
		}
		if !hasPrefixFold(v, w) {
			continue
		}
		if m.Path == "/" && strings.HasPrefix(v[len(w):], "/") {
			return v[len(w):], true // no double slash
		}
		return m.Path + v[len(w):], true
	}
	return "", false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ReverseCookie is ap_proxy_cookie_reverse_map (httpd 2.4.71): each
// ";"-separated attribute of a Set-Cookie value, leading spaces skipped,
// that is path=VALUE or domain=VALUE (any case) has VALUE replaced by the
// public value of the first line whose internal value VALUE starts with
// (paths byte for byte, domains case-insensitively). The whole value is
// replaced, not just the prefix, as Apache does.
func (x *Edits) ReverseCookie(v string) string {
	if x == nil {
		return v
	}
	attrs := strings.Split(v, ";")
	changed := false
	for i, a := range attrs {
		lead := len(a) - len(strings.TrimLeft(a, " \t\n\v\f\r"))
		key, val, ok := strings.Cut(a[lead:], "=")
		if !ok {
			continue
		}
		var maps []rules.CookieMap
		var match func(val, internal string) bool
		switch strings.ToLower(key) {
		case "path":
			maps, match = x.scope.CookiePaths, strings.HasPrefix
		case "domain":
			maps, match = x.scope.CookieDomains, hasPrefixFold
		default:
			continue
		}
		for _, m := range maps {
			if match(val, m.Internal) {
				attrs[i] = a[:lead+len(key)+1] + m.Public
				changed = true
				break
			}
		}
	}
	if !changed {
		return v
	}
	return cleanValue(strings.Join(attrs, ";"))
}
