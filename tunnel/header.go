package tunnel

import (
	"cmp"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/wsgate/wsgate/rules"
)

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 §7.6.1), in the list Apache's ap_proxy_create_hdrbrgd removes.
// Upgrade is among them: it is added back only when the rule allows it.
var hopByHop = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
	"Expect",
	"Content-Length",
}

// removeHopByHop deletes the hop-by-hop headers and every header named in
// Connection. The Connection-listed ones go first, so that a client cannot
// use `Connection: X-Forwarded-For` to remove what the proxy adds afterwards
// (CVE-2022-31813).
func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// outboundHeader builds the header sent to the backend from the inbound
// request, which it leaves untouched, and returns it with the Host to
// send: the RequestHeader lines applied first (Apache runs them in its
// fixups, before mod_proxy: "RequestHeader set X-Forwarded-For a" reaches
// the backend as "a, <client>", and a Host they set is what
// ProxyPreserveHost and X-Forwarded-Host use), then hop-by-hop headers
// removed, then the X-Forwarded-* headers appended unless ProxyAddHeaders
// is Off.
func outboundHeader(in *http.Request, m rules.Match, serverName string) (http.Header, string) {
	h := in.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	host := editsOf(in).Request(h, in.Host)
	removeHopByHop(h)
	if m.AddHeaders {
		if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
			appendValue(h, "X-Forwarded-For", ip)
		}
		if host != "" {
			appendValue(h, "X-Forwarded-Host", host)
		}
		if serverName != "" {
			appendValue(h, "X-Forwarded-Server", serverName)
		}
	}
	return h, backendHost(host, m, serverName)
}

// appendValue adds v to the header as Apache does: appended to any existing
// value with ", ", so the backend sees one line.
func appendValue(h http.Header, name, v string) {
	if prior := h.Values(name); len(prior) > 0 {
		v = strings.Join(prior, ", ") + ", " + v
	}
	h.Set(name, v)
}

// backendHost is the Host sent to the backend: the client's (host),
// verbatim, with ProxyPreserveHost On (the server name for a request that
// had none), else the target's.
func backendHost(host string, m rules.Match, serverName string) string {
	if m.PreserveHost {
		return cmp.Or(host, serverName)
	}
	return hostHeader(m.Scheme, m.Host)
}

// hostHeader is the target's host, with the port left out when it is the
// scheme's default, as Apache writes it.
func hostHeader(scheme, host string) string {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	if (port == "80" && (scheme == "ws" || scheme == "http")) ||
		(port == "443" && (scheme == "wss" || scheme == "https")) {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}

// headerValue joins repeated header lines as a server core merges them, so
// `Upgrade: a` + `Upgrade: b` is compared as "a, b".
func headerValue(h http.Header, name string) string {
	return strings.Join(h.Values(name), ", ")
}

// writeHeader writes h in sorted order, the WebSocket headers spelt as RFC
// 6455 spells them (Go's parser canonicalises them to Sec-Websocket-*), and
// CR or LF in a value replaced by a space, so no value can inject a header.
func writeHeader(w io.StringWriter, h http.Header) {
	keys := make([]string, 0, 32) // on the stack for most requests
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		prefix, name := "", k
		if rest, ok := strings.CutPrefix(k, "Sec-Websocket-"); ok {
			prefix, name = "Sec-WebSocket-", rest
		}
		for _, v := range h[k] {
			w.WriteString(prefix)
			w.WriteString(name)
			w.WriteString(": ")
			w.WriteString(crlfToSpace.Replace(v))
			w.WriteString("\r\n")
		}
	}
}

var crlfToSpace = strings.NewReplacer("\r", " ", "\n", " ")

// stripDeflate removes permessage-deflate (and its pre-standard forms) from
// the extensions a client offers, so that the backend answers uncompressed
// and a trace can read the payloads.
func stripDeflate(h http.Header) {
	var keep []string
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for _, offer := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(offer, ";")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "permessage-deflate", "x-webkit-deflate-frame", "":
				continue
			}
			keep = append(keep, strings.TrimSpace(offer))
		}
	}
	h.Del("Sec-WebSocket-Extensions")
	if len(keep) > 0 {
		h.Set("Sec-WebSocket-Extensions", strings.Join(keep, ", "))
	}
}
