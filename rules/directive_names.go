package rules

import (
	_ "embed"
	"slices"
	"strings"
)

// directiveNames are the directives wsgate reads, by lower-case name.
var directiveNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Listen", "ProxyPass", "ProxyPassMatch", "ProxyWebsocketFallbackToProxyHttp",
		"ProxyPreserveHost", "ProxyAddHeaders", "ProxyTimeout", "Timeout", "ProxyRequests",
		"ProxySet", "RewriteEngine", "RewriteCond", "RewriteRule", "SSLEngine",
		"SSLCertificateFile", "SSLCertificateKeyFile", "SSLProxyEngine", "SSLProxyVerify",
		"SSLProxyCACertificateFile", "SSLProxyCheckPeerName", "BalancerMember",
		"ProxyWebsocketIdleTimeout", "ProxyWebsocketAsync", "ProxyWebsocketAsyncDelay",
		"RequestHeader", "Header", "SetEnvIf", "SetEnvIfNoCase", "ProxyPassReverse",
		"ProxyPassReverseCookieDomain", "ProxyPassReverseCookiePath",
		"ServerName", "ServerAlias", "AllowEncodedSlashes", "ProxyPassInherit", "ProxyBadHeader",
		"RewriteOptions", "Redirect", "RedirectMatch", "RedirectPermanent", "RedirectTemp",
		"LimitRequestLine", "LimitRequestFieldSize", "LimitRequestFields",
		"Include", "IncludeOptional", "Define", "UnDefine", "ServerRoot",
		"WsgateAllowOrigin", // wsgate's own, not Apache's
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// Reasons shared by several skipped directives.
const (
	noAccessControl = "wsgate does no access control by client address or user: every request that matches a rule is proxied (WsgateAllowOrigin limits which web pages may open tunnels)"
	noLocalContent  = "wsgate serves no local content"
)

// skippedDirectives are Apache directives that a pasted configuration
// often holds and that wsgate reads past with a warning, with the reason
// ("" for "not used by wsgate").
var skippedDirectives = map[string]string{
	"LoadModule": "wsgate has the modules it needs built in", "LoadFile": "",
	"ServerAdmin":  "",
	"ServerTokens": "", "ServerSignature": "", "DocumentRoot": noLocalContent,
	"ErrorLog": "wsgate logs to standard error", "CustomLog": "wsgate logs to standard error",
	"TransferLog": "wsgate logs to standard error", "LogLevel": "use wsgate --verbose",
	"LogFormat": "wsgate logs to standard error",
	"Require":   noAccessControl, "Order": noAccessControl, "Allow": noAccessControl,
	"Deny": noAccessControl, "Satisfy": noAccessControl, "AuthType": noAccessControl,
	"AuthName": noAccessControl, "AuthUserFile": noAccessControl, "AuthGroupFile": noAccessControl,
	"AuthBasicProvider": noAccessControl, "Options": "", "AllowOverride": "",
	"KeepAlive": "wsgate keeps client connections open between requests, as KeepAlive On", "KeepAliveTimeout": "", "MaxKeepAliveRequests": "", "Protocols": "wsgate speaks HTTP/1.1",
	"PidFile": "", "User": "", "Group": "", "Mutex": "", "DefaultRuntimeDir": "",
	"HostnameLookups": "", "AccessFileName": "", "AddDefaultCharset": noLocalContent,
	"DirectoryIndex": noLocalContent, "ErrorDocument": noLocalContent, "SetEnv": "",
	"BrowserMatch": "", "UnsetEnv": "", "PassEnv": "",
	"AddType": noLocalContent, "AddHandler": noLocalContent, "SetHandler": noLocalContent,
	"TypesConfig": noLocalContent, "AddOutputFilterByType": "", "AddOutputFilter": "",
	"StartServers": "", "MinSpareServers": "", "MaxSpareServers": "", "MinSpareThreads": "",
	"MaxSpareThreads": "", "ThreadsPerChild": "", "ThreadLimit": "", "ServerLimit": "",
	"MaxRequestWorkers": "", "MaxClients": "", "MaxConnectionsPerChild": "",
	"MaxRequestsPerChild": "", "TraceEnable": "", "UseCanonicalName": "",
	"EnableSendfile": "", "EnableMMAP": "", "FileETag": "", "LimitRequestBody": "",
	"Alias": noLocalContent, "ScriptAlias": noLocalContent,
	"ProxyVia":           "wsgate adds no Via header, as ProxyVia Off",
	"ProxyErrorOverride": "", "ProxyHTMLEnable": "", "ProxyHTMLURLMap": "",
	"SSLProtocol": "", "SSLCipherSuite": "", "SSLHonorCipherOrder": "", "SSLCompression": "",
	"SSLSessionTickets": "", "SSLCertificateChainFile": "put the chain in SSLCertificateFile",
	"SSLCACertificateFile": "wsgate does not verify client certificates",
	"SSLVerifyClient":      "wsgate does not verify client certificates",
	"SSLVerifyDepth":       "", "SSLOptions": "", "SSLUseStapling": "", "SSLStaplingCache": "",
	"SSLSessionCache": "", "SSLSessionCacheTimeout": "", "SSLRandomSeed": "",
	"SSLPassPhraseDialog": "", "SSLProxyProtocol": "", "SSLProxyCipherSuite": "",
	"SSLProxyVerifyDepth": "", "SSLProxyCheckPeerCN": "the peer name is checked by SSLProxyCheckPeerName",
	"SSLProxyCheckPeerExpire": "expired certificates are always refused when verifying",
	"H2Direct":                "", "H2Push": "", "RewriteBase": "",
	"HttpProtocolOptions": "", "ExpiresActive": "", "ExpiresDefault": "", "ExpiresByType": "",
	"IndexOptions": noLocalContent, "AddIcon": noLocalContent, "DefaultType": "",
	"ServerPath": "", "NameVirtualHost": "", "CoreDumpDirectory": "", "GracefulShutdownTimeout": "",
	"ListenBackLog": "", "RequestReadTimeout": "", "RemoteIPHeader": "", "RemoteIPInternalProxy": "",
	// Apache directives that change what a request gets, which wsgate does
	// not do yet: the warning says what differs.

	"MergeSlashes":            "wsgate behaves as MergeSlashes On",
	"ProxyPassInterpolateEnv": "ProxyPass ... interpolate is not supported yet",
	"ProxyRemote":             "wsgate connects to backends directly, not through another proxy",
	"ProxyRemoteMatch":        "wsgate connects to backends directly, not through another proxy",
	"ProxyBlock":              "wsgate blocks no hosts",
	"NoProxy":                 "wsgate connects to backends directly, not through another proxy",
	"ProxyDomain":             "wsgate proxies requests for any host name",
	"ProxyMaxForwards":        "wsgate adds no Max-Forwards header",
	"ProxyIOBufferSize":       "wsgate sizes its own buffers",
	"ProxyReceiveBufferSize":  "wsgate leaves socket buffers to the system",
	"ProxySourceAddress":      "wsgate lets the system choose the source address",
	"ProxyStatus":             "wsgate's status page is --status",
	"RewriteMap":              "not supported yet: rules that use the map do not map",
	"ProxyHCExpr":             "health check expressions are not supported yet",
	"ProxyHCTemplate":         "health check templates are not supported yet",
	"ProxyHCTPsize":           "",
	"ProxyFCGIBackendType":    "wsgate proxies HTTP and WebSocket only",
	"ProxyFCGISetEnvIf":       "wsgate proxies HTTP and WebSocket only",
	"ProxyExpressEnable":      "not supported yet",
	"ProxyExpressDBMFile":     "not supported yet",
}

// apacheNames are the directives and sections of Apache httpd 2.4 with every
// module of Debian's apache2 loaded (apache-directives.txt, made by
// apache-directives.sh with apache2 -L), lower case. Any of them that wsgate
// does not read is skipped with a warning; a name Apache does not know
// either is an unknown directive, as in Apache.
var apacheNames = func() map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(apacheDirectivesTxt, "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			m[strings.ToLower(l)] = l
		}
	}
	return m
}()

//go:embed apache-directives.txt
var apacheDirectivesTxt string

var (
	skipped         = lowerKeys(skippedDirectives)
	knownDirectives = func() []string {
		var names []string
		for _, n := range apacheNames {
			if n[0] != '<' {
				names = append(names, n)
			}
		}
		for _, n := range directiveNames {
			names = append(names, n)
		}
		for n := range skippedDirectives {
			names = append(names, n)
		}
		slices.Sort(names)
		return slices.Compact(names)
	}()
)

func lowerKeys(m map[string]string) map[string]string {
	l := make(map[string]string, len(m))
	for k, v := range m {
		l[strings.ToLower(k)] = v
	}
	return l
}
