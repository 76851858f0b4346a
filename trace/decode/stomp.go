package decode

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// stomp decodes STOMP 1.0, 1.1 and 1.2 frames
// (https://stomp.github.io/stomp-specification-1.2.html): a command line,
// header lines, a blank line, a body and a NUL. A message holding only
// end-of-lines is a heart-beat. A message may hold several frames: the
// first is described and the others counted.
type stomp struct {
	receipts pending // by "dir receipt" of a frame that asked for one
}

func newSTOMP() *stomp { return &stomp{} }

var stompCommands = map[string]bool{
	"CONNECT": true, "STOMP": true, "CONNECTED": true, "SEND": true, "SUBSCRIBE": true,
	"UNSUBSCRIBE": true, "ACK": true, "NACK": true, "BEGIN": true, "COMMIT": true,
	"ABORT": true, "DISCONNECT": true, "MESSAGE": true, "RECEIPT": true, "ERROR": true,
}

// stompHeaders are the headers copied into Fields, by the name a filter
// uses.
var stompHeaders = []struct{ header, field string }{
	{"destination", "destination"}, {"id", "id"}, {"subscription", "subscription"},
	{"message-id", "message-id"}, {"receipt", "receipt"}, {"receipt-id", "receipt-id"},
	{"ack", "ack"}, {"transaction", "transaction"}, {"content-type", "content-type"},
	{"version", "version"}, {"accept-version", "accept-version"}, {"heart-beat", "heart-beat"},
	{"host", "host"}, {"login", "login"}, {"message", "error"},
}

func (s *stomp) Decode(dir string, text bool, p []byte, at time.Time) (Decoded, bool) {
	d := Decoded{Protocol: "stomp"}
	if len(p) > 0 && len(bytes.Trim(p, "\r\n")) == 0 {
		d.Type = "heartbeat"
		d.Summary = "heart-beat"
		return d, true
	}
	// Frames may be preceded by EOLs (heart-beats) (§ Augmented BNF).
	p = bytes.TrimLeft(p, "\r\n")
	head, body, haveBody := bytes.Cut(p, []byte("\n\n"))
	if !haveBody {
		head, body, haveBody = bytes.Cut(p, []byte("\r\n\r\n"))
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	cmd := lines[0]
	if !stompCommands[cmd] || (!haveBody && len(lines) == 1 && !bytes.HasSuffix(p, []byte("\n"))) {
		return d, false
	}
	headers := map[string]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			if haveBody {
				return d, false
			}
			continue // the line the payload was cut in
		}
		if cmd != "CONNECT" && cmd != "CONNECTED" { // 1.2 escapes all others' headers
			k, v = stompUnescape(k), stompUnescape(v)
		}
		if _, dup := headers[k]; !dup { // the first of repeated headers wins
			headers[k] = v
		}
	}
	d.Type = strings.ToLower(cmd)
	d.Fields = fields("command", cmd)
	for _, h := range stompHeaders {
		if v := headers[h.header]; v != "" {
			d.Fields[h.field] = v
		}
	}

	// The body ends at the NUL, or at content-length bytes.
	frames := 1
	length := -1
	if n, err := strconv.Atoi(headers["content-length"]); err == nil && n >= 0 {
		length = n
	}
	switch {
	case !haveBody:
		d.Fields["partial"] = "true"
	case length >= 0 && length < len(body) && body[length] == 0:
		frames += countFrames(body[length+1:])
	case length >= 0:
		d.Fields["partial"] = "true"
	default:
		if i := bytes.IndexByte(body, 0); i >= 0 {
			length = i
			frames += countFrames(body[i+1:])
		} else {
			d.Fields["partial"] = "true"
			length = len(body)
		}
	}
	if length >= 0 {
		d.Fields["length"] = strconv.Itoa(length)
	}

	switch {
	case headers["receipt"] != "":
		s.receipts.add(dir+" "+headers["receipt"], at, "")
	case cmd == "RECEIPT":
		d.Latency, _ = s.receipts.take(other(dir)+" "+headers["receipt-id"], at)
	case cmd == "CONNECT" || cmd == "STOMP":
		s.receipts.add(dir+" connect", at, "")
	case cmd == "CONNECTED":
		d.Latency, _ = s.receipts.take(other(dir)+" connect", at)
	}

	var b strings.Builder
	b.WriteString(cmd)
	for _, k := range []string{"destination", "id", "subscription", "message-id", "receipt", "receipt-id", "version", "heart-beat", "error"} {
		if v := d.Fields[k]; v != "" {
			if k == "destination" || k == "error" {
				fmt.Fprintf(&b, " %s", clip(v, 80))
			} else {
				fmt.Fprintf(&b, " %s=%s", k, clip(v, 40))
			}
		}
	}
	if length > 0 {
		fmt.Fprintf(&b, " (%d bytes", length)
		if ct := d.Fields["content-type"]; ct != "" {
			b.WriteString(", " + clip(ct, 40))
		}
		b.WriteString(")")
	}
	if frames > 1 {
		fmt.Fprintf(&b, " +%d frames", frames-1)
		d.Fields["frames"] = strconv.Itoa(frames)
	}
	if d.Fields["partial"] != "" {
		b.WriteString(" …")
	}
	d.Summary = b.String()
	return d, true
}

// countFrames counts the frames after the first in a message: whatever
// follows its NUL besides end-of-lines (heart-beats).
func countFrames(rest []byte) int {
	n := 0
	for _, f := range bytes.Split(rest, []byte{0}) {
		if len(bytes.Trim(f, "\r\n")) > 0 {
			n++
		}
	}
	return n
}

// stompUnescape undoes STOMP 1.2 header escaping: \r \n \c \\.
func stompUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\r`, "\r", `\n`, "\n", `\c`, ":", `\\`, `\`).Replace(s)
}
