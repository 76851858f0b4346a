package tunnel

import (
	"net/http"
	"time"

	"github.com/wsgate/wsgate/internal/wsproto"
)

// Snapshot is a consistent-enough copy of the server's counters, taken
// without stopping the relay: counters are atomics read one by one.
type Snapshot struct {
	Time     time.Time
	Open     int    // tunnels open now
	Total    uint64 // tunnels opened since start
	Failed   uint64 // requests the proxy answered with an error, and upgrades the backend refused
	Requests uint64 // plain HTTP requests proxied
	Up       int64  // bytes client to backend, all tunnels
	Down     int64  // bytes backend to client, all tunnels
	// Tunnels are the open tunnels, oldest first.
	Tunnels []TunnelInfo
	// Closed are the most recently closed tunnels, newest first (at most
	// closedHistory of them).
	Closed []TunnelInfo
	// Failures are the most recent failed requests, newest first (at
	// most failureHistory of them).
	Failures []FailureInfo
	// Routes are totals per rule, in the order rules first carried a tunnel.
	Routes []RouteInfo
	// Balancers are the balancers' members and their state.
	Balancers []BalancerInfo
}

// TunnelInfo describes one tunnel.
type TunnelInfo struct {
	ID      uint64
	Client  string
	Path    string // request target as the client sent it
	Backend string // backend URL
	Route   string // the rule that matched: its origin and path, e.g. "wsgate.conf:3 /chat/"
	Start   time.Time
	Up      Flow // client to backend
	Down    Flow // backend to client

	// Set once the tunnel is closed.
	End time.Time
	// ClosedBy is whose connection ended first: "client", "backend",
	// "idle" (the idle timeout) or "proxy" (shutdown).
	ClosedBy string
	// CloseFirst is who sent the first WebSocket close frame: "client",
	// "backend" or "" when neither did.
	CloseFirst string
	// Error is why the tunnel ended, when it was not a clean close.
	Error string
}

// Abnormal reports whether a closed WebSocket tunnel ended without a
// closing handshake: a peer reset its connection, was killed or hung up
// before either side sent a close frame, or a side sent 1006, the code
// that says just that and that no endpoint may send (RFC 6455 §7.1.5,
// §7.4.1). An idle timeout and a stop are the proxy's doing, and a
// protocol tunnelled with upgrade=NAME has no close frames: neither is
// abnormal.
func (ti TunnelInfo) Abnormal() bool {
	switch {
	case ti.End.IsZero():
		return false
	case ti.Up.CloseCode == 1006 || ti.Down.CloseCode == 1006:
		return true
	case ti.Up.Raw || ti.Down.Raw:
		return false
	}
	return ti.CloseFirst == "" && (ti.ClosedBy == "client" || ti.ClosedBy == "backend")
}

// Flow is one direction of a tunnel, as the frame reader saw it pass.
type Flow struct {
	Bytes    int64
	Frames   int64
	Messages int64 // complete text and binary messages
	// Compressed counts messages with RSV1 set (permessage-deflate).
	Compressed int64
	Pings      int64
	Pongs      int64
	// CloseCode is the status code of this side's close frame: 0 when it
	// sent none, 1005 when its close frame had no code (RFC 6455 §7.1.5).
	CloseCode   int
	CloseReason string
	// Raw is set when the bytes stopped looking like WebSocket frames (a
	// protocol upgraded with upgrade=NAME, or garbage): they are still
	// relayed, only no longer counted as frames.
	Raw bool
}

// RouteInfo is the totals of one rule.
type RouteInfo struct {
	Route    string
	Open     int
	Total    uint64
	Up, Down Flow // summed over its tunnels; close fields unused
}

// Opcode is a WebSocket frame opcode (RFC 6455 §5.2).
type Opcode = wsproto.Opcode

const (
	OpContinuation = wsproto.OpContinuation
	OpText         = wsproto.OpText
	OpBinary       = wsproto.OpBinary
	OpClose        = wsproto.OpClose
	OpPing         = wsproto.OpPing
	OpPong         = wsproto.OpPong
)

// Message is one WebSocket message (text or binary, all its fragments) or
// control frame as it passed through a tunnel, for Config.OnMessage.
type Message struct {
	Tunnel uint64
	Time   time.Time // when its last byte was read, just before it is relayed
	Dir    Direction
	Opcode Opcode // OpText, OpBinary, OpClose, OpPing or OpPong
	// Len is the payload length: of the whole message for data, after
	// inflating it when Inflated. WireLen is its length on the wire:
	// Len, unless Inflated.
	Len, WireLen int64
	// Payload is the first Config.TraceBytes bytes of the payload,
	// unmasked (and inflated, when Inflated); Truncated says there was more.
	Payload    []byte
	Truncated  bool
	Compressed bool // RSV1: the message was deflated (permessage-deflate)
	// Inflated says that Payload and Len are the compressed message's
	// plain bytes: the tunnel is traced and negotiated permessage-deflate,
	// and the inflater followed its stream. Undecodable is a compressed
	// message that it could not inflate (the stream was corrupt, a message
	// inflated past 64 MiB, or compression that was not negotiated); with
	// context takeover every later compressed message of that direction is
	// undecodable too. Payload and Len are then the compressed bytes.
	Inflated, Undecodable bool
	// CloseCode and CloseReason are set for OpClose (1005: no code).
	CloseCode   int
	CloseReason string
}

// TunnelEvent reports a tunnel's handshake when it opens and its record
// when it closes, for Config.OnTunnel (an HTTP Archive writer, say).
type TunnelEvent struct {
	Closed bool
	Info   TunnelInfo
	// The request as received from the client and the 101 as sent to it.
	Method         string
	URL            string // as the client asked for it: scheme://host/target
	Proto          string
	RequestHeader  http.Header
	Status         int
	ResponseHeader http.Header
}
