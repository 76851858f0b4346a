package tunnel

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// HTTPExchange is one plain HTTP request and its answer, for
// Config.OnHTTP: the requests that are not upgrades, or whose upgrade the
// rule falls back to HTTP for (ProxyWebsocketFallbackToProxyHttp), which
// is how Socket.IO's long-polling requests pass (issue 20). Its headers
// and body bytes are copies made for the hook, which may keep them.
type HTTPExchange struct {
	// Time is when the request arrived. Wait runs from then until the
	// answer's header was written (a long poll's waiting: HAR's "wait"),
	// Duration until its last byte was.
	Time           time.Time
	Wait, Duration time.Duration
	Method         string
	// Target is the request target as the client sent it, path and
	// query; URL is the same as an absolute URL, http:// or https:// and
	// the request's Host.
	Target, URL string
	Proto       string // "HTTP/1.1"
	Client      string // the client's address
	// Route names the rule, as TunnelInfo.Route does; Backend is the URL
	// the request was sent to (the last balancer member tried).
	Route, Backend string
	// Status is the answer's, 0 when none was written. Aborted says the
	// answer was cut short: its body failed to pass (the backend or the
	// client went away), and the connection was closed.
	Status  int
	Aborted bool
	// RequestHeader is the request's header as the client sent it;
	// ResponseHeader the answer's as wsgate wrote it (net/http adds Date
	// and the framing fields when they are missing).
	RequestHeader, ResponseHeader http.Header
	// Request and Response are the bodies as they passed.
	Request, Response Body
}

// Body is what a trace keeps of a request's or an answer's body.
type Body struct {
	// Data is the first Config.TraceBytes bytes as they passed; Len
	// counts every byte, and Truncated says that Data holds fewer.
	Data      []byte
	Len       int64
	Truncated bool
	// Encoding is the body's Content-Encoding (gzip, br, ...), "" for
	// none or identity: Data is then compressed as it was sent. It is
	// not decoded: that would take a decompressor per request, and what
	// passed is what the peers saw.
	Encoding string
}

// proxyTraced is the plain path when Config.OnHTTP is set: the request
// body is teed as the reverse proxy reads it and the answer as it is
// written, the first traceBytes of each, and the exchange is reported
// once the answer was written, or was cut short (the reverse proxy then
// panics with http.ErrAbortHandler, which the deferred report lets pass).
// r is the proxy's own copy of the inbound request: giving it the tee as
// its Body leaves the inbound request as it was.
func (s *Server) proxyTraced(rec *answerRecorder, r *http.Request, m rules.Match, bt *balanced, start time.Time) {
	tw := &tracedWriter{ResponseWriter: rec, max: s.traceBytes, start: start}
	var tee *bodyTee
	// http.NoBody stays: plainError fails over only a request without
	// a body, and the transport sends no body for it.
	if r.Body != nil && r.Body != http.NoBody {
		tee = &bodyTee{src: r.Body, max: s.traceBytes}
		r.Body = tee
	}
	done := false
	defer func() {
		s.cfg.OnHTTP(s.exchange(r, m, bt, start, rec, tw, tee, !done))
	}()
	s.proxy.ServeHTTP(tw, r)
	done = true
}

// exchange is what the hook gets of a plain request r once its answer
// was written.
func (s *Server) exchange(r *http.Request, m rules.Match, bt *balanced, start time.Time,
	rec *answerRecorder, tw *tracedWriter, tee *bodyTee, aborted bool) HTTPExchange {
	x := HTTPExchange{
		Time: start, Duration: time.Since(start), Wait: tw.wait,
		Method: r.Method, Target: r.RequestURI, URL: plainURL(r), Proto: r.Proto, Client: r.RemoteAddr,
		Backend: m.URL(), Status: rec.status, Aborted: aborted,
		RequestHeader: r.Header.Clone(), ResponseHeader: tw.header,
	}
	if tw.header == nil {
		x.Wait = x.Duration
	}
	if m.Rule != nil {
		x.Route = routeName(m.Rule)
	}
	if bt.mem != nil {
		x.Backend = memberMatch(bt.orig, bt.mem).URL()
	}
	if tee != nil {
		x.Request = tee.take()
	}
	x.Request.Encoding = contentEncoding(r.Header)
	x.Response = Body{Data: tw.data, Len: tw.n, Truncated: tw.n > int64(len(tw.data)), Encoding: contentEncoding(tw.header)}
	return x
}

// plainURL is the request as an absolute URL, as the client asked for it.
func plainURL(r *http.Request) string {
	if !strings.HasPrefix(r.RequestURI, "/") && strings.Contains(r.RequestURI, "://") {
		return r.RequestURI // absolute-form (RFC 9112 §3.2.2)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.RequestURI
}

// contentEncoding is h's Content-Encoding, "" for none or identity.
func contentEncoding(h http.Header) string {
	ce := strings.TrimSpace(strings.Join(h.Values("Content-Encoding"), ", "))
	if strings.EqualFold(ce, "identity") {
		return ""
	}
	return ce
}

// keep appends to data what p adds of the first limit bytes.
func keep(data, p []byte, limit int) []byte {
	if room := limit - len(data); room > 0 {
		if data == nil {
			data = make([]byte, 0, min(limit, max(len(p), 512)))
		}
		data = append(data, p[:min(room, len(p))]...)
	}
	return data
}

// bodyTee is a request body that keeps its first max bytes as the
// reverse proxy reads them. The transport may still be reading it from
// its own goroutine when the answer is done (a backend that answers
// before it has read the body), hence the lock, and take, after which it
// keeps nothing more: the bytes handed out never change.
type bodyTee struct {
	src io.ReadCloser
	max int

	mu    sync.Mutex
	data  []byte
	n     int64
	taken bool
}

func (b *bodyTee) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	if n > 0 {
		b.mu.Lock()
		if !b.taken {
			b.data = keep(b.data, p[:n], b.max)
			b.n += int64(n)
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *bodyTee) Close() error { return b.src.Close() }

// take returns what passed so far, and stops keeping.
func (b *bodyTee) take() Body {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.taken = true
	return Body{Data: b.data, Len: b.n, Truncated: b.n > int64(len(b.data))}
}

// tracedWriter keeps the answer's header as it is written, and the first
// max bytes of its body, passing every call on unchanged. Only the
// handler's goroutine writes the header and the body; the transport's
// calls WriteHeader for interim (1xx) answers, which it leaves alone.
type tracedWriter struct {
	http.ResponseWriter
	max    int
	start  time.Time
	header http.Header // the final header, as written; nil until then
	wait   time.Duration
	data   []byte
	n      int64
}

func (w *tracedWriter) WriteHeader(code int) {
	// Interim answers come from the transport's goroutine: they must
	// not touch w.
	if (code >= 200 || code == http.StatusSwitchingProtocols) && w.header == nil {
		w.noteHeader()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tracedWriter) Write(p []byte) (int, error) {
	if w.header == nil {
		w.noteHeader() // the implicit 200
	}
	n, err := w.ResponseWriter.Write(p)
	if n > 0 {
		w.data = keep(w.data, p[:n], w.max)
		w.n += int64(n)
	}
	return n, err
}

func (w *tracedWriter) noteHeader() {
	w.header = w.ResponseWriter.Header().Clone()
	if w.header == nil {
		w.header = http.Header{}
	}
	w.wait = time.Since(w.start)
}

// Unwrap lets the reverse proxy reach the connection's Flusher.
func (w *tracedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
