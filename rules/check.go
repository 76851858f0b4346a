package rules

import (
	"fmt"
	"net/url"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
)

// Check returns warnings about rules that are valid but probably not what
// the user meant, each located at the later of the rules involved, for
// `wsgate check`:
//
//   - a ProxyPass that can never match because an earlier one (an
//     exclusion included) matches every path it does;
//   - a ProxyPass whose PATH and URL disagree about a trailing "/", which
//     glues or doubles path segments (as in Apache);
//   - rules whose targets would share an Apache worker, where Apache would
//     apply another rule's upgrade=, timeout= or connectiontimeout=
//     (APACHE.md "Workers"); wsgate applies each rule's own;
//   - a ProxyPassMatch or RewriteRule pattern anchored on something other
//     than "/", which no request path can match;
//   - RewriteRules that proxy nothing, rewrite to a local path, or in a
//     <Location> assume their pattern sees the URL-path (checkRewrite);
//   - a Redirect that a ProxyPass takes the requests of first, and a
//     <LocationMatch> whose ProxyPass Apache compares literally
//     (checkAlias);
//   - balancers that no rule uses, whose usable members are all hot
//     standbys or all disabled, that list a member twice, whose
//     stickysession no member's route can match, whose member URL ends in
//     "/" (Apache then doubles the slash), or that mix ws:// and http://
//     members under legacy routing.
//
// Every server is checked: the main server and each virtual host, with
// what it inherits; a warning about an inherited line is given once.
// The warnings of parsing (Table.Warnings) are not repeated here.
func (t *Table) Check() []*Error {
	var warns []*Error
	seen := map[string]bool{}
	for _, s := range t.Servers() {
		for _, w := range s.checkServer() {
			if k := w.Error(); !seen[k] {
				seen[k] = true
				warns = append(warns, w)
			}
		}
	}
	return append(warns, t.checkBalancers()...)
}

// checkServer is Check for one server's rules.
func (t *Table) checkServer() []*Error {
	var warns []*Error
	warn := func(r *Rule, format string, a ...any) {
		warns = append(warns, &Error{Pos: r.Pos, Msg: describe(r) + ": " + fmt.Sprintf(format, a...)})
	}
	type worker struct {
		name string
		rule *Rule
	}
	var workers []worker
	for j, r := range t.Rules {
		if r.Kind != Prefix {
			if msg := cannotMatchSlash(r); msg != "" {
				warn(r, "%s", msg)
			}
			continue
		}
		for _, e := range t.Rules[:j] {
			if e.Kind != Prefix || aliasMatch(r.Path, e.Path) == 0 {
				continue
			}
			if t.Legacy && !e.Exclude && (e.Target.Scheme == "ws" || e.Target.Scheme == "wss") {
				continue // requests without Upgrade skip e and may reach r
			}
			verb := "matches"
			if e.Exclude {
				verb = "excludes"
			}
			warn(r, "can never match: the earlier %s at %s %s every path it matches (the first matching rule wins, as in Apache)",
				describe(e), origin(e.Pos), verb)
			break
		}
		if r.Exclude {
			continue
		}
		tp := targetPath(r.Target)
		switch {
		case strings.HasSuffix(r.Path, "/") && tp == "":
			warn(r, "%s has no path, so the rest of the request path is glued to its host name: %sx would fail with a 500, as in Apache (write %q)",
				targetString(r.Target), r.Path, targetString(r.Target)+"/")
		case strings.HasSuffix(r.Path, "/") && !strings.HasSuffix(tp, "/"):
			warn(r, "PATH ends in \"/\" but URL does not, so segments are glued together: %sx goes to %sx, as in Apache (end both with \"/\" or neither)",
				r.Path, tp)
		case !strings.HasSuffix(r.Path, "/") && strings.HasSuffix(tp, "/"):
			warn(r, "URL ends in \"/\" but PATH does not, so slashes are doubled: %s/x goes to %s/x, as in Apache (end both with \"/\" or neither)",
				r.Path, tp)
		}
		if isBalancerRule(r) {
			continue // the members are the workers
		}
		name := workerName(r.Target)
		var shared *worker
		for i := range workers {
			if w := &workers[i]; strings.HasPrefix(name, w.name) && (shared == nil || len(w.name) > len(shared.name)) {
				shared = w
			}
		}
		if shared != nil {
			if d := paramDiff(r, shared.rule); d != "" {
				warn(r, "Apache would reuse the worker %q of the %s at %s and ignore this rule's parameters (%s); wsgate applies this rule's own",
					shared.name, describe(shared.rule), origin(shared.rule.Pos), d)
			}
			continue
		}
		for _, w := range workers {
			if strings.HasPrefix(w.name, name) {
				if d := paramDiff(r, w.rule); d != "" {
					warn(r, "Apache would send the requests this rule maps under %q with the parameters of the %s at %s (%s); wsgate applies this rule's own",
						w.name, describe(w.rule), origin(w.rule.Pos), d)
				}
			}
		}
		workers = append(workers, worker{name, r})
	}
	warns = append(warns, t.checkRewrite()...)
	return append(warns, t.checkAlias()...)
}

// checkAlias warns about a Redirect whose requests a ProxyPass takes
// first (mod_proxy maps before mod_alias; observed), and about a
// <LocationMatch> whose pattern has no *, ? or [...], which mod_proxy
// then compares literally, as a path prefix, for the ProxyPass inside
// (observed: <LocationMatch ^/lmq/> proxies nothing).
func (t *Table) checkAlias() []*Error {
	var warns []*Error
	for _, r := range t.Rules {
		if r.Kind != Redirection || r.alias != aliasPrefix {
			continue
		}
		// The ProxyPass of the last <Location> holding the whole path is
		// tried first, then the server's.
		var passes []*Rule
		for _, l := range slices.Backward(t.Locations) {
			if l.Rule != nil && !l.Match && aliasMatch(r.Path, l.Path) > 0 {
				passes = append(passes, l.Rule)
				break // the last one that has a ProxyPass
			}
		}
		passes = append(passes, t.Rules...)
		for _, e := range passes {
			if e.Kind != Prefix || aliasMatch(r.Path, e.Path) == 0 {
				continue
			}
			if !e.Exclude {
				warns = append(warns, &Error{Pos: r.Pos, Msg: fmt.Sprintf("%s: can never match: the %s at %s takes these requests first (mod_proxy maps a request before mod_alias redirects it, as in Apache)",
					describe(r), describe(e), origin(e.Pos))})
			}
			break
		}
	}
	for _, l := range t.Locations {
		if l.Match && l.Rule != nil && l.Rule.Kind == Prefix && strings.ContainsAny(l.Path, "^$()|+\\{") {
			warns = append(warns, &Error{Pos: l.Rule.Pos, Msg: fmt.Sprintf("ProxyPass inside %s: as Apache, wsgate compares the pattern literally, as a path prefix, because it has no *, ? or [...]: it proxies only paths starting with %q (add \".*\" to make it a regular expression)",
				l, l.Path)})
		}
	}
	return warns
}

// checkBalancers warns about balancers that are valid but cannot work as
// meant.
func (t *Table) checkBalancers() []*Error {
	var warns []*Error
	warn := func(p Pos, b *Balancer, format string, a ...any) {
		warns = append(warns, &Error{Pos: p, Msg: b.URL() + ": " + fmt.Sprintf(format, a...)})
	}
	for _, b := range t.Balancers {
		used := false
		for _, s := range t.Servers() {
			for _, r := range s.Rules {
				used = used || isBalancerRule(r) && r.Target.Host == b.Name
			}
			for _, l := range s.Locations {
				used = used || l.Rule != nil && isBalancerRule(l.Rule) && l.Rule.Target.Host == b.Name
			}
		}
		if !used {
			warn(b.Pos, b, "no ProxyPass, ProxyPassMatch or RewriteRule sends requests to it")
		}
		active, standby, routes := 0, 0, 0
		schemes := map[bool]bool{}
		for i, m := range b.Members {
			switch {
			case m.Disabled:
			case m.HotStandby:
				standby++
			default:
				active++
			}
			if m.Route != "" {
				routes++
			}
			schemes[m.URL.Scheme == "ws" || m.URL.Scheme == "wss"] = true
			if p := targetPath(m.URL); strings.HasSuffix(p, "/") {
				warn(m.Pos, b, "member %s ends in \"/\": its path and the rest of the request path are joined verbatim, so %sx goes to %s/x, as in Apache (write %q)",
					targetString(m.URL), b.URL()+"/", p, strings.TrimSuffix(targetString(m.URL), "/"))
			}
			for _, e := range b.Members[:i] {
				if workerName(e.URL) == workerName(m.URL) {
					warn(m.Pos, b, "member %s is listed twice (the first at %s): it gets twice its share", targetString(m.URL), origin(e.Pos))
					break
				}
			}
		}
		switch {
		case active == 0 && standby == 0 && len(b.Members) > 0:
			warn(b.Pos, b, "every member is disabled (status=+D): every request gets a 503")
		case active == 0 && standby > 0:
			warn(b.Pos, b, "every usable member is a hot standby (status=+H): standbys are used only when the others are unusable, so they take every request")
		}
		if b.StickySession != "" && routes == 0 {
			warn(b.Pos, b, "stickysession=%s but no member has a route=, so no session sticks", b.StickySession)
		}
		if t.Legacy && len(schemes) == 2 {
			warn(b.Pos, b, "mixes ws:// and http:// members under ProxyWebsocketFallbackToProxyHttp Off: whether a request without Upgrade gets a 426 depends on the member chosen")
		}
	}
	return warns
}

// describe names a rule by its directive and first argument.
func describe(r *Rule) string {
	if r.alias == aliasRegex {
		return "RedirectMatch " + quoteArg(r.Path)
	}
	return kindName(r.Kind) + " " + quoteArg(r.Path)
}

// workerName is the name Apache gives a target's worker: the URL with
// scheme and host in lower case.
func workerName(u *url.URL) string {
	return u.Scheme + "://" + strings.ToLower(u.Host) + targetPath(u)
}

// paramDiff describes how r's worker parameters differ from w's, or "".
func paramDiff(r, w *Rule) string {
	var d []string
	if !strings.EqualFold(r.Upgrade, w.Upgrade) {
		d = append(d, fmt.Sprintf("upgrade: %s here, %s in Apache", orDefault(r.Upgrade), orDefault(w.Upgrade)))
	}
	if r.Timeout != w.Timeout {
		d = append(d, fmt.Sprintf("timeout: %s here, %s in Apache", durOrDefault(r.Timeout), durOrDefault(w.Timeout)))
	}
	if r.ConnectTimeout != w.ConnectTimeout {
		d = append(d, fmt.Sprintf("connectiontimeout: %s here, %s in Apache", durOrDefault(r.ConnectTimeout), durOrDefault(w.ConnectTimeout)))
	}
	return strings.Join(d, "; ")
}

func orDefault(s string) string {
	if s == "" {
		return "the default"
	}
	return s
}

func durOrDefault(d time.Duration) string {
	if d == 0 {
		return "the default"
	}
	return formatDuration(d)
}

// cannotMatchSlash says why a Regex or Rewrite rule's pattern can match no
// path starting with "/", or returns "". It only recognises the common
// mistake of a pattern anchored on another literal, as in "^api/".
func cannotMatchSlash(r *Rule) string {
	re, err := syntax.Parse(r.Path, syntax.Perl|syntax.DotNL)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	first := re.Sub[1]
	if first.Op != syntax.OpLiteral || len(first.Rune) == 0 || first.Rune[0] == '/' {
		return ""
	}
	return fmt.Sprintf("can never match: request paths start with \"/\" and the pattern wants %q first (write \"^/%s\")",
		string(first.Rune[0]), strings.TrimPrefix(r.Path, "^"))
}
