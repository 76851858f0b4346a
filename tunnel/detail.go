package tunnel

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
)

// Detail is one open tunnel seen closely, for a user who asked about it
// (the live view's detail pane): Snapshot stays small, and this is read
// for one tunnel at a time.
type Detail struct {
	Info TunnelInfo
	// The upgrade request as sent to the backend: the rule's path, the
	// headers after RequestHeader lines, hop-by-hop removal and the
	// X-Forwarded-* ones, and the Host sent.
	Method, Target, Host string
	RequestHeader        http.Header
	// The backend's 101 as it answered it, before the hop-by-hop headers
	// were removed for the client.
	Status         int
	ResponseHeader http.Header
	// Subprotocol and Extensions are what the backend chose
	// (Sec-WebSocket-Protocol, Sec-WebSocket-Extensions): wsgate passes
	// them on untouched.
	Subprotocol, Extensions string
}

// handshake is what a tunnel's upgrade exchanged with its backend, as
// text: the request head as sent, and the header block of the backend's
// 101. Set before the tunnel is registered and never changed, so it is
// read without a lock. Text costs a live tunnel about a third of what the
// header maps it was written from would (one string each, no map), and
// TunnelDetail parses it again for the one tunnel a user looks at.
type handshake struct {
	request  string // request line, header lines and the blank line
	status   int
	response string // header lines
}

// headerText is h as header lines, in one allocation.
func headerText(h http.Header) string {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	var b strings.Builder
	b.Grow(n)
	writeHeader(&b, h)
	return b.String()
}

// TunnelDetail describes the open tunnel id, or reports false when no
// open tunnel has that ID (it has closed, say).
func (s *Server) TunnelDetail(id uint64) (Detail, bool) {
	t := s.reg.find(id)
	if t == nil {
		return Detail{}, false
	}
	d := Detail{Info: t.info(), Status: t.hs.status}
	// Both were written by wsgate's own writeHeader: they parse.
	if r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(t.hs.request))); err == nil {
		d.Method, d.Target, d.Host, d.RequestHeader = r.Method, r.RequestURI, r.Host, r.Header
	}
	if h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(t.hs.response + "\r\n"))).ReadMIMEHeader(); err == nil {
		d.ResponseHeader = http.Header(h)
		d.Subprotocol = d.ResponseHeader.Get("Sec-WebSocket-Protocol")
		d.Extensions = strings.Join(d.ResponseHeader.Values("Sec-WebSocket-Extensions"), ", ")
	}
	return d, true
}

// find returns the live tunnel id, or nil.
func (r *registry) find(id uint64) *Tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t := range r.live {
		if t.ID == id {
			return t
		}
	}
	return nil
}
