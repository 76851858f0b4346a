package rules

import (
	"fmt"
	"strconv"
	"strings"
)

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
			srv.cert, srv.certAt = a.text, d.pos
			if srv.certPos == (Pos{}) {
				srv.certPos = d.pos
			}
		}
	case "sslcertificatekeyfile":
		if a, ok := p.one(d, "file name"); ok {
			srv.key, srv.keyAt = a.text, d.pos
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
// warning when Apache knows it, an unknown directive otherwise.
func (p *parser) other(d directive) {
	lower := strings.ToLower(d.name)
	if why, ok := skipped[lower]; ok {
		if why == "" {
			why = "not used by wsgate"
		}
		p.warnf(d.pos, "%s: skipped (%s)", d.name, why)
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
			if !strings.HasSuffix(host, "]") || CheckAuthority(host) != "" {
				p.errorf(a.pos, "Listen: invalid address %q", host)
				return
			}
		case host == "" || CheckAuthority(host) != "":
			p.errorf(a.pos, "Listen: invalid address %q", host)
			return
		}
	}
	// Port 0 picks a free port, as with --listen (Apache refuses it);
	// tests use it.
	if msg := CheckAuthority("h:" + port); port != "0" && (msg != "" || port == "") {
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
