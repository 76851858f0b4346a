package rules

import (
	"fmt"
	"regexp"
	"strings"
)

// This file holds <Location PATH> and <LocationMatch REGEX>: reading the
// sections, and which of them a request falls in. Every observation cited
// was made with Apache 2.4.71 on loopback (docs/rules.md, "Location").

// locState is the parser's state of the <Location> being read.
type locState struct {
	loc   *Location
	conds []*Cond // RewriteConds waiting for their RewriteRule
}

// openLocation starts a <Location PATH>, <Location ~ REGEX> or
// <LocationMatch REGEX> section.
func (p *parser) openLocation(s *openSection, match bool, args []arg, pos Pos) {
	name := s.name
	for _, o := range p.stack[:len(p.stack)-1] {
		if o.loc != nil {
			p.errorf(pos, "<%s> cannot occur within <%s> section (the section opened at line %d)", name, o.name, o.pos.Line)
			return
		}
	}
	if !match && len(args) == 2 && args[0].text == "~" {
		match, args = true, args[1:]
	}
	if len(args) != 1 {
		p.errorf(pos, "<%s> wants one %s", name, map[bool]string{false: "URL-path: <Location /app/>", true: "regular expression: <LocationMatch ^/app/>"}[match])
		return
	}
	loc := &Location{Pos: pos, Path: args[0].text, Match: match}
	switch {
	case match:
		re, msg := compileRegex(loc.Path, false)
		if msg != "" {
			p.errorf(args[0].pos, "<%s>: %s", name, msg)
			return
		}
		loc.re = re
	case fnmatchTest(loc.Path):
		p.errorf(args[0].pos, "<%s %s>: wildcards in <Location> are not supported yet (use <LocationMatch> with a regular expression)", name, loc.Path)
		return
	}
	s.kind, s.loc = sectLocation, &locState{loc: loc}
	p.locs = append(p.locs, s.loc)
	srv := p.srv()
	srv.t.Locations = append(srv.t.Locations, loc)
}

// fnmatchTest is apr_fnmatch_test: whether s holds a "*", a "?" or a
// "[...]" not escaped by "\". mod_proxy takes the path of a <Location>
// or <LocationMatch> holding one as a regular expression for the
// ProxyPass inside it, and compares any other literally, as a path
// prefix (observed: <LocationMatch /lm> proxies /lm/x but not /x/lm/y,
// <LocationMatch ^/lmq/> proxies nothing).
func fnmatchTest(s string) bool {
	open := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '?', '*':
			return true
		case '\\':
			i++
		case '[':
			open = true
		case ']':
			if open {
				return true
			}
		}
	}
	return false
}

// inLocation handles a directive inside <Location> or <LocationMatch>.
func (p *parser) inLocation(d directive, l *locState) {
	lower := strings.ToLower(d.name)
	if canon, ok := directiveNames[lower]; ok {
		d.name = canon
	}
	if p.scopeDirective(d) {
		return
	}
	loc := l.loc
	switch lower {
	case "proxypass", "proxypassmatch":
		p.locationPass(d, l, lower == "proxypassmatch")
	case "proxypreservehost":
		if on, ok := p.flag(d); ok {
			loc.PreserveHost = &on
		}
	case "proxyaddheaders":
		if on, ok := p.flag(d); ok {
			loc.AddHeaders = &on
		}
	case "rewriteengine":
		if on, ok := p.flag(d); ok {
			loc.RewriteOn = on
		}
	case "rewritecond":
		if c, err := parseCond(d); err != nil {
			p.errs.add(err)
		} else {
			l.conds = append(l.conds, c)
		}
	case "rewriterule":
		conds := l.conds
		l.conds = nil
		if r, err := parseRewriteDir(d, conds); err != nil {
			p.errs.add(err)
		} else {
			loc.Rewrite = append(loc.Rewrite, r)
		}
	case "redirect", "redirectpermanent", "redirecttemp", "redirectmatch":
		p.locationRedirect(d, loc, lower)
	case "rewriteoptions":
		p.warnf(d.pos, "%s inside <%s>: skipped (wsgate reads it in servers only)", d.name, map[bool]string{false: "Location", true: "LocationMatch"}[loc.Match])
	default:
		if _, ok := skipped[lower]; ok {
			p.other(d)
			return
		}
		if _, ok := directiveNames[lower]; ok {
			p.errorf(d.pos, "%s cannot occur within a <Location> section (as in Apache)", d.name)
			return
		}
		p.other(d)
	}
}

// locationPass reads the one-argument ProxyPass URL [params] (or
// ProxyPass !) of a location: its PATH is the section's path. As in
// mod_proxy, that path is a regular expression when it holds *, ? or
// [...] (or for ProxyPassMatch), a prefix otherwise.
func (p *parser) locationPass(d directive, l *locState, regex bool) {
	loc := l.loc
	switch {
	case len(d.args) == 0:
		p.errorf(d.end, "%s: missing URL (inside <Location>, %s URL [key=value ...])", d.name, d.name)
		return
	case strings.HasPrefix(d.args[0].text, "/"):
		p.errorf(d.args[0].pos, "%s can not have a path when defined in a location (as in Apache): the section's path %q is the path (write %s URL [key=value ...])", d.name, loc.Path, d.name)
		return
	case loc.Rule != nil:
		p.errorf(d.pos, "%s: a second ProxyPass in this section (the first at line %d; Apache would keep only the last)", d.name, loc.Rule.Pos.Line)
		return
	}
	regex = regex || fnmatchTest(loc.Path)
	path := loc.Path
	if !regex && !strings.HasPrefix(path, "/") {
		path = "/" // parsePass wants a path; the section's is set below
	}
	full := d
	full.args = append([]arg{{text: path, pos: d.pos}}, d.args...)
	var r *Rule
	var err error
	if regex {
		r, err = parsePassMatch(full)
	} else {
		r, err = parsePass(full)
	}
	if err != nil {
		p.errs.add(err)
		return
	}
	r.Path = loc.Path
	loc.Rule = r
	p.noteBalancer(r, full)
}

// finishLocations warns about the RewriteRules and RewriteConds of
// locations that do nothing, and drops the inactive rules.
func (p *parser) finishLocations() {
	for _, l := range p.locs {
		for _, c := range l.conds {
			p.warnf(c.Pos, "RewriteCond: no RewriteRule follows in its section, so it applies to nothing (as in Apache)")
			break
		}
		switch loc := l.loc; {
		case len(loc.Rewrite) == 0:
		case !loc.RewriteOn:
			p.warnf(loc.Rewrite[0].Pos, "RewriteRule: inactive because the section has no RewriteEngine On (as in Apache); its RewriteRules are ignored")
			loc.Rewrite = nil
		}
	}
}

// sectionName is "Location" or "LocationMatch".
func sectionName(loc *Location) string {
	if loc.Match {
		return "LocationMatch"
	}
	return "Location"
}

// matches reports whether the location applies to uri, the decoded and
// normalised path, as Apache's location walk decides: a <LocationMatch>
// regular expression matches anywhere in it (case-sensitively); a
// <Location> path is a prefix that ends at a segment boundary unless it
// ends in "/" (observed: <Location /foo> takes /foo, /foo/ and /foo/x,
// not /foobar or /FOO).
func (l *Location) matches(uri string) bool {
	if l.Match {
		return l.regexOf().MatchString(uri)
	}
	return aliasMatch(uri, l.Path) > 0
}

// regexOf is the compiled <LocationMatch> expression, compiled anew for
// a Location built by hand (never stored: tables are shared by
// concurrent requests).
func (l *Location) regexOf() *regexp.Regexp {
	if l.re != nil {
		return l.re
	}
	re, _ := compileRegex(l.Path, false)
	if re == nil {
		re = regexp.MustCompile(`[^\x00-\x{10FFFF}]`) // matches nothing
	}
	return re
}

// String names the section as written: <Location "/app/">.
func (l *Location) String() string {
	return fmt.Sprintf("<%s %s>", sectionName(l), quoteArg(l.Path))
}
