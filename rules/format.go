package rules

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// String prints the rule as a canonical ProxyPass directive, such as
//
//	ProxyPass "/ws/" "ws://127.0.0.1:9001/" upgrade=websocket timeout=5
//
// PATH and URL are always quoted, parameters come in a fixed order and
// durations are spelled as Apache accepts them, so that parsing the
// arguments again gives an equal rule.
func (r *Rule) String() string {
	return "ProxyPass " + r.args()
}

// args is String without the directive name: a valid --pass value.
func (r *Rule) args() string {
	var b strings.Builder
	b.WriteString(quoteArg(r.Path))
	if r.Exclude {
		b.WriteString(" !")
		return b.String()
	}
	b.WriteByte(' ')
	b.WriteString(quoteArg(targetString(r.Target)))
	if r.NoCanon {
		b.WriteString(" nocanon")
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
	return b.String()
}

// String prints one rule per line, each preceded by where it came from:
//
//	--pass 1: ProxyPass "/ws/" "ws://127.0.0.1:9001/" upgrade=websocket
func (t *Table) String() string {
	var b strings.Builder
	for _, r := range t.Rules {
		if o := origin(r.Pos); o != "" {
			b.WriteString(o)
			b.WriteString(": ")
		}
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
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
