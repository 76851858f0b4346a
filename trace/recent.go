package trace

import (
	"sync"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// Recorded is a message as a trace kept it for a view of one tunnel: the
// message, with a payload of its own, and what its tunnel's decoder made
// of it (nil: nothing).
type Recorded struct {
	tunnel.Message
	Decoded *decode.Decoded
}

// A tunnel keeps at most recentMessages messages for Tunnels.Recent, and
// at most recentPayload bytes of each: with --trace-bytes 1 MiB that is
// still no more than 128 KiB a tunnel, kept in buffers it reuses.
const (
	recentMessages = 64
	recentPayload  = 2048
)

// recent is one tunnel's last messages, in a ring whose payload buffers
// are reused: after the first lap, keeping a message allocates nothing
// but what its decoder returned. Both directions' relay goroutines add
// to it, and a view reads it.
type recent struct {
	mu   sync.Mutex
	msgs [recentMessages]Recorded
	n    int // messages added in all
}

func (r *recent) add(m tunnel.Message, d *decode.Decoded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slot := &r.msgs[r.n%recentMessages]
	p := m.Payload
	if len(p) > recentPayload {
		p, m.Truncated = p[:recentPayload], true
	}
	m.Payload = append(slot.Payload[:0], p...)
	*slot = Recorded{Message: m, Decoded: d}
	r.n++
}

// last returns the messages kept, oldest first, with payloads of their own.
func (r *recent) last() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(r.n, recentMessages)
	out := make([]Recorded, 0, n)
	for i := r.n - n; i < r.n; i++ {
		rec := r.msgs[i%recentMessages]
		rec.Payload = append([]byte(nil), rec.Payload...)
		out = append(out, rec)
	}
	return out
}

// Keep adds m to the last messages of its tunnel, with d, what its decoder
// made of it (nil: nothing), when Tunnels.KeepRecent is set; the caller has
// already left out what --trace-filter does not match. It does nothing for
// a tunnel Tunnels does not know.
func (ts *Tunnels) Keep(m tunnel.Message, d *decode.Decoded) {
	if o, ok := ts.Get(m.Tunnel); ok && o.recent != nil {
		o.recent.add(m, d)
	}
}

// Recent returns the last messages kept of the open tunnel id, oldest
// first: an empty slice when none has passed yet, and false when the
// tunnel is not known (closed) or KeepRecent is off.
func (ts *Tunnels) Recent(id uint64) ([]Recorded, bool) {
	o, ok := ts.Get(id)
	if !ok || o.recent == nil {
		return nil, false
	}
	return o.recent.last(), true
}
