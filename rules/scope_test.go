package rules

import (
	"net/http"
	"strings"
	"testing"
)

// scopeText prints the main server's scope lines and the warnings.
func scopeText(tb *Table) string {
	var out []string
	for _, w := range tb.Warnings {
		out = append(out, "warning: "+w.Error())
	}
	for _, l := range tb.Scope.lines(false) {
		out = append(out, origin(l.pos)+": "+l.text)
	}
	return strings.Join(out, "\n")
}

func TestParseScope(t *testing.T) {
	cases := []struct {
		name, conf, want string
	}{
		{"request header forms", `
RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}
RequestHeader set X-Real-IP %{REMOTE_ADDR}s
RequestHeader set X-Forwarded-Proto "https"
REQUESTHEADER SetIfEmpty X-Id "%{UNIQUE}e"
RequestHeader unset Authorization
RequestHeader append X-A "a b" env=!NOPE
`, `wsgate.conf:2: RequestHeader set X-Forwarded-Proto "expr=%{REQUEST_SCHEME}"
wsgate.conf:3: RequestHeader set X-Real-IP "%{REMOTE_ADDR}s"
wsgate.conf:4: RequestHeader set X-Forwarded-Proto "https"
wsgate.conf:5: RequestHeader setifempty X-Id "%{UNIQUE}e"
wsgate.conf:6: RequestHeader unset Authorization
wsgate.conf:7: RequestHeader append X-A "a b" env=!NOPE`},
		{"response header forms", `
Header always set Strict-Transport-Security "max-age=63072000; includeSubDomains"
Header set X-Frame-Options SAMEORIGIN
Header onsuccess merge Cache-Control no-cache
Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
Header always unset X-Powered-By
`, `wsgate.conf:2: Header always set Strict-Transport-Security "max-age=63072000; includeSubDomains"
wsgate.conf:3: Header set X-Frame-Options "SAMEORIGIN"
wsgate.conf:4: Header merge Cache-Control "no-cache"
wsgate.conf:5: Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
wsgate.conf:6: Header always unset X-Powered-By`},
		{"setenvif", `
SetEnvIf Request_URI "^/api/(v\d)" API=$1 IS_API
SetEnvIfNoCase X-Mode ^debug$ DEBUG !QUIET
SetEnvIf ^X-Hdr-.* . HDR= OTHER=x=y
`, `wsgate.conf:2: SetEnvIf Request_URI "^/api/(v\\d)" API=$1 IS_API=1
wsgate.conf:3: SetEnvIfNoCase X-Mode "^debug$" DEBUG=1 !QUIET
wsgate.conf:4: SetEnvIf ^X-Hdr-.* "." HDR=1 OTHER=x=y`},
		{"reverse", `
ProxyPassReverse /app/ http://127.0.0.1:9000/app/
ProxyPassReverse / balancer://cluster/
ProxyPassReverseCookieDomain backend.internal example.com
ProxyPassReverseCookiePath /app/ /
`, `wsgate.conf:2: ProxyPassReverse /app/ http://127.0.0.1:9000/app/
wsgate.conf:3: ProxyPassReverse / balancer://cluster/
wsgate.conf:4: ProxyPassReverseCookieDomain backend.internal example.com
wsgate.conf:5: ProxyPassReverseCookiePath /app/ /`},
		{"warnings", `
RequestHeader set X-A "a" early
RequestHeader set X-Client-DN %{SSL_CLIENT_S_DN}s
ProxyPassReverse /app/ backend:9000/app/
`, `warning: wsgate.conf:2:27: RequestHeader ... early: wsgate applies it with the other RequestHeader lines, after routing and SetEnvIf (RewriteCond and SetEnvIf see the client's headers)
warning: wsgate.conf:3:31: RequestHeader set X-Client-DN: %{SSL_CLIENT_S_DN}s is not a variable wsgate knows; it is sent as "(null)", as Apache does for an unset variable
warning: wsgate.conf:4:24: ProxyPassReverse: "backend:9000/app/" is neither a URL nor a path, so it matches no backend URL (as in Apache)
wsgate.conf:2: RequestHeader set X-A "a"
wsgate.conf:3: RequestHeader set X-Client-DN "%{SSL_CLIENT_S_DN}s"
wsgate.conf:4: ProxyPassReverse /app/ backend:9000/app/`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := ParseFile("wsgate.conf", []byte(tc.conf), Options{})
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if got := scopeText(tb); got != tc.want {
				t.Errorf("scope =\n%s\nwant\n%s", got, tc.want)
			}
			// The printed lines parse back into the same lines.
			var conf strings.Builder
			for _, l := range tb.Scope.lines(false) {
				conf.WriteString(l.text + "\n")
			}
			tb2, err := ParseFile("wsgate.conf", []byte(conf.String()), Options{})
			if err != nil {
				t.Fatalf("ParseFile(printed): %v\n%s", err, conf.String())
			}
			var again strings.Builder
			for _, l := range tb2.Scope.lines(false) {
				again.WriteString(l.text + "\n")
			}
			if again.String() != conf.String() {
				t.Errorf("printed lines do not round-trip:\n%s\nbecame\n%s", conf.String(), again.String())
			}
		})
	}
}

func TestParseScopeErrors(t *testing.T) {
	cases := []struct{ conf, want string }{
		{"RequestHeader", "wsgate.conf:1:14: RequestHeader: missing action (want set, setifempty, append, add, merge, unset)"},
		{"RequestHeader sett X-A b", `wsgate.conf:1:15: RequestHeader: unknown action "sett" (did you mean "set"?)`},
		{"RequestHeader edit X-A ^a b", "wsgate.conf:1:15: RequestHeader edit: not supported by wsgate (header values cannot be rewritten with a regular expression); use set or unset"},
		{"Header edit* Set-Cookie ^(.*)$ $1;Secure", "wsgate.conf:1:8: Header edit*: not supported by wsgate (header values cannot be rewritten with a regular expression); use set or unset"},
		{"Header echo ^X-", "wsgate.conf:1:8: Header echo: not supported by wsgate; use set, add or unset"},
		{"RequestHeader always set X-A b", "wsgate.conf:1:15: RequestHeader always: only Header takes a condition; RequestHeader applies to every request"},
		{"Header always", "wsgate.conf:1:14: Header always: missing action"},
		{"RequestHeader set", "wsgate.conf:1:18: RequestHeader set: missing header name"},
		{"RequestHeader set X-A", "wsgate.conf:1:22: RequestHeader set X-A: missing value (Apache: header requires three arguments)"},
		{"RequestHeader set X:A b", `wsgate.conf:1:19: RequestHeader set: "X:A" is not a valid header name`},
		{"RequestHeader unset X-A b c", `wsgate.conf:1:27: RequestHeader: unexpected "c" after the condition "b"`},
		{"RequestHeader unset X-A b", `wsgate.conf:1:25: RequestHeader: unknown condition "b" (want env=VAR, env=!VAR or early)`},
		{"RequestHeader set X-A b env=", "wsgate.conf:1:25: RequestHeader: missing environment variable name (want env=VAR or env=!VAR)"},
		{"Header set X-A b expr=%{REQUEST_URI}=~/x/", "wsgate.conf:1:18: Header: expr= conditions are not supported by wsgate; set a variable with SetEnvIf and write env=VAR"},
		{`RequestHeader set X-A "%{User-Agent}i"`, "wsgate.conf:1:23: RequestHeader set X-A: %{User-Agent}i is Apache's count of idle workers, not a request header, and wsgate has no workers; for a request header write expr=%{req:User-Agent}"},
		{`RequestHeader set X-A "%l"`, "wsgate.conf:1:23: RequestHeader set X-A: %l reports Apache's own load (load average, busy workers), which wsgate does not have"},
		{`RequestHeader set X-A "%q"`, "wsgate.conf:1:23: RequestHeader set X-A: unrecognized header format %q (want %t, %D, %{VAR}e, %{VAR}s or %%)"},
		{`RequestHeader set X-A "%{X"`, `wsgate.conf:1:23: RequestHeader set X-A: %{ without a closing } in "%{X"`},
		{`RequestHeader set X-A "%{X}"`, "wsgate.conf:1:23: RequestHeader set X-A: %{X} without a format letter (want %{VAR}e or %{VAR}s)"},
		{`RequestHeader set X-A "a\nb"`, `wsgate.conf:1:23: RequestHeader set X-A: \n in a header value would end the header line`},
		{`RequestHeader set X-A expr=%{SERVER_ADDR}`, "wsgate.conf:1:23: RequestHeader set X-A: expr=: variable %{SERVER_ADDR} is not one wsgate supports (it knows " + strings.Join(requestVars, ", ") + ", and %{req:NAME} for a request header)"},
		{`RequestHeader set X-A expr=%{osenv:HOME}`, `wsgate.conf:1:23: RequestHeader set X-A: expr=: function "osenv" is not supported by wsgate (it knows req, http, reqenv, env, tolower, toupper)`},
		{"SetEnvIf", "wsgate.conf:1:9: SetEnvIf: missing header-field name"},
		{"SetEnvIf Host", "wsgate.conf:1:14: SetEnvIf: missing regular expression"},
		{"SetEnvIf Host x", "wsgate.conf:1:16: SetEnvIf: missing variable (want VAR, VAR=VALUE or !VAR)"},
		{"SetEnvIf Host (x X", `wsgate.conf:1:15: SetEnvIf: invalid regular expression "(x": missing closing ): ` + "`(x`"},
		{"SetEnvIf Host x =1", `wsgate.conf:1:17: SetEnvIf: "=1" names no variable`},
		{`SetEnvIf OID("2.16.840.1.113730.1.13") x X`, `wsgate.conf:1:10: SetEnvIf OID("2.16.840.1.113730.1.13"): client certificate extensions are not supported by wsgate (it asks for no client certificate)`},
		{"ProxyPassReverse", "wsgate.conf:1:17: ProxyPassReverse: missing URL"},
		{"ProxyPassReverse http://b/", "wsgate.conf:1:18: ProxyPassReverse needs a path when not defined in a location (want ProxyPassReverse PATH URL)"},
		{"ProxyPassReverse / http://b/ x y", `wsgate.conf:1:32: ProxyPassReverse takes one, two or three arguments (as in Apache): unexpected "y"`},
		{"ProxyPassReverse / http://b/ interpolate", "wsgate.conf:1:30: ProxyPassReverse: interpolate is not supported yet (ProxyPassInterpolateEnv is not)"},
		{"ProxyPassReverse / balancer://", `wsgate.conf:1:20: ProxyPassReverse: balancer URL "balancer://" has no name (want balancer://NAME)`},
		{"ProxyPassReverseCookiePath /a", "wsgate.conf:1:30: ProxyPassReverseCookiePath: want the backend's value and the public one (ProxyPassReverseCookiePath INTERNAL PUBLIC)"},
		{"ProxyPassReverseCookieDomain a b c", `wsgate.conf:1:34: ProxyPassReverseCookieDomain: unexpected "c" (want ProxyPassReverseCookieDomain INTERNAL PUBLIC)`},
	}
	for _, tc := range cases {
		t.Run(tc.conf, func(t *testing.T) {
			_, err := ParseFile("wsgate.conf", []byte(tc.conf+"\n"), Options{})
			if err == nil {
				t.Fatalf("ParseFile(%q) succeeded; want %s", tc.conf, tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("ParseFile(%q) =\n%s\nwant\n%s", tc.conf, got, tc.want)
			}
		})
	}
}

func TestErrorScope(t *testing.T) {
	tb, err := ParseFile("wsgate.conf", []byte(`
Header always set X-Main 1
<VirtualHost *:18301>
    ServerName a.example
    Header always set X-Vhost 1
    ProxyPass /a/ http://127.0.0.1:9001/
</VirtualHost>
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(s Scope) string {
		var n []string
		for _, e := range s.ResponseHeaders {
			n = append(n, e.Name)
		}
		return strings.Join(n, " ")
	}
	on := func(host string, port int) *http.Request {
		return serverLine{routeLine{target: "/nope", header: http.Header{}, host: host, minor: 1}, port}.request()
	}
	if got := names(tb.ErrorScope(on("a.example", 18301))); got != "X-Main X-Vhost" {
		t.Errorf("ErrorScope(a virtual host's request) = %q; want its lines and the main server's", got)
	}
	tb.Listen = append(tb.Listen, Listen{Addr: "127.0.0.1:18302"})
	if got := names(tb.ErrorScope(on("b.example", 18302))); got != "X-Main" {
		t.Errorf("ErrorScope(the main server's request) = %q; want X-Main", got)
	}
}
