package rules

import (
	"fmt"
	"slices"
	"strings"
)

// This file reads the values of RequestHeader and Header lines into
// ValueParts: mod_headers' format strings and the ap_expr strings of
// expr=. What they expand to for a request is package headers' work.

// formatKinds are the parts of the format letters wsgate expands.
var formatKinds = map[byte]PartKind{'t': PartTime, 'D': PartDuration, 'e': PartEnv, 's': PartSSL}

// parseFormat splits a mod_headers value as parse_format_string does:
// backslash escapes \\ \t (and \r \n, refused here) in the text, %% and a
// final % for "%", and the specifiers wsgate can expand. The ones that
// report the state of Apache's own workers (%l, %i, %b) are refused; %i
// in particular is not a request header.
func parseFormat(v string) ([]ValuePart, string) {
	var parts []ValuePart
	var lit strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v):
			switch v[i+1] {
			case '\\':
				lit.WriteByte('\\')
				i++
			case 't':
				lit.WriteByte('\t')
				i++
			case 'r', 'n':
				return nil, fmt.Sprintf(`\%c in a header value would end the header line`, v[i+1])
			default:
				lit.WriteByte('\\')
			}
		case c != '%':
			lit.WriteByte(c)
		case i+1 == len(v) || v[i+1] == '%':
			lit.WriteByte('%')
			i++
		default:
			i++
			arg := ""
			if v[i] == '{' {
				end := strings.IndexByte(v[i:], '}')
				if end < 0 {
					return nil, fmt.Sprintf("%%{ without a closing } in %q", v)
				}
				arg, i = v[i+1:i+end], i+end+1
			}
			if i == len(v) {
				return nil, fmt.Sprintf("%%{%s} without a format letter (want %%{VAR}e or %%{VAR}s)", arg)
			}
			switch tag := v[i]; tag {
			case 't', 'D', 'e', 's':
				if lit.Len() > 0 {
					parts = append(parts, ValuePart{Text: lit.String()})
					lit.Reset()
				}
				if (tag == 'e' || tag == 's') && arg == "" {
					return nil, fmt.Sprintf("%%%c needs a variable name: %%{VAR}%c", tag, tag)
				}
				parts = append(parts, ValuePart{Kind: formatKinds[tag], Text: arg})
			case 'i':
				return nil, fmt.Sprintf("%%{%s}i is Apache's count of idle workers, not a request header, and wsgate has no workers; for a request header write expr=%%{req:%s}", arg, arg)
			case 'l', 'b':
				return nil, fmt.Sprintf("%%%c reports Apache's own load (load average, busy workers), which wsgate does not have", tag)
			default:
				return nil, fmt.Sprintf("unrecognized header format %%%c (want %%t, %%D, %%{VAR}e, %%{VAR}s or %%%%)", tag)
			}
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, ValuePart{Text: lit.String()})
	}
	return parts, ""
}

// requestVars are the request variables ap_expr (expr= values) and
// mod_ssl (%{NAME}s) both know, and package reqvar answers.
var requestVars = []string{"REQUEST_SCHEME", "HTTPS", "HTTP_HOST", "HTTP_USER_AGENT", "HTTP_REFERER",
	"HTTP_COOKIE", "HTTP_FORWARDED", "HTTP_ACCEPT", "HTTP_PROXY_CONNECTION", "REMOTE_ADDR",
	"REMOTE_PORT", "REMOTE_HOST", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REQUEST_METHOD",
	"REQUEST_URI", "DOCUMENT_URI", "QUERY_STRING", "THE_REQUEST"}

// exprFuncs are the ap_expr functions an expr= value may call.
var exprFuncs = []string{"req", "http", "reqenv", "env", "tolower", "toupper"}

// parseExpr reads an ap_expr string expression of the kind the snippets
// use: text with %{VAR} and %{FUNC:ARG}. Names are checked now, as Apache
// checks them when it starts ("Variable 'X' does not exist").
func parseExpr(v string) ([]ValuePart, string) {
	var parts []ValuePart
	for v != "" {
		i := strings.Index(v, "%{")
		if i < 0 {
			parts = append(parts, ValuePart{Text: v})
			break
		}
		if i > 0 {
			parts = append(parts, ValuePart{Text: v[:i]})
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			return nil, fmt.Sprintf("%%{ without a closing } in %q", v)
		}
		inner := v[i+2 : i+end]
		v = v[i+end+1:]
		if fn, arg, ok := strings.Cut(inner, ":"); ok {
			lower := strings.ToLower(fn)
			if !slices.Contains(exprFuncs, lower) {
				return nil, fmt.Sprintf("function %q is not supported by wsgate (it knows %s)", fn, strings.Join(exprFuncs, ", "))
			}
			parts = append(parts, exprFunc(lower, arg))
			continue
		}
		name := strings.ToUpper(inner)
		if !slices.Contains(requestVars, name) {
			return nil, fmt.Sprintf("variable %%{%s} is not one wsgate supports (it knows %s, and %%{req:NAME} for a request header)",
				inner, strings.Join(requestVars, ", "))
		}
		parts = append(parts, ValuePart{Kind: PartVar, Text: name})
	}
	return parts, ""
}

// sslVars are the mod_ssl variables of a connection that wsgate knows,
// besides the request variables and HTTP:NAME and ENV:NAME.
var sslVars = []string{"SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI", "SSL_SESSION_RESUMED", "SSL_CLIENT_VERIFY"}

// IsRequestVar reports whether name is one of the request variables a
// header value may name (%{NAME}s, expr=%{NAME}).
func IsRequestVar(name string) bool { return slices.Contains(requestVars, name) }

// knownSSLVar reports whether %{name}s is a variable package headers
// answers.
func knownSSLVar(name string) bool {
	return slices.Contains(requestVars, name) || slices.Contains(sslVars, name) ||
		strings.HasPrefix(name, "HTTP:") || strings.HasPrefix(name, "ENV:")
}

// exprFunc is the part of %{FUNC:ARG}. tolower and toupper apply to a
// literal, so they are done now.
func exprFunc(fn, arg string) ValuePart {
	switch fn {
	case "req", "http":
		return ValuePart{Kind: PartHeader, Text: arg}
	case "reqenv", "env":
		return ValuePart{Kind: PartExprEnv, Text: arg}
	case "tolower":
		return ValuePart{Text: strings.ToLower(arg)}
	}
	return ValuePart{Text: strings.ToUpper(arg)}
}
