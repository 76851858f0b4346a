package cmd

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// bodyMax is how much of a non-101 answer's body dial shows.
const bodyMax = 4 << 10

// handshake is the http.RoundTripper under dial's opening handshake. It
// passes each request to next and keeps what the user is shown of it:
// with -v, the request as the Transport writes it (httptrace reports each
// header line written, Host and User-Agent included, so nothing is
// reconstructed), the answer and how long each step took; for an answer
// other than 101, the start of its body, since coder/websocket keeps only
// its first 1 KiB. A redirect goes through RoundTrip again.
type handshake struct {
	next http.RoundTripper
	log  io.Writer // nil: -v is off
	body []byte    // the last non-101 answer's, at most bodyMax bytes
	cut  bool      // that body went on past bodyMax
}

// steps is what httptrace reports of one request. The Transport calls
// back from its own goroutines: mu guards everything.
type steps struct {
	mu                         sync.Mutex
	sent                       []string // header lines as written
	dns, connect, tls, server  time.Duration
	dnsAt, connAt, tlsAt, wrAt time.Time
	tlsVersion                 string
}

func (h *handshake) RoundTrip(req *http.Request) (*http.Response, error) {
	s := &steps{}
	at := func(t *time.Time) { s.mu.Lock(); *t = time.Now(); s.mu.Unlock() }
	since := func(d *time.Duration, t *time.Time) { s.mu.Lock(); *d = time.Since(*t); s.mu.Unlock() }
	trace := &httptrace.ClientTrace{
		DNSStart:          func(httptrace.DNSStartInfo) { at(&s.dnsAt) },
		DNSDone:           func(httptrace.DNSDoneInfo) { since(&s.dns, &s.dnsAt) },
		ConnectStart:      func(string, string) { at(&s.connAt) },
		ConnectDone:       func(string, string, error) { since(&s.connect, &s.connAt) },
		TLSHandshakeStart: func() { at(&s.tlsAt) },
		TLSHandshakeDone: func(cs tls.ConnectionState, _ error) {
			since(&s.tls, &s.tlsAt)
			s.mu.Lock()
			s.tlsVersion = tls.VersionName(cs.Version)
			s.mu.Unlock()
		},
		WroteHeaderField: func(key string, values []string) {
			s.mu.Lock()
			for _, v := range values {
				s.sent = append(s.sent, key+": "+v)
			}
			s.mu.Unlock()
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { at(&s.wrAt) },
		GotFirstResponseByte: func() { since(&s.server, &s.wrAt) },
	}
	start := time.Now()
	resp, err := h.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	took := time.Since(start)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, bodyMax+1))
		h.body, h.cut = b[:min(len(b), bodyMax)], len(b) > bodyMax
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	}
	if h.log != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		h.print(req, resp, s, took)
	}
	return resp, err
}

// print writes the exchange the way curl -v does: > sent, < received,
// * dial's notes.
func (h *handshake) print(req *http.Request, resp *http.Response, s *steps, took time.Duration) {
	var b strings.Builder
	if len(s.sent) > 0 {
		fmt.Fprintf(&b, "> %s %s HTTP/1.1\n", req.Method, req.URL.RequestURI())
		for _, l := range s.sent {
			fmt.Fprintf(&b, "> %s\n", l)
		}
		b.WriteString(">\n")
	}
	if resp != nil {
		fmt.Fprintf(&b, "< %s %s\n", resp.Proto, resp.Status)
		for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
			for _, v := range resp.Header[k] {
				fmt.Fprintf(&b, "< %s: %s\n", k, v)
			}
		}
		b.WriteString("<\n")
	}
	outcome := "answered"
	if resp == nil {
		outcome = "failed"
	}
	fmt.Fprintf(&b, "* %s in %s", outcome, ms(took))
	var parts []string
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"dns", s.dns}, {"connect", s.connect}, {cmp.Or(s.tlsVersion, "tls"), s.tls}, {"server", s.server}} {
		if p.d > 0 {
			parts = append(parts, p.name+" "+ms(p.d))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	io.WriteString(h.log, b.String())
}

// bodyText is the kept body of a non-101 answer, to end the error with.
func (h *handshake) bodyText() string {
	if len(h.body) == 0 {
		return ""
	}
	text := strings.TrimRight(string(h.body), "\r\n")
	if !utf8.ValidString(text) {
		text = fmt.Sprintf("%q", h.body)
	}
	if h.cut {
		text += "\n(the first 4 KiB of the body)"
	}
	return "; its body:\n" + text
}

// ms is d in milliseconds with a tenth, the scale of a handshake.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
