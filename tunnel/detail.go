package tunnel

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
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
	// Messages are the tunnel's last messages and control frames, oldest
	// first, each with at most recentPayload bytes of payload: kept only
	// while tracing (Config.OnMessage is set), nil otherwise.
	Messages []Message
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
	if t.recent != nil {
		d.Messages = t.recent.last()
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

// recentMessages is how many messages a tunnel keeps while tracing, and
// recentPayload how many bytes of each.
const (
	recentMessages = 20
	recentPayload  = 64
)

// keepRecent returns on wrapped so that the tunnel keeps its last
// messages for TunnelDetail. Without tracing on is nil and stays nil: the
// frame reader then makes no Message at all, and the tunnel keeps none.
func (t *Tunnel) keepRecent(on func(Message)) func(Message) {
	if on == nil {
		return nil
	}
	recent := new(messageRing)
	t.recent = recent
	return func(m Message) {
		recent.add(m)
		on(m)
	}
}

// messageRing holds a tunnel's last messages, with a copy of the start of
// each payload in a buffer of its own (a Message's Payload is the frame
// reader's, reused for the next one). Both directions add to it.
type messageRing struct {
	mu   sync.Mutex
	msgs [recentMessages]Message
	bufs [recentMessages][recentPayload]byte
	n    int // messages added in all
}

func (r *messageRing) add(m Message) {
	r.mu.Lock()
	i := r.n % recentMessages
	k := copy(r.bufs[i][:], m.Payload)
	m.Truncated = m.Truncated || k < len(m.Payload)
	m.Payload = r.bufs[i][:k:k]
	r.msgs[i] = m
	r.n++
	r.mu.Unlock()
}

// last returns the messages kept, oldest first, with payloads of their own.
func (r *messageRing) last() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(r.n, recentMessages)
	out := make([]Message, 0, n)
	for i := r.n - n; i < r.n; i++ {
		m := r.msgs[i%recentMessages]
		m.Payload = append([]byte(nil), m.Payload...)
		out = append(out, m)
	}
	return out
}
