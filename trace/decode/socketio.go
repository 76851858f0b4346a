package decode

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// socketIO decodes Socket.IO v5 over Engine.IO v4 (socket.io 3 and 4),
// websocket transport: each text message is an Engine.IO packet, a digit
// for its type, and a "message" packet carries a Socket.IO packet
// (https://socket.io/docs/v4/socket-io-protocol/). A BINARY_EVENT or
// BINARY_ACK is followed by its attachments, one binary message each.
// Engine.IO 3 pings and pongs look the same and decode too.
type socketIO struct {
	// attachments are the binary messages still expected after a binary
	// packet, per direction.
	attachments map[string]int
	acks        pending // by "dir namespace id" of the emit
	pings       pending // by the direction of the ping
}

func newSocketIO() *socketIO { return &socketIO{attachments: map[string]int{}} }

var engineTypes = []string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

var socketTypes = []string{"connect", "disconnect", "event", "ack", "connect_error", "binary_event", "binary_ack"}

func (s *socketIO) Decode(dir string, text bool, p []byte, at time.Time) (Decoded, bool) {
	d := Decoded{Protocol: "socketio"}
	if !text {
		// Engine.IO 4 sends an attachment as a bare binary message;
		// Engine.IO 3 put a 4 (message) byte before it.
		n := s.attachments[dir]
		if n == 0 {
			return d, false
		}
		s.attachments[dir] = n - 1
		d.Type = "attachment"
		d.Summary = fmt.Sprintf("binary attachment, %d bytes shown, %d more to come", len(p), n-1)
		d.Fields = fields("remaining", strconv.Itoa(n-1))
		return d, true
	}
	if len(p) == 0 || p[0] < '0' || p[0] > '6' {
		return d, false
	}
	d.Type = engineTypes[p[0]-'0']
	rest := p[1:]
	switch p[0] {
	case '0': // open: {"sid":...,"upgrades":[],"pingInterval":25000,...}
		m, isObj, _ := object(rest)
		if !isObj {
			return d, false
		}
		d.Fields = fields("sid", str(m["sid"]), "pingInterval", str(m["pingInterval"]), "pingTimeout", str(m["pingTimeout"]))
		d.Summary = fmt.Sprintf("open sid=%s pingInterval=%sms", d.Fields["sid"], d.Fields["pingInterval"])
	case '2', '3': // ping, pong; "probe" while upgrading from polling
		d.Fields = fields("data", string(rest))
		d.Summary = strings.TrimSpace(d.Type + " " + clip(string(rest), 32))
		if p[0] == '2' {
			s.pings.add(dir, at, "")
		} else {
			d.Latency, _ = s.pings.take(other(dir), at)
		}
	case '4':
		return s.packet(d, dir, rest, at)
	default:
		if len(rest) > 0 {
			return d, false
		}
		d.Summary = d.Type
	}
	return d, true
}

// packet decodes a Socket.IO packet: type, [attachments "-"], [namespace
// ","], [ack id], [JSON data].
func (s *socketIO) packet(d Decoded, dir string, p []byte, at time.Time) (Decoded, bool) {
	if len(p) == 0 || p[0] < '0' || p[0] > '6' {
		// A plain Engine.IO message, not Socket.IO.
		d.Summary = "message " + clip(string(p), 80)
		return d, true
	}
	typ := p[0]
	d.Type = socketTypes[typ-'0']
	p = p[1:]
	attach := 0
	if typ == '5' || typ == '6' {
		i := strings.IndexByte(string(p), '-')
		n, err := strconv.Atoi(string(p[:max(i, 0)]))
		if i < 0 || err != nil || n < 0 {
			return d, false
		}
		attach, p = n, p[i+1:]
	}
	ns := "/"
	if len(p) > 0 && p[0] == '/' {
		i := strings.IndexByte(string(p), ',')
		if i < 0 {
			ns, p = string(p), nil
		} else {
			ns, p = string(p[:i]), p[i+1:]
		}
	}
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	ack := string(p[:i])
	p = p[i:]

	d.Fields = fields("namespace", ns, "ack", ack)
	if attach > 0 {
		d.Fields["attachments"] = strconv.Itoa(attach)
		s.attachments[dir] = attach
	}
	var desc string
	switch typ {
	case '0': // CONNECT: auth from the client, {"sid"} from the server
		m, _, _ := object(p)
		d.Fields["sid"] = str(m["sid"])
		if d.Fields["sid"] == "" {
			delete(d.Fields, "sid")
		}
		desc = compact(p)
	case '1':
	case '2', '5': // EVENT: [name, args...]
		elems, isArr, complete := array(p)
		if !isArr || len(elems) == 0 {
			return d, false
		}
		d.Fields["event"] = str(elems[0])
		desc = strconv.Quote(d.Fields["event"]) + " " + args(elems[1:], complete)
		if ack != "" {
			s.acks.add(dir+" "+ns+" "+ack, at, "")
		}
		if !complete {
			d.Fields["partial"] = "true"
		}
	case '3', '6': // ACK: [args...]
		elems, isArr, complete := array(p)
		if !isArr {
			return d, false
		}
		desc = args(elems, complete)
		d.Latency, _ = s.acks.take(other(dir)+" "+ns+" "+ack, at)
		if !complete {
			d.Fields["partial"] = "true"
		}
	case '4': // CONNECT_ERROR: {"message": ...}
		m, _, _ := object(p)
		d.Fields["error"] = str(m["message"])
		desc = strconv.Quote(d.Fields["error"])
	}
	if d.Fields["ack"] == "" {
		delete(d.Fields, "ack")
	}

	var b strings.Builder
	b.WriteString(strings.ToUpper(d.Type))
	if ns != "/" {
		b.WriteString(" " + ns)
	}
	if desc != "" {
		b.WriteString(" " + clip(desc, 120))
	}
	if ack != "" {
		b.WriteString(" ack=" + ack)
	}
	if attach > 0 {
		fmt.Fprintf(&b, " +%d binary", attach)
	}
	d.Summary = b.String()
	return d, true
}

// args writes event arguments as a JSON array, with binary placeholders
// as <binary N>.
func args(elems []json.RawMessage, complete bool) string {
	parts := make([]string, len(elems))
	for i, e := range elems {
		m, isObj, _ := object(e)
		if isObj && string(m["_placeholder"]) == "true" {
			parts[i] = "<binary " + str(m["num"]) + ">"
			continue
		}
		parts[i] = compact(e)
	}
	s := "[" + strings.Join(parts, ",")
	if !complete {
		return s + "…"
	}
	return s + "]"
}
