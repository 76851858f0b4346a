package rules

import (
	"fmt"
	"net/http"
	"strings"
)

// This file holds the subset of mod_rewrite that mod_proxy_wstunnel's
// documentation uses: RewriteCond on request headers and RewriteRule
// PATTERN URL [P].

// parseCond validates a raw RewriteCond directive.
func parseCond(d directive) (*Cond, error) {
	errAt := func(p Pos, format string, a ...any) *Error {
		return &Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)}
	}
	if len(d.args) < 2 {
		return nil, errAt(d.end, "want TESTSTRING CONDPATTERN [flags]")
	}
	var errs ErrorList
	c := &Cond{Pos: d.pos, TestString: d.args[0].text}
	if msg := checkExpansion(c.TestString); msg != "" {
		errs.add(errAt(d.args[0].pos, "%s", msg))
	}
	p := d.args[1].text
	if rest, ok := strings.CutPrefix(p, "!"); ok {
		c.Negate, p = true, rest
	}
	// As cmd_rewritecond: a pattern of one byte is always a regular
	// expression ("=" alone is the regex "="), `=""` is the empty string.
	switch {
	case strings.EqualFold(c.TestString, "expr"):
		errs.add(errAt(d.args[0].pos, "RewriteCond expr is not supported yet"))
	case isSpecialCondPattern(p):
		errs.add(errAt(d.args[1].pos, "CondPattern %q is not supported yet (wsgate reads regular expressions and =string)", d.args[1].text))
	case len(p) >= 2 && p[0] == '=':
		c.Equal, c.Pattern = true, p[1:]
		if c.Pattern == `""` {
			c.Pattern = ""
		}
	default:
		c.Pattern = p
	}
	if len(d.args) > 2 {
		flags, err := parseFlags(d, d.args[2])
		errs.add(err)
		for _, f := range flags {
			switch f {
			case "nc", "nocase":
				c.NoCase = true
			case "or", "ornext":
				c.OrNext = true
			case "nv", "novary":
				// Vary is not added by wsgate anyway.
			default:
				errs.add(errAt(d.args[2].pos, "flag %q is not supported yet (wsgate reads NC, OR and NV)", strings.ToUpper(f)))
			}
		}
	}
	if len(d.args) > 3 {
		errs.add(errAt(d.args[3].pos, "unexpected %q after the flags", d.args[3].text))
	}
	if !c.Equal {
		re, msg := compileRegex(c.Pattern, c.NoCase)
		if msg != "" {
			errs.add(errAt(d.args[1].pos, "%s", msg))
		}
		c.re = re
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// isSpecialCondPattern reports whether p is one of mod_rewrite's
// comparisons or file tests rather than a regular expression.
func isSpecialCondPattern(p string) bool {
	switch {
	case len(p) < 2:
		return false
	case len(p) == 2 && p[0] == '-':
		return strings.IndexByte("dfFhlLsSUxH", p[1]) >= 0
	case p[0] == '<' || p[0] == '>':
		return true
	}
	for _, pre := range []string{"-eq", "-ge", "-gt", "-le", "-lt", "-ne"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// parseRewrite validates a raw RewriteRule directive; conds are the
// RewriteConds read since the previous RewriteRule.
func parseRewrite(d directive, conds []*Cond) (*Rule, error) {
	errAt := func(p Pos, format string, a ...any) *Error {
		return &Error{Pos: p, Msg: d.name + ": " + fmt.Sprintf(format, a...)}
	}
	if len(d.args) < 2 {
		return nil, errAt(d.end, "want PATTERN SUBSTITUTION [flags]")
	}
	var errs ErrorList
	r := &Rule{Pos: d.pos, Kind: Rewrite, Path: d.args[0].text, Conds: conds}
	if strings.HasPrefix(r.Path, "!") {
		errs.add(errAt(d.args[0].pos, "a negated PATTERN (%q) is not supported yet", r.Path))
	}
	proxy, unsupported := false, false
	flagPos := d.end
	if len(d.args) > 2 {
		flagPos = d.args[2].pos
		flags, err := parseFlags(d, d.args[2])
		errs.add(err)
		unsupported = err != nil
		for _, f := range flags {
			name, _, _ := strings.Cut(f, "=")
			switch name {
			case "p", "proxy":
				proxy = true
			case "l", "last":
				// [P] implies [L].
			case "nc", "nocase":
				r.NoCase = true
			default:
				errs.add(errAt(d.args[2].pos, "flag %q is not supported yet (wsgate reads P, L and NC)", strings.ToUpper(name)))
				unsupported = true
			}
		}
	}
	if len(d.args) > 3 {
		errs.add(errAt(d.args[3].pos, "unexpected %q after the flags", d.args[3].text))
	}
	sub := d.args[1].text
	switch {
	case sub == "-":
		errs.add(errAt(d.args[1].pos, `the "-" substitution (no rewriting) is not supported yet`))
	case !strings.Contains(sub, "://"):
		errs.add(errAt(d.args[1].pos, "SUBSTITUTION %q must be an absolute ws://, wss://, http:// or https:// URL (wsgate only proxies)", sub))
	case strings.Contains(sub, "?"):
		errs.add(errAt(d.args[1].pos, "a query in SUBSTITUTION %q is not supported yet (the request's query is appended)", sub))
	default:
		if msg := checkExpansion(sub); msg != "" {
			errs.add(errAt(d.args[1].pos, "%s", msg))
		} else {
			target, msg := parseTemplate(sub, "$%")
			if msg != "" {
				errs.add(errAt(d.args[1].pos, "%s", msg))
			}
			r.Target = target
		}
	}
	if !proxy && !unsupported {
		errs.add(errAt(flagPos, "only RewriteRule ... [P] (proxy) is supported yet; add the P flag"))
	}
	re, msg := compileRegex(r.Path, r.NoCase)
	if msg != "" {
		errs.add(errAt(d.args[0].pos, "%s", msg))
	}
	r.re = re
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseFlags splits "[A,B=c]" into lower-case flags.
func parseFlags(d directive, a arg) ([]string, error) {
	s := a.text
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, &Error{Pos: a.pos, Msg: fmt.Sprintf("%s: flags %q must be written [FLAG,FLAG...]", d.name, s)}
	}
	var flags []string
	for _, f := range strings.Split(s[1:len(s)-1], ",") {
		if f = strings.TrimSpace(f); f != "" {
			flags = append(flags, strings.ToLower(f))
		}
	}
	return flags, nil
}

// checkExpansion checks the %{...} variables and ${...} maps of a test
// string or substitution: only %{HTTP:Name} and %{REQUEST_URI} are read.
func checkExpansion(s string) string {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
		case (s[i] == '%' || s[i] == '$') && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return fmt.Sprintf("unterminated %q in %q", s[i:i+2], s)
			}
			name := s[i+2 : i+end]
			i += end
			switch {
			case s[i-end] == '$':
				return fmt.Sprintf("RewriteMap lookups (${%s}) are not supported yet", name)
			case name == "REQUEST_URI":
			case strings.HasPrefix(name, "HTTP:") && len(name) > 5:
			default:
				return fmt.Sprintf("%%{%s} is not supported yet (wsgate reads %%{HTTP:Name} and %%{REQUEST_URI})", name)
			}
		}
	}
	return ""
}

// rewriteCtx is what a RewriteRule's expansions read.
type rewriteCtx struct {
	req     *http.Request // may be nil: no headers
	uri     string        // r->uri: the decoded, normalised path
	rule    []int         // the rule pattern's match, in uri
	cond    []int         // the last matched RewriteCond's, in condSrc
	condSrc string
}

// expand is mod_rewrite's do_expand for the variables wsgate reads: a
// backslash makes the next byte literal, $N is a group of the rule's
// pattern, %N one of the last RewriteCond that matched, %{HTTP:Name} a
// request header ("" when absent, repeated lines joined with ", ") and
// %{REQUEST_URI} the decoded path.
func (c *rewriteCtx) expand(s string) string {
	if !strings.ContainsAny(s, `\$%`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case ch == '$' && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			i++
			b.WriteString(group(c.uri, c.rule, int(s[i]-'0')))
		case ch == '%' && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			i++
			b.WriteString(group(c.condSrc, c.cond, int(s[i]-'0')))
		case ch == '%' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			name := s[i+2 : i+end]
			i += end
			if name == "REQUEST_URI" {
				b.WriteString(c.uri)
			} else {
				b.WriteString(c.header(name[5:]))
			}
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// header is the request header name as mod_rewrite's lookup_header sees
// it: Apache merges repeated lines with ", "; Go's server keeps Host
// apart.
func (c *rewriteCtx) header(name string) string {
	if c.req == nil {
		return ""
	}
	if strings.EqualFold(name, "Host") {
		if c.req.Host != "" {
			return c.req.Host
		}
	}
	return strings.Join(c.req.Header.Values(name), ", ")
}

// conds evaluates the rule's RewriteConds as mod_rewrite's
// apply_rewrite_rule does, [OR] chains included, and leaves the last
// matching regular expression's groups in c for %N.
func (c *rewriteCtx) conds(conds []*Cond) bool {
	for i := 0; i < len(conds); i++ {
		cd := conds[i]
		ok := c.cond1(cd)
		if cd.OrNext {
			if !ok {
				continue
			}
			// Skip the rest of the OR chain, its last member included.
			for i < len(conds) && conds[i].OrNext {
				i++
			}
			continue
		}
		if !ok {
			return false
		}
	}
	return true
}

// cond1 is apply_rewrite_cond for one condition.
func (c *rewriteCtx) cond1(cd *Cond) bool {
	input := c.expand(cd.TestString)
	var ok bool
	if cd.Equal {
		if cd.NoCase {
			ok = strings.EqualFold(input, cd.Pattern)
		} else {
			ok = input == cd.Pattern
		}
	} else {
		re := cd.re
		if re == nil {
			re, _ = compileRegex(cd.Pattern, cd.NoCase)
		}
		m := re.FindStringSubmatchIndex(input)
		ok = m != nil
		if ok && !cd.Negate {
			c.cond, c.condSrc = m, input
		}
	}
	return ok != cd.Negate
}
