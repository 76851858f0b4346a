package trace

import (
	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// httpPart is what a filter term tests of a plain HTTP exchange: a body,
// or a packet decoded from one.
type httpPart struct {
	dir    tunnel.Direction
	size   int64
	text   []byte // the text a text= term reads; nil for none
	fields map[string]string
}

// MatchHTTP reports whether the filter keeps x, a plain HTTP exchange
// whose polling packets are packets (nil: none). An exchange is made of
// parts: its request's body (up), its answer's body (down), and each
// packet (in its direction); an expression keeps it when all its terms
// match one part. route= tests the exchange's rule; dir= the part's
// direction; op=http matches every part and any other op= none (so
// op=http keeps exchanges and no message, op=text messages only); size
// a body's whole length or a packet's; text= a body as far as it was
// kept when it is text and not compressed, or a packet; any other field
// a packet's decoded fields (event, type, protocol...).
func (f *Filter) MatchHTTP(x tunnel.HTTPExchange, packets []decode.Packet) bool {
	if f == nil || len(f.exprs) == 0 {
		return true
	}
	parts := make([]httpPart, 0, 2+len(packets))
	for _, p := range []struct {
		dir  tunnel.Direction
		body tunnel.Body
	}{{tunnel.Up, x.Request}, {tunnel.Down, x.Response}} {
		part := httpPart{dir: p.dir, size: p.body.Len}
		if m := bodyMessage(p.body); isText(m) {
			part.text, _ = payload(m)
			if part.text == nil { // an empty body is empty text
				part.text = []byte{}
			}
		}
		parts = append(parts, part)
	}
	for _, pk := range packets {
		part := httpPart{dir: tunnel.Down, size: int64(len(pk.Data)), text: pk.Data}
		if pk.Dir == "up" {
			part.dir = tunnel.Up
		}
		if pk.OK {
			part.fields = DecodedFields(&pk.Decoded)
		}
		parts = append(parts, part)
	}
	for _, terms := range f.exprs {
		for _, p := range parts {
			if allMatchPart(terms, p, x.Route) {
				return true
			}
		}
	}
	return false
}

func allMatchPart(terms []term, p httpPart, route string) bool {
	for _, t := range terms {
		if !t.matchPart(p, route) {
			return false
		}
	}
	return true
}

func (t term) matchPart(p httpPart, route string) bool {
	switch t.field {
	case "dir":
		return p.dir == t.dir
	case "opcode":
		return t.code == opHTTP
	case "size":
		return t.size(p.size)
	case "route":
		return t.route(route)
	case "text":
		return p.text != nil && t.re.Match(p.text)
	}
	v, ok := p.fields[t.field]
	return ok && t.re.MatchString(v)
}
