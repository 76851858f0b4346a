package rules

import (
	"fmt"
	"net/http"
	"strings"
)

// This file holds request paths as Apache reads them: the target split
// into path and query, decoded and normalised into r->uri, matched
// against a rule's path (mod_proxy's alias_match), and encoded again for
// the backend.

// SplitTarget splits a raw request target into its path, before any
// decoding, and its query. hasQuery tells "/p?" (an empty query, which
// Apache forwards as "?") from "/p".
//
// The checks are those of Apache's request line parsing: an absolute-form
// target must be http or https (its host does not take part in mapping),
// and a fragment, which clients must not send, is a 400 (Go's server lets
// "#" through).
func SplitTarget(target string) (rawPath, query string, hasQuery bool, err error) {
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

// NormalizePath turns a raw request path into Apache's r->uri, in the two
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
//
// It is decodePath under AllowEncodedSlashes Off, the default.
func NormalizePath(raw string) (string, error) { return decodePath(raw, "") }

// decodePath is normalizePath under AllowEncodedSlashes encodedSlashes
// (observed with Apache 2.4.71): with "On", %2F is decoded and the path
// normalised again (/a%2F..%2Fb is /b; going above the root then is not
// an error, the path just stops at the root); with "NoDecode", %2F (any
// case) is kept as it is and so takes no part in normalising (see canon
// for the rest).
func decodePath(raw, encodedSlashes string) (string, error) {
	if !strings.HasPrefix(raw, "/") {
		// splitTarget passes none such, but header edits may ask for
		// the path of any target. ap_normalize_path refuses it too;
		// the dot-segment loop below relies on the leading "/".
		return "", &RequestError{Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("invalid URI path %q: does not start with \"/\" (AH10244)", raw)}
	}
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
	slash := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' {
			c = unhex(b[i+1])<<4 | unhex(b[i+2])
			switch {
			case c == 0 || c == '/' && encodedSlashes == "":
				return "", &RequestError{Status: http.StatusNotFound,
					Reason: fmt.Sprintf("encoded %q or NUL in URI path %q (AH00026)", "/", raw)}
			case c == '/' && encodedSlashes == "NoDecode":
				c = '%' // kept: the next two bytes are copied as they are
			default:
				i += 2
			}
			slash = slash || c == '/'
		}
		b[w] = c
		w++
	}
	if slash {
		// Decoded slashes may make new "//", "./" or "../" segments.
		return mergeDots(b[:w]), nil
	}
	return string(b[:w]), nil
}

// mergeDots is step 1b of normalizePath again, after AllowEncodedSlashes
// On decoded %2F: Apache ignores a ".." above the root there.
func mergeDots(b []byte) string {
	w := 1
	for l := 1; l < len(b); {
		if b[w-1] == '/' {
			switch {
			case b[l] == '/':
				for l < len(b) && b[l] == '/' {
					l++
				}
				continue
			case b[l] == '.' && (l+1 == len(b) || b[l+1] == '/'):
				l += 2
				continue
			case b[l] == '.' && l+1 < len(b) && b[l+1] == '.' && (l+2 == len(b) || b[l+2] == '/'):
				if w > 1 {
					for w--; w > 0 && b[w-1] != '/'; w-- {
					}
				}
				l += 3
				continue
			}
		}
		b[w] = b[l]
		w++
		l++
	}
	return string(b[:w])
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

// canon is canonPath as t forwards a path: with AllowEncodedSlashes
// NoDecode, a "%2F" in it (any case) is sent as it is, as mod_proxy_http
// does (PROXY_CANONENC_NOENCODEDSLASHENCODING; observed: /enc/a%2fb%20c
// reaches the backend as /enc/a%2fb%20c, and /enc/a%252Fb, decoded once
// to a%2Fb, as /enc/a%2Fb).
func (t *Table) canon(p string) string {
	if t.AllowEncodedSlashes != "NoDecode" || !strings.Contains(p, "%") {
		return canonPath(p)
	}
	var b strings.Builder
	for {
		i := strings.Index(strings.ToUpper(p), "%2F")
		if i < 0 {
			b.WriteString(canonPath(p))
			return b.String()
		}
		b.WriteString(canonPath(p[:i]))
		b.WriteString(p[i : i+3])
		p = p[i+3:]
	}
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
