package tunnel

import "time"

// Frame-sized reads. A sender that writes a 64 KiB message in small
// pieces (coder/websocket's client writes 4 KiB at a time) wakes the relay
// for each piece, and every wake is a wait, a read and a write: 11 to 17
// system calls per message each way, counted with perf stat, and nginx
// makes as many. The frame reader knows how many bytes the frame in
// progress still owes, so once a frame has come in two pieces the relay
// asks the kernel (SO_RCVLOWAT) not to wake it before the rest is all
// there, and then moves it in one read and one write. The next hop gets
// fewer, bigger writes too. No proxy that does not read the framing can
// do this; see docs/performance.md for what it saves.
//
// Not after the first piece: many senders write a frame's rest in one go
// (coder/websocket's server writes 4 KiB, then the rest), and for them the
// mark would only add two setsockopt calls per frame.
//
// A sender may stop in the middle of a frame. The wait is therefore also
// bounded by batchWait: when it passes, the relay goes back to waking for
// any byte and passes on what has come, so a slow sender's bytes are
// delayed by at most that much. Small frames, which arrive whole, never
// change anything.
var batchWait = time.Millisecond // a variable for the tests only

// minBatch: below this, the rest of a frame comes in the next segment or
// two anyway, and the two setsockopt calls would cost more than they save.
const minBatch = 4 << 10

// batch sets the socket's low-water mark for what the frame in progress
// still owes, after a read that drained the socket. It runs inside
// RawConn.Read, on the socket fd.
func (p *pump) batch(fd uintptr) {
	want := 1
	r := &p.t.frames[p.d]
	switch owed := r.owed(); {
	case owed < minBatch:
	case p.piece != r.frames:
		p.piece = r.frames // its first piece: no mark yet (see above)
	default:
		if p.lowatCap == 0 {
			p.lowatCap = lowatCap(fd)
		}
		if p.lowatCap > 0 { // -1: no room for a mark (a negative one means "all")
			want = int(min(owed, int64(p.lowatCap)))
		}
	}
	changed := want != p.lowat
	if changed {
		if setRcvLowat(fd, want) != nil {
			p.lowatCap = -1 // not supported here: never again for this socket
			return
		}
		p.lowat = want
	}
	switch {
	case want > 1:
		p.deadline(time.Now().Add(batchWait))
	case changed:
		p.deadline(time.Time{})
	}
}

// unbatch is for a frame whose rest is slow to come: back to waking for
// any byte, and to loop's own deadline.
func (p *pump) unbatch() {
	p.rc.Control(func(fd uintptr) { setRcvLowat(fd, 1) })
	p.lowat = 1
	p.deadline(time.Time{})
}

// deadline sets src's read deadline to the earlier of at (zero: none) and
// the one loop wants (p.until).
func (p *pump) deadline(at time.Time) {
	if at.IsZero() || (!p.until.IsZero() && p.until.Before(at)) {
		at = p.until
	}
	p.src.SetReadDeadline(at)
}

// lowatCap is the most the low-water mark may be for the socket fd. Linux
// grows the receive buffer to fit a mark, and kernels before late 2025
// then also clamped the TCP window to the mark, for good (a slow
// connection for a fast sender). A quarter of the buffer, which the
// kernel reckons holds twice the window at most, never needs growing.
// It never exceeds the relay's big buffer, which one read then fills.
func lowatCap(fd uintptr) int {
	n, err := rcvBuf(fd)
	if err != nil || n/4 < minBatch {
		return -1
	}
	return min(n/4, bigBufSize)
}
