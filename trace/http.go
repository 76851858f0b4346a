package trace

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// This file traces plain HTTP exchanges, the requests that are not
// upgrades (tunnel.Config.OnHTTP): a Socket.IO client's long polling goes
// that way before it upgrades, and its packets are decoded as a tunnel's
// messages are (issue 20).
//
//	handler goroutines ──OnHTTP──▶ HTTPDecoder (Engine.IO polling) ──▶ Filter.MatchHTTP
//	                                ──▶ Text.HTTP, JSONL.HTTP, HAR.HTTP

// HTTPDecoder finds the Engine.IO long-polling requests among plain
// exchanges and decodes their bodies' packets, one decoding session per
// Engine.IO session. A nil *HTTPDecoder decodes nothing. Safe for
// concurrent use.
type HTTPDecoder struct {
	polling *decode.Polling
}

// NewHTTPDecoder returns the decoder for --decode forced: "" reads the
// polling requests on a Socket.IO path (decode.For's choice by path),
// "socketio" every polling request, "none" or another decoder's name
// none (nil).
func NewHTTPDecoder(forced string) *HTTPDecoder {
	if forced != "" && !strings.EqualFold(forced, "socketio") {
		return nil
	}
	return &HTTPDecoder{polling: decode.NewPolling(forced)}
}

// maxInflatedBody bounds what a compressed polling body is inflated to
// for decoding: a decompression bomb stops there.
const maxInflatedBody = 64 << 10

// Decode returns the Engine.IO packets of x, nil when it is not a polling
// request. A body sent gzip or deflate (Engine.IO compresses polling
// answers over 1 KiB for clients that accept it) is inflated as far as
// its kept bytes go; a br one is not decoded.
func (d *HTTPDecoder) Decode(x tunnel.HTTPExchange) []decode.Packet {
	if d == nil || !d.polling.Is(x.Target) {
		return nil
	}
	r := decode.PollRequest{Method: x.Method, Target: x.Target, Status: x.Status, Sent: x.Time, Answered: x.Time.Add(x.Duration)}
	var ok bool
	if r.Request, r.RequestCut, ok = plainBody(x.Request, false); !ok {
		r.Request = nil
	}
	if r.Response, r.ResponseCut, ok = plainBody(x.Response, x.Aborted); !ok {
		r.Response = nil
	}
	pks, _ := d.polling.Decode(r)
	return pks
}

// Takeover hands over, and forgets, the polling session that a
// WebSocket upgrade takes over (its target names the sid): for
// Tunnels.Takeover, which decodes the tunnel's messages in it. Nil when
// there is none.
func (d *HTTPDecoder) Takeover(ev tunnel.TunnelEvent) decode.Session {
	if d == nil || ev.Closed {
		return nil
	}
	return d.polling.Upgraded(ev.Info.Path)
}

// plainBody is b's bytes uncompressed, and whether they are cut short;
// not ok for an encoding it cannot undo.
func plainBody(b tunnel.Body, aborted bool) (_ []byte, cut, ok bool) {
	cut = b.Truncated || aborted
	var zr io.Reader
	var err error
	switch strings.ToLower(b.Encoding) {
	case "":
		return b.Data, cut, true
	case "gzip", "x-gzip":
		zr, err = gzip.NewReader(bytes.NewReader(b.Data))
	case "deflate": // zlib, RFC 9110 §8.4.1.2
		zr, err = zlib.NewReader(bytes.NewReader(b.Data))
	default:
		return nil, cut, false
	}
	if err != nil {
		return nil, cut, false
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxInflatedBody+1))
	if len(out) > maxInflatedBody {
		out, cut = out[:maxInflatedBody], true
	}
	if err != nil {
		// A prefix of the stream (kept bytes end mid-stream): what it
		// gave is the beginning of the body.
		cut = true
	}
	return out, cut, true
}

// HTTP writes x's line and, under it, each body (or the packets decoded
// from it), in one Write:
//
//	12:00:01.250 http wsgate.conf:3 / POST /socket.io/?EIO=4&transport=polling&sid=Ab3 200 → 2 B ← 2 B 812µs
//	  → 2 "40" ⟨socketio connect CONNECT⟩
//	  ← 2 "ok"
//
// The time is the clock's when the request arrived (an exchange belongs
// to no tunnel to count from); "http" stands where a message has its
// tunnel's #ID; then the rule, the method and target, the status, the
// bodies' whole sizes (→ the request's, ← the answer's) and how long the
// answer took; "[aborted]" when it was cut short. A body is shown as a
// message's payload is (--trace-format), as far as it was kept; one sent
// compressed is shown as sent, marked with its Content-Encoding
// ("[gzip]"). An Engine.IO polling body is shown as its packets, one line
// each, with what the decoder read in them.
func (t *Text) HTTP(x tunnel.HTTPExchange, packets []decode.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	t.buf = appendHTTP(t.buf[:0], x, packets, t.opts)
	_, t.err = t.w.Write(t.buf)
}

// appendHTTP appends x's line and the lines under it.
func appendHTTP(b []byte, x tunnel.HTTPExchange, packets []decode.Packet, opts TextOptions) []byte {
	b = x.Time.AppendFormat(b, "15:04:05.000")
	b = append(b, " http"...)
	if x.Route != "" {
		b = append(b, ' ')
		b = appendPrintable(b, x.Route)
	}
	b = append(b, ' ')
	b = appendPrintable(b, x.Method)
	b = append(b, ' ')
	b = appendPrintable(b, x.Target)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(x.Status), 10)
	b = append(b, " → "...)
	b = strconv.AppendInt(b, x.Request.Len, 10)
	b = append(b, " B ← "...)
	b = strconv.AppendInt(b, x.Response.Len, 10)
	b = append(b, " B "...)
	b = append(b, x.Duration.Round(time.Microsecond).String()...)
	if x.Aborted {
		b = append(b, " [aborted]"...)
	}
	b = append(b, '\n')
	for _, dir := range []tunnel.Direction{tunnel.Up, tunnel.Down} {
		body := x.Request
		if dir == tunnel.Down {
			body = x.Response
		}
		decoded := false
		for _, pk := range packets {
			if pk.Dir == dir.String() {
				b = appendPacket(b, dir, pk, opts)
				decoded = true
			}
		}
		if !decoded && body.Len > 0 {
			b = appendBody(b, dir, body, opts)
		}
	}
	return b
}

// appendArrow starts a line under an exchange's: indent and direction.
func appendArrow(b []byte, dir tunnel.Direction) []byte {
	if dir == tunnel.Up {
		return append(b, "  → "...)
	}
	return append(b, "  ← "...)
}

// appendPacket appends a line for a polling packet: its length, the
// packet as the body holds it, and what the decoder read.
func appendPacket(b []byte, dir tunnel.Direction, pk decode.Packet, opts TextOptions) []byte {
	b = appendArrow(b, dir)
	b = strconv.AppendInt(b, int64(len(pk.Data)), 10)
	m := tunnel.Message{Opcode: tunnel.OpText, Len: int64(len(pk.Data)), Payload: pk.Data}
	if !utf8.Valid(pk.Data) {
		m.Opcode = tunnel.OpBinary
	}
	b, below := appendPayload(b, m, opts)
	if pk.Partial {
		b = append(b, " [cut]"...)
	}
	if pk.OK {
		b = appendDecoded(b, &pk.Decoded)
	}
	b = append(b, '\n')
	return append(b, below...)
}

// appendBody appends a line for a body, shown as a message's payload is:
// text when its kept bytes are UTF-8 and it was not compressed, else
// bytes.
func appendBody(b []byte, dir tunnel.Direction, body tunnel.Body, opts TextOptions) []byte {
	b = appendArrow(b, dir)
	b = strconv.AppendInt(b, body.Len, 10)
	if body.Encoding != "" {
		b = append(b, " ["...)
		b = appendPrintable(b, body.Encoding)
		b = append(b, ']')
	}
	b, below := appendPayload(b, bodyMessage(body), opts)
	b = append(b, '\n')
	return append(b, below...)
}

// bodyMessage is body as a Message, for the functions that show and
// filter payloads: text when it is UTF-8 as far as it was kept and not
// compressed, binary otherwise.
func bodyMessage(body tunnel.Body) tunnel.Message {
	m := tunnel.Message{Opcode: tunnel.OpBinary, Len: body.Len, Payload: body.Data, Truncated: body.Truncated}
	p := body.Data
	if body.Truncated {
		p = trimPartialRune(p)
	}
	if body.Encoding == "" && utf8.Valid(p) {
		m.Opcode = tunnel.OpText
	}
	return m
}

// HTTPRecord is the line JSONL writes for a plain HTTP exchange. Its
// "kind" is "http"; a message's line has no kind.
type HTTPRecord struct {
	Time       time.Time  `json:"time"` // when the request arrived, UTC
	Kind       string     `json:"kind"` // "http"
	Route      string     `json:"route,omitempty"`
	Client     string     `json:"client,omitempty"`
	Method     string     `json:"method"`
	Target     string     `json:"target"` // as the client sent it
	Status     int        `json:"status"`
	WaitUS     int64      `json:"wait_us"`     // until the answer's header was written
	DurationUS int64      `json:"duration_us"` // until its last byte was
	Aborted    bool       `json:"aborted,omitempty"`
	Request    BodyRecord `json:"request"`
	Response   BodyRecord `json:"response"`
	// Packets are the Engine.IO packets of a long-polling request's
	// bodies, in order, up then down.
	Packets []PacketRecord `json:"packets,omitempty"`
}

// BodyRecord is a body in an HTTPRecord: its length, and its first bytes
// as "text" when they are UTF-8 and not compressed, else "base64".
type BodyRecord struct {
	Len         int64   `json:"len"`
	ContentType string  `json:"content_type,omitempty"`
	Encoding    string  `json:"encoding,omitempty"` // Content-Encoding: the bytes are as sent, compressed
	Text        *string `json:"text,omitempty"`
	Base64      []byte  `json:"base64,omitempty"`
	Truncated   bool    `json:"truncated,omitempty"`
}

// PacketRecord is a polling packet in an HTTPRecord: as the body holds
// it, and what the decoder read (absent when it read nothing).
type PacketRecord struct {
	Dir     string         `json:"dir"`
	Text    *string        `json:"text,omitempty"`
	Base64  []byte         `json:"base64,omitempty"`
	Partial bool           `json:"partial,omitempty"`
	Decoded *DecodedRecord `json:"decoded,omitempty"`
}

// HTTP writes x's line, with its decoded packets. After a write error it
// writes nothing more; Err returns that error.
func (j *JSONL) HTTP(x tunnel.HTTPExchange, packets []decode.Packet) {
	j.write(NewHTTPRecord(x, packets))
}

// write encodes r on one line.
func (j *JSONL) write(r any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	j.buf.Reset()
	if j.err = j.enc.Encode(r); j.err == nil {
		_, j.err = j.w.Write(j.buf.Bytes())
	}
}

// NewHTTPRecord returns x as JSONL writes it. It shares x's bodies.
func NewHTTPRecord(x tunnel.HTTPExchange, packets []decode.Packet) HTTPRecord {
	r := HTTPRecord{
		Time: x.Time.UTC(), Kind: "http", Route: x.Route, Client: x.Client, Method: x.Method, Target: x.Target,
		Status: x.Status, WaitUS: x.Wait.Microseconds(), DurationUS: x.Duration.Microseconds(), Aborted: x.Aborted,
		Request:  bodyRecord(x.Request, x.RequestHeader.Get("Content-Type")),
		Response: bodyRecord(x.Response, x.ResponseHeader.Get("Content-Type")),
	}
	for _, pk := range packets {
		pr := PacketRecord{Dir: pk.Dir, Partial: pk.Partial}
		pr.Text, pr.Base64 = textOrBase64(pk.Data, utf8.Valid(pk.Data))
		if pk.OK {
			pr.Decoded = decodedRecord(&pk.Decoded)
		}
		r.Packets = append(r.Packets, pr)
	}
	return r
}

func bodyRecord(b tunnel.Body, contentType string) BodyRecord {
	m := bodyMessage(b)
	p, _ := payload(m)
	r := BodyRecord{Len: b.Len, ContentType: contentType, Encoding: b.Encoding, Truncated: b.Truncated}
	if b.Len > 0 {
		r.Text, r.Base64 = textOrBase64(p, isText(m) && utf8.Valid(p))
	}
	return r
}

// textOrBase64 puts p in one of a record's two payload fields.
func textOrBase64(p []byte, text bool) (*string, []byte) {
	if text {
		s := string(p)
		return &s, nil
	}
	if len(p) == 0 {
		return nil, nil
	}
	return nil, p
}

func decodedRecord(d *decode.Decoded) *DecodedRecord {
	return &DecodedRecord{Protocol: d.Protocol, Type: d.Type, Summary: d.Summary, Fields: d.Fields,
		LatencyUS: d.Latency.Microseconds()}
}
