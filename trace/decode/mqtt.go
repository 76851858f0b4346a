package decode

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mqtt decodes MQTT 3.1, 3.1.1 and 5.0 control packets in binary
// messages (MQTT over WebSocket: 3.1.1 §6, 5.0 §6). MQTT is a byte stream
// and WebSocket messages need not follow its packets: mqtt.js and aedes
// send a CONNECT as a dozen messages, a field each, and a message may hold
// several packets. So the bytes of each direction are put together again:
// a message is described by the packets it completes, or as a fragment of
// the packet under way. Only maxMQTTKeep bytes of a packet are kept; a
// longer one is decoded from its start when its last byte passes. A
// payload cut by --trace-bytes loses the stream's place: when the next
// bytes are not a packet header, the decoder starts over at the next
// message.
type mqtt struct {
	version byte    // protocol level from CONNECT: 3, 4 (3.1.1) or 5
	waits   pending // by "dir kind id" of a packet that expects an answer
	streams map[string]*mqttStream
}

// mqttStream is one direction's packet under way.
type mqttStream struct {
	buf  []byte // its first bytes (at most maxMQTTKeep)
	skip int    // bytes of it still to come that are not kept
}

const maxMQTTKeep = 64 << 10

func newMQTT() *mqtt { return &mqtt{version: 4, streams: map[string]*mqttStream{}} }

var mqttTypes = []string{"", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
	"subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"}

func (m *mqtt) Decode(dir string, text bool, p []byte, at time.Time) (Decoded, bool) {
	d := Decoded{Protocol: "mqtt", Fields: map[string]string{}}
	if text {
		return d, false
	}
	st := m.streams[dir]
	if st == nil {
		st = &mqttStream{}
		m.streams[dir] = st
	}
	if st.skip > 0 { // the rest of a long packet, described when it began
		n := min(st.skip, len(p))
		st.skip -= n
		p = p[n:]
		if len(p) == 0 {
			d.Type = "fragment"
			d.Summary = fmt.Sprintf("rest of a long packet, %d bytes to come", st.skip)
			d.Fields["partial"] = "true"
			return d, true
		}
	}
	st.buf = append(st.buf, p...)
	var sums []string
	n := 0
	for len(st.buf) > 0 {
		b := st.buf
		typ, flags := b[0]>>4, b[0]&0x0f
		rl, hdr, ok := mqttLength(b[1:])
		if hdr < 0 { // the length is not all there yet
			break
		}
		if typ == 0 || !ok || !mqttFlagsOK(typ, flags) {
			st.buf = nil // lost: start over at the next message
			if n == 0 {
				return d, false
			}
			sums = append(sums, fmt.Sprintf("%d bytes not MQTT", len(b)))
			break
		}
		start, total := 1+hdr, 1+hdr+rl
		if len(b) < total && len(b) < maxMQTTKeep {
			break
		}
		body := b[start:min(len(b), total)]
		f, sum := m.packet(dir, typ, flags, body, at, &d)
		if len(b) < total { // too long to keep: described from its start
			st.skip = total - len(b)
			sum += fmt.Sprintf(" (%d of %d bytes kept)", len(body), rl)
			st.buf = nil
		} else {
			st.buf = b[total:]
		}
		if n == 0 {
			d.Type = mqttTypes[typ]
		}
		for k, v := range f {
			if _, ok := d.Fields[k]; !ok && v != "" {
				d.Fields[k] = v
			}
		}
		sums = append(sums, sum)
		n++
	}
	if len(st.buf) > 0 { // a packet under way
		frag := "start of a packet"
		if t := st.buf[0] >> 4; t > 0 {
			frag = "part of " + strings.ToUpper(mqttTypes[t])
			if rl, hdr, ok := mqttLength(st.buf[1:]); ok {
				frag += fmt.Sprintf(" (%d of %d bytes)", len(st.buf), 1+hdr+rl)
			}
		}
		sums = append(sums, frag)
		if n == 0 {
			d.Type = "fragment"
			d.Fields["partial"] = "true"
		}
	} else {
		st.buf = nil
	}
	if n > 1 {
		d.Fields["packets"] = strconv.Itoa(n)
	}
	d.Summary = strings.Join(sums, "; ")
	return d, len(sums) > 0
}

// mqttLength reads the Remaining Length (3.1.1 §2.2.3): its value and how
// many bytes it took; hdr is -1 when p ended inside it.
func mqttLength(p []byte) (n, hdr int, ok bool) {
	mult := 1
	for i := 0; i < 4; i++ {
		if i >= len(p) {
			return 0, -1, false
		}
		n += int(p[i]&0x7f) * mult
		if p[i]&0x80 == 0 {
			return n, i + 1, true
		}
		mult *= 128
	}
	return 0, 4, false
}

// mqttFlagsOK checks the fixed header's reserved flags (3.1.1 §2.2.2):
// PUBREL, SUBSCRIBE and UNSUBSCRIBE have 0010, PUBLISH any but QoS 3,
// the others 0000.
func mqttFlagsOK(typ, flags byte) bool {
	switch typ {
	case 3:
		return flags&0x06 != 0x06
	case 6, 8, 10:
		return flags == 0x02
	}
	return flags == 0
}

// packet decodes one packet's variable header and payload (body, maybe
// cut short); it returns its fields and summary, and sets d.Latency for
// an answer.
func (m *mqtt) packet(dir string, typ, flags byte, body []byte, at time.Time, d *Decoded) (map[string]string, string) {
	r := &mqttReader{p: body}
	v5 := m.version == 5
	name := strings.ToUpper(mqttTypes[typ])
	f := map[string]string{}
	answer := func(kind string) {
		if lat, _ := m.waits.take(other(dir)+" "+kind, at); lat > 0 && d.Latency == 0 {
			d.Latency = lat
		}
	}
	switch typ {
	case 1: // CONNECT
		proto := r.str()
		level := r.byte()
		cflags := r.byte()
		keepalive := r.u16()
		if level == 3 || level == 4 || level == 5 {
			m.version = level
			v5 = level == 5
		}
		if v5 {
			r.props()
		}
		client := r.str()
		f = fields("client", client, "version", mqttVersion(level), "keepalive", strconv.Itoa(keepalive))
		if cflags&0x04 != 0 { // will
			if v5 {
				r.props()
			}
			f["will"] = r.str()
			r.bin()
		}
		if cflags&0x80 != 0 {
			f["username"] = r.str()
		}
		m.waits.add(dir+" connect", at, "")
		s := fmt.Sprintf("CONNECT %s client=%q keepalive=%ds", mqttVersion(level), client, keepalive)
		if proto != "MQTT" && proto != "MQIsdp" && !r.short {
			s += " protocol=" + strconv.Quote(proto)
		}
		if u := f["username"]; u != "" {
			s += " username=" + strconv.Quote(u)
		}
		if cflags&0x02 != 0 {
			s += " clean"
		}
		return f, s
	case 2: // CONNACK
		r.byte() // session present
		code := r.byte()
		answer("connect")
		f = fields("code", strconv.Itoa(int(code)))
		if code != 0 {
			f["error"] = mqttReason(code, v5)
		}
		return f, fmt.Sprintf("CONNACK %s", mqttReason(code, v5))
	case 3: // PUBLISH
		qos := int(flags>>1) & 3
		topic := r.str()
		id := 0
		if qos > 0 {
			id = r.u16()
		}
		if v5 {
			r.props()
		}
		size := len(r.p) - r.i
		f = fields("topic", topic, "qos", strconv.Itoa(qos))
		s := fmt.Sprintf("PUBLISH %s qos=%d", clip(topic, 80), qos)
		if qos > 0 {
			f["id"] = strconv.Itoa(id)
			s += " id=" + f["id"]
			m.waits.add(dir+" pub "+f["id"], at, "")
		}
		if flags&1 != 0 {
			f["retain"] = "true"
			s += " retain"
		}
		if flags&8 != 0 {
			f["dup"] = "true"
			s += " dup"
		}
		if !r.short {
			f["length"] = strconv.Itoa(max(size, 0))
			s += fmt.Sprintf(" (%d bytes)", max(size, 0))
		}
		return f, s
	case 4, 5, 6, 7: // PUBACK, PUBREC, PUBREL, PUBCOMP
		id := strconv.Itoa(r.u16())
		code := byte(0)
		if v5 && len(body) > 2 {
			code = r.byte()
		}
		switch typ {
		case 4, 5:
			answer("pub " + id)
		case 7:
			answer("rel " + id)
		}
		if typ == 5 || typ == 6 { // the next step of QoS 2
			m.waits.add(dir+" "+map[byte]string{5: "rec", 6: "rel"}[typ]+" "+id, at, "")
		}
		if typ == 6 {
			answer("rec " + id)
		}
		f = fields("id", id)
		s := name + " id=" + id
		if code != 0 {
			f["error"] = mqttReason(code, true)
			s += " " + f["error"]
		}
		return f, s
	case 8, 10: // SUBSCRIBE, UNSUBSCRIBE
		id := strconv.Itoa(r.u16())
		if v5 {
			r.props()
		}
		var topics, parts []string
		var qos []string
		for !r.short && r.i < len(r.p) {
			t := r.str()
			if r.short {
				break
			}
			topics = append(topics, t)
			if typ == 8 {
				q := strconv.Itoa(int(r.byte() & 3))
				qos = append(qos, q)
				parts = append(parts, clip(t, 60)+" qos="+q)
			} else {
				parts = append(parts, clip(t, 60))
			}
		}
		kind := map[byte]string{8: "sub", 10: "unsub"}[typ]
		m.waits.add(dir+" "+kind+" "+id, at, "")
		f = fields("id", id, "topic", strings.Join(topics, ","), "qos", strings.Join(qos, ","))
		return f, fmt.Sprintf("%s id=%s %s", name, id, strings.Join(parts, ", "))
	case 9, 11: // SUBACK, UNSUBACK
		id := strconv.Itoa(r.u16())
		if v5 {
			r.props()
		}
		answer(map[byte]string{9: "sub", 11: "unsub"}[typ] + " " + id)
		var codes, errs []string
		for r.i < len(r.p) {
			c := r.byte()
			codes = append(codes, fmt.Sprintf("%d", c))
			if c >= 0x80 {
				errs = append(errs, mqttReason(c, true))
			}
		}
		f = fields("id", id, "codes", strings.Join(codes, ","), "error", strings.Join(errs, ","))
		s := name + " id=" + id
		if len(codes) > 0 {
			s += " codes=" + strings.Join(codes, ",")
		}
		return f, s
	case 12:
		m.waits.add(dir+" ping", at, "")
		return f, name
	case 13:
		answer("ping")
		return f, name
	case 14, 15: // DISCONNECT, AUTH: a reason code in 5.0
		if len(body) > 0 {
			code := r.byte()
			f["code"] = strconv.Itoa(int(code))
			if code >= 0x80 {
				f["error"] = mqttReason(code, true)
			}
			return f, name + " " + mqttReason(code, true)
		}
		return f, name
	}
	return f, name
}

// mqttReader reads a packet's fields; past the end of p it returns zero
// values and sets short, so that a cut packet decodes as far as it goes.
type mqttReader struct {
	p     []byte
	i     int
	short bool
}

func (r *mqttReader) take(n int) []byte {
	if n < 0 || r.i+n > len(r.p) {
		r.short = true
		r.i = len(r.p)
		return nil
	}
	b := r.p[r.i : r.i+n]
	r.i += n
	return b
}

func (r *mqttReader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *mqttReader) u16() int {
	if b := r.take(2); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *mqttReader) bin() []byte { return r.take(r.u16()) }

func (r *mqttReader) str() string { return string(r.bin()) }

// props skips MQTT 5 properties: a variable byte integer length, then
// that many bytes.
func (r *mqttReader) props() {
	n, hdr, ok := mqttLength(r.p[r.i:])
	if !ok {
		r.short, r.i = true, len(r.p)
		return
	}
	r.i += hdr
	r.take(n)
}

func mqttVersion(level byte) string {
	switch level {
	case 3:
		return "3.1"
	case 4:
		return "3.1.1"
	case 5:
		return "5.0"
	}
	return "level " + strconv.Itoa(int(level))
}

// mqttReason names a CONNACK return code (3.1.1 §3.2.2.3) or an MQTT 5
// reason code (5.0 §2.4), the common ones.
func mqttReason(code byte, v5 bool) string {
	if !v5 {
		if s, ok := map[byte]string{0: "accepted", 1: "unacceptable protocol version", 2: "identifier rejected",
			3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}[code]; ok {
			return s
		}
	} else if s, ok := map[byte]string{0: "success", 1: "granted qos 1", 2: "granted qos 2", 4: "disconnect with will",
		0x10: "no matching subscribers", 0x11: "no subscription existed", 0x80: "unspecified error",
		0x81: "malformed packet", 0x82: "protocol error", 0x83: "implementation specific error",
		0x84: "unsupported protocol version", 0x85: "client identifier not valid", 0x86: "bad user name or password",
		0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8B: "server shutting down",
		0x8D: "keep alive timeout", 0x8E: "session taken over", 0x8F: "topic filter invalid", 0x90: "topic name invalid",
		0x91: "packet identifier in use", 0x92: "packet identifier not found", 0x97: "quota exceeded",
		0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "qos not supported",
		0x9C: "use another server", 0x9D: "server moved", 0xA2: "wildcard subscriptions not supported"}[code]; ok {
		return s
	}
	return fmt.Sprintf("code %d", code)
}
