package rules

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Options tunes ParseFile and LoadFile. The zero value is the default.
type Options struct {
	// Strict turns every warning (a skipped directive, a ServerName,
	// an inactive RewriteRule ...) into an error. Default: warnings are
	// collected in Table.Warnings and the file is accepted.
	Strict bool
	// Defines are the names <IfDefine> finds defined from the start, as
	// httpd's -D NAME (--define). Define lines add to them.
	Defines []string
	// Getenv looks up ${NAME} that no Define sets, as Apache looks in its
	// environment. Nil: only Defines.
	Getenv func(string) string

	files bool // the rules come from a file (LoadFile): Include may read others
}

// LoadFile reads the rules file at path and parses it with ParseFile.
// Relative SSL*File paths are taken relative to the file's directory, as a
// user who keeps certificates next to the rules expects (Apache would take
// them relative to its ServerRoot, which wsgate does not have).
func LoadFile(path string, opts Options) (*Table, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	opts.files = true
	t, err := ParseFile(path, src, opts)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	var files []*string
	for _, s := range t.Servers() {
		files = append(files, &s.TLS.CertFile, &s.TLS.KeyFile, &s.BackendTLS.CAFile)
	}
	for _, vh := range t.Hosts {
		files = append(files, &vh.own.TLS.CertFile, &vh.own.TLS.KeyFile)
	}
	for _, f := range files {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	return t, nil
}

// ParseFile parses a rules file in Apache httpd's configuration syntax:
// one directive a line, "#" comment lines, a "\" at the very end of a line
// continuing it, case-insensitive directive names, quoted or bare
// arguments, and <Section> ... </Section> containers. name is used in
// positions ("wsgate.conf:12:11: ..."); SSL file paths are recorded as
// written.
//
// The error is an *Error or an ErrorList of up to 10. Directives that
// Apache knows but wsgate does not act on are skipped with a warning in
// Table.Warnings (errors with Options.Strict); see docs/rules.md.
func ParseFile(name string, src []byte, opts Options) (*Table, error) {
	t := &Table{}
	p := &parser{name: name, opts: opts, t: t, main: newServer(t, nil),
		serverRoot: filepath.Dir(name), defines: map[string]string{}, undefinedSeen: map[string]bool{}}
	for _, d := range opts.Defines {
		p.defines[d] = ""
	}
	p.parse(string(src))
	p.finish()
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return p.t, nil
}

// section kinds: what a <Section> means for the lines inside it.
const (
	sectRead     = iota // <IfModule>: read as if it were not there
	sectProxy           // <Proxy URL>: settings for backend URLs
	sectSkip            // <Directory> ...: skipped whole
	sectHost            // <VirtualHost>: a server of its own (vhost.go)
	sectLocation        // <Location>, <LocationMatch>: per-path settings (location.go)
	sectIf              // <If>, <ElseIf>, <Else>: read, but only what wsgate skips (include.go)
)

type openSection struct {
	name     string // as written, without "<"
	pos      Pos
	kind     int
	section  *Section  // sectProxy
	balancer *Balancer // sectProxy for balancer://NAME
	host     *server   // sectHost
	loc      *locState // sectLocation
}

// server is what the parser keeps about the main server or one virtual
// host while reading it: its table, and what is only settled once the
// whole file is read (inactive RewriteRules, TLS, what a virtual host
// inherits from the main server).
type server struct {
	t  *Table
	vh *VirtualHost // nil for the main server
	// set holds the lower-case names of the inheritable directives
	// written in this server (ProxyPreserveHost, Timeout ...): a virtual
	// host takes the main server's value of the others.
	set map[string]bool

	conds     []*Cond // RewriteConds waiting for their RewriteRule
	rewriteOn bool
	// rewriteOpts are the RewriteOptions that decide inheritance, lower
	// case: inherit, inheritbefore, inheritdown, inheritdownbefore,
	// ignoreinherit.
	rewriteOpts map[string]bool
	// noPassInherit is ProxyPassInherit Off.
	noPassInherit bool
	sslEngine     *directive // SSLEngine On
	cert, key     string
	certPos       Pos // of the first SSLCertificate(Key)File
}

type parser struct {
	name string
	opts Options
	t    *Table // the main server's, which holds everything global
	errs ErrorList

	stack   []*openSection
	main    *server
	hosts   []*server   // the <VirtualHost> sections, in order
	locs    []*locState // the <Location> sections, in order
	listens map[string]bool
	// serverName is the main server's ServerName: a virtual host without
	// one is known by it, as in Apache.
	serverName string

	// Includes and variables (include.go).
	serverRoot    string            // ServerRoot; the main file's directory by default
	depth         int               // nested Includes
	defines       map[string]string // Define NAME VALUE, --define NAME
	undefinedSeen map[string]bool   // ${NAME} warned about
	included      bool              // an Include was read: a whole installation
	modules       map[string]bool   // LoadModule'd modules, by identifier and source file name

	balSet  map[*Balancer]map[string]Pos // balancer parameters set, and where
	balRefs []balancerRef                // balancer:// targets, checked at the end
}

// balancerRef is a rule whose target is balancer://NAME, with where its
// URL is, for the error when no balancer has that name.
type balancerRef struct {
	rule *Rule
	pos  Pos
}

func (p *parser) errorf(pos Pos, format string, a ...any) {
	p.errs.add(&Error{Pos: pos, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) warnf(pos Pos, format string, a ...any) {
	e := &Error{Pos: pos, Msg: fmt.Sprintf(format, a...)}
	if p.opts.Strict {
		p.errs.add(e)
		return
	}
	p.t.Warnings = append(p.t.Warnings, e)
}

// segment maps part of a logical line back to the physical line it came
// from, for positions.
type segment struct {
	off       int // offset in the logical line
	line, col int
}

// parse reads src one logical line at a time.
func (p *parser) parse(src string) {
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		// A logical line: physical lines joined while one ends in a
		// single "\" (ap_cfg_getline: "[^\\]\\[\r]\n" only), the
		// backslash removed and nothing inserted.
		var text strings.Builder
		var segs []segment
		for {
			l := strings.TrimSuffix(lines[i], "\r")
			col := 1
			if text.Len() == 0 {
				trimmed := strings.TrimLeft(l, " \t\v\f\r")
				col += len(l) - len(trimmed)
				l = trimmed
			}
			segs = append(segs, segment{off: text.Len(), line: i + 1, col: col})
			if strings.HasSuffix(l, `\`) && !strings.HasSuffix(l, `\\`) && i+1 < len(lines) {
				text.WriteString(l[:len(l)-1])
				i++
				continue
			}
			text.WriteString(l)
			break
		}
		p.line(strings.TrimRight(text.String(), " \t\v\f\r"), segs)
	}
}

// at maps an offset in a logical line to its position.
func (p *parser) at(segs []segment, off int) Pos {
	s := segs[0]
	for _, x := range segs[1:] {
		if x.off <= off {
			s = x
		}
	}
	return Pos{File: p.name, Line: s.line, Col: s.col + off - s.off}
}

// split is splitArgs on part of a logical line starting at off.
func (p *parser) split(segs []segment, text string, off int) ([]arg, Pos, bool) {
	return p.splitWith(splitArgs, segs, text, off)
}

// splitWith is split with another splitter.
func (p *parser) splitWith(split func(Pos, string) ([]arg, Pos, *Error), segs []segment, text string, off int) ([]arg, Pos, bool) {
	args, end, err := split(Pos{Line: 1, Col: off + 1}, text)
	remap := func(q Pos) Pos { return p.at(segs, q.Col-1) }
	if err != nil {
		err.Pos = remap(err.Pos)
		p.errs.add(err)
		return nil, Pos{}, false
	}
	for i := range args {
		args[i].pos = remap(args[i].pos)
	}
	return args, remap(end), true
}

// scope is where header, SetEnvIf and ProxyPassReverse lines go: the
// innermost <Location> or <VirtualHost> being read, else the main server.
func (p *parser) scope() *Scope {
	if l := p.location(); l != nil {
		return &l.Scope
	}
	return &p.srv().t.Scope
}

// location is the <Location> or <LocationMatch> being read, or nil.
func (p *parser) location() *Location {
	if l := p.locState(); l != nil {
		return l.loc
	}
	return nil
}

// locState is the parser's state of the <Location> being read, or nil.
func (p *parser) locState() *locState {
	for _, s := range slices.Backward(p.stack) {
		if s.loc != nil {
			return s.loc
		}
	}
	return nil
}

// srv is the server being read: the innermost <VirtualHost>, else the
// main server.
func (p *parser) srv() *server {
	for _, s := range slices.Backward(p.stack) {
		if s.host != nil {
			return s.host
		}
	}
	return p.main
}

func newServer(t *Table, vh *VirtualHost) *server {
	return &server{t: t, vh: vh, set: map[string]bool{}, rewriteOpts: map[string]bool{}}
}

func (p *parser) top() *openSection {
	if len(p.stack) == 0 {
		return nil
	}
	return p.stack[len(p.stack)-1]
}

func (p *parser) skipping() bool {
	for _, s := range p.stack {
		if s.kind == sectSkip {
			return true
		}
	}
	return false
}

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

// flag reads an On|Off argument.
func (p *parser) flag(d directive) (on, ok bool) {
	if len(d.args) != 1 {
		p.errorf(d.pos, "%s: want On or Off", d.name)
		return false, false
	}
	switch strings.ToLower(d.args[0].text) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	p.errorf(d.args[0].pos, "%s: want On or Off, not %q", d.name, d.args[0].text)
	return false, false
}

// one checks that d has exactly one argument.
func (p *parser) one(d directive, what string) (arg, bool) {
	switch {
	case len(d.args) == 0:
		p.errorf(d.end, "%s: missing %s", d.name, what)
		return arg{}, false
	case len(d.args) > 1:
		p.errorf(d.args[1].pos, "%s: unexpected %q (want one %s)", d.name, d.args[1].text, what)
		return arg{}, false
	}
	return d.args[0], true
}

// directive handles a server-wide directive (top level, <VirtualHost>,
// <IfModule>).
func (p *parser) directive(d directive) {
	lower := strings.ToLower(d.name)
	if canon, ok := directiveNames[lower]; ok {
		d.name = canon
	}
	if p.scopeDirective(d) {
		return
	}
	if p.serverDirective(d, lower) || p.aliasDirective(d, lower) {
		return
	}
	srv := p.srv()
	if inheritable[lower] {
		srv.set[lower] = true
	}
	switch lower {
	case "listen":
		if srv.vh != nil {
			p.errorf(d.pos, "Listen cannot occur within a <VirtualHost> section (as in Apache): write it at the top of the file")
			return
		}
		p.listen(d)
	case "proxypass":
		if r, err := parsePass(d); err != nil {
			p.errs.add(err)
		} else {
			p.addRule(r, d)
		}
	case "proxypassmatch":
		if r, err := parsePassMatch(d); err != nil {
			p.errs.add(err)
		} else {
			p.addRule(r, d)
		}
	case "proxywebsocketfallbacktoproxyhttp":
		if on, ok := p.flag(d); ok {
			srv.t.Legacy = !on
		}
	case "proxypreservehost":
		if on, ok := p.flag(d); ok {
			srv.t.PreserveHost = on
		}
	case "proxyaddheaders":
		if on, ok := p.flag(d); ok {
			srv.t.NoAddHeaders = !on
		}
	case "proxytimeout":
		if a, ok := p.one(d, "number of seconds"); ok {
			v, msg := parseTimeout(a.text)
			if msg != "" {
				p.errorf(a.pos, "%s %s: %s", d.name, a.text, msg)
			}
			srv.t.ProxyTimeout = v
		}
	case "timeout":
		if a, ok := p.one(d, "duration"); ok {
			v, msg := parseConnectTimeout(a.text)
			if msg != "" {
				p.errorf(a.pos, "%s %s: %s", d.name, a.text, msg)
			}
			srv.t.Timeout = v
		}
	case "limitrequestline", "limitrequestfieldsize", "limitrequestfields":
		p.requestLimit(d, lower, srv)
	case "wsgatealloworigin":
		p.allowOrigin(d)
	case "proxyrequests":
		if on, ok := p.flag(d); ok && on {
			p.errorf(d.args[0].pos, "ProxyRequests On: wsgate is a reverse proxy, not a forward proxy")
		}
	case "proxyset":
		if len(d.args) > 0 && isBalancerURL(d.args[0].text) {
			name, _, msg := parseBalancerURL(d.args[0].text)
			b := p.t.Balancer(name)
			switch {
			case msg != "":
				p.errorf(d.args[0].pos, "ProxySet: %s", msg)
			case b == nil:
				p.errorf(d.args[0].pos, "ProxySet: no balancer %q is defined above this line (define it with <Proxy \"balancer://%s\"> or BalancerMember first, as Apache requires)", d.args[0].text, name)
			default:
				p.balancerSettings(d, b, d.args[1:])
			}
			return
		}
		if len(d.args) == 0 || !strings.Contains(d.args[0].text, "://") {
			p.errorf(d.pos, "ProxySet outside <Proxy> wants a URL first: ProxySet URL key=value ...")
			return
		}
		if !p.sectionURL("ProxySet", d.args[0]) {
			return
		}
		s := &Section{Pos: d.pos, Prefix: d.args[0].text}
		d.args = d.args[1:]
		p.proxySet(d, s)
		srv.t.Sections = append(srv.t.Sections, s)
	case "rewriteengine":
		if on, ok := p.flag(d); ok {
			srv.rewriteOn = on
		}
	case "rewritecond":
		if c, err := parseCond(d); err != nil {
			p.errs.add(err)
		} else {
			srv.conds = append(srv.conds, c)
		}
	case "rewriterule":
		conds := srv.conds
		srv.conds = nil
		if r, err := parseRewrite(d, conds); err != nil {
			p.errs.add(err)
		} else {
			srv.t.Rules = append(srv.t.Rules, r)
			p.noteBalancer(r, d) // [P] to balancer://NAME
		}
	case "sslengine":
		if on, ok := p.flag(d); ok {
			if on {
				srv.sslEngine = &d
			} else {
				srv.sslEngine = nil
			}
		}
	case "sslcertificatefile":
		if a, ok := p.one(d, "file name"); ok {
			srv.cert = a.text
			if srv.certPos == (Pos{}) {
				srv.certPos = d.pos
			}
		}
	case "sslcertificatekeyfile":
		if a, ok := p.one(d, "file name"); ok {
			srv.key = a.text
			if srv.certPos == (Pos{}) {
				srv.certPos = d.pos
			}
		}
	case "sslproxyengine":
		if on, ok := p.flag(d); ok {
			p.t.BackendTLS.Engine = on
		}
	case "sslproxyverify":
		if a, ok := p.one(d, "level"); ok {
			switch strings.ToLower(a.text) {
			case "none":
				p.t.BackendTLS.NoVerify = true
			case "require":
				p.t.BackendTLS.NoVerify = false
			case "optional", "optional_no_ca":
				p.errorf(a.pos, "SSLProxyVerify %s is not supported: a backend certificate is either verified (require) or not (none)", a.text)
			default:
				p.errorf(a.pos, "SSLProxyVerify: want none or require, not %q", a.text)
			}
		}
	case "sslproxycacertificatefile":
		if a, ok := p.one(d, "file name"); ok {
			p.t.BackendTLS.CAFile = a.text
		}
	case "sslproxycheckpeername":
		if on, ok := p.flag(d); ok {
			p.t.BackendTLS.NoCheckPeerName = !on
		}
	case "balancermember":
		switch {
		case len(d.args) == 0 || !isBalancerURL(d.args[0].text):
			p.errorf(d.pos, "BalancerMember outside a <Proxy \"balancer://NAME\"> section names its balancer first: BalancerMember balancer://NAME URL [key=value ...]")
		case len(d.args) == 1:
			p.errorf(d.end, "BalancerMember: missing the member's URL after %q", d.args[0].text)
		default:
			if b := p.balancerURL("BalancerMember", d.args[0], d.pos); b != nil {
				p.member(d, b, d.args[1], d.args[2:])
			}
		}
	case "proxywebsocketidletimeout", "proxywebsocketasync", "proxywebsocketasyncdelay":
		p.errorf(d.pos, "%s: not an Apache 2.4 directive (it exists only in httpd trunk); use ProxyTimeout or timeout=", d.name)
	default:
		p.other(d)
	}
}

// requestLimit reads a LimitRequest* line. Apache reads the number with
// atoi: "abc" is 0, which it accepts; only a negative number is an error.
func (p *parser) requestLimit(d directive, lower string, srv *server) {
	what := "number of bytes"
	if lower == "limitrequestfields" {
		what = "number of header lines"
	}
	a, ok := p.one(d, what)
	if !ok {
		return
	}
	if srv.vh != nil {
		p.warnf(d.pos, "%s: skipped in a <VirtualHost> (wsgate reads request limits from the main server only)", d.name)
		return
	}
	digits := strings.TrimLeft(a.text, " \t")
	sign := 1
	if rest, neg := strings.CutPrefix(digits, "-"); neg {
		digits, sign = rest, -1
	} else {
		digits = strings.TrimPrefix(digits, "+")
	}
	end := 0
	for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(digits[:end])
	switch {
	case end == 0:
		n = 0
	case err != nil:
		p.errorf(a.pos, "%s %q: too big", d.name, a.text)
		return
	}
	if n *= sign; n < 0 {
		p.errorf(a.pos, "%s %q: must be a non-negative integer (as in Apache)", d.name, a.text)
		return
	}
	if end != len(digits) {
		p.warnf(a.pos, "%s %q: read as %d, as Apache reads it", d.name, a.text, n)
	}
	if p.t.Limits == nil {
		l := DefaultLimits
		p.t.Limits = &l
	}
	switch lower {
	case "limitrequestline":
		p.t.Limits.Line = n
	case "limitrequestfieldsize":
		p.t.Limits.FieldSize = n
	case "limitrequestfields":
		p.t.Limits.Fields = n
	}
}

// other handles a directive wsgate does not act on: skipped with a
// warning when Apache knows it, refused otherwise.
func (p *parser) other(d directive) {
	lower := strings.ToLower(d.name)
	if why, ok := skipped[lower]; ok {
		if why == "" {
			why = "not used by wsgate"
		}
		p.warnf(d.pos, "%s: skipped (%s)", d.name, why)
		return
	}
	if why, ok := refused[lower]; ok {
		p.errorf(d.pos, "%s: %s", d.name, why)
		return
	}
	if _, ok := apacheNames[lower]; ok {
		p.warnf(d.pos, "%s: skipped (an Apache directive wsgate does not use)", d.name)
		return
	}
	msg := fmt.Sprintf("%s: unknown directive", d.name)
	if s := suggestName(d.name, knownDirectives); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	p.errorf(d.pos, "%s", msg)
}

// inProxy handles a directive inside <Proxy URL>.
func (p *parser) inProxy(d directive, s *openSection) {
	lower := strings.ToLower(d.name)
	if canon, ok := directiveNames[lower]; ok {
		d.name = canon
	}
	switch lower {
	case "proxypreservehost":
		if on, ok := p.flag(d); ok {
			s.section.PreserveHost = &on
		}
	case "proxyaddheaders":
		if on, ok := p.flag(d); ok {
			s.section.AddHeaders = &on
		}
	case "proxyset":
		if s.balancer != nil {
			p.balancerSettings(d, s.balancer, d.args)
			return
		}
		p.proxySet(d, s.section)
	case "balancermember":
		switch {
		case s.balancer == nil:
			p.errorf(d.pos, "BalancerMember inside <Proxy %q>: members belong in a <Proxy \"balancer://NAME\"> section", s.section.Prefix)
		case len(d.args) == 0:
			p.errorf(d.end, "BalancerMember: missing URL (want BalancerMember URL [key=value ...])")
		case isBalancerURL(d.args[0].text):
			p.errorf(d.args[0].pos, "BalancerMember: no balancer name inside a <Proxy \"balancer://...\"> section (Apache: can not have a balancer name when defined in a location)")
		default:
			p.member(d, s.balancer, d.args[0], d.args[1:])
		}
	default:
		if _, ok := skipped[lower]; ok {
			p.other(d)
			return
		}
		if scopeDirectives[lower] {
			p.errorf(d.pos, "%s inside <Proxy> is not supported yet; write it at server level, in the <VirtualHost> or in a <Location>", d.name)
			return
		}
		if _, ok := directiveNames[lower]; ok {
			p.errorf(d.pos, "%s cannot occur within a <Proxy> section", d.name)
			return
		}
		p.other(d)
	}
}

// proxySet reads ProxySet's parameters into a section.
func (p *parser) proxySet(d directive, s *Section) {
	var r Rule
	var kept []arg
	for _, a := range d.args {
		key, _, _ := strings.Cut(a.text, "=")
		switch strings.ToLower(key) {
		case "upgrade", "nocanon":
			p.errorf(a.pos, "ProxySet: %s in a <Proxy> section is not supported yet; give it on the ProxyPass line", strings.ToLower(key))
		default:
			kept = append(kept, a)
		}
	}
	if err := parseParams(d, &r, kept); err != nil {
		p.errs.add(err)
	}
	s.Timeout, s.ConnectTimeout = r.Timeout, r.ConnectTimeout
}

// listen reads Listen [ADDR:]PORT [protocol].
func (p *parser) listen(d directive) {
	if len(d.args) == 0 {
		p.errorf(d.end, "Listen: missing [ADDRESS:]PORT")
		return
	}
	if len(d.args) > 2 {
		p.errorf(d.args[2].pos, "Listen: unexpected %q (want [ADDRESS:]PORT [protocol])", d.args[2].text)
		return
	}
	if len(d.args) == 2 {
		if pr := strings.ToLower(d.args[1].text); pr != "http" && pr != "https" {
			p.errorf(d.args[1].pos, "Listen: protocol %q is not supported (want http or https)", d.args[1].text)
			return
		}
	}
	a := d.args[0]
	addr := a.text
	host, port := "127.0.0.1", addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.HasSuffix(addr, "]") {
		host, port = addr[:i], addr[i+1:]
		switch {
		case host == "*":
			host = ""
		case strings.HasPrefix(host, "["):
			if !strings.HasSuffix(host, "]") || checkAuthority(host) != "" {
				p.errorf(a.pos, "Listen: invalid address %q", host)
				return
			}
		case host == "" || checkAuthority(host) != "":
			p.errorf(a.pos, "Listen: invalid address %q", host)
			return
		}
	}
	// Port 0 picks a free port, as with --listen (Apache refuses it);
	// tests use it.
	if msg := checkAuthority("h:" + port); port != "0" && (msg != "" || port == "") {
		p.errorf(a.pos, "Listen: invalid port %q in %q", port, addr)
		return
	}
	addr = host + ":" + port
	if p.listens == nil {
		p.listens = map[string]bool{}
	}
	if p.listens[addr] && port != "0" {
		p.errorf(a.pos, "Listen: %s is already listened on", addr)
		return
	}
	p.listens[addr] = true
	p.t.Listen = append(p.t.Listen, Listen{Pos: d.pos, Addr: addr})
}

// addRule adds a ProxyPass or ProxyPassMatch rule to the server being
// read, remembering a balancer:// target for finish.
func (p *parser) addRule(r *Rule, d directive) {
	p.srv().t.Rules = append(p.srv().t.Rules, r)
	p.noteBalancer(r, d)
}

// noteBalancer remembers a balancer:// target for finish, which checks
// that the balancer exists.
func (p *parser) noteBalancer(r *Rule, d directive) {
	if isBalancerRule(r) {
		p.balRefs = append(p.balRefs, balancerRef{rule: r, pos: d.args[1].pos})
	}
}

// balancerURL checks the balancer://NAME of a section, a BalancerMember or
// a ProxySet and returns the balancer, defining it at pos when new.
func (p *parser) balancerURL(what string, a arg, pos Pos) *Balancer {
	name, path, msg := parseBalancerURL(a.text)
	switch {
	case msg != "":
		p.errorf(a.pos, "%s: %s", what, msg)
		return nil
	case path != "" && path != "/":
		p.errorf(a.pos, "%s %q: a balancer URL has no path (want balancer://%s)", what, a.text, name)
		return nil
	}
	if b := p.t.Balancer(name); b != nil {
		return b
	}
	b := &Balancer{Pos: pos, Name: name, Method: defaultMethod}
	p.t.Balancers = append(p.t.Balancers, b)
	return b
}

// member adds a BalancerMember to b.
func (p *parser) member(d directive, b *Balancer, u arg, params []arg) {
	m, err := parseMember(d, u, params)
	if err != nil {
		p.errs.add(err)
		return
	}
	b.Members = append(b.Members, m)
}

// balancerSettings reads a ProxySet line's balancer parameters into b.
func (p *parser) balancerSettings(d directive, b *Balancer, params []arg) {
	s, err := parseBalancerParams(d, params)
	if err != nil {
		p.errs.add(err)
		return
	}
	p.errs.add(s.apply(b, p.setOf(b), d.name))
}

func (p *parser) setOf(b *Balancer) map[string]Pos {
	if p.balSet == nil {
		p.balSet = map[*Balancer]map[string]Pos{}
	}
	if p.balSet[b] == nil {
		p.balSet[b] = map[string]Pos{}
	}
	return p.balSet[b]
}

// finish checks what needs the whole file.
func (p *parser) finish() {
	p.errs.add(linkBalancers(p.t, p.balRefs, p.setOf, func(name string) string {
		return fmt.Sprintf("no <Proxy \"balancer://%[1]s\"> section or BalancerMember balancer://%[1]s line defines it", name)
	}))
	for _, s := range slices.Backward(p.stack) {
		p.errorf(s.pos, "<%s> was not closed", s.name)
	}
	for _, srv := range append([]*server{p.main}, p.hosts...) {
		p.finishServer(srv)
	}
	p.finishLocations()
	p.mergeHosts()
	if !p.t.BackendTLS.Engine {
	members:
		for _, b := range p.t.Balancers {
			for _, m := range b.Members {
				if m.URL.Scheme == "wss" || m.URL.Scheme == "https" {
					p.warnf(m.Pos, "BalancerMember: %s:// member but SSLProxyEngine is not On: Apache would answer 500; wsgate connects with TLS anyway", m.URL.Scheme)
					break members
				}
			}
		}
	rules:
		for _, t := range p.t.Servers() {
			for _, r := range t.Rules {
				if r.Kind != Redirection && r.Target != nil && (r.Target.Scheme == "wss" || r.Target.Scheme == "https") {
					p.warnf(r.Pos, "%s: %s:// target but SSLProxyEngine is not On: Apache would answer 500; wsgate connects with TLS anyway",
						kindName(r.Kind), r.Target.Scheme)
					break rules
				}
			}
		}
	}
}

// finishServer settles what needs the whole of one server's lines: a
// RewriteCond left without its rule, RewriteRules left inactive by
// RewriteEngine (a virtual host takes the main server's RewriteEngine
// unless it has its own, as mod_rewrite merges it), and TLS.
func (p *parser) finishServer(srv *server) {
	for _, c := range srv.conds {
		p.warnf(c.Pos, "RewriteCond: no RewriteRule follows, so it applies to nothing (as in Apache)")
		break
	}
	on := srv.rewriteOn
	if srv.vh != nil && !srv.set["rewriteengine"] {
		on = p.main.rewriteOn
	}
	if !on {
		kept := srv.t.Rules[:0]
		warned := false
		for _, r := range srv.t.Rules {
			if r.Kind != Rewrite {
				kept = append(kept, r)
				continue
			}
			if !warned {
				p.warnf(r.Pos, "RewriteRule: inactive because RewriteEngine is not On (as in Apache); the RewriteRules are ignored")
				warned = true
			}
		}
		srv.t.Rules = kept
	}
	engine, cert, key := srv.sslEngine, srv.cert, srv.key
	if srv.vh != nil {
		// mod_ssl: a virtual host takes what it does not set from the
		// main server.
		if !srv.set["sslengine"] {
			engine = p.main.sslEngine
		}
		cert, key = cmp.Or(cert, p.main.cert), cmp.Or(key, p.main.key)
	}
	switch {
	case engine != nil && (cert == "" || key == ""):
		if engine == srv.sslEngine {
			p.errorf(engine.pos, "SSLEngine on needs SSLCertificateFile and SSLCertificateKeyFile")
		}
	case engine != nil:
		srv.t.TLS = TLSFiles{Pos: engine.pos, CertFile: cert, KeyFile: key}
	case srv.cert != "" || srv.key != "":
		p.warnf(srv.certPos, "SSLCertificateFile, SSLCertificateKeyFile: ignored because SSLEngine is not on")
	}
}

func kindName(k Kind) string {
	switch k {
	case Regex:
		return "ProxyPassMatch"
	case Rewrite:
		return "RewriteRule"
	case Redirection:
		return "Redirect"
	}
	return "ProxyPass"
}
