package liveview

// key is one key the live view acts on.
type key int

const (
	keyQuit key = iota + 1
	keyPause
	keyUp
	keyDown
	keyPageUp
	keyPageDown
	keyHome
	keyEnd
)

// keyDecoder turns what a terminal in raw mode sends into keys. An escape
// sequence split across two reads is kept until the rest arrives; bytes
// that mean nothing to the view are skipped.
type keyDecoder struct {
	pending []byte
}

// escKeys are the cursor keys as VT100, xterm and their application-mode
// variants send them, without the leading ESC.
var escKeys = map[string]key{
	"[A": keyUp, "OA": keyUp,
	"[B": keyDown, "OB": keyDown,
	"[5~": keyPageUp, "[6~": keyPageDown,
	"[H": keyHome, "OH": keyHome, "[1~": keyHome, "[7~": keyHome,
	"[F": keyEnd, "OF": keyEnd, "[4~": keyEnd, "[8~": keyEnd,
}

func (d *keyDecoder) decode(p []byte) []key {
	b := append(d.pending, p...)
	d.pending = nil
	var keys []key
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case 'q', 'Q', 3: // 3 is Ctrl-C, which raw mode delivers as a byte
			keys = append(keys, keyQuit)
		case 'p', 'P', ' ':
			keys = append(keys, keyPause)
		case 'j':
			keys = append(keys, keyDown)
		case 'k':
			keys = append(keys, keyUp)
		case 'g':
			keys = append(keys, keyHome)
		case 'G':
			keys = append(keys, keyEnd)
		case 0x1b:
			n, k := escape(b[i+1:])
			if n < 0 { // incomplete: wait for the rest
				d.pending = append([]byte(nil), b[i:]...)
				return keys
			}
			if k != 0 {
				keys = append(keys, k)
			}
			i += n
		}
	}
	return keys
}

// escape reads a CSI or SS3 sequence after ESC: how many bytes it takes
// (-1 when it is not complete yet) and the key, 0 for one the view ignores.
// An ESC followed by anything else is the Escape key, ignored.
func escape(b []byte) (int, key) {
	if len(b) == 0 {
		return -1, 0
	}
	if b[0] != '[' && b[0] != 'O' {
		return 0, 0
	}
	for i := 1; i < len(b); i++ {
		if b[i] >= 0x40 && b[i] <= 0x7e { // the final byte (ECMA-48 §5.4)
			return i + 1, escKeys[string(b[:i+1])]
		}
		if i > 16 { // no key is this long: give up on it
			return i + 1, 0
		}
	}
	return -1, 0
}
