package main

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// phrases are what the messages' text is drawn from: few enough for
// deflate to find them again in its window, as in the chatty JSON of real
// applications.
var phrases = []string{
	"order filled at market price", "partial fill, remainder pending", "cancel requested by user",
	"account balance updated", "status changed from pending to active", "session closed after timeout",
	"retry scheduled with backoff", "device moved to region europe-west", "latency above threshold",
	"stream resumed on channel quotes", "topic subscription confirmed", "event delivered to all listeners",
	"limit order placed below the spread", "quantity adjusted for lot size", "price feed lagging behind",
	"notify the desk before the close",
}

// methods are the JSON-RPC methods the requests call.
var methods = []string{"orders.update", "orders.cancel", "quotes.subscribe", "account.balance", "session.ping"}

// A generator makes the load's messages: JSON-RPC 2.0 requests and
// responses, alternately, each exactly size bytes, every one different.
// A request and the response after it share an id, so that the jsonrpc
// decoder matches them as it would a real exchange. The time, session,
// user, figures and trace numbers are new in every message, which deflate
// cannot shorten; the rest is structure and phrases it finds in its
// window: about 3.4 times smaller on the wire with context takeover, at
// coder/websocket's flate.BestSpeed.
type generator struct {
	rng  *rand.Rand
	size int
	n    int
	buf  []byte
}

func newGenerator(seed uint64, size int) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, 0x7472616365)), size: size}
}

// next returns the next message; it is valid until the next call.
func (g *generator) next() []byte {
	g.n++
	id := strconv.Itoa((g.n + 1) / 2)
	b := g.buf[:0]
	if g.n%2 == 1 {
		b = append(b, `{"jsonrpc":"2.0","id":`...)
		b = append(b, id...)
		b = append(b, `,"method":"`...)
		b = append(b, methods[g.rng.IntN(len(methods))]...)
		b = append(b, `","params":{`...)
	} else {
		b = append(b, `{"jsonrpc":"2.0","id":`...)
		b = append(b, id...)
		b = append(b, `,"result":{`...)
	}
	b = append(b, `"ts":"`...)
	b = time.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `","session":"`...)
	b = g.hex(b, 16)
	b = append(b, `","user":"u-`...)
	b = g.hex(b, 8)
	b = append(b, `","price":`...)
	b = strconv.AppendFloat(b, float64(g.rng.IntN(10_000_000))/100, 'f', 2, 64)
	b = append(b, `,"qty":`...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(1000)), 10)
	b = append(b, `,"trace":[`...)
	for i := range 8 {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(g.rng.Uint32()), 10)
	}
	b = append(b, `],"note":"`...)
	// The note fills the message to its size: phrases, then cut.
	const tail = `"}}`
	for len(b) < g.size-len(tail) {
		b = append(b, phrases[g.rng.IntN(len(phrases))]...)
		b = append(b, "; "...)
	}
	b = append(b[:max(g.size-len(tail), 0)], tail...)
	g.buf = b
	return b
}

func (g *generator) hex(b []byte, n int) []byte {
	const digits = "0123456789abcdef"
	for range n {
		b = append(b, digits[g.rng.IntN(16)])
	}
	return b
}
