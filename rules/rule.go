// Package rules turns Apache httpd 2.4 proxy directives, given as flags
// (FromFlags, ParsePass, ParsePassMatch) or as a rules file (ParseFile,
// LoadFile), into a validated Table, and matches requests against it the
// way Apache's mod_proxy and mod_rewrite do (Table.Match). Table.Check
// finds rules that are valid but probably wrong.
//
// The package is pure: text in, plain data out, standard library only. The
// server, `wsgate check` and `wsgate route` all call the same Table.Match, so
// what a user tests offline is what the proxy does.
package rules

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Pos is where a rule or an error came from. For a rule given on the command
// line, File is the flag name ("--pass") and Line counts that flag's
// occurrences from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats a position as compilers do, file:line:col. A flag is not a
// file, so it reads "--pass 2:24": the second --pass, column 24.
func (p Pos) String() string {
	sep := ":"
	if strings.HasPrefix(p.File, "-") {
		sep = " "
	}
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s%s%d", p.File, sep, p.Line)
	}
	return fmt.Sprintf("%s%s%d:%d", p.File, sep, p.Line, p.Col)
}

// Kind is which directive made a rule; it decides how Path is matched.
type Kind uint8

const (
	Prefix      Kind = iota // ProxyPass: Path is a prefix (alias_match)
	Regex                   // ProxyPassMatch: Path is a regular expression, Target may hold $1..$9
	Rewrite                 // RewriteRule: Path is the pattern, Subst the substitution, Conds its RewriteConds
	Redirection             // Redirect, RedirectMatch: answered by wsgate (Status, Target); a RewriteRule [R] stays Rewrite, with Status
)

// Rule is one validated ProxyPass, ProxyPassMatch or RewriteRule line.
// It is plain data: the server never sees the text it came from, only
// these fields.
type Rule struct {
	Pos  Pos
	Kind Kind
	// Path is the URL-path prefix as written (ProxyPass), or the regular
	// expression's source (ProxyPassMatch, RewriteRule), in Go's RE2
	// syntax, compiled as Apache compiles it (see compileRegex).
	Path string
	// Exclude is true for `ProxyPass PATH !`: matching requests are not
	// proxied (404 here, as Apache serves them locally).
	Exclude bool
	// Target is the backend URL (ws, wss, http or https); nil when Exclude.
	// For Regex and Rewrite rules it is a template: its Host and RawPath
	// may contain $N (and, for Rewrite, %N and %{...}) references, and
	// the host is only known once they are substituted: use Match.Host,
	// never Target.Host, to dial.
	Target *url.URL
	// Upgrade is the upgrade= parameter as written ("" when absent). The
	// default for ws:// and wss:// targets is WebSocket; http:// and
	// https:// targets never upgrade without it.
	Upgrade string
	// NoCanon forwards the raw request path instead of Apache's
	// re-encoded one (the nocanon keyword, or a RewriteRule's [NE], which
	// also leaves a redirect's Location unescaped).
	NoCanon bool
	// Timeout is timeout=: how long to wait for the backend's answer and,
	// once tunnelling, how long the tunnel may stay idle. Zero: not set.
	Timeout time.Duration
	// ConnectTimeout is connectiontimeout=. Zero: not set.
	ConnectTimeout time.Duration
	// KeepAlive is keepalive=On: TCP keep-alive probes on the backend
	// connection.
	KeepAlive bool
	// Status is a redirection's status (301, 302, 303, 307, 308, 410).
	// For a RewriteRule it is [R=...] (302 for a bare [R]), [F] (403) or
	// [G] (410): a 3xx redirects, anything else is answered as it is.
	Status int

	// NoCase is a RewriteRule's [NC] flag: Path matches case-insensitively.
	NoCase bool
	// Conds are a RewriteRule's RewriteConds, in order.
	Conds []*Cond
	// Subst is a RewriteRule's substitution as written: "-" (none), a
	// URL-path or an absolute URL, with $N, %N and %{VAR} references;
	// Target is set from it for a [P] rule. For a Redirect it is the URL.
	Subst string
	// Flags are a RewriteRule's other flags (see RewriteFlags).
	Flags RewriteFlags

	// bal holds the balancer parameters of a ProxyPass to balancer://
	// until the parser hands them to the balancer (ParsePass keeps them).
	bal *balancerSettings
	// urlPos is where the target URL was written, for errors about it.
	urlPos Pos

	// re is Path compiled (Regex and Rewrite rules), as Apache compiles
	// it: with DOTALL, "$" matching only at the end, and [NC] folded in.
	re *regexp.Regexp
	// alias tells a Redirect line (Path a prefix) from a RedirectMatch
	// (Path a regular expression); aliasNone for other kinds.
	alias aliasKind
}

// Cond is one RewriteCond: TestString, expanded for the request, is
// compared with Pattern.
type Cond struct {
	Pos Pos
	// TestString is as written: literal text, %{VAR} (a header with
	// %{HTTP:Name}, or one of the variables of rewriteVars), $N (from the
	// rule's pattern) and %N (from the last RewriteCond that matched).
	TestString string
	// Pattern is the CondPattern without its leading "!" and, when Equal,
	// without its "=".
	Pattern string
	// Negate is a leading "!": the condition holds when Pattern does not
	// match.
	Negate bool
	// Equal is "=string": TestString must equal Pattern (lexically)
	// instead of containing a match of the regular expression Pattern.
	Equal bool
	// NoCase is [NC], OrNext is [OR] (ornext).
	NoCase, OrNext bool

	re *regexp.Regexp
}

// aliasKind tells the mod_alias redirects apart.
type aliasKind uint8

const (
	aliasNone   aliasKind = iota
	aliasPrefix           // Redirect, RedirectPermanent, RedirectTemp
	aliasRegex            // RedirectMatch
)

// UpgradeTo decides whether a request whose Upgrade header is client may be
// upgraded through this rule, and which Upgrade value to send to the backend.
//
// It follows ap_proxy_worker_can_upgrade: the whole client value must equal
// (case-insensitively) the configured protocol or one entry of a configured
// comma list; the client's value is then forwarded verbatim. Two values
// differ from Apache 2.4.71 on purpose and follow mod_proxy_wstunnel's
// documentation instead: NONE skips the check and upgrades as WebSocket,
// ANY forwards whatever the client asked for.
func (r *Rule) UpgradeTo(client string) (string, bool) {
	if r.Exclude || r.Target == nil || r.Kind == Redirection || client == "" {
		return "", false // an exclusion or a redirect: nothing to upgrade
	}
	want := r.Upgrade
	if want == "" {
		if r.Target.Scheme != "ws" && r.Target.Scheme != "wss" {
			return "", false
		}
		want = "WebSocket"
	}
	switch {
	case strings.EqualFold(want, "NONE"):
		return "websocket", true
	case strings.EqualFold(want, "ANY"), want == "*":
		return client, true
	}
	for _, p := range strings.Split(want, ",") {
		if strings.EqualFold(strings.TrimSpace(p), strings.TrimSpace(client)) {
			return client, true
		}
	}
	return "", false
}

// Table is a whole validated configuration: the ordered rules and the
// server-wide settings that Apache reads next to them. The zero value of
// every setting is Apache's default.
//
// Rules are tried as Apache tries them: every Rewrite rule first, in order
// (mod_rewrite's translate_name hook runs before mod_proxy's), then the
// ProxyPass of the last matching Location, then Prefix and Regex rules in
// order, the first match winning, `!` exclusions included; then, when
// none proxies the request, Redirection rules in order (mod_alias).
//
// With Hosts, a request is matched against the table of its virtual host,
// which holds the main server's lines merged in (see VirtualHost); the
// main server's fields then describe the main server alone, and what must
// change every server goes through Servers.
type Table struct {
	Rules []*Rule
	// Listen holds the Listen directives, in order. Empty: the command
	// line's --listen (default 127.0.0.1:8080).
	Listen []Listen
	// Legacy is ProxyWebsocketFallbackToProxyHttp Off: ws:// and wss://
	// rules skip requests without an Upgrade header, and a disallowed
	// Upgrade is answered 426 (APACHE.md section 4, without its unsafe
	// tunnelling).
	Legacy bool
	// PreserveHost is ProxyPreserveHost On, server-wide.
	PreserveHost bool
	// NoAddHeaders is ProxyAddHeaders Off, server-wide.
	NoAddHeaders bool
	// Timeout is the Timeout directive, ProxyTimeout the ProxyTimeout
	// directive; zero when not set.
	Timeout, ProxyTimeout time.Duration
	// Sections are the <Proxy URL> sections, in order (see Section).
	Sections []*Section
	// Balancers are the balancers, in the order they were first defined:
	// by a <Proxy "balancer://NAME"> section, a BalancerMember
	// balancer://NAME line, or a --pass with several URLs (FromFlags).
	// Every rule whose target is balancer://NAME has its balancer here,
	// and every balancer has at least one member.
	Balancers []*Balancer
	// TLS is the server's certificate (SSLEngine on with
	// SSLCertificateFile and SSLCertificateKeyFile); zero: plain HTTP. The
	// listeners serve the certificates of the servers they take requests
	// for (see docs/rules.md, TLS).
	TLS TLSFiles
	// BackendTLS is what the SSLProxy* directives say about wss:// and
	// https:// backends.
	BackendTLS BackendTLS
	// Limits are LimitRequestLine, LimitRequestFieldSize and
	// LimitRequestFields; nil: Apache's defaults (RequestLimits).
	Limits *Limits
	// AllowOrigins are the origin patterns of WsgateAllowOrigin and
	// --allow-origin (see CheckOriginPattern). Empty: the Origin header is
	// not looked at and the backend judges it. Otherwise an upgrade whose
	// Origin matches none is refused (OriginAllowed).
	AllowOrigins []string
	// Scope is the main server's header, SetEnvIf and ProxyPassReverse
	// lines.
	Scope
	// Hosts are the <VirtualHost> sections, in order. Empty: every
	// request is the main server's.
	Hosts []*VirtualHost
	// Locations are the <Location> and <LocationMatch> sections, in order.
	Locations []*Location
	// AllowEncodedSlashes is Off (""), On or NoDecode: whether a path may
	// hold %2F, and whether it is decoded before matching.
	AllowEncodedSlashes string
	// host is the virtual host whose table this is (nil for the main
	// server): its name stands in for a missing Host in redirects.
	host *VirtualHost
	// passInherit ("", "On" or "Off") and rewriteOptions are the
	// ProxyPassInherit and RewriteOptions lines of this server, as
	// written, for String: their effect is already in the virtual hosts'
	// merged tables.
	passInherit    string
	rewriteOptions []string
	// Warnings are lines that were read but are not acted on (a
	// LoadModule, ErrorLog, Require ...), each saying why. With
	// Options.Strict they are errors instead.
	Warnings []*Error
}

// Listen is one Listen directive. Addr is always host:port: a bare port
// (Listen 8080) is taken as 127.0.0.1:8080, not every interface as Apache
// would, because a development tool must not open a port to the network
// by surprise; write Listen 0.0.0.0:8080 for that.
type Listen struct {
	Pos  Pos
	Addr string
}

// Section is a <Proxy URL> section: the directives inside it apply to the
// requests whose backend URL starts with Prefix (a plain string prefix, as
// Apache compares it). A nil pointer means the section does not set it.
type Section struct {
	Pos          Pos
	Prefix       string
	PreserveHost *bool
	AddHeaders   *bool
	// Timeout and ConnectTimeout come from ProxySet timeout= and
	// connectiontimeout=; zero: not set.
	Timeout, ConnectTimeout time.Duration
}

// TLSFiles names a PEM certificate chain and its key.
type TLSFiles struct {
	Pos      Pos // of the SSLEngine line
	CertFile string
	KeyFile  string
	// CertPos and KeyPos are where CertFile and KeyFile were named, for
	// errors about the files.
	CertPos, KeyPos Pos
}

// BackendTLS is the SSLProxy* directives. The zero value verifies
// certificates against the system roots and checks the peer name, which is
// what wsgate does without them.
type BackendTLS struct {
	// Engine is SSLProxyEngine On.
	Engine bool
	// NoVerify is SSLProxyVerify none.
	NoVerify bool
	// NoCheckPeerName is SSLProxyCheckPeerName off.
	NoCheckPeerName bool
	// CAFile is SSLProxyCACertificateFile.
	CAFile string
}

// Limits bound a request's head as Apache's LimitRequest* directives do:
// observed on 2.4.71, a request line or header line of up to N+1 bytes
// (CRLF not counted) passes for a limit of N, and a request of Fields
// header lines (Host included) passes; one more is refused.
type Limits struct {
	Line      int // LimitRequestLine: longer is answered 414
	FieldSize int // LimitRequestFieldSize: a longer header line is answered 400
	Fields    int // LimitRequestFields: more header lines are answered 400; 0: no limit
}

// DefaultLimits are Apache's defaults.
var DefaultLimits = Limits{Line: 8190, FieldSize: 8190, Fields: 100}

// RequestLimits are the table's Limits, or Apache's defaults.
func (t *Table) RequestLimits() Limits {
	if t.Limits == nil {
		return DefaultLimits
	}
	return *t.Limits
}
