package rules

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wsgate/wsgate/internal/reqvar"
)

// This file holds <VirtualHost>: reading the section, merging it with the
// main server once the file is read, and choosing the virtual host of a
// request. Every observation cited here was made with Apache 2.4.71 on
// loopback (see docs/rules.md, "Virtual hosts").

// inheritable are the directives, by lower-case name, whose value a
// virtual host takes from the main server unless it sets them itself.
var inheritable = map[string]bool{
	"proxypreservehost": true, "proxyaddheaders": true, "timeout": true, "proxytimeout": true,
	"proxywebsocketfallbacktoproxyhttp": true, "allowencodedslashes": true, "rewriteengine": true,
	"sslengine": true, "proxypassinherit": true,
}

// openHost starts a <VirtualHost ADDR ...> section: the lines inside it
// make a server of their own, merged with the main server by mergeHosts.
func (p *parser) openHost(s *openSection, args []arg, pos Pos) {
	for _, o := range p.stack[:len(p.stack)-1] {
		if o.host != nil || o.loc != nil {
			p.errorf(pos, "<VirtualHost> cannot occur within <%s> section (the section opened at line %d)", o.name, o.pos.Line)
			return
		}
	}
	if len(args) == 0 {
		p.errorf(pos, "<VirtualHost> wants at least one address: <VirtualHost *:80>")
		return
	}
	vh := &VirtualHost{Pos: pos}
	for _, a := range args {
		port, ok := hostPort(a.text)
		if !ok {
			p.errorf(a.pos, "<VirtualHost>: invalid address %q (want HOST, HOST:PORT or *:PORT)", a.text)
			return
		}
		vh.Addrs = append(vh.Addrs, a.text)
		vh.ports = append(vh.ports, port)
	}
	vh.Table = &Table{}
	srv := newServer(vh.Table, vh)
	s.kind, s.host = sectHost, srv
	p.hosts = append(p.hosts, srv)
	p.t.Hosts = append(p.t.Hosts, vh)
}

// hostPort reads the port of a <VirtualHost> address: 0 when it is "*" or
// absent, which matches every port (observed: <VirtualHost *> takes
// requests on every Listen port no other virtual host names).
func hostPort(addr string) (int, bool) {
	host, port := addr, ""
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.HasSuffix(addr, "]") {
		host, port = addr[:i], addr[i+1:]
	}
	if host == "" || strings.HasPrefix(host, "[") && !strings.HasSuffix(host, "]") {
		return 0, false
	}
	if port == "" || port == "*" {
		return 0, true
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// serverDirective handles the directives that configure a server as a
// whole: ServerName, ServerAlias, AllowEncodedSlashes, ProxyPassInherit,
// RewriteOptions and ProxyBadHeader. It reports whether d was one of them.
func (p *parser) serverDirective(d directive, lower string) bool {
	srv := p.srv()
	switch lower {
	case "servername":
		p.readServerName(d, srv)
	case "serveralias":
		if srv.vh == nil {
			p.warnf(d.pos, "%s outside <VirtualHost>: skipped (Apache uses it only in virtual hosts)", d.name)
			return true
		}
		if len(d.args) == 0 {
			p.errorf(d.end, "%s: missing host name", d.name)
		}
		for _, a := range d.args {
			srv.vh.ServerAliases = append(srv.vh.ServerAliases, strings.ToLower(a.text))
		}
	case "allowencodedslashes":
		a, ok := p.one(d, "On, Off or NoDecode")
		if !ok {
			return true
		}
		switch strings.ToLower(a.text) {
		case "on":
			srv.t.AllowEncodedSlashes = "On"
		case "off":
			srv.t.AllowEncodedSlashes = ""
		case "nodecode":
			srv.t.AllowEncodedSlashes = "NoDecode"
		default:
			p.errorf(a.pos, "%s: want On, Off or NoDecode, not %q", d.name, a.text)
			return true
		}
		srv.set[lower] = true
	case "proxypassinherit":
		if on, ok := p.flag(d); ok {
			srv.set[lower], srv.noPassInherit = true, !on
			srv.t.passInherit = onOff(on)
		}
	case "rewriteoptions":
		p.rewriteOptions(d, srv)
	case "proxybadheader":
		p.badHeader(d)
	default:
		return false
	}
	return true
}

// readServerName reads ServerName [scheme://]NAME[:PORT]. Outside a virtual
// host it is the name of the virtual hosts that have none (observed: a
// <VirtualHost> without ServerName takes requests for the main server's
// name).
func (p *parser) readServerName(d directive, srv *server) {
	a, ok := p.one(d, "host name")
	if !ok {
		return
	}
	name := a.text
	if _, rest, ok := strings.Cut(name, "://"); ok {
		name = rest
	}
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	// Kept as written: Apache sends it so in X-Forwarded-Server (observed:
	// ServerName HUB.DOMAIN.TLD), and compares it without case (named).
	if srv.vh == nil {
		p.serverName = name
		p.warnf(d.pos, "%s outside <VirtualHost>: wsgate uses it only as the name of the virtual hosts that have none, as Apache does", d.name)
		return
	}
	srv.vh.ServerName = name
}

// rewriteOptions reads RewriteOptions: the options that decide whether a
// virtual host inherits the main server's RewriteRules are honoured, the
// others change nothing wsgate does.
func (p *parser) rewriteOptions(d directive, srv *server) {
	if len(d.args) == 0 {
		p.errorf(d.end, "%s: missing option", d.name)
		return
	}
	for _, a := range d.args {
		switch o := strings.ToLower(a.text); o {
		case "inherit", "inheritbefore", "inheritdown", "inheritdownbefore", "ignoreinherit":
			srv.rewriteOpts[o] = true
			srv.t.rewriteOptions = append(srv.t.rewriteOptions, a.text)
		case "allownoslash", "allowanyuri", "mergebase", "ignorecontextinfo", "legacyprefixdocroot", "longurloptimization":
			p.warnf(a.pos, "%s %s: skipped (it changes nothing wsgate does)", d.name, a.text)
		default:
			if strings.HasPrefix(o, "maxredirects=") {
				p.warnf(a.pos, "%s %s: skipped (it changes nothing wsgate does)", d.name, a.text)
				continue
			}
			p.errorf(a.pos, "%s: unknown option %q", d.name, a.text)
		}
	}
}

// badHeader reads ProxyBadHeader. wsgate's backend connection (Go's HTTP
// client) refuses a response with a malformed header line, and the client
// gets a 502: that is IsError, Apache's default.
func (p *parser) badHeader(d directive) {
	a, ok := p.one(d, "IsError, Ignore or StartBody")
	if !ok {
		return
	}
	switch strings.ToLower(a.text) {
	case "iserror":
	case "ignore", "startbody":
		p.warnf(a.pos, "%s %s: not supported; wsgate answers 502 to a backend response with a malformed header line, as IsError (the default)", d.name, a.text)
	default:
		p.errorf(a.pos, "%s: want IsError, Ignore or StartBody, not %q", d.name, a.text)
	}
}

// mergeHosts gives every virtual host its table, merged with the main
// server's as Apache merges a virtual host's configuration, once the
// whole file is read (a main server line after the section counts too):
//
//   - the main server's ProxyPass and ProxyPassMatch lines come first,
//     then the virtual host's (ProxyPassInherit On, the default; observed);
//   - RewriteRules are the virtual host's only (observed), unless
//     RewriteOptions says otherwise (mergeRewrites);
//   - Redirect lines: the virtual host's first, then the main server's
//     (mod_alias; observed);
//   - <Location> and <Proxy> sections: the main server's, then the
//     virtual host's; header, SetEnvIf and ProxyPassReverse lines too;
//   - settings the virtual host does not set are the main server's,
//     except AllowEncodedSlashes (observed: a virtual host with a
//     ServerName, a <Location> or another core directive is Off unless
//     it says otherwise; a known Apache quirk);
//   - balancers, SSLProxy* and WsgateAllowOrigin are global.
func (p *parser) mergeHosts() {
	main := p.main.t
	for _, h := range p.hosts {
		own := h.t
		vh := h.vh
		if vh.ServerName == "" {
			vh.ServerName = p.serverName
		}
		t := &Table{
			Rules:               p.mergeRules(h),
			Legacy:              pick(h, "proxywebsocketfallbacktoproxyhttp", own.Legacy, main.Legacy),
			PreserveHost:        pick(h, "proxypreservehost", own.PreserveHost, main.PreserveHost),
			NoAddHeaders:        pick(h, "proxyaddheaders", own.NoAddHeaders, main.NoAddHeaders),
			Timeout:             pick(h, "timeout", own.Timeout, main.Timeout),
			ProxyTimeout:        pick(h, "proxytimeout", own.ProxyTimeout, main.ProxyTimeout),
			AllowEncodedSlashes: own.AllowEncodedSlashes,
			Sections:            slices.Concat(main.Sections, own.Sections),
			Balancers:           main.Balancers,
			TLS:                 own.TLS,
			BackendTLS:          main.BackendTLS,
			AllowOrigins:        main.AllowOrigins,
			Scope:               mergeScope(main.Scope, own.Scope),
			Locations:           slices.Concat(main.Locations, own.Locations),
			host:                vh,
		}
		vh.own, vh.Table = own, t
		if main.AllowEncodedSlashes != "" && !h.set["allowencodedslashes"] {
			p.warnf(vh.Pos, "%s: the main server's AllowEncodedSlashes %s does not apply here, as in Apache, which does not pass it on to a virtual host: %%2F is a 404 (write AllowEncodedSlashes in the section)",
				vh, main.AllowEncodedSlashes)
		}
	}
}

// pick is the virtual host's value of the directive name when it sets
// it, else the main server's.
func pick[T any](h *server, name string, own, main T) T {
	if h.set[name] {
		return own
	}
	return main
}

// mergeRules is a virtual host's rules in the order Match tries each
// kind: RewriteRules (mergeRewrites), then ProxyPass lines (the main
// server's first unless ProxyPassInherit Off), then Redirect lines (the
// virtual host's first).
func (p *parser) mergeRules(h *server) []*Rule {
	own, main := h.t.Rules, p.main.t.Rules
	inherit := !pick(h, "proxypassinherit", h.noPassInherit, p.main.noPassInherit)
	var rules []*Rule
	rules = append(rules, p.mergeRewrites(h)...)
	if inherit {
		rules = append(rules, kinds(main, isProxyPass)...)
	}
	rules = append(rules, kinds(own, isProxyPass)...)
	rules = append(rules, kinds(own, isAliasRedirect)...)
	return append(rules, kinds(main, isAliasRedirect)...)
}

// mergeRewrites is a virtual host's RewriteRules: its own, and the main
// server's only with RewriteOptions Inherit (after its own, as
// mod_rewrite's documentation says) or InheritBefore (before), or with
// InheritDown or InheritDownBefore in the main server unless the virtual
// host says IgnoreInherit.
func (p *parser) mergeRewrites(h *server) []*Rule {
	own, main := kinds(h.t.Rules, isRewriteRule), kinds(p.main.t.Rules, isRewriteRule)
	o, m := h.rewriteOpts, p.main.rewriteOpts
	switch {
	case o["inheritbefore"] || m["inheritdownbefore"] && !o["ignoreinherit"]:
		return slices.Concat(main, own)
	case o["inherit"] || m["inheritdown"] && !o["ignoreinherit"]:
		return slices.Concat(own, main)
	}
	return own
}

// kinds is the rules of which, in order.
func kinds(rules []*Rule, which func(*Rule) bool) []*Rule {
	var out []*Rule
	for _, r := range rules {
		if which(r) {
			out = append(out, r)
		}
	}
	return out
}

func isProxyPass(r *Rule) bool { return r.Kind == Prefix || r.Kind == Regex }

// isRewriteRule reports whether r came from a RewriteRule line ([P] or
// [R]): mod_rewrite's, tried before ProxyPass.
func isRewriteRule(r *Rule) bool { return !isProxyPass(r) && !isAliasRedirect(r) }

// isAliasRedirect reports whether r came from a Redirect or RedirectMatch
// line: mod_alias's, tried after ProxyPass.
func isAliasRedirect(r *Rule) bool { return r.Kind == Redirection }

// mergeScope is the main server's lines, then the virtual host's: Apache
// appends a virtual host's header edits, SetEnvIf and ProxyPassReverse
// lines to the main server's.
func mergeScope(main, own Scope) Scope {
	return Scope{
		RequestHeaders:  slices.Concat(main.RequestHeaders, own.RequestHeaders),
		ResponseHeaders: slices.Concat(main.ResponseHeaders, own.ResponseHeaders),
		SetEnv:          slices.Concat(main.SetEnv, own.SetEnv),
		Reverse:         slices.Concat(main.Reverse, own.Reverse),
		CookieDomains:   slices.Concat(main.CookieDomains, own.CookieDomains),
		CookiePaths:     slices.Concat(main.CookiePaths, own.CookiePaths),
	}
}

// Servers is the main server's table followed by every virtual host's:
// what changes every server, such as the rules of --pass flags, which
// stand for lines at the top of the file and are inherited by every
// virtual host, is applied to each of them.
func (t *Table) Servers() []*Table {
	ts := []*Table{t}
	for _, vh := range t.Hosts {
		ts = append(ts, vh.Table)
	}
	return ts
}

// hostFor chooses the virtual host of r, nil for the main server, as
// Apache does, by the port the request came in on and then by name:
//
//  1. the candidates are the virtual hosts with an address on that port
//     (observed: they win over <VirtualHost *> whatever the order), else
//     those with a wildcard port;
//  2. when none is left and the port is one of the file's Listen lines,
//     the main server takes the request, as in Apache. Otherwise the port
//     is not the file's (--listen moved it, or it is unknown, as in
//     `wsgate route`): the candidates are the virtual hosts whose TLS
//     (SSLEngine on) is the request's, else all;
//  3. of the candidates, the first whose ServerName, a ServerAlias (with
//     * and ? wildcards) or an address's host is the request's Host,
//     compared case-insensitively without the port, else the first
//     (Apache's default virtual host).
//
// Addresses are compared by port only: the IP address of
// <VirtualHost 10.0.0.1:80> is not compared with the listener's, which
// --listen often changes.
func (t *Table) hostFor(r *http.Request) *VirtualHost {
	if len(t.Hosts) == 0 {
		return nil
	}
	port := localPort(r)
	cands := t.hostsOn(port)
	if len(cands) == 0 {
		if port != 0 && t.listensOn(port) {
			return nil
		}
		cands = t.hostsByTLS(r != nil && r.TLS != nil)
	}
	var host string
	if r != nil {
		host, _ = reqvar.SplitHost(r.Host)
	}
	for _, vh := range cands {
		if vh.named(host) {
			return vh
		}
	}
	return cands[0]
}

// hostsOn is the virtual hosts with an address on port, else those with
// a wildcard port; none when port is 0 (unknown).
func (t *Table) hostsOn(port int) []*VirtualHost {
	if port == 0 {
		return nil
	}
	var exact, wild []*VirtualHost
	for _, vh := range t.Hosts {
		switch {
		case slices.Contains(vh.ports, port):
			exact = append(exact, vh)
		case slices.Contains(vh.ports, 0):
			wild = append(wild, vh)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return wild
}

// hostsByTLS is the virtual hosts that serve TLS, or those that do not;
// all of them when none does as asked.
func (t *Table) hostsByTLS(tls bool) []*VirtualHost {
	var out []*VirtualHost
	for _, vh := range t.Hosts {
		if (vh.Table.TLS.CertFile != "") == tls {
			out = append(out, vh)
		}
	}
	if len(out) == 0 {
		return t.Hosts
	}
	return out
}

// listensOn reports whether a Listen line of t is on port.
func (t *Table) listensOn(port int) bool {
	for _, l := range t.Listen {
		if _, p, err := net.SplitHostPort(l.Addr); err == nil && p == strconv.Itoa(port) {
			return true
		}
	}
	return false
}

// named reports whether host (lower case, without port) is one of the
// virtual host's names.
func (vh *VirtualHost) named(host string) bool {
	if host == "" {
		return false
	}
	if strings.EqualFold(host, strings.TrimSuffix(vh.ServerName, ".")) {
		return true
	}
	for _, a := range vh.ServerAliases {
		if wildMatch(a, host) {
			return true
		}
	}
	for _, a := range vh.Addrs {
		h := a
		if i := strings.LastIndexByte(a, ':'); i >= 0 && !strings.HasSuffix(a, "]") {
			h = a[:i]
		}
		if strings.EqualFold(strings.Trim(h, "[]"), host) {
			return true
		}
	}
	return false
}

// String names the section as written: <VirtualHost *:443>.
func (vh *VirtualHost) String() string {
	return "<VirtualHost " + strings.Join(vh.Addrs, " ") + ">"
}

// Ports are the ports the virtual host's addresses name, in order and
// without repeats; a wildcard port ("*:*", "*") is left out.
func (vh *VirtualHost) Ports() []int {
	var ports []int
	for _, p := range vh.ports {
		if p != 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// localPort is the port of the listener r came in on (0 when unknown).
func localPort(r *http.Request) int {
	if r == nil {
		return 0
	}
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if a == nil {
		return 0
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.Port
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// wildMatch matches s against pattern, in which "*" stands for any run of
// bytes and "?" for one byte (ap_strcasecmp_match; both are lower case
// here).
func wildMatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildMatch(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// ErrorScope is the scope whose lines apply to the answer to r when Match
// fails (no rule, a bad path): that of r's virtual host, else the main
// server's. Apache sends its "Header always" lines with its own 404 too.
func (t *Table) ErrorScope(r *http.Request) Scope {
	if vh := t.hostFor(r); vh != nil {
		return vh.Table.Scope
	}
	return t.Scope
}
