package tunnel

import (
	"compress/flate"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/wsgate/wsgate/internal/wsproto"
)

// maxInflate bounds how many plain bytes a traced direction inflates for
// one message: past it (a decompression bomb, say) the direction is not
// decodable any more. The relay never waits for it: it only bounds the work
// and the bytes a trace spends on one message.
const maxInflate = 64 << 20

// deflateParams is what the backend's 101 agreed for permessage-deflate
// (RFC 7692 §7.1), seen from the decompressing side of one direction.
type deflateParams struct {
	takeover   bool // the compressor keeps its window between messages
	windowBits int  // 8 to 15: the compressor's LZ77 window
}

// negotiatedDeflate parses the extensions of the backend's 101 and returns
// the parameters of each direction (indexed by Direction), or false when
// permessage-deflate was not agreed. Up is compressed by the client
// (client_*), Down by the backend (server_*).
func negotiatedDeflate(h http.Header) (p [2]deflateParams, ok bool) {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for ext := range strings.SplitSeq(v, ",") {
			params := strings.Split(ext, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
				continue
			}
			p = [2]deflateParams{{true, 15}, {true, 15}}
			for _, param := range params[1:] {
				name, val, _ := strings.Cut(param, "=")
				name = strings.ToLower(strings.TrimSpace(name))
				val = strings.Trim(strings.TrimSpace(val), `"`)
				d := Up
				if strings.HasPrefix(name, "server_") {
					d = Down
				}
				switch name {
				case "client_no_context_takeover", "server_no_context_takeover":
					p[d].takeover = false
				case "client_max_window_bits", "server_max_window_bits":
					if bits, err := strconv.Atoi(val); err == nil && bits >= 8 && bits <= 15 {
						p[d].windowBits = bits
					}
				}
			}
			return p, true // the 101 names one extension at most (RFC 7692 §5)
		}
	}
	return p, false
}

// inflate makes the frame readers of a traced tunnel inflate compressed
// messages, when the backend's 101 (h) agreed permessage-deflate, with
// the parameters it agreed. Without a trace it does nothing: the relay
// then never inflates.
func (t *Tunnel) inflate(h http.Header) {
	if t.frames[0].onMessage == nil && t.frames[1].onMessage == nil {
		return // not traced: nothing to read the extension for
	}
	p, ok := negotiatedDeflate(h)
	for d := range t.frames {
		if r := &t.frames[d]; ok && r.onMessage != nil {
			r.inf = newInflater(p[d], r.traceMax)
		}
	}
}

// inflater follows one direction's compressed messages, for a trace. The
// frame reader hands it each piece of a compressed message's payload as
// it passes (write) and then the message's end (end). compress/flate pulls
// its input, so a goroutine runs flate for the length of one message, in
// lockstep with the frame reader: write returns once flate has taken every
// byte of the piece and wants more, so the two never run at once, the
// frame reader buffers nothing, and the piece is not looked at after write
// returns. The relay's bytes are only read, never changed, and never wait
// for the inflater beyond that handover.
//
// Between messages it keeps the last window of plain bytes, the
// dictionary of the next message with context takeover (RFC 7692 §7.2.2),
// and the first traceMax plain bytes of the last message: at most 32 KiB
// plus traceMax. flate's own state and the goroutine's buffer come from a
// pool for the length of a message. A stream it cannot follow (corrupt, or
// inflating past limit) breaks it: with context takeover for good, since
// the dictionary is lost; without, until the next message.
type inflater struct {
	params   deflateParams
	traceMax int
	limit    int64 // maxInflate; smaller in tests

	window []byte // the last 1<<windowBits plain bytes, with takeover
	plain  []byte // the first traceMax plain bytes of the message
	total  int64  // plain bytes of the message
	broken bool   // this message (with takeover, every later one too) is not decodable

	run  *inflateRun   // the message in progress; nil between messages
	quit chan struct{} // closed when the tunnel closes
	once sync.Once
}

// inflateRun is one message's goroutine's state.
type inflateRun struct {
	fr       io.ReadCloser // flate, Reset for every message
	in       chan []byte   // pieces of payload; nil: the message's end
	took     chan error    // the piece is taken; after the end or an error, the verdict
	quit     chan struct{}
	cur      []byte
	pending  bool       // a piece was received and not yet acknowledged
	ended    bool       // the end was received
	unmasked [4096]byte // a piece unmasked
	out      [4096]byte // flate's output
}

var runs = sync.Pool{New: func() any {
	return &inflateRun{fr: flate.NewReader(nil), in: make(chan []byte), took: make(chan error)}
}}

var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

var errInflateLimit = errors.New("message inflates past the limit")

func newInflater(p deflateParams, traceMax int) *inflater {
	return &inflater{params: p, traceMax: traceMax, limit: maxInflate, quit: make(chan struct{})}
}

// abort ends a message's goroutine when the tunnel closes in the middle of
// it. Safe from any goroutine, any number of times.
func (f *inflater) abort() { f.once.Do(func() { close(f.quit) }) }

// start begins a compressed message.
func (f *inflater) start() {
	select {
	case <-f.quit: // closing: a goroutine of a lost run may still touch f
		f.broken = true
		return
	default:
	}
	if f.broken && f.params.takeover {
		return
	}
	f.broken, f.plain, f.total = false, f.plain[:0], 0
	if f.plain == nil {
		f.plain = make([]byte, 0, f.traceMax)
	}
	r := runs.Get().(*inflateRun)
	r.quit, r.cur, r.pending, r.ended = f.quit, nil, false, false
	var dict []byte
	if f.params.takeover {
		dict = f.window
	}
	r.fr.(flate.Resetter).Reset(r, dict)
	f.run = r
	go f.inflate(r)
}

// write hands flate a piece of the message's payload, unmasking it with
// mask from position pos when masked (into a buffer of its own: p is the
// relay's).
func (f *inflater) write(p []byte, masked bool, mask [4]byte, pos int64) {
	if !masked {
		if f.run != nil && len(p) > 0 {
			f.send(p)
		}
		return
	}
	for len(p) > 0 && f.run != nil {
		n := min(len(p), len(f.run.unmasked))
		chunk := f.run.unmasked[:n]
		wsproto.Mask(chunk, p[:n], maskAt(mask, pos))
		f.send(chunk)
		p, pos = p[n:], pos+int64(n)
	}
}

// send gives p (nil: the end) to the goroutine and waits until it has
// taken it all.
func (f *inflater) send(p []byte) {
	r := f.run
	select {
	case r.in <- p:
	case <-f.quit:
		f.lose()
		return
	}
	select {
	case err := <-r.took:
		if err != nil || p == nil { // the goroutine has returned
			f.broken = f.broken || err != nil
			runs.Put(r)
			f.run = nil
		}
	case <-f.quit:
		f.lose()
	}
}

// end ends the message with the tail that RFC 7692 §7.2.2 has the sender
// remove, and reports whether it was decoded.
func (f *inflater) end() bool {
	if f.run != nil {
		f.send(deflateTail)
	}
	if f.run != nil {
		f.send(nil)
	}
	return !f.broken
}

// lose gives up on a run whose goroutine may still be working (the tunnel
// is closing): the goroutine ends on quit, and its run is not reused.
func (f *inflater) lose() {
	f.broken = true
	f.run = nil
}

// inflate is a message's goroutine: it reads flate's output until the
// message ends or flate fails, then says how it went and returns.
func (f *inflater) inflate(r *inflateRun) {
	err := f.pull(r)
	switch {
	case err == io.ErrUnexpectedEOF && r.ended:
		// The input ran out at the message's end: a flushed, non-final
		// stream, the usual case.
		err = nil
	case err == nil:
		// A final block (allowed, RFC 7692 §7.2.3.1): the rest of the
		// message, the tail at least, is dropped.
		for !r.ended {
			if r.pending {
				r.pending = false
				if !r.reply(nil) {
					return
				}
			}
			select {
			case p := <-r.in:
				r.pending, r.ended = p != nil, p == nil
			case <-f.quit:
				return
			}
		}
	}
	r.reply(err)
}

// reply answers the frame reader; false when the tunnel is closing.
func (r *inflateRun) reply(err error) bool {
	select {
	case r.took <- err:
		return true
	case <-r.quit:
		return false
	}
}

// pull reads the message's plain bytes from flate. nil: a final block
// ended the stream; io.ErrUnexpectedEOF: the input ended; anything else:
// the stream cannot be followed.
func (f *inflater) pull(r *inflateRun) error {
	wsize := 1 << f.params.windowBits
	for {
		n, err := r.fr.Read(r.out[:])
		if n > 0 {
			f.total += int64(n)
			if f.total > f.limit {
				return errInflateLimit
			}
			if k := min(n, f.traceMax-len(f.plain)); k > 0 {
				f.plain = append(f.plain, r.out[:k]...)
			}
			if f.params.takeover {
				f.keep(r.out[:n], wsize)
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// keep appends p to the window, keeping its last wsize bytes.
func (f *inflater) keep(p []byte, wsize int) {
	if f.window == nil {
		f.window = make([]byte, 0, wsize)
	}
	if len(p) >= wsize {
		f.window = append(f.window[:0], p[len(p)-wsize:]...)
		return
	}
	if over := len(f.window) + len(p) - wsize; over > 0 {
		f.window = f.window[:copy(f.window, f.window[over:])]
	}
	f.window = append(f.window, p...)
}

// Read and ReadByte give flate the message's payload; with ReadByte
// (flate.Reader) flate reads it without a bufio.Reader of its own.
func (r *inflateRun) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *inflateRun) ReadByte() (byte, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	c := r.cur[0]
	r.cur = r.cur[1:]
	return c, nil
}

// errClosing ends flate's read when the tunnel closes mid-message.
var errClosing = errors.New("tunnel closing")

// fill waits for the next piece once the current one is used up, first
// telling the frame reader that flate took it. The message's end is EOF.
func (r *inflateRun) fill() error {
	for len(r.cur) == 0 {
		if r.ended {
			return io.EOF
		}
		if r.pending {
			r.pending = false
			if !r.reply(nil) {
				return errClosing
			}
		}
		select {
		case p := <-r.in:
			if p == nil {
				r.ended = true
				return io.EOF
			}
			r.cur, r.pending = p, true
		case <-r.quit:
			return errClosing
		}
	}
	return nil
}
