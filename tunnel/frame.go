package tunnel

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsgate/wsgate/internal/wsproto"
)

// flow holds one direction's counters. The relay goroutine of that
// direction is the only writer; Snapshot reads the atomics concurrently.
type flow struct {
	bytes, frames, messages, compressed, pings, pongs atomic.Int64
	raw                                               atomic.Bool

	mu          sync.Mutex // guards the close fields, written once
	closeCode   int
	closeReason string
}

func (f *flow) snapshot() Flow {
	out := Flow{
		Bytes: f.bytes.Load(), Frames: f.frames.Load(), Messages: f.messages.Load(),
		Compressed: f.compressed.Load(), Pings: f.pings.Load(), Pongs: f.pongs.Load(),
		Raw: f.raw.Load(),
	}
	f.mu.Lock()
	out.CloseCode, out.CloseReason = f.closeCode, f.closeReason
	f.mu.Unlock()
	return out
}

// frameReader follows RFC 6455 framing in the bytes of one direction as
// they are relayed, without holding them: it keeps at most a frame header
// (14 bytes) and a control frame's payload (125 bytes), so it never
// buffers a message and never changes a byte. Fragmented messages, control
// frames between fragments, masked and unmasked frames, 63-bit lengths and
// headers split across reads are all handled. Anything that is not valid
// framing switches it to raw: the bytes keep flowing, uncounted.
type frameReader struct {
	t   *Tunnel
	dir Direction
	f   *flow

	hdr  [14]byte
	hn   int   // header bytes collected
	need int   // header length, known once 2 bytes are in
	left int64 // payload bytes left in the current frame

	op      Opcode
	fin     bool
	rsv1    bool
	masked  bool
	mask    [4]byte
	maskPos int64

	inMessage  bool // a data message has started and not ended
	msgOp      Opcode
	msgLen     int64
	msgDeflate bool

	ctl  [125]byte // control frame payload, unmasked
	ctlN int

	// closes counts close frames seen; closesAtAway is the count when our
	// going-away frame was sent (goaway.go).
	closes, closesAtAway int

	// trace capture, only when Config.OnMessage is set
	onMessage func(Message) // Config.OnMessage; nil: no trace
	traceMax  int
	capture   []byte
	truncated bool
	// inf inflates compressed messages, only while tracing a tunnel that
	// negotiated permessage-deflate; inflating: it has this message.
	inf       *inflater
	inflating bool

	// Counts kept here and published to f once per feed, not per frame:
	// one atomic store per read instead of several per small frame.
	raw                                               bool
	frames, messages, compressed, pings, pongs, dirty int64
}

// feed reads the frame structure of p, which has just been relayed.
func (r *frameReader) feed(p []byte) {
	r.scan(p)
	if r.dirty != 0 {
		r.dirty = 0
		r.f.frames.Store(r.frames)
		r.f.messages.Store(r.messages)
		r.f.compressed.Store(r.compressed)
		r.f.pings.Store(r.pings)
		r.f.pongs.Store(r.pongs)
		r.f.raw.Store(r.raw)
	}
}

func (r *frameReader) scan(p []byte) {
	for len(p) > 0 && !r.raw {
		if r.left > 0 {
			k := int(min(r.left, int64(len(p))))
			r.payload(p[:k])
			p = p[k:]
			r.left -= int64(k)
			if r.left == 0 {
				r.frameDone()
			}
			continue
		}
		// Collect the header: 2 bytes say how long it is.
		want := 2
		if r.hn >= 2 {
			want = r.need
		}
		k := copy(r.hdr[r.hn:want], p)
		r.hn += k
		p = p[k:]
		if r.hn < want {
			continue
		}
		if r.hn == 2 {
			r.need = 2 + extLen(r.hdr[1]&0x7f)
			if r.hdr[1]&0x80 != 0 {
				r.need += 4
			}
			if r.need > 2 {
				continue
			}
		}
		r.header()
	}
}

func extLen(len7 byte) int {
	switch len7 {
	case 126:
		return 2
	case 127:
		return 8
	}
	return 0
}

// header decodes a complete frame header and starts its frame.
func (r *frameReader) header() {
	b0, b1 := r.hdr[0], r.hdr[1]
	r.hn = 0
	r.fin, r.rsv1 = b0&0x80 != 0, b0&0x40 != 0
	r.op = Opcode(b0 & 0x0f)
	r.masked = b1&0x80 != 0
	n := int64(b1 & 0x7f)
	i := 2
	switch n {
	case 126:
		n = int64(binary.BigEndian.Uint16(r.hdr[2:4]))
		i = 4
	case 127:
		u := binary.BigEndian.Uint64(r.hdr[2:10])
		if u>>63 != 0 {
			r.goRaw() // the most significant bit must be 0 (RFC 6455 §5.2)
			return
		}
		n = int64(u)
		i = 10
	}
	if r.masked {
		copy(r.mask[:], r.hdr[i:i+4])
	}
	r.maskPos = 0
	control := r.op >= 0x8
	switch {
	case b0&0x30 != 0: // RSV2, RSV3: no extension here uses them
		r.goRaw()
		return
	case control && (r.op > OpPong || !r.fin || n > 125 || r.rsv1):
		r.goRaw()
		return
	case !control && r.op > OpBinary:
		r.goRaw()
		return
	case r.op == OpContinuation && !r.inMessage, (r.op == OpText || r.op == OpBinary) && r.inMessage:
		r.goRaw()
		return
	}
	r.frames++
	r.dirty = 1
	r.left = n
	if control {
		r.ctlN = 0
	} else {
		if r.op != OpContinuation {
			r.inMessage, r.msgOp, r.msgLen, r.msgDeflate = true, r.op, 0, r.rsv1
			r.capture, r.truncated = r.capture[:0], false
		}
		r.msgLen += n
	}
	if n == 0 {
		r.frameDone()
	}
}

// payload sees a piece of the current frame's payload: a control frame's
// is kept (125 bytes at most), a data frame's only as far as a trace wants.
func (r *frameReader) payload(p []byte) {
	if r.op >= 0x8 {
		r.ctlN += r.unmask(r.ctl[r.ctlN:r.ctlN+len(p)], p)
		return
	}
	if r.traceMax == 0 {
		r.maskPos += int64(len(p))
		return
	}
	if r.msgDeflate && r.inf != nil {
		if !r.inflating {
			r.inflating = true
			r.inf.start()
		}
		r.inf.write(p, r.masked, r.mask, r.maskPos)
	}
	room := r.traceMax - len(r.capture)
	if room <= 0 {
		r.truncated = true
		r.maskPos += int64(len(p))
		return
	}
	q := p[:min(room, len(p))]
	n := len(r.capture)
	r.capture = append(r.capture, q...)
	r.unmask(r.capture[n:], q)
	r.maskPos += int64(len(p) - len(q))
	if len(q) < len(p) {
		r.truncated = true
	}
}

// unmask copies src to dst, unmasking it, and advances the mask position.
func (r *frameReader) unmask(dst, src []byte) int {
	n := min(len(dst), len(src))
	if r.masked {
		wsproto.Mask(dst[:n], src[:n], maskAt(r.mask, r.maskPos))
	} else {
		copy(dst, src)
	}
	r.maskPos += int64(n)
	return n
}

// maskAt is the masking key as it applies from payload position pos on,
// for wsproto.Mask, which XORs eight bytes at a time: the key turned so
// that its first byte is the one for pos.
func maskAt(mask [4]byte, pos int64) uint32 {
	return bits.RotateLeft32(binary.LittleEndian.Uint32(mask[:]), -8*int(pos&3))
}

// frameDone ends the current frame: a control frame is counted now, a data
// message when its final fragment ends.
func (r *frameReader) frameDone() {
	r.dirty = 1
	switch r.op {
	case OpPing:
		r.pings++
		r.emit(OpPing, int64(r.ctlN), r.ctl[:r.ctlN], false, false)
	case OpPong:
		r.pongs++
		r.emit(OpPong, int64(r.ctlN), r.ctl[:r.ctlN], false, false)
	case OpClose:
		r.closes++
		code, reason := 1005, "" // RFC 6455 §7.1.5: no status code present
		if r.ctlN >= 2 {
			code, reason = int(binary.BigEndian.Uint16(r.ctl[:2])), string(r.ctl[2:r.ctlN])
		}
		r.f.mu.Lock()
		first := r.f.closeCode == 0
		if first {
			r.f.closeCode, r.f.closeReason = code, reason
		}
		r.f.mu.Unlock()
		if first {
			r.t.closeFirst.CompareAndSwap(0, int32(r.dir)+1)
		}
		r.emit(OpClose, int64(r.ctlN), r.ctl[:r.ctlN], false, false)
	default:
		if !r.fin {
			return
		}
		r.inMessage = false
		r.messages++
		if r.msgDeflate {
			r.compressed++
		}
		r.emit(r.msgOp, r.msgLen, r.capture, r.truncated, r.msgDeflate)
	}
}

func (r *frameReader) emit(op Opcode, n int64, payload []byte, truncated, deflated bool) {
	on := r.onMessage
	if on == nil {
		return
	}
	m := Message{
		Tunnel: r.t.ID, Time: time.Now(), Dir: r.dir, Opcode: op, Len: n, WireLen: n,
		Payload: payload, Truncated: truncated, Compressed: deflated,
	}
	if deflated {
		r.inflated(&m)
	}
	if op == OpClose {
		m.CloseCode, m.CloseReason = 1005, ""
		if len(payload) >= 2 {
			m.CloseCode, m.CloseReason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
		}
		m.Payload = nil
	} else if len(payload) > r.traceMax {
		m.Payload, m.Truncated = payload[:r.traceMax], true
	}
	on(m)
}

// inflated gives m, a compressed message, its plain payload when the
// inflater followed it, and otherwise marks it undecodable (its payload
// stays the compressed bytes).
func (r *frameReader) inflated(m *Message) {
	m.Undecodable = true
	if r.inf == nil {
		return // not negotiated: RSV1 means nothing we know
	}
	if !r.inflating {
		r.inf.start() // no payload byte came
	}
	r.inflating = false
	if !r.inf.end() {
		return
	}
	m.Undecodable, m.Inflated = false, true
	m.Len, m.Payload = r.inf.total, r.inf.plain
	m.Truncated = r.inf.total > int64(len(r.inf.plain))
}

func (r *frameReader) goRaw() { r.raw, r.dirty = true, 1 }

// owed is how many payload bytes of the frame in progress have yet to
// come: 0 between frames, inside a header, and once raw. The sender has
// promised them, so waiting for them cannot wait for bytes that never come
// from a sender that keeps its word (rawReader.batch bounds the wait for one that
// does not).
func (r *frameReader) owed() int64 {
	if r.raw {
		return 0
	}
	return r.left
}
