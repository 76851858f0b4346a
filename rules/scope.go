package rules

import "regexp"

// This file holds the plain data of the directives that do not choose a
// backend but change what passes on the way: header edits (mod_headers),
// environment variables set from the request (mod_setenvif), the rewriting
// of backend URLs in responses (ProxyPassReverse*), and redirects answered
// by wsgate itself (Redirect, RewriteRule [R]). They can be written at the
// top of a file, in a <VirtualHost> and in a <Location>; Match hands the
// request the ones that apply to it, merged in Apache's order.

// Scope is the header, environment and reverse-mapping directives of one
// context: the main server, a virtual host or a location.
type Scope struct {
	// RequestHeaders are the RequestHeader lines, applied in order to the
	// request sent to the backend (upgrade and plain HTTP alike).
	RequestHeaders []HeaderEdit
	// ResponseHeaders are the Header lines, applied in order to plain HTTP
	// responses (and, with Always, to the ones wsgate answers itself).
	ResponseHeaders []HeaderEdit
	// SetEnv are the SetEnvIf and SetEnvIfNoCase lines: environment
	// variables for %{VAR}e values and env= conditions.
	SetEnv []SetEnvIf
	// Reverse are the ProxyPassReverse lines: backend URLs in the
	// Location, Content-Location and URI headers of plain HTTP responses
	// are turned back into the client's.
	Reverse []ReverseMap
	// CookieDomains and CookiePaths are ProxyPassReverseCookieDomain and
	// ProxyPassReverseCookiePath: the domain= and path= attributes of
	// Set-Cookie headers.
	CookieDomains, CookiePaths []CookieMap
}

// HeaderEdit is one RequestHeader or Header line.
type HeaderEdit struct {
	Pos Pos
	// Action is set, setifempty, append, add, merge or unset, lower case.
	Action string
	// Always is Header always ...: applied to the responses wsgate
	// answers itself (errors, redirects) too.
	Always bool
	// Name is the header name as written.
	Name string
	// Value is the value as written, with its %{VAR}e, %{VAR}s and other
	// format specifiers (mod_headers' syntax); empty for unset.
	Value string
	// Expr is set when Value was written expr=...: Value is then the
	// expression after expr=, such as %{REQUEST_SCHEME}.
	Expr bool
	// Parts is Value as the parser read it, checked: what to write and
	// what to expand for each request. Empty for unset.
	Parts []ValuePart
	// Env is the env=[!]VAR condition: the edit applies only when VAR is
	// set (or, with EnvNot, not set). Empty: always.
	Env    string
	EnvNot bool
}

// ValuePart is a piece of a header value: literal Text, or a name to
// expand for each request.
type ValuePart struct {
	Kind PartKind
	// Text is the literal (PartText), or the variable, header or
	// environment name the part expands.
	Text string
}

// PartKind says what a ValuePart expands to.
type PartKind uint8

const (
	PartText     PartKind = iota // Text as it is
	PartTime                     // %t: "t=" and when the request arrived, in µs since 1970
	PartDuration                 // %D: "D=" and the µs since it arrived
	PartEnv                      // %{VAR}e: an environment variable, "(null)" when unset
	PartSSL                      // %{VAR}s: mod_ssl's variables, "(null)" when empty
	PartVar                      // expr=%{VAR}: a request variable
	PartHeader                   // expr=%{req:NAME} or %{http:NAME}: a request header
	PartExprEnv                  // expr=%{env:VAR} or %{reqenv:VAR}: "" when unset
)

// SetEnvIf is one SetEnvIf or SetEnvIfNoCase line: when Attribute of the
// request matches Regex, the variables are set (or, with a "!" prefix,
// unset).
type SetEnvIf struct {
	Pos Pos
	// Attribute is Remote_Addr, Remote_Host, Server_Addr, Request_Method,
	// Request_Protocol, Request_URI, a request header name, or the name of
	// a variable set by an earlier line.
	Attribute string
	Regex     string
	NoCase    bool
	Vars      []EnvAssign
	// Decoded is set for a line inside a <Location>, where Apache runs it
	// after the path is decoded: Request_URI is then the decoded path,
	// not the raw one.
	Decoded bool

	// re and nameRe are Regex and (when Attribute is a regular
	// expression) Attribute, compiled by the parser.
	re, nameRe *regexp.Regexp
}

// Pattern is the line's compiled Regex; a SetEnvIf built by hand is
// compiled here, each time.
func (s SetEnvIf) Pattern() *regexp.Regexp {
	if s.re != nil {
		return s.re
	}
	return compileOrNothing(s.Regex, s.NoCase)
}

// NamePattern is the compiled header-name pattern of a line whose
// Attribute is one, else nil.
func (s SetEnvIf) NamePattern() *regexp.Regexp {
	if s.nameRe != nil || !isNameRegex(s.Attribute) {
		return s.nameRe
	}
	return compileOrNothing(s.Attribute, s.NoCase)
}

// compileOrNothing compiles a pattern the parser has checked, or returns
// one that matches nothing.
func compileOrNothing(pattern string, nocase bool) *regexp.Regexp {
	if re, _ := compileRegex(pattern, nocase); re != nil {
		return re
	}
	return regexp.MustCompile(`[^\x00-\x{10FFFF}]`)
}

// EnvAssign is one VAR, VAR=VALUE or !VAR of a SetEnvIf line.
type EnvAssign struct {
	Name  string
	Value string // "1" when written without a value, as Apache does
	Unset bool
}

// Expand is the value to set when the line's pattern matched src at m:
// Value with $0 to $9 replaced by the groups.
func (a EnvAssign) Expand(src string, m []int) string { return regsub(a.Value, src, m) }

// ReverseMap is one ProxyPassReverse: a backend URL prefix and the public
// path it is mapped back to.
type ReverseMap struct {
	Pos Pos
	// Path is the public path prefix (the first argument, or the
	// enclosing <Location>'s path for the one-argument form).
	Path string
	// URL is the backend URL prefix as written; a balancer:// URL stands
	// for each of the balancer's members.
	URL string
	// Balancer and BalancerPath are a balancer:// URL's name and the path
	// after it ("" for "/"); empty for any other URL.
	Balancer, BalancerPath string
}

// CookieMap is one ProxyPassReverseCookieDomain or
// ProxyPassReverseCookiePath: Internal, the backend's value, becomes
// Public.
type CookieMap struct {
	Pos              Pos
	Internal, Public string
}

// Redirect is an answer wsgate gives itself instead of proxying: a
// Redirect line or a RewriteRule with [R].
type Redirect struct {
	// Rule is the rule that matched.
	Rule *Rule
	// Status is a 3xx status with a Location (301, 302, 303, 307, 308
	// ...), or a 4xx or 5xx status without one (410 Gone).
	Status int
	// Location is the absolute URL to send, the request's rest and query
	// already applied; empty when Status is not 3xx.
	Location string
}

// VirtualHost is a <VirtualHost> section. Requests are given to a virtual
// host as Apache gives them (see Table.Match): by the listener's port, then
// by Host against ServerName and ServerAlias, the first one being the
// default.
type VirtualHost struct {
	Pos Pos
	// Addrs are the section's addresses as written: "*:443",
	// "example.com:443", "10.0.0.1:80".
	Addrs []string
	// ServerName is the ServerName line's host, without port; empty when
	// the section has none.
	ServerName string
	// ServerAliases are the ServerAlias names, which may hold * and ?.
	ServerAliases []string
	// Table is what the section holds, already merged with the main
	// server's directives as Apache merges them (ProxyPass lines of the
	// main server come first; RewriteRules are not inherited; settings
	// not set in the section are the main server's).
	Table *Table

	// ports are the port of each address, 0 for a wildcard ("*:*",
	// "*"); own is the section's own lines, before the merge, which is
	// what Table.String prints.
	ports []int
	own   *Table
}

// Location is a <Location PATH> or <LocationMatch REGEX> section. Of the
// locations that match a request, the last one in the file that has a
// ProxyPass decides where it goes, before any ProxyPass outside a
// location (mod_proxy's per-directory alias).
type Location struct {
	Pos Pos
	// Path is the URL-path of <Location>, or the regular expression of
	// <LocationMatch> (then Match is true).
	Path  string
	Match bool
	// Rule is the location's one-argument ProxyPass (nil when it has
	// none): Kind Prefix with Path = the location's path, or Regex for
	// <LocationMatch>.
	Rule *Rule
	// PreserveHost and AddHeaders are ProxyPreserveHost and
	// ProxyAddHeaders lines inside the section; nil: not set here. They
	// win over the server's and the <Proxy> sections' (observed).
	PreserveHost *bool
	AddHeaders   *bool
	// Redirect is the section's one-argument Redirect, [status] URL
	// (Kind Redirection, Path the section's path): requests the section
	// takes are redirected to URL, query appended, nothing else, even
	// when a ProxyPass maps them (observed: mod_alias's fixup runs after
	// mod_proxy's mapping).
	Redirect *Rule
	// Rewrite are RewriteRules written inside the section (per-directory
	// context), in order; RewriteOn is its RewriteEngine.
	Rewrite   []*Rule
	RewriteOn bool
	// Scope is the section's header and reverse-mapping lines.
	Scope Scope

	// re is the <LocationMatch> regular expression, compiled.
	re *regexp.Regexp
}
