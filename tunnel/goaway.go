package tunnel

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"

	"github.com/wsgate/wsgate/internal/wsproto"
)

// A graceful shutdown says goodbye the WebSocket way: a close frame with
// 1001 (going away, RFC 6455 §7.4.1) to both peers of every tunnel, each
// put between two frames so that no message is cut, then the peers'
// answers are awaited (and not passed on: each peer already has ours)
// until the grace period ends.

// errAnswered ends a direction whose peer answered our close frame.
var errAnswered = errors.New("close frame answered")

const goingAway = 1001

// goAway asks both directions to send a going-away close frame at their
// next frame boundary: now if they are between frames and idle, else as
// soon as the write in flight has passed (write sends it then). It never
// waits for a write that a peer holds up: a direction blocked writing to
// a peer that does not read gets no close frame, and is cut when the
// grace period ends.
func (t *Tunnel) goAway() {
	t.awayWanted.Store(true)
	t.mu.Lock()
	attached := t.client != nil
	t.mu.Unlock()
	if !attached {
		return // no 101 was sent yet, nothing to say
	}
	for _, d := range []Direction{Up, Down} {
		// Held by a write in flight: that write sends the frame after
		// it, since it reads awayWanted once done.
		if t.wmu[d].TryLock() {
			t.sayGoingAway(d)
			t.wmu[d].Unlock()
		}
	}
}

// awayWait bounds the write of a going-away close frame to a peer whose
// buffer is full: the frame is a courtesy, not worth a stuck stop.
const awayWait = time.Second

// sayGoingAway sends the close frame in direction d if it is due and the
// stream is between frames. The caller holds wmu[d].
func (t *Tunnel) sayGoingAway(d Direction) {
	r := &t.frames[d]
	if t.away[d] || r.raw || r.hn != 0 || r.left != 0 {
		return // said already, not WebSocket, or in the middle of a frame
	}
	// The frame goes to the peer that reads this direction: the backend
	// for Up, where a client's frames must be masked (RFC 6455 §5.3).
	f := closeFrame(goingAway, "going away", d == Up)
	dst := t.to(d)
	dst.SetWriteDeadline(time.Now().Add(awayWait))
	dst.Write(f)
	dst.SetWriteDeadline(time.Time{})
	t.away[d] = true
	r.closesAtAway = r.closes
}

// afterAway handles bytes that arrive in a direction after our close frame:
// they are not passed on, and the peer's own close frame ends the
// direction. The caller holds wmu[d].
func (t *Tunnel) afterAway(d Direction) error {
	if t.frames[d].closes > t.frames[d].closesAtAway || t.frames[d].raw {
		return errAnswered
	}
	return nil
}

// closeFrame builds a close frame with a status code and reason.
func closeFrame(code int, reason string, masked bool) []byte {
	payload := wsproto.ClosePayload(code, reason)
	b := []byte{0x80 | byte(OpClose), byte(len(payload))}
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	n := len(b)
	b = append(b, payload...)
	wsproto.Mask(b[n:], b[n:], binary.LittleEndian.Uint32(key[:]))
	return b
}
