package tunnel

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/headers"
	"github.com/wsgate/wsgate/internal/reqvar"
	"github.com/wsgate/wsgate/rules"
)

// This file applies a request's header lines (RequestHeader, Header,
// SetEnvIf, ProxyPassReverse*; see package headers) and answers redirects.
// Where each applies, as Apache 2.4.71 does:
//
//	request to the backend    RequestHeader, before X-Forwarded-*      upgrade and plain
//	backend's response        ProxyPassReverse*, then Header           plain, and a refused upgrade
//	wsgate's own answers      Header always                            errors, redirects, 426
//	101 Switching Protocols   nothing                                  as Apache: mod_headers never sees it

// editsKey carries a request's *headers.Edits in its context, so that every
// answer given to the request (fail, redirect, the reverse proxy's hooks)
// applies the same edits with the same environment.
type editsKey struct{}

// withEdits returns r carrying the edits of scope for it; r itself when
// the scope has no lines, so that a table without them costs nothing.
func (s *Server) withEdits(r *http.Request, t *rules.Table, scope rules.Scope, m rules.Match, start time.Time) *http.Request {
	e := headers.New(t, scope, r, start, s.serverNameOf(m))
	if e == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), editsKey{}, e))
}

// editsOf is the request's edits; nil (which applies nothing) when none.
func editsOf(r *http.Request) *headers.Edits {
	e, _ := r.Context().Value(editsKey{}).(*headers.Edits)
	return e
}

// serverNameOf is the ServerName of the request's virtual host, else the
// server's name, as Apache uses r->server's: in X-Forwarded-Server, and in
// place of a missing Host.
func (s *Server) serverNameOf(m rules.Match) string {
	if m.VirtualHost != nil && m.VirtualHost.ServerName != "" {
		return m.VirtualHost.ServerName
	}
	return s.serverName
}

// logEdits logs, once per request, the header lines that could not be
// applied to it.
func (s *Server) logEdits(r *http.Request) {
	if p := editsOf(r).Problems(); len(p) > 0 {
		s.log.Warn("header lines not applied", "client", r.RemoteAddr, "path", r.RequestURI, "lines", strings.Join(p, "; "))
	}
}

// editBackendResponse applies ProxyPassReverse* and Header lines to a
// backend's response header, once the balancer member that answered is
// known (its BALANCER_* variables are what Header lines see).
func editBackendResponse(r *http.Request, h http.Header, bt *balanced) {
	e := editsOf(r)
	if e == nil {
		return
	}
	if bt != nil && bt.mem != nil {
		name, route := stickySession(r, bt.pool.b.StickySession)
		e.SetBalancer(bt.pool.b, bt.mem.m, name, route)
	}
	e.Reverse(h)
	e.Response(h, true)
}

// redirect answers a Redirect line or a RewriteRule [R] itself, as
// mod_alias and mod_rewrite do: never dialling a backend, for an upgrade
// request too. The body is Apache's, so that a browser shows the same
// page; a Location that is a path is made absolute with the request's
// scheme, Host and port, as Apache sends it.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, m rules.Match) {
	rd := m.Redirect
	h := w.Header()
	loc := ""
	if rd.Location != "" && rd.Status != http.StatusGone {
		loc = reqvar.AbsoluteURL(rd.Location, r, s.serverNameOf(m))
		h.Set("Location", loc)
	}
	body := redirectBody(rd.Status, loc)
	h.Set("Content-Type", "text/html; charset=iso-8859-1")
	editsOf(r).Response(h, false)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rd.Status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	attrs := []any{"client", r.RemoteAddr, "path", r.RequestURI, "status", rd.Status}
	if loc != "" {
		attrs = append(attrs, "location", loc)
	}
	if rd.Rule != nil {
		attrs = append(attrs, "rule", rd.Rule.Pos.String())
	}
	s.log.Info("redirect", attrs...)
}

// redirectBody is the page Apache's ap_send_error_response sends with a
// redirect or a 410 (its canned error strings, without the server
// signature).
func redirectBody(status int, loc string) []byte {
	text := http.StatusText(status)
	var p string
	switch {
	case status == http.StatusSeeOther:
		p = fmt.Sprintf("<p>The answer to your request is located <a href=\"%s\">here</a>.</p>\n", htmlEscape(loc))
	case status >= 300 && status < 400:
		p = fmt.Sprintf("<p>The document has moved <a href=\"%s\">here</a>.</p>\n", htmlEscape(loc))
	case status == http.StatusGone:
		p = "<p>The requested resource is no longer available on this server and there is no forwarding address.\n" +
			"Please remove all references to this resource.</p>\n"
	default:
		p = "<p>" + htmlEscape(text) + "</p>\n"
	}
	return fmt.Appendf(nil, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n"+
		"<html><head>\n<title>%d %s</title>\n</head><body>\n<h1>%s</h1>\n%s</body></html>\n", status, text, text, p)
}

// htmlEscape is ap_escape_html: the four bytes that would end an
// attribute or start markup.
var htmlEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace
