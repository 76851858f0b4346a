package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	certAt, keyAt Pos // of the SSLCertificateFile and SSLCertificateKeyFile lines that count
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
	certAt, keyAt := srv.certAt, srv.keyAt
	if srv.vh != nil {
		// mod_ssl: a virtual host takes what it does not set from the
		// main server.
		if !srv.set["sslengine"] {
			engine = p.main.sslEngine
		}
		if cert == "" {
			cert, certAt = p.main.cert, p.main.certAt
		}
		if key == "" {
			key, keyAt = p.main.key, p.main.keyAt
		}
	}
	switch {
	case engine != nil && (cert == "" || key == ""):
		if engine == srv.sslEngine {
			p.errorf(engine.pos, "SSLEngine on needs SSLCertificateFile and SSLCertificateKeyFile")
		}
	case engine != nil:
		srv.t.TLS = TLSFiles{Pos: engine.pos, CertFile: cert, KeyFile: key, CertPos: certAt, KeyPos: keyAt}
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
