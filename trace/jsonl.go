package trace

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// JSONL writes one JSON object per message and line (JSON Lines), and one
// per plain HTTP exchange (HTTP, HTTPRecord). The field names are stable;
// docs/observe.md lists them:
//
//	{"time":"2026-11-27T13:02:01.123456Z","tunnel":3,"dir":"up","opcode":"text","len":5,"text":"hello"}
//
// A payload is in "text" for a text message whose bytes are valid UTF-8
// (inflated, when compressed), and otherwise in "base64". Fields that would be
// false, zero or empty are left out, except time, tunnel, dir, opcode and
// len.
type JSONL struct {
	mu  sync.Mutex
	buf bytes.Buffer
	enc *json.Encoder
	w   io.Writer
	err error
}

// Record is one line of JSONL's output.
type Record struct {
	Time   time.Time `json:"time"`   // when the message's last byte passed, UTC
	Tunnel uint64    `json:"tunnel"` // the tunnel's ID, as in the log lines
	Dir    string    `json:"dir"`    // "up" (client to backend) or "down"
	Opcode string    `json:"opcode"` // "text", "binary", "close", "ping" or "pong"
	Len    int64     `json:"len"`    // the payload's length, all of it
	// Text or Base64 is the payload, or its first bytes when Truncated.
	Text        *string `json:"text,omitempty"`
	Base64      []byte  `json:"base64,omitempty"`
	Truncated   bool    `json:"truncated,omitempty"`
	Compressed  bool    `json:"compressed,omitempty"`  // RSV1: deflated; Len is then the inflated length
	WireLen     int64   `json:"wire_len,omitempty"`    // compressed: the payload's length on the wire
	Undecodable bool    `json:"undecodable,omitempty"` // compressed but not inflated: the payload is as sent
	CloseCode   int     `json:"close_code,omitempty"`  // close: 1005 when it had none
	CloseName   string  `json:"close_name,omitempty"`  // the code's name: CloseName
	CloseReason string  `json:"close_reason,omitempty"`
	// Decoded is what the tunnel's subprotocol decoder made of the
	// message, when it has one that read it.
	Decoded *DecodedRecord `json:"decoded,omitempty"`
}

// DecodedRecord is a decode.Decoded in a Record.
type DecodedRecord struct {
	Protocol  string            `json:"protocol"`
	Type      string            `json:"type,omitempty"`
	Summary   string            `json:"summary,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	LatencyUS int64             `json:"latency_us,omitempty"` // an answer's time since what it answers
}

// NewJSONL returns a JSONL that writes to w.
func NewJSONL(w io.Writer) *JSONL {
	j := &JSONL{w: w}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	return j
}

// Message writes m's line. After a write error it writes nothing more; Err
// returns that error.
func (j *JSONL) Message(m tunnel.Message) { j.MessageDecoded(m, nil) }

// MessageDecoded is Message with what a subprotocol decoder made of m
// (nil: nothing).
func (j *JSONL) MessageDecoded(m tunnel.Message, d *decode.Decoded) {
	r := newRecord(m)
	if d != nil {
		r.Decoded = decodedRecord(d)
	}
	j.write(r)
}

// Err returns the first error writing a line, if any.
func (j *JSONL) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// newRecord returns m as JSONL writes it. It shares m's Payload.
func newRecord(m tunnel.Message) Record {
	r := Record{
		Time:       m.Time.UTC(),
		Tunnel:     m.Tunnel,
		Dir:        m.Dir.String(),
		Opcode:     m.Opcode.String(),
		Len:        m.Len,
		Truncated:  m.Truncated,
		Compressed: m.Compressed,
	}
	if m.Compressed {
		r.WireLen, r.Undecodable = m.WireLen, !m.Inflated
	}
	if m.Opcode == tunnel.OpClose {
		r.CloseCode, r.CloseName, r.CloseReason = m.CloseCode, CloseName(m.CloseCode), m.CloseReason
		return r
	}
	p, _ := payload(m)
	if isText(m) && utf8.Valid(p) {
		s := string(p)
		r.Text = &s
	} else if len(p) > 0 {
		r.Base64 = p
	}
	return r
}
