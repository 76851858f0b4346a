package rules

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wsgate/wsgate/internal/reqvar"
)

// This file holds mod_alias's redirects: Redirect, RedirectMatch,
// RedirectPermanent and RedirectTemp, answered by wsgate itself. Every
// observation cited was made with Apache 2.4.71 on loopback (docs/rules.md,
// "Redirect").

// aliasDirective reads a Redirect line outside a <Location> into the
// server being read. It reports whether d was one.
func (p *parser) aliasDirective(d directive, lower string) bool {
	switch lower {
	case "redirect", "redirectmatch", "redirectpermanent", "redirecttemp":
	default:
		return false
	}
	if r := p.parseRedirect(d, lower, nil); r != nil {
		srv := p.srv()
		srv.t.Rules = append(srv.t.Rules, r)
	}
	return true
}

// locationRedirect reads the one-argument Redirect [status] URL of a
// <Location>.
func (p *parser) locationRedirect(d directive, loc *Location, lower string) {
	if lower == "redirectmatch" {
		p.errorf(d.pos, "%s inside <%s> is not supported yet (write Redirect URL, or RedirectMatch outside the section)", d.name, sectionName(loc))
		return
	}
	if loc.Redirect != nil {
		p.errorf(d.pos, "%s: a second Redirect in this section (the first at line %d; Apache would keep only the last)", d.name, loc.Redirect.Pos.Line)
		return
	}
	loc.Redirect = p.parseRedirect(d, lower, loc)
}

// parseRedirect reads
//
//	Redirect [STATUS] URL-PATH [URL]
//	RedirectMatch [STATUS] REGEX [URL]
//	RedirectPermanent URL-PATH URL
//	RedirectTemp URL-PATH URL
//
// or, inside loc, the same without URL-PATH. STATUS is permanent (301),
// temp (302, the default), seeother (303), gone (410) or a number: a 3xx
// status needs URL, any other status must not have one (mod_alias's
// checks). It returns nil after reporting an error.
func (p *parser) parseRedirect(d directive, lower string, loc *Location) *Rule {
	args := d.args
	r := &Rule{Pos: d.pos, Kind: Redirection, Status: http.StatusFound, alias: aliasPrefix}
	switch lower {
	case "redirectpermanent":
		r.Status = http.StatusMovedPermanently
	case "redirectmatch":
		r.alias = aliasRegex
		fallthrough
	case "redirect":
		if len(args) > 0 {
			if st, ok, msg := aliasStatus(args[0].text); msg != "" {
				p.errorf(args[0].pos, "%s: %s", d.name, msg)
				return nil
			} else if ok {
				r.Status, args = st, args[1:]
			}
		}
	}
	redirect := r.Status >= 300 && r.Status < 400
	if loc != nil {
		r.Path = loc.Path
	} else {
		if len(args) == 0 {
			p.errorf(d.end, "%s: missing URL-path", d.name)
			return nil
		}
		r.Path, args = args[0].text, args[1:]
	}
	switch {
	case redirect && len(args) == 0:
		p.errorf(d.end, "%s: URL to redirect to is missing", d.name)
	case !redirect && len(args) > 0:
		p.errorf(args[0].pos, "%s: a URL is not valid for status %d (only a 3xx status redirects)", d.name, r.Status)
	case len(args) > 1:
		p.errorf(args[1].pos, "%s: unexpected %q", d.name, args[1].text)
	case r.alias == aliasPrefix && loc == nil && !strings.HasPrefix(r.Path, "/"):
		p.errorf(d.args[len(d.args)-len(args)-1].pos, "%s: URL-path %q must start with \"/\"", d.name, r.Path)
	case len(args) == 1 && r.alias == aliasPrefix && !reqvar.IsURL(args[0].text) && !strings.HasPrefix(args[0].text, "/"):
		p.errorf(args[0].pos, "%s: %q is neither a URL nor a path starting with \"/\" (Apache: Redirect to non-URL)", d.name, args[0].text)
	case len(args) == 1 && loc != nil && strings.Contains(args[0].text, "%{"):
		p.errorf(args[0].pos, "%s: expressions (%%{...}) in the URL are not supported yet", d.name)
	default:
		if len(args) == 1 {
			r.Subst = args[0].text
		}
		if r.alias == aliasRegex {
			re, msg := compileRegex(r.Path, false)
			if msg != "" {
				p.errorf(d.args[len(d.args)-len(args)-1].pos, "%s: %s", d.name, msg)
				return nil
			}
			r.re = re
		}
		return r
	}
	return nil
}

// aliasStatus reads a Redirect's first argument as a status, if it is
// one (ok), or says what is wrong with a number.
func aliasStatus(s string) (status int, ok bool, msg string) {
	switch strings.ToLower(s) {
	case "permanent":
		return http.StatusMovedPermanently, true, ""
	case "temp":
		return http.StatusFound, true, ""
	case "seeother":
		return http.StatusSeeOther, true, ""
	case "gone":
		return http.StatusGone, true, ""
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false, ""
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 300 || n > 599 {
		return 0, false, fmt.Sprintf("status %q: want permanent, temp, seeother, gone or a number from 300 to 599", s)
	}
	return n, true, ""
}

// redirectMatch tries a Redirect or RedirectMatch rule on uri, the decoded
// path, and returns its answer or nil. As mod_alias builds it (observed):
//
//   - Redirect: URL + the rest of the path after URL-PATH (matched as
//     ProxyPass matches, at a segment boundary), the rest escaped with
//     ap_escape_uri (escapeURI, in lower-case hex: /old/a%7Cb gives
//     /new/a%7cb);
//   - RedirectMatch: URL with $N substituted, then escaped whole but for
//     its own query and fragment (a decoded %3f in $1 starts a query);
//   - a URL starting with "/" gets the request's scheme and Host;
//   - the request's query is appended, an empty one included, unless the
//     URL has a "?" of its own.
func redirectMatch(rule *Rule, uri string, q queryPart, r *http.Request, vh *VirtualHost) (*Redirect, error) {
	var loc string
	switch rule.alias {
	case aliasRegex:
		groups := rule.regexOf().FindStringSubmatchIndex(uri)
		if groups == nil {
			return nil, nil
		}
		loc = escapeURL(regsub(rule.Subst, uri, groups))
	default:
		n := aliasMatch(uri, rule.Path)
		if n == 0 {
			return nil, nil
		}
		loc = rule.Subst + escapeURI(uri[n:])
	}
	return finishRedirect(rule, loc, q, r, vh)
}

// finishRedirect makes the answer of rule whose URL, substituted, is loc.
func finishRedirect(rule *Rule, loc string, q queryPart, r *http.Request, vh *VirtualHost) (*Redirect, error) {
	if rule.Status < 300 || rule.Status > 399 {
		return &Redirect{Rule: rule, Status: rule.Status}, nil
	}
	if strings.HasPrefix(loc, "/") {
		loc = serverURL(r, vh) + loc
	}
	if !reqvar.IsURL(loc) {
		return nil, &RequestError{Status: http.StatusInternalServerError,
			Reason: fmt.Sprintf("%s: cannot redirect to %q: not an absolute URL or a path (AH00673)", origin(rule.Pos), loc)}
	}
	if q.has && !strings.Contains(loc, "?") {
		loc += "?" + q.raw
	}
	if strings.ContainsFunc(loc, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		// A decoded %0D%0A substituted into the query: Apache refuses to
		// send such a header (AH02430) and answers 500.
		return nil, &RequestError{Status: http.StatusInternalServerError,
			Reason: fmt.Sprintf("%s: the redirect's Location %q contains control characters (AH02430)", origin(rule.Pos), loc)}
	}
	return &Redirect{Rule: rule, Status: rule.Status, Location: loc}, nil
}

// queryPart is a request's query, raw, and whether it has one ("?"
// alone is an empty one).
type queryPart struct {
	raw string
	has bool
}

// escapeURL is what mod_alias does to a RedirectMatch result: the URL
// without its query and fragment is escaped (ap_escape_uri), which are
// then put back as they were.
func escapeURL(s string) string {
	end := len(s)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		end = i
	}
	return escapeURI(s[:end]) + s[end:]
}

// serverURL is scheme://host[:port] of the request as Apache's
// ap_construct_url gives it (UseCanonicalName Off): the Host header's name
// in lower case, and its port unless it is the scheme's default
// (observed: Host H.Example:80 gives http://h.example, Host [::1]:99
// gives http://[::1]:99). Without a Host, the virtual host's name.
func serverURL(r *http.Request, vh *VirtualHost) string {
	q := reqvar.Request{HTTP: r}
	if vh != nil {
		q.ServerName = vh.ServerName
	}
	return q.URL("")
}
