package cmd

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/coder/websocket"
)

// maxMessage bounds a message dial reads, and the input --binary sends.
const maxMessage = 64 << 20

// inputMode is how dial cuts its input into messages.
type inputMode int

const (
	inputLines       inputMode = iota // each line one text message
	inputWhole                        // --binary: all of it one binary message
	inputBase64Lines                  // --base64: each line, decoded, one binary message
)

// outgoing is one message of the input, or the error that ended it.
type outgoing struct {
	typ websocket.MessageType
	p   []byte
	err error
}

// printMessage writes one message received on its own line: text as is,
// binary in format.
func printMessage(w io.Writer, format string, typ websocket.MessageType, p []byte) error {
	if typ == websocket.MessageBinary {
		switch format {
		case "base64":
			p = base64.StdEncoding.AppendEncode(nil, p)
		case "hex":
			p = hex.AppendEncode(nil, p)
		}
	}
	_, err := w.Write(append(p, '\n'))
	return err
}

// readInput cuts r into messages, sends them on out, and closes out at the
// end of the input, or when done is closed.
func readInput(r io.Reader, mode inputMode, out chan<- outgoing, done <-chan struct{}) {
	defer close(out)
	send := func(m outgoing) bool {
		select {
		case out <- m:
			return true
		case <-done:
			return false
		}
	}
	if mode == inputWhole {
		p, err := io.ReadAll(io.LimitReader(r, maxMessage+1))
		switch {
		case err != nil:
			send(outgoing{err: fmt.Errorf("read input: %w", err)})
		case len(p) > maxMessage:
			send(outgoing{err: fmt.Errorf("input over %d MiB: too big for one message", maxMessage>>20)})
		case len(p) > 0:
			send(outgoing{typ: websocket.MessageBinary, p: p})
		}
		return
	}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			send(outgoing{err: fmt.Errorf("read input: %w", err)})
			return
		}
		// A last line without a newline is a message; nothing after the last newline is not.
		if line = strings.TrimRight(line, "\r\n"); line != "" || err == nil {
			m := outgoing{typ: websocket.MessageText, p: []byte(line)}
			if mode == inputBase64Lines {
				m.typ = websocket.MessageBinary
				if m.p, m.err = decodeBase64(line); m.err != nil {
					m.err = fmt.Errorf("input line %d: %w", n, m.err)
				}
			}
			if !send(m) || m.err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// decodeBase64 takes what base64 tools write: the standard or the URL
// alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	p, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		if p, err2 := base64.RawURLEncoding.DecodeString(s); err2 == nil {
			return p, nil
		}
	}
	return p, err
}
