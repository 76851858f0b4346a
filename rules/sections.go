package rules

import (
	"fmt"
	"slices"
	"strings"
)

// line handles one logical line, already trimmed.
func (p *parser) line(text string, segs []segment) {
	pos := p.at(segs, 0)
	if !p.skipping() {
		// An undefined ${NAME} is worth a warning only on a line wsgate
		// reads: Debian's ErrorLog ${APACHE_LOG_DIR}/... is skipped anyway.
		name, _, _ := strings.Cut(strings.TrimLeft(text, "<"), " ")
		_, reads := directiveNames[strings.ToLower(name)]
		text = p.expand(text, segs, reads || strings.HasPrefix(text, "<"))
	}
	switch {
	case text == "" || text[0] == '#':
		return
	case strings.HasPrefix(text, "</"):
		// As Apache: the first word must be </Name>; what follows it
		// is ignored (observed on 2.4.71: "</Location> trailing" loads,
		// "</Location>#c" and "</Location >" do not).
		word, restAt := text, len(text)
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			word, restAt = text[:i], i
		}
		name := strings.TrimSuffix(word[2:], ">")
		top := p.top()
		switch {
		case !strings.HasSuffix(word, ">"):
			p.errorf(pos, "</%s> directive missing closing '>'", name)
			return
		case top == nil:
			p.errorf(pos, "</%s> without matching <%s> section", name, name)
			return
		case !strings.EqualFold(name, top.name):
			p.errorf(pos, "expected </%s> but saw </%s> (the section opened at line %d)", top.name, name, top.pos.Line)
		}
		p.ignoredAfter(text, restAt, segs)
		p.stack = p.stack[:len(p.stack)-1]
		if top.balancer != nil && top.section.PreserveHost == nil && top.section.AddHeaders == nil {
			return // a balancer section that sets nothing else
		}
		if top.kind == sectProxy && top.section != nil && !p.skipping() {
			p.srv().t.Sections = append(p.srv().t.Sections, top.section)
		}
		return
	case text[0] == '<':
		p.open(text, segs, pos)
		return
	}
	if p.skipping() {
		return
	}
	nameEnd := strings.IndexFunc(text, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	if nameEnd < 0 {
		nameEnd = len(text)
	}
	splitter := splitArgs
	if n := strings.ToLower(text[:nameEnd]); n == "rewritecond" || n == "rewriterule" {
		splitter = splitRewriteArgs // RAW_ARGS, read by mod_rewrite itself
	}
	args, end, ok := p.splitWith(splitter, segs, text[nameEnd:], nameEnd)
	if !ok {
		return
	}
	d := directive{pos: pos, name: text[:nameEnd], args: args, end: end}
	switch strings.ToLower(d.name) {
	case "include", "includeoptional":
		p.include(d, strings.EqualFold(d.name, "IncludeOptional"))
		return
	case "define", "undefine":
		p.define(d, strings.EqualFold(d.name, "UnDefine"))
		return
	case "serverroot":
		if a, ok := p.one(d, "directory"); ok {
			p.serverRoot = a.text
		}
		return
	case "loadmodule":
		if len(d.args) == 2 {
			p.loaded(d.args[0].text, d.args[1].text)
		}
	}
	if p.inIf() {
		if _, reads := directiveNames[strings.ToLower(d.name)]; reads {
			p.errorf(d.pos, "%s inside <If>: wsgate does not evaluate <If> expressions, so it cannot tell whether this line applies; take it out of the <If> section", d.name)
			return
		}
		p.other(d)
		return
	}
	if top := p.top(); top != nil && top.kind == sectProxy {
		p.inProxy(d, top)
		return
	}
	if l := p.locState(); l != nil {
		p.inLocation(d, l)
		return
	}
	p.directive(d)
}

// open handles a "<Name args>" line. As Apache (core's dirsection), the
// section's arguments end at the line's last '>', and what follows it is
// ignored: "<Location /vw/> #adjust here" loads.
func (p *parser) open(text string, segs []segment, pos Pos) {
	nameEnd := strings.IndexFunc(text, func(r rune) bool { return r == '>' || r < 0x80 && isSpace(byte(r)) })
	if nameEnd < 0 {
		nameEnd = len(text)
	}
	name := text[1:nameEnd]
	parentSkip, parent := p.skipping(), p.top()
	s := &openSection{name: name, pos: pos, kind: sectSkip}
	p.stack = append(p.stack, s)
	end := strings.LastIndexByte(text, '>')
	switch {
	case parentSkip:
		return // inside a skipped section: only nesting matters
	case end < 0:
		p.errorf(pos, "<%s> directive missing closing '>'", name)
		return
	case parent != nil && parent.kind == sectProxy:
		p.errorf(pos, "<%s> cannot occur within a <Proxy> section", name)
		return
	}
	p.ignoredAfter(text, end+1, segs)
	args, _, ok := p.split(segs, text[nameEnd:end], nameEnd)
	if !ok {
		return
	}
	lower := strings.ToLower(name)
	if p.inIf() && slices.Contains([]string{"virtualhost", "location", "locationmatch", "proxy"}, lower) {
		p.errorf(pos, "<%s> inside <If>: wsgate does not evaluate <If> expressions, so it cannot tell whether this section applies; take it out of the <If> section", name)
		return
	}
	switch lower {
	case "virtualhost":
		p.openHost(s, args, pos)
	case "location", "locationmatch":
		p.openLocation(s, lower == "locationmatch", args, pos)
	case "ifmodule":
		if p.ifModule(args, pos) {
			s.kind = sectRead
		}
	case "proxy":
		switch {
		case len(args) != 1:
			p.errorf(pos, "<Proxy> wants one URL: <Proxy \"ws://host/prefix/\">")
		case args[0].text == "*":
			p.warnf(pos, "<Proxy *>: forward-proxy access control is not used by wsgate; the section is skipped")
		case args[0].text == "~":
			p.errorf(args[0].pos, "<Proxy ~ REGEX> is not supported yet")
		case isBalancerURL(args[0].text):
			if b := p.balancerURL("<Proxy>", args[0], pos); b != nil {
				s.kind, s.balancer = sectProxy, b
				s.section = &Section{Pos: pos, Prefix: b.URL()}
			}
		case p.sectionURL("<Proxy>", args[0]):
			s.kind = sectProxy
			s.section = &Section{Pos: pos, Prefix: args[0].text}
		}
	case "proxymatch":
		p.errorf(pos, "<ProxyMatch> is not supported yet")
	case "directory", "directorymatch", "files", "filesmatch":
		p.warnf(pos, "<%s> sections are not supported yet; the section is skipped", name)
	case "ifdefine":
		if p.ifDefine(args, pos) {
			s.kind = sectRead
		}
	case "ifversion":
		if p.ifVersion(args, pos) {
			s.kind = sectRead
		}
	case "if", "elseif", "else":
		s.kind = sectIf
	case "iffile", "ifdirective", "ifsection", "limit", "limitexcept", "macro":
		p.errorf(pos, "<%s> sections are not supported yet", name)
	default:
		if _, ok := apacheNames["<"+lower]; ok {
			p.warnf(pos, "<%s>: skipped with its contents (an Apache section wsgate does not use)", name)
			return
		}
		msg := fmt.Sprintf("unknown section <%s>", name)
		if sg := suggestName(name, sectionNames); sg != "" {
			msg += fmt.Sprintf(" (did you mean <%s>?)", sg)
		}
		p.errorf(pos, "%s", msg)
	}
}

// ignoredAfter warns about words after a section line's '>', which Apache
// ignores; a comment there (a guide's "#adjust here") is ignored quietly.
func (p *parser) ignoredAfter(text string, from int, segs []segment) {
	rest := strings.TrimLeft(text[from:], " \t")
	if rest == "" || rest[0] == '#' {
		return
	}
	p.warnf(p.at(segs, len(text)-len(rest)), "%q after the section's '>' is ignored, as Apache ignores it", rest)
}

var sectionNames = []string{"VirtualHost", "IfModule", "Proxy", "ProxyMatch", "Location", "LocationMatch",
	"Directory", "DirectoryMatch", "Files", "FilesMatch", "If", "ElseIf", "Else", "IfDefine", "IfVersion"}

// suggestName is suggest over names with their own spelling.
func suggestName(word string, names []string) string {
	lower := make([]string, len(names))
	for i, n := range names {
		lower[i] = strings.ToLower(n)
	}
	if s := suggest(word, lower); s != "" {
		return names[slices.Index(lower, s)]
	}
	return ""
}

// sectionURL checks the URL of a <Proxy> section or of ProxySet outside
// one, other than balancer://NAME (see balancerURL); what reports errors.
func (p *parser) sectionURL(what string, a arg) bool {
	u := a.text
	authority, path := splitURL(u)
	switch {
	case strings.ContainsAny(authority, "*?") || strings.ContainsAny(path, "*?["):
		p.errorf(a.pos, "%s %q: wildcards are not supported yet", what, u)
	default:
		// Spaces may appear: the prefix is compared with the decoded URL.
		_, msg := parseTemplate(strings.ReplaceAll(u, " ", "%20"), "")
		if msg == "" {
			return true
		}
		p.errorf(a.pos, "%s: %s", what, msg)
	}
	return false
}
