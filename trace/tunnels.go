package trace

import (
	"strings"
	"sync"
	"time"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// Opened is what Tunnels keeps of an open tunnel.
type Opened struct {
	Route string // the rule's name, as in tunnel.TunnelInfo
	Start time.Time
	// Decoder is the name of the subprotocol decoder its messages go
	// through, "" for none.
	Decoder string

	dec    *decoding
	recent *recent // nil unless Tunnels.KeepRecent
}

// decoding is a tunnel's decode.Session: its two directions' relay
// goroutines call it, and a Session is for one caller at a time.
type decoding struct {
	mu sync.Mutex
	s  decode.Session
}

// Tunnels remembers the rule and start of each open tunnel, from the
// events of tunnel.Config.OnTunnel, for Text's lines and Filter's route=,
// and the decoder of its subprotocol (see Decode). The zero value is
// ready; it is safe for concurrent use.
type Tunnels struct {
	// Decoder is --decode: a decoder's name (decode.Names) for every
	// tunnel, "none" for none, "" to choose one per tunnel by its
	// negotiated subprotocol or its path. Set it before the first tunnel.
	Decoder string
	// KeepRecent makes each tunnel keep its last messages for Recent (a
	// view of one tunnel: the live view's detail pane), as Keep hands
	// them over. Set it before the first tunnel.
	KeepRecent bool
	// Takeover, when set, is asked for a decode session a new tunnel
	// carries on (HTTPDecoder.Takeover: a Socket.IO session that long
	// polling started); given one, the tunnel decodes in it. Set it
	// before the first tunnel.
	Takeover func(tunnel.TunnelEvent) decode.Session

	mu sync.RWMutex
	m  map[uint64]Opened
}

// Tunnel records a tunnel that opens and forgets one that closes: the
// server reports a close after the tunnel's last message.
func (ts *Tunnels) Tunnel(ev tunnel.TunnelEvent) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ev.Closed {
		delete(ts.m, ev.Info.ID)
		return
	}
	if ts.m == nil {
		ts.m = make(map[uint64]Opened)
	}
	o := Opened{Route: ev.Info.Route, Start: ev.Info.Start}
	if ts.KeepRecent {
		o.recent = new(recent)
	}
	if ts.Decoder != "none" {
		path := ev.Info.Path
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if s, name := decode.For(ev.ResponseHeader.Get("Sec-WebSocket-Protocol"), path, ts.Decoder); s != nil {
			if ts.Takeover != nil {
				if polled := ts.Takeover(ev); polled != nil && name == "socketio" {
					s = polled
				}
			}
			o.Decoder, o.dec = name, &decoding{s: s}
		}
	}
	ts.m[ev.Info.ID] = o
}

// Decode describes m with its tunnel's decoder, when it has one and m is
// a data message the decoder reads.
func (ts *Tunnels) Decode(m tunnel.Message) (decode.Decoded, bool) {
	if m.Opcode != tunnel.OpText && m.Opcode != tunnel.OpBinary {
		return decode.Decoded{}, false
	}
	o, ok := ts.Get(m.Tunnel)
	if !ok || o.dec == nil || (m.Compressed && !m.Inflated) {
		return decode.Decoded{}, false
	}
	o.dec.mu.Lock()
	defer o.dec.mu.Unlock()
	return o.dec.s.Decode(m.Dir.String(), m.Opcode == tunnel.OpText, m.Payload, m.Time)
}

// Get returns what is known of tunnel id.
func (ts *Tunnels) Get(id uint64) (Opened, bool) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	o, ok := ts.m[id]
	return o, ok
}
