// Package trace writes down the WebSocket messages that pass wsgate's
// tunnels: lines for a terminal (Text), JSON Lines for programs (JSONL) and
// an HTTP Archive for browsers' devtools and HAR viewers (HAR).
//
// Each takes the tunnel.Message values that tunnel.Config.OnMessage hands
// out, from every tunnel's relay goroutines at once: all three are safe for
// concurrent use, and none keeps a Message's Payload (HAR keeps a copy).
// Text and JSONL write one line per message, with one Write call each, while
// the relay waits: give them a writer that does not block for long.
//
//	relay goroutines ──OnMessage──▶ Text  ──▶ terminal
//	                             ├─▶ JSONL ──▶ out.jsonl
//	                             └─▶ HAR   ──▶ memory ──WriteFile on exit──▶ out.har
//	                 ──OnTunnel───▶ HAR (the upgrade request and the 101)
package trace

import (
	"strconv"
	"unicode/utf8"

	"github.com/wsgate/wsgate/tunnel"
)

// isText reports whether m's payload is shown as text: a text message that
// is not compressed, or was inflated. Everything else (binary, control
// frames, compressed text that could not be inflated) is shown as bytes.
func isText(m tunnel.Message) bool {
	return m.Opcode == tunnel.OpText && (!m.Compressed || m.Inflated)
}

// appendCompression appends Text's marker of a compressed message: the
// sizes on the wire and inflated ("[deflated 812→2048 B]"), or that it
// could not be inflated (its payload is then the compressed bytes).
func appendCompression(b []byte, m tunnel.Message) []byte {
	switch {
	case m.Inflated:
		b = append(b, " [deflated "...)
		b = strconv.AppendInt(b, m.WireLen, 10)
		b = append(b, "→"...)
		b = strconv.AppendInt(b, m.Len, 10)
		return append(b, " B]"...)
	case m.Compressed:
		return append(b, " [compressed, not decodable]"...)
	}
	return b
}

// payload returns the part of m's payload to show and how many bytes of the
// message it leaves out. A text payload cut by TraceBytes in the middle of
// a UTF-8 sequence is cut before that sequence instead, so that what is
// shown stays valid text.
func payload(m tunnel.Message) (shown []byte, rest int64) {
	p := m.Payload
	if m.Truncated && isText(m) {
		p = trimPartialRune(p)
	}
	return p, max(m.Len-int64(len(p)), 0)
}

// trimPartialRune drops an incomplete UTF-8 sequence from the end of p.
func trimPartialRune(p []byte) []byte {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(p); i++ {
		if utf8.RuneStart(p[len(p)-i]) {
			if !utf8.FullRune(p[len(p)-i:]) {
				return p[:len(p)-i]
			}
			break
		}
	}
	return p
}
