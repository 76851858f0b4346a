package rules

import (
	"fmt"
	"strings"
)

// This file reads the lines of a Scope: RequestHeader and Header
// (mod_headers), SetEnvIf and SetEnvIfNoCase (mod_setenvif),
// ProxyPassReverse, ProxyPassReverseCookieDomain and
// ProxyPassReverseCookiePath (mod_proxy), and prints them back. What they
// do to a request is package headers' work.

// scopeDirectives are the directives scopeDirective reads, by lower-case
// name.
var scopeDirectives = map[string]bool{"requestheader": true, "header": true, "setenvif": true,
	"setenvifnocase": true, "proxypassreverse": true, "proxypassreversecookiedomain": true,
	"proxypassreversecookiepath": true}

// scopeDirective reads the header, SetEnvIf and ProxyPassReverse lines
// into p.scope(). It reports whether d was one of them.
func (p *parser) scopeDirective(d directive) bool {
	switch strings.ToLower(d.name) {
	case "requestheader":
		p.headerEdit(d, false)
	case "header":
		p.headerEdit(d, true)
	case "setenvif":
		p.setEnvIf(d, false)
	case "setenvifnocase":
		p.setEnvIf(d, true)
	case "proxypassreverse":
		p.passReverse(d)
	case "proxypassreversecookiedomain":
		if m, ok := p.cookieMap(d); ok {
			p.scope().CookieDomains = append(p.scope().CookieDomains, m)
		}
	case "proxypassreversecookiepath":
		if m, ok := p.cookieMap(d); ok {
			p.scope().CookiePaths = append(p.scope().CookiePaths, m)
		}
	default:
		return false
	}
	return true
}

// headerActions are the mod_headers actions wsgate applies.
var headerActions = []string{"set", "setifempty", "append", "add", "merge", "unset"}

// headerEdit reads a RequestHeader line (response false) or a Header line:
//
//	RequestHeader ACTION NAME [VALUE] [env=[!]VAR | early]
//	Header [always|onsuccess] ACTION NAME [VALUE] [env=[!]VAR]
//
// VALUE is a mod_headers format string, or expr= and a string expression.
// The actions that need more than a value (edit, edit*), that read the
// request into the response (echo) or that write notes for other modules
// (note) are refused rather than skipped: a header a user asked to change
// must not pass unchanged without a word.
func (p *parser) headerEdit(d directive, response bool) {
	e := HeaderEdit{Pos: d.pos}
	args := d.args
	if len(args) == 0 {
		p.errorf(d.end, "%s: missing action (want %s)", d.name, strings.Join(headerActions, ", "))
		return
	}
	action := strings.ToLower(args[0].text)
	if response && (action == "always" || action == "onsuccess") {
		e.Always = action == "always"
		args = args[1:]
		if len(args) == 0 {
			p.errorf(d.end, "%s %s: missing action", d.name, action)
			return
		}
		action = strings.ToLower(args[0].text)
	}
	if !p.headerAction(d, args[0], action) {
		return
	}
	e.Action = action
	if len(args) < 2 {
		p.errorf(d.end, "%s %s: missing header name", d.name, action)
		return
	}
	e.Name = args[1].text
	if !validHeaderName(e.Name) {
		p.errorf(args[1].pos, "%s %s: %q is not a valid header name", d.name, action, e.Name)
		return
	}
	rest := args[2:]
	if action != "unset" {
		if len(rest) == 0 {
			p.errorf(d.end, "%s %s %s: missing value (Apache: header requires three arguments)", d.name, action, e.Name)
			return
		}
		if !p.headerValue(d, rest[0], &e) {
			return
		}
		rest = rest[1:]
	}
	switch {
	case len(rest) > 1:
		p.errorf(rest[1].pos, "%s: unexpected %q after the condition %q", d.name, rest[1].text, rest[0].text)
		return
	case len(rest) == 1 && !p.headerCondition(d, rest[0], &e):
		return
	}
	if response {
		p.scope().ResponseHeaders = append(p.scope().ResponseHeaders, e)
	} else {
		p.scope().RequestHeaders = append(p.scope().RequestHeaders, e)
	}
}

// headerAction checks a's action, saying what to do instead of the ones
// wsgate does not apply.
func (p *parser) headerAction(d directive, a arg, action string) bool {
	switch action {
	case "set", "setifempty", "append", "add", "merge", "unset":
		return true
	case "edit", "edit*":
		p.errorf(a.pos, "%s %s: not supported by wsgate (header values cannot be rewritten with a regular expression); use set or unset", d.name, action)
	case "echo", "note":
		p.errorf(a.pos, "%s %s: not supported by wsgate; use set, add or unset", d.name, action)
	case "always", "onsuccess":
		p.errorf(a.pos, "%s %s: only Header takes a condition; RequestHeader applies to every request", d.name, action)
	default:
		msg := fmt.Sprintf("%s: unknown action %q (want %s)", d.name, a.text, strings.Join(headerActions, ", "))
		if s := suggest(action, headerActions); s != "" {
			msg = fmt.Sprintf("%s: unknown action %q (did you mean %q?)", d.name, a.text, s)
		}
		p.errorf(a.pos, "%s", msg)
	}
	return false
}

// headerValue reads VALUE into e, checking its format specifiers or its
// expression now so that a request never meets one wsgate cannot expand.
func (p *parser) headerValue(d directive, a arg, e *HeaderEdit) bool {
	v := a.text
	if len(v) >= 5 && strings.EqualFold(v[:5], "expr=") {
		e.Expr, e.Value = true, v[5:]
		parts, msg := parseExpr(e.Value)
		if msg != "" {
			p.errorf(a.pos, "%s %s %s: expr=: %s", d.name, e.Action, e.Name, msg)
			return false
		}
		e.Parts = parts
		return true
	}
	e.Value = v
	parts, msg := parseFormat(v)
	if msg != "" {
		p.errorf(a.pos, "%s %s %s: %s", d.name, e.Action, e.Name, msg)
		return false
	}
	for _, f := range parts {
		if f.Kind == PartSSL && !knownSSLVar(f.Text) {
			p.warnf(a.pos, "%s %s %s: %%{%s}s is not a variable wsgate knows; it is sent as \"(null)\", as Apache does for an unset variable",
				d.name, e.Action, e.Name, f.Text)
		}
	}
	e.Parts = parts
	return true
}

// headerCondition reads the last argument: env=[!]VAR, or early (applied
// as the others are, with a warning). expr= conditions are refused.
func (p *parser) headerCondition(d directive, a arg, e *HeaderEdit) bool {
	c := a.text
	switch {
	case strings.EqualFold(c, "early"):
		p.warnf(a.pos, "%s ... early: wsgate applies it with the other %s lines, after routing and SetEnvIf (RewriteCond and SetEnvIf see the client's headers)", d.name, d.name)
		return true
	case len(c) >= 4 && strings.EqualFold(c[:4], "env="):
		name := c[4:]
		if strings.HasPrefix(name, "!") {
			e.EnvNot, name = true, name[1:]
		}
		if name == "" {
			p.errorf(a.pos, "%s: missing environment variable name (want env=VAR or env=!VAR)", d.name)
			return false
		}
		e.Env = name
		return true
	case len(c) >= 5 && strings.EqualFold(c[:5], "expr="):
		p.errorf(a.pos, "%s: expr= conditions are not supported by wsgate; set a variable with SetEnvIf and write env=VAR", d.name)
		return false
	}
	p.errorf(a.pos, "%s: unknown condition %q (want env=VAR, env=!VAR or early)", d.name, c)
	return false
}

// validHeaderName reports whether s is an HTTP field name (a token, RFC
// 9110 section 5.1): anything else would corrupt the message it is put in.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// setEnvIf reads SetEnvIf ATTRIBUTE REGEX [!]VAR[=VALUE] ... (nocase for
// SetEnvIfNoCase), as mod_setenvif does: an attribute made of letters,
// digits, "-" and "_" is a special name or a header (or variable) name,
// anything else a regular expression matched against header names.
func (p *parser) setEnvIf(d directive, nocase bool) {
	switch {
	case len(d.args) == 0:
		p.errorf(d.end, "%s: missing header-field name", d.name)
		return
	case len(d.args) == 1:
		p.errorf(d.end, "%s: missing regular expression", d.name)
		return
	case len(d.args) == 2:
		p.errorf(d.end, "%s: missing variable (want VAR, VAR=VALUE or !VAR)", d.name)
		return
	}
	s := SetEnvIf{Pos: d.pos, Attribute: d.args[0].text, Regex: d.args[1].text, NoCase: nocase}
	if strings.HasPrefix(strings.ToLower(s.Attribute), "oid(") {
		p.errorf(d.args[0].pos, "%s %s: client certificate extensions are not supported by wsgate (it asks for no client certificate)", d.name, s.Attribute)
		return
	}
	if isNameRegex(s.Attribute) {
		re, msg := compileRegex(s.Attribute, nocase)
		if msg != "" {
			p.errorf(d.args[0].pos, "%s: header name %s", d.name, msg)
			return
		}
		s.nameRe = re
	}
	re, msg := compileRegex(s.Regex, nocase)
	if msg != "" {
		p.errorf(d.args[1].pos, "%s: %s", d.name, msg)
		return
	}
	s.re = re
	s.Decoded = p.location() != nil
	for _, a := range d.args[2:] {
		name, value, hasValue := strings.Cut(a.text, "=")
		switch {
		case name == "" || name == "!":
			p.errorf(a.pos, "%s: %q names no variable", d.name, a.text)
			return
		case hasValue && value != "":
			s.Vars = append(s.Vars, EnvAssign{Name: name, Value: value})
		case strings.HasPrefix(name, "!"):
			s.Vars = append(s.Vars, EnvAssign{Name: name[1:], Unset: true})
		default:
			// VAR and VAR= both set "1", as mod_setenvif does.
			s.Vars = append(s.Vars, EnvAssign{Name: name, Value: "1"})
		}
	}
	p.scope().SetEnv = append(p.scope().SetEnv, s)
}

// isNameRegex is mod_setenvif's is_header_regex: an attribute with any
// byte other than letters, digits, "-" and "_" is a regular expression.
func isNameRegex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return true
		}
	}
	return false
}

// passReverse reads ProxyPassReverse PATH URL, or ProxyPassReverse URL
// inside a <Location PATH>, with Apache's errors for the wrong count.
func (p *parser) passReverse(d directive) {
	loc := p.location()
	args := d.args
	if n := len(args); n > 0 && strings.EqualFold(args[n-1].text, "interpolate") {
		p.errorf(args[n-1].pos, "%s: interpolate is not supported yet (ProxyPassInterpolateEnv is not)", d.name)
		return
	}
	if len(args) == 3 && loc == nil {
		// Apache reads a third word only as "interpolate" and ignores any
		// other: guides copy ProxyPass parameters here (Keepalive=On).
		p.warnf(args[2].pos, "%s: %q is ignored, as Apache ignores it (a third word means something only as interpolate)", d.name, args[2].text)
		args = args[:2]
	}
	m := ReverseMap{Pos: d.pos}
	switch {
	case len(args) == 0:
		p.errorf(d.end, "%s: missing URL", d.name)
		return
	case loc == nil && len(args) == 1:
		p.errorf(args[0].pos, "%s needs a path when not defined in a location (want ProxyPassReverse PATH URL)", d.name)
		return
	case loc != nil && len(args) > 1:
		p.errorf(args[1].pos, "%s can not have a path when defined in a location (want ProxyPassReverse URL)", d.name)
		return
	case len(args) > 3:
		p.errorf(args[3].pos, "%s takes one, two or three arguments (as in Apache): unexpected %q", d.name, args[3].text)
		return
	case loc != nil && loc.Match:
		p.warnf(d.pos, "%s inside <LocationMatch>: Apache would write the regular expression itself into Location headers; skipped (write ProxyPassReverse PATH URL outside the section)", d.name)
		return
	case loc != nil:
		m.Path, m.URL = loc.Path, args[0].text
	default:
		m.Path, m.URL = args[0].text, args[1].text
	}
	u := args[len(args)-1]
	if !strings.Contains(m.URL, "://") && !strings.HasPrefix(m.URL, "/") {
		p.warnf(u.pos, "%s: %q is neither a URL nor a path, so it matches no backend URL (as in Apache)", d.name, m.URL)
	}
	if isBalancerURL(m.URL) {
		name, path, msg := parseBalancerURL(m.URL)
		if msg != "" {
			p.errorf(u.pos, "%s: %s", d.name, msg)
			return
		}
		if path == "/" {
			path = ""
		}
		m.Balancer, m.BalancerPath = name, path
	}
	p.scope().Reverse = append(p.scope().Reverse, m)
}

// cookieMap reads ProxyPassReverseCookieDomain and
// ProxyPassReverseCookiePath: INTERNAL PUBLIC.
func (p *parser) cookieMap(d directive) (CookieMap, bool) {
	switch n := len(d.args); {
	case n > 0 && strings.EqualFold(d.args[n-1].text, "interpolate"):
		p.errorf(d.args[n-1].pos, "%s: interpolate is not supported yet (ProxyPassInterpolateEnv is not)", d.name)
	case n < 2:
		p.errorf(d.end, "%s: want the backend's value and the public one (%s INTERNAL PUBLIC)", d.name, d.name)
	case n > 2:
		p.errorf(d.args[2].pos, "%s: unexpected %q (want %s INTERNAL PUBLIC)", d.name, d.args[2].text, d.name)
	default:
		return CookieMap{Pos: d.pos, Internal: d.args[0].text, Public: d.args[1].text}, true
	}
	return CookieMap{}, false
}

// lines prints the scope's directives in canonical syntax, in the order a
// file would give them back. inLocation prints ProxyPassReverse in its
// one-argument form, the only one Apache takes inside a <Location>.
func (s *Scope) lines(inLocation bool) []directiveLine {
	var ls []directiveLine
	for _, e := range s.SetEnv {
		ls = append(ls, directiveLine{e.Pos, e.String()})
	}
	for _, e := range s.RequestHeaders {
		ls = append(ls, directiveLine{e.Pos, "RequestHeader " + e.String()})
	}
	for _, e := range s.ResponseHeaders {
		ls = append(ls, directiveLine{e.Pos, "Header " + e.String()})
	}
	for _, m := range s.Reverse {
		text := "ProxyPassReverse " + word(m.Path) + " " + word(m.URL)
		if inLocation {
			text = "ProxyPassReverse " + word(m.URL)
		}
		ls = append(ls, directiveLine{m.Pos, text})
	}
	for _, m := range s.CookieDomains {
		ls = append(ls, directiveLine{m.Pos, "ProxyPassReverseCookieDomain " + word(m.Internal) + " " + word(m.Public)})
	}
	for _, m := range s.CookiePaths {
		ls = append(ls, directiveLine{m.Pos, "ProxyPassReverseCookiePath " + word(m.Internal) + " " + word(m.Public)})
	}
	return ls
}

// String is the edit's arguments after RequestHeader or Header.
func (e HeaderEdit) String() string {
	var b strings.Builder
	if e.Always {
		b.WriteString("always ")
	}
	b.WriteString(e.Action + " " + word(e.Name))
	if e.Action != "unset" {
		v := e.Value
		if e.Expr {
			v = "expr=" + v
		}
		b.WriteString(" " + quoteArg(v))
	}
	if e.Env != "" {
		not := ""
		if e.EnvNot {
			not = "!"
		}
		b.WriteString(" env=" + not + word(e.Env))
	}
	return b.String()
}

// String is the SetEnvIf or SetEnvIfNoCase line.
func (s SetEnvIf) String() string {
	name := "SetEnvIf"
	if s.NoCase {
		name = "SetEnvIfNoCase"
	}
	parts := []string{name, word(s.Attribute), quoteArg(s.Regex)}
	for _, v := range s.Vars {
		switch {
		case v.Unset:
			parts = append(parts, word("!"+v.Name))
		default:
			parts = append(parts, word(v.Name+"="+v.Value))
		}
	}
	return strings.Join(parts, " ")
}
