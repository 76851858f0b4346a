package rules

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// String prints the rule as canonical directive syntax, such as
//
//	ProxyPass "/ws/" "ws://127.0.0.1:9001/" upgrade=websocket timeout=5
//	ProxyPassMatch "^/pm/(.*)$" "ws://127.0.0.1:9001/$1"
//
// PATH and URL are always quoted, parameters come in a fixed order and
// durations are spelled as Apache accepts them, so that parsing the
// arguments again gives an equal rule. A RewriteRule is printed after its
// RewriteConds, one directive a line:
//
//	RewriteCond "%{HTTP:Upgrade}" "websocket" [NC]
//	RewriteRule "^/?(.*)" "ws://127.0.0.1:9001/$1" [P,L]
func (r *Rule) String() string {
	var lines []string
	for _, l := range r.lines() {
		lines = append(lines, l.text)
	}
	return strings.Join(lines, "\n")
}

// directiveLine is one printed directive and where it came from.
type directiveLine struct {
	pos  Pos
	text string
}

// lines are the directives String prints.
func (r *Rule) lines() []directiveLine {
	switch r.Kind {
	case Regex:
		return []directiveLine{{r.Pos, "ProxyPassMatch " + r.args()}}
	case Rewrite:
		return r.rewriteLines()
	case Redirection:
		return []directiveLine{{r.Pos, r.redirectLine(true)}}
	}
	return []directiveLine{{r.Pos, "ProxyPass " + r.args()}}
}

// String prints the condition as a canonical RewriteCond directive.
func (c *Cond) String() string {
	p := c.Pattern
	if c.Equal {
		p = "=" + p
		if c.Pattern == "" {
			p = `=""`
		}
	}
	if c.Negate {
		p = "!" + p
	}
	s := "RewriteCond " + quoteRewriteArg(c.TestString) + " " + quoteRewriteArg(p)
	var flags []string
	if c.NoCase {
		flags = append(flags, "NC")
	}
	if c.OrNext {
		flags = append(flags, "OR")
	}
	if len(flags) > 0 {
		s += " [" + strings.Join(flags, ",") + "]"
	}
	return s
}

// args is String without the directive name: a valid --pass value.
func (r *Rule) args() string { return quoteArg(r.Path) + " " + r.params() }

// params is args without the path: the URL (or "!") and the parameters,
// what a ProxyPass inside a <Location> takes.
func (r *Rule) params() string {
	var b strings.Builder
	if r.Exclude {
		return "!"
	}
	b.WriteString(quoteArg(targetString(r.Target)))
	if r.NoCanon {
		b.WriteString(" nocanon")
	}
	if r.bal != nil {
		bal := Balancer{Method: r.bal.method, StickySession: r.bal.sticky}
		if r.bal.nofailover != nil {
			bal.NoFailover = *r.bal.nofailover
			if !bal.NoFailover {
				b.WriteString(" nofailover=Off")
			}
		}
		if s := bal.settings(); s != "" {
			b.WriteString(" " + s)
		}
		if bal.Method == defaultMethod {
			b.WriteString(" lbmethod=" + defaultMethod)
		}
	}
	if r.Upgrade != "" {
		b.WriteByte(' ')
		b.WriteString(word("upgrade=" + r.Upgrade))
	}
	if r.Timeout > 0 {
		b.WriteString(" timeout=")
		b.WriteString(formatDuration(r.Timeout))
	}
	if r.ConnectTimeout > 0 {
		b.WriteString(" connectiontimeout=")
		b.WriteString(formatDuration(r.ConnectTimeout))
	}
	if r.KeepAlive {
		b.WriteString(" keepalive=On")
	}
	return b.String()
}

// String dumps the table as a rules file, one directive a line, each
// preceded by where it came from when known:
//
//	wsgate.conf:1: Listen 127.0.0.1:8080
//	ProxyTimeout 30
//	--pass 1: ProxyPass "/ws/" "ws://127.0.0.1:9001/" upgrade=websocket
//
// Settings come first (only those that differ from the defaults), then
// the <Proxy> sections, then the rules in order. Without the origins, the
// text parses back into an equal table (see config).
func (t *Table) String() string { return t.format(true) }

// config is String without origins: a rules file.
func (t *Table) config() string { return t.format(false) }

func (t *Table) format(origins bool) string {
	var b strings.Builder
	line := func(p Pos, s string) {
		if o := origin(p); origins && o != "" {
			b.WriteString(o)
			b.WriteString(": ")
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	for _, l := range t.Listen {
		addr := l.Addr
		if strings.HasPrefix(addr, ":") {
			addr = "*" + addr
		}
		line(l.Pos, "Listen "+addr)
	}
	t.formatSettings(line, &Table{})
	t.formatGlobal(line)
	t.formatServer(line, "")
	for _, vh := range t.Hosts {
		vh.format(line, t)
	}
	return b.String()
}

// formatSettings prints the settings of t that differ from base's: the
// defaults for the main server, the main server's for a virtual host.
func (t *Table) formatSettings(line func(Pos, string), base *Table) {
	if t.Legacy != base.Legacy {
		line(Pos{}, "ProxyWebsocketFallbackToProxyHttp "+onOff(!t.Legacy))
	}
	if t.PreserveHost != base.PreserveHost {
		line(Pos{}, "ProxyPreserveHost "+onOff(t.PreserveHost))
	}
	if t.NoAddHeaders != base.NoAddHeaders {
		line(Pos{}, "ProxyAddHeaders "+onOff(!t.NoAddHeaders))
	}
	if t.Timeout > 0 && t.Timeout != base.Timeout {
		line(Pos{}, "Timeout "+formatDuration(t.Timeout))
	}
	if t.ProxyTimeout > 0 && t.ProxyTimeout != base.ProxyTimeout {
		line(Pos{}, "ProxyTimeout "+formatDuration(t.ProxyTimeout))
	}
	if t.AllowEncodedSlashes != base.AllowEncodedSlashes {
		line(Pos{}, "AllowEncodedSlashes "+cmp.Or(t.AllowEncodedSlashes, "Off"))
	}
	switch {
	case t.TLS.CertFile != "" && t.TLS != base.TLS:
		line(t.TLS.Pos, "SSLEngine on")
		line(cmp.Or(t.TLS.CertPos, t.TLS.Pos), "SSLCertificateFile "+quoteArg(t.TLS.CertFile))
		line(cmp.Or(t.TLS.KeyPos, t.TLS.Pos), "SSLCertificateKeyFile "+quoteArg(t.TLS.KeyFile))
	case t.TLS.CertFile == "" && base.TLS.CertFile != "":
		line(Pos{}, "SSLEngine off")
	}
}

// formatGlobal prints what is the same for every server: origins,
// backend TLS and balancers.
func (t *Table) formatGlobal(line func(Pos, string)) {
	if l, d := t.RequestLimits(), DefaultLimits; l != d {
		for _, f := range []struct {
			name      string
			got, dflt int
		}{{"LimitRequestLine", l.Line, d.Line}, {"LimitRequestFieldSize", l.FieldSize, d.FieldSize}, {"LimitRequestFields", l.Fields, d.Fields}} {
			if f.got != f.dflt {
				line(Pos{}, fmt.Sprintf("%s %d", f.name, f.got))
			}
		}
	}
	if len(t.AllowOrigins) > 0 {
		args := make([]string, len(t.AllowOrigins))
		for i, o := range t.AllowOrigins {
			args[i] = quoteArg(o)
		}
		line(Pos{}, "WsgateAllowOrigin "+strings.Join(args, " "))
	}
	if bt := t.BackendTLS; bt.Engine {
		line(Pos{}, "SSLProxyEngine on")
	}
	if t.BackendTLS.NoVerify {
		line(Pos{}, "SSLProxyVerify none")
	}
	if t.BackendTLS.NoCheckPeerName {
		line(Pos{}, "SSLProxyCheckPeerName off")
	}
	if t.BackendTLS.CAFile != "" {
		line(Pos{}, "SSLProxyCACertificateFile "+quoteArg(t.BackendTLS.CAFile))
	}
	// Balancers come before the sections, so that a section that sets
	// ProxyPreserveHost for a balancer finds it defined.
	for _, bal := range t.Balancers {
		line(bal.Pos, "<Proxy "+quoteArg(bal.URL())+">")
		for _, m := range bal.Members {
			line(m.Pos, "    "+m.String())
		}
		if s := bal.settings(); s != "" {
			line(Pos{}, "    ProxySet "+s)
		}
		line(Pos{}, "</Proxy>")
	}
}

// formatServer prints a server's own <Proxy> sections, locations, rules
// and header lines, indented by indent.
func (t *Table) formatServer(line func(Pos, string), indent string) {
	in := func(p Pos, s string) { line(p, indent+s) }
	for _, s := range t.Sections {
		in(s.Pos, "<Proxy "+quoteArg(s.Prefix)+">")
		if s.PreserveHost != nil {
			in(Pos{}, "    ProxyPreserveHost "+onOff(*s.PreserveHost))
		}
		if s.AddHeaders != nil {
			in(Pos{}, "    ProxyAddHeaders "+onOff(*s.AddHeaders))
		}
		if s.Timeout > 0 || s.ConnectTimeout > 0 {
			set := "    ProxySet"
			if s.Timeout > 0 {
				set += " timeout=" + formatDuration(s.Timeout)
			}
			if s.ConnectTimeout > 0 {
				set += " connectiontimeout=" + formatDuration(s.ConnectTimeout)
			}
			in(Pos{}, set)
		}
		in(Pos{}, "</Proxy>")
	}
	for _, l := range t.Locations {
		l.format(in)
	}
	if t.passInherit != "" {
		in(Pos{}, "ProxyPassInherit "+t.passInherit)
	}
	if len(t.rewriteOptions) > 0 {
		in(Pos{}, "RewriteOptions "+strings.Join(t.rewriteOptions, " "))
	}
	for _, r := range t.Rules {
		if r.Kind == Rewrite {
			in(Pos{}, "RewriteEngine On")
			break
		}
	}
	for _, r := range t.Rules {
		for _, l := range r.lines() {
			in(l.pos, l.text)
		}
	}
	for _, l := range t.Scope.lines(false) {
		in(l.pos, l.text)
	}
}

// format prints the virtual host as a <VirtualHost> section holding its
// own lines (what it inherits from main is left to the reader, as in the
// file).
func (vh *VirtualHost) format(line func(Pos, string), main *Table) {
	line(vh.Pos, "<VirtualHost "+strings.Join(vh.Addrs, " ")+">")
	in := func(p Pos, s string) { line(p, "    "+s) }
	if vh.ServerName != "" {
		in(Pos{}, "ServerName "+word(vh.ServerName))
	}
	if len(vh.ServerAliases) > 0 {
		in(Pos{}, "ServerAlias "+strings.Join(vh.ServerAliases, " "))
	}
	// AllowEncodedSlashes is the one setting a virtual host does not
	// inherit (mergeHosts).
	base := *main
	base.AllowEncodedSlashes = ""
	vh.Table.formatSettings(in, &base)
	own := vh.own
	if own == nil {
		own = vh.Table // a virtual host built by hand: no main server lines in it
	}
	own.formatServer(line, "    ")
	line(Pos{}, "</VirtualHost>")
}

// format prints the location as its section.
func (l *Location) format(line func(Pos, string)) {
	line(l.Pos, "<"+sectionName(l)+" "+quoteArg(l.Path)+">")
	in := func(p Pos, s string) { line(p, "    "+s) }
	if r := l.Rule; r != nil {
		name := "ProxyPass "
		if r.Kind == Regex && !fnmatchTest(l.Path) {
			name = "ProxyPassMatch "
		}
		in(r.Pos, name+r.params())
	}
	if l.PreserveHost != nil {
		in(Pos{}, "ProxyPreserveHost "+onOff(*l.PreserveHost))
	}
	if l.AddHeaders != nil {
		in(Pos{}, "ProxyAddHeaders "+onOff(*l.AddHeaders))
	}
	if r := l.Redirect; r != nil {
		in(r.Pos, r.redirectLine(false))
	}
	if len(l.Rewrite) > 0 {
		in(Pos{}, "RewriteEngine "+onOff(l.RewriteOn))
	}
	for _, r := range l.Rewrite {
		for _, rl := range r.lines() {
			in(rl.pos, rl.text)
		}
	}
	for _, sl := range l.Scope.lines(true) {
		in(sl.pos, sl.text)
	}
	line(Pos{}, "</"+sectionName(l)+">")
}

// redirectLine prints a Redirect or RedirectMatch rule, with its path
// unless inside a location.
func (r *Rule) redirectLine(withPath bool) string {
	name := "Redirect"
	if r.alias == aliasRegex {
		name = "RedirectMatch"
	}
	s := name + " " + strconv.Itoa(r.Status)
	if withPath {
		s += " " + quoteArg(r.Path)
	}
	if r.Subst != "" {
		s += " " + quoteArg(r.Subst)
	}
	return s
}

func onOff(v bool) string {
	if v {
		return "On"
	}
	return "Off"
}

// origin is a rule's position without the column, which is always that
// of the rule's first byte: "--pass 2", "wsgate.conf:12".
func origin(p Pos) string {
	p.Col = 0
	return p.String()
}

// formatDuration spells d the way Apache reads it back: whole seconds as a
// bare number (Apache's default unit), anything else in milliseconds.
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// quoteArg double-quotes s for ap_getword_conf, escaping '"' and '\'.
func quoteArg(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// word returns s as one argument, quoted only when it has to be.
func word(s string) string {
	if s == "" || s[0] == '"' || s[0] == '\'' || strings.ContainsAny(s, "\\ \t\n\v\f\r") {
		return quoteArg(s)
	}
	return s
}

// targetPath is the path of a rule's target URL as the user wrote it: Go
// keeps the written form in RawPath whenever it differs from its own
// encoding of Path, and Apache works on the written form.
func targetPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.EscapedPath()
}

// targetString is the target URL as written (parseTarget refuses queries,
// fragments and user information, so this is all of it).
func targetString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + targetPath(u)
}
