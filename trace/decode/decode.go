// Package decode describes the messages of WebSocket subprotocols as they
// pass wsgate's tunnels: Socket.IO, GraphQL over WebSocket, STOMP,
// JSON-RPC 2.0 and MQTT (issue 20). A decoder only reads a payload; the
// bytes relayed are never changed, and nothing here is on the relay's
// path unless a trace asks for it. Socket.IO's long-polling requests,
// plain HTTP, are read too (Polling): their bodies split into Engine.IO
// packets, each decoded as the Socket.IO decoder decodes a message.
//
//	OnMessage ──▶ Session (one per tunnel, chosen by For) ──▶ Decoded ──▶ trace line, filter
//	OnHTTP ─────▶ Polling (a Session per Engine.IO sid) ───▶ []Packet ──▶ trace lines, filter
//
// A payload a decoder does not recognise is reported as not decoded, and
// the caller shows it as it would without a decoder. Payloads cut by
// --trace-bytes are decoded as far as they go.
package decode

import (
	"slices"
	"strings"
	"time"
)

// Decoded describes one message.
type Decoded struct {
	// Protocol is the decoder's name, as Names lists it.
	Protocol string
	// Type is the message's kind in the protocol's own words, lower case:
	// "event", "subscribe", "request", "publish"...
	Type string
	// Summary is a one-line description for a person.
	Summary string
	// Fields are the decoded fields a filter can test: "event",
	// "namespace", "ack", "id", "operation", "method", "topic", "qos",
	// "destination", "command", "error"... Absent fields are not set.
	// "partial" is "true" when the payload ended before the message did.
	Fields map[string]string
	// Latency is, for an answer, the time since the message it answers
	// (a JSON-RPC response, a Socket.IO ack, a STOMP receipt, an MQTT
	// acknowledgement, the first result of a GraphQL operation); zero
	// otherwise.
	Latency time.Duration
}

// Session decodes the messages of one tunnel, in the order they pass. It
// keeps what answers need (requests waiting for their response, say), so
// use one per tunnel. It is not safe for concurrent use.
type Session interface {
	// Decode describes a text (text true) or binary message, dir "up"
	// (client to backend) or "down", that passed at the given time. The
	// payload may be the first bytes of the message only. It reports
	// false when the payload is not a message of the protocol.
	Decode(dir string, text bool, payload []byte, at time.Time) (Decoded, bool)
}

// decoders are the protocols by name, with the subprotocol tokens
// (Sec-WebSocket-Protocol) that select them.
var decoders = []struct {
	name   string
	tokens []string
	new    func() Session
}{
	{"socketio", nil, func() Session { return newSocketIO() }},
	{"graphql-ws", []string{"graphql-transport-ws", "graphql-ws"}, func() Session { return newGraphQL() }},
	{"stomp", []string{"v10.stomp", "v11.stomp", "v12.stomp", "stomp"}, func() Session { return newSTOMP() }},
	{"jsonrpc", []string{"jsonrpc", "json-rpc", "jsonrpc2", "jsonrpc-2.0", "jsonrpc2.0"}, func() Session { return newJSONRPC() }},
	{"mqtt", []string{"mqtt", "mqttv3.1", "mqttv3.1.1", "mqttv5"}, func() Session { return newMQTT() }},
}

// Names returns the decoders' names, for --decode.
func Names() []string {
	names := make([]string, len(decoders))
	for i, d := range decoders {
		names[i] = d.name
	}
	return names
}

// For returns a new Session for a tunnel and the name of its decoder, or
// nil and "" when none applies. forced, when not empty, is a name from
// Names (--decode NAME) and wins; an unknown name gives nil. Otherwise
// the subprotocol the backend chose picks one, and without a known
// subprotocol the request path does: /socket.io/ is Socket.IO, a /graphql
// segment GraphQL over WebSocket (its messages then tell which of the two
// GraphQL protocols it is).
func For(subprotocol, path, forced string) (Session, string) {
	if forced != "" {
		for _, d := range decoders {
			if strings.EqualFold(forced, d.name) {
				return d.new(), d.name
			}
		}
		return nil, ""
	}
	sp := strings.ToLower(strings.TrimSpace(subprotocol))
	for _, d := range decoders {
		if slices.Contains(d.tokens, sp) {
			return d.new(), d.name
		}
	}
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.ToLower(path), "/")
	switch {
	case slices.Contains(segs, "socket.io"):
		return For("", "", "socketio")
	case slices.Contains(segs, "graphql"), slices.Contains(segs, "subscriptions"):
		return For("", "", "graphql-ws")
	}
	return nil, ""
}

// fields builds a Fields map from key, value pairs, leaving out empty
// values.
func fields(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

// clip shortens s to n bytes for a summary, at a rune boundary, marking
// the cut with "…", and replaces control characters (a payload is the
// peer's text) so that a summary stays one line.
func clip(s string, n int) string {
	cut := false
	if len(s) > n {
		for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
			n--
		}
		s, cut = s[:n], true
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

// pending remembers when requests were sent, by key, to give their
// answers a latency. It holds at most pendingMax keys: past that the
// oldest is forgotten, so that requests never answered cost bounded
// memory.
type pending struct {
	at    map[string]sent
	order []string
}

// sent is when a request was sent, and a word about it (a JSON-RPC
// method, say).
type sent struct {
	at   time.Time
	note string
}

const pendingMax = 1024

func (p *pending) add(key string, at time.Time, note string) {
	if p.at == nil {
		p.at = map[string]sent{}
	}
	if _, ok := p.at[key]; !ok {
		p.order = append(p.order, key)
	}
	p.at[key] = sent{at, note}
	for len(p.order) > pendingMax {
		delete(p.at, p.order[0])
		p.order = p.order[1:]
	}
}

// take returns the time since key was added, and its note, and forgets
// it; zero and "" for a key it does not have.
func (p *pending) take(key string, at time.Time) (time.Duration, string) {
	s, ok := p.at[key]
	if !ok {
		return 0, ""
	}
	delete(p.at, key)
	if i := slices.Index(p.order, key); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
	}
	return max(at.Sub(s.at), 0), s.note
}

// other returns the opposite direction.
func other(dir string) string {
	if dir == "up" {
		return "down"
	}
	return "up"
}
