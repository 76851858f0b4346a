package decode

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Engine.IO long-polling (https://socket.io/docs/v4/engine-io-protocol/).
// A Socket.IO client starts with plain HTTP requests and upgrades to a
// WebSocket later, if it can:
//
//	GET  /socket.io/?EIO=4&transport=polling            ← 0{"sid":"abc",...}          the handshake
//	POST /socket.io/?EIO=4&transport=polling&sid=abc    → 40                          packets up; answered "ok"
//	GET  /socket.io/?EIO=4&transport=polling&sid=abc    ← 40{"sid":"x"}␞42["hi"]     packets down (a long poll)
//	GET  /socket.io/?EIO=4&transport=websocket&sid=abc  the upgrade: a tunnel
//
// A POST's body and a GET's answer are payloads: Engine.IO 4 separates
// packets with the record separator 0x1e and sends a binary packet as "b"
// and its base64; Engine.IO 3 prefixes each packet with its length in
// UTF-16 units and a colon ("2:40"), and a binary one is "b4" and base64.
// Engine.IO 3's binary payloads (application/octet-stream, from clients
// with XHR2) are not read. The requests of one Engine.IO session share its
// sid, and so do their decoding: an ack in one request answers an event
// in another.

// Packet is one Engine.IO packet of a polling body, and what the decoder
// read in it.
type Packet struct {
	// Dir is "up" for a packet of a request's body (a POST), "down" for
	// one of an answer's (a GET's).
	Dir string
	// Data is the packet as the body holds it: "42[...]", or "b" and
	// base64 for a binary packet.
	Data []byte
	// Partial says that the body was cut inside this packet (by
	// --trace-bytes, or an answer cut short): Data is its beginning.
	Partial bool
	// Decoded is what the Socket.IO decoder read; OK is false when it
	// read nothing (the packet, or the payload's framing, is not
	// Engine.IO), and Decoded is then empty.
	Decoded Decoded
	OK      bool
}

// PollRequest is what Polling needs of one plain HTTP request and its
// answer.
type PollRequest struct {
	Method string
	Target string // the request target: path and query
	Status int    // the answer's
	// Request and Response are the bodies as far as they were kept;
	// RequestCut and ResponseCut say that there was more.
	Request, Response       []byte
	RequestCut, ResponseCut bool
	// Sent is when the request's packets passed (its arrival) and
	// Answered when the answer's did (its end): an ack's latency.
	Sent, Answered time.Time
}

// Polling decodes the bodies of Engine.IO long-polling requests with the
// Socket.IO decoder, one session per Engine.IO session (sid). It keeps at
// most pollSessionsMax sessions, and forgets one when it closes, when it
// upgrades to a WebSocket (Upgraded), or when it saw no request for
// pollIdle (by the requests' own times). Safe for concurrent use.
type Polling struct {
	forced string

	mu       sync.Mutex
	sessions map[string]*pollSession
	swept    time.Time
}

type pollSession struct {
	s    *socketIO
	last time.Time
}

const (
	// pollSessionsMax bounds the sessions kept: past it the one idle the
	// longest is forgotten.
	pollSessionsMax = 1024
	// pollIdle is how long a session is kept without a request: Engine.IO
	// 4's defaults have a client poll at least every pingInterval +
	// pingTimeout (45 s); one not heard of for longer is gone or upgraded.
	pollIdle = 2 * time.Minute
)

// NewPolling returns a Polling. forced is --decode: "" decodes the
// requests whose path has a socket.io segment, "socketio" every polling
// request, anything else none.
func NewPolling(forced string) *Polling {
	return &Polling{forced: strings.ToLower(forced), sessions: map[string]*pollSession{}}
}

// Is reports whether target is a long-polling request Polling decodes:
// its query says transport=polling, and its path is a Socket.IO one (or
// --decode socketio said so).
func (p *Polling) Is(target string) bool {
	path, query, _ := strings.Cut(target, "?")
	switch p.forced {
	case "":
		if !slices.Contains(strings.Split(strings.ToLower(path), "/"), "socket.io") {
			return false
		}
	case "socketio":
	default:
		return false
	}
	q, _ := url.ParseQuery(query)
	return q.Get("transport") == "polling"
}

// Decode splits and decodes the payloads of r: a POST's body (up) and a
// GET's successful answer (down); a POST's answer ("ok") and error
// answers are not payloads. It reports false when r is not a polling
// request (Is).
func (p *Polling) Decode(r PollRequest) ([]Packet, bool) {
	if !p.Is(r.Target) {
		return nil, false
	}
	_, query, _ := strings.Cut(r.Target, "?")
	q, _ := url.ParseQuery(query)
	v3 := q.Get("EIO") == "3"
	sid := q.Get("sid")

	p.mu.Lock()
	defer p.mu.Unlock()
	at := r.Answered
	p.sweep(at)
	ps := p.sessions[sid]
	if ps == nil {
		ps = &pollSession{s: newSocketIO()}
		if sid != "" {
			p.add(sid, ps)
		}
	}
	ps.last = at

	var out []Packet
	if r.Method == "POST" {
		out = ps.decode(out, "up", r.Request, r.RequestCut, v3, r.Sent)
	}
	if r.Method == "GET" && r.Status == 200 {
		out = ps.decode(out, "down", r.Response, r.ResponseCut, v3, r.Answered)
	}
	for _, pk := range out {
		switch {
		case pk.OK && pk.Decoded.Type == "open" && sid == "":
			// The handshake: later requests name this sid.
			if id := pk.Decoded.Fields["sid"]; id != "" {
				p.add(id, ps)
			}
		case pk.OK && pk.Decoded.Type == "close":
			delete(p.sessions, sid)
		}
	}
	return out, true
}

// Upgraded hands over the polling session that target, a WebSocket
// upgrade request (transport=websocket&sid=...), takes over, and forgets
// it: the tunnel's messages go on in the same session, so that an
// answer that crosses the upgrade (an ack, a pong) still finds what it
// answers. Nil when no session has that sid.
func (p *Polling) Upgraded(target string) Session {
	_, query, _ := strings.Cut(target, "?")
	q, _ := url.ParseQuery(query)
	sid := q.Get("sid")
	if sid == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.sessions[sid]
	if !ok {
		return nil
	}
	delete(p.sessions, sid)
	return ps.s
}

// Len returns how many sessions are kept.
func (p *Polling) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// add keeps ps as session sid, forgetting the one idle the longest when
// there are too many. p.mu is held.
func (p *Polling) add(sid string, ps *pollSession) {
	if _, ok := p.sessions[sid]; !ok && len(p.sessions) >= pollSessionsMax {
		var oldest string
		for id, s := range p.sessions {
			if oldest == "" || s.last.Before(p.sessions[oldest].last) {
				oldest = id
			}
		}
		delete(p.sessions, oldest)
	}
	p.sessions[sid] = ps
}

// sweep forgets the sessions idle for pollIdle at the time at, looking
// at most once per pollIdle/8. p.mu is held.
func (p *Polling) sweep(at time.Time) {
	if at.Sub(p.swept) < pollIdle/8 {
		return
	}
	p.swept = at
	for id, s := range p.sessions {
		if at.Sub(s.last) > pollIdle {
			delete(p.sessions, id)
		}
	}
}

// decode appends the packets of one payload, decoded in order.
func (ps *pollSession) decode(out []Packet, dir string, body []byte, cut, v3 bool, at time.Time) []Packet {
	if len(body) == 0 {
		return out
	}
	var parts [][]byte
	var rest []byte
	if v3 {
		parts, rest = splitV3(body)
	} else {
		parts = bytes.Split(body, []byte{0x1e})
	}
	for i, data := range parts {
		pk := Packet{Dir: dir, Data: data, Partial: cut && rest == nil && i == len(parts)-1}
		text, payload := true, data
		if len(data) > 0 && data[0] == 'b' {
			b64 := data[1:]
			if v3 && len(b64) > 0 {
				b64 = b64[1:] // the packet type, 4 (message)
			}
			if pk.Partial {
				b64 = b64[:len(b64)/4*4]
			}
			var err error
			if payload, err = base64.StdEncoding.AppendDecode(nil, b64); err != nil {
				out = append(out, pk)
				continue
			}
			text = false
		}
		pk.Decoded, pk.OK = ps.s.Decode(dir, text, payload, at)
		if !pk.OK {
			pk.Decoded = Decoded{}
		} else if pk.Partial && pk.Decoded.Fields["partial"] == "" {
			if pk.Decoded.Fields == nil {
				pk.Decoded.Fields = map[string]string{}
			}
			pk.Decoded.Fields["partial"] = "true"
		}
		out = append(out, pk)
	}
	if rest != nil {
		// Not Engine.IO 3's framing from here on: shown as it is.
		out = append(out, Packet{Dir: dir, Data: rest, Partial: cut})
	}
	return out
}

// splitV3 splits an Engine.IO 3 text payload, "LEN:PACKET" repeated, LEN
// in UTF-16 units as JavaScript counts a string. rest is what does not
// follow that framing, from where it stops (nil when all of it does). A
// packet cut short (the body was) is returned as far as it goes.
func splitV3(body []byte) (parts [][]byte, rest []byte) {
	for len(body) > 0 {
		colon := bytes.IndexByte(body, ':')
		n, err := strconv.Atoi(string(body[:max(colon, 0)]))
		if colon < 1 || colon > 10 || err != nil || n < 0 {
			return parts, body
		}
		p := body[colon+1:]
		end := 0
		for units := 0; units < n && end < len(p); {
			r, size := utf8.DecodeRune(p[end:])
			if r >= 0x10000 {
				units += 2
			} else {
				units++
			}
			end += size
		}
		parts = append(parts, p[:end])
		body = p[end:]
	}
	return parts, nil
}
