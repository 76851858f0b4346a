// Package rules turns ProxyPass-style mappings, given as flags or (later) as
// a rules file in Apache's directive syntax, into a validated Table, and
// matches requests against it the way Apache httpd 2.4's mod_proxy does.
//
// The package is pure: text in, plain data out, standard library only. The
// server, `wsgate check` and `wsgate route` all call the same Table.Match, so
// what a user tests offline is what the proxy does.
package rules

import (
	"fmt"
	"net/url"
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

// Rule is one validated ProxyPass line. It is plain data: the server never
// sees the text it came from, only these fields.
type Rule struct {
	Pos Pos
	// Path is the URL-path prefix, as written (ProxyPass's first argument).
	Path string
	// Exclude is true for `ProxyPass PATH !`: matching requests are not
	// proxied (404 here, as Apache serves them locally).
	Exclude bool
	// Target is the backend URL (ws, wss, http or https); nil when Exclude.
	Target *url.URL
	// Upgrade is the upgrade= parameter as written ("" when absent). The
	// default for ws:// and wss:// targets is WebSocket; http:// and
	// https:// targets never upgrade without it.
	Upgrade string
	// NoCanon forwards the raw request path instead of Apache's
	// re-encoded one (the nocanon keyword).
	NoCanon bool
	// Timeout is timeout=: how long to wait for the backend's answer and,
	// once tunnelling, how long the tunnel may stay idle. Zero: not set.
	Timeout time.Duration
	// ConnectTimeout is connectiontimeout=. Zero: not set.
	ConnectTimeout time.Duration
}

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
	if r.Exclude || client == "" {
		return "", false
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

// Table is the ordered list of rules. The first rule that matches a request
// wins, `!` exclusions included, exactly as Apache walks its ProxyPass list.
type Table struct {
	Rules []*Rule
}
