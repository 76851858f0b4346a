package trace

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wsgate/wsgate/tunnel"
)

// HAR collects tunnels and their messages in memory and writes them as an
// HTTP Archive (HAR 1.2) the way Chrome's devtools export WebSockets: one
// entry per tunnel, with the upgrade request and the 101 answer, and
// "_resourceType": "websocket" and "_webSocketMessages" listing every
// message:
//
//	{"type": "send", "time": 1795784521.123456, "opcode": 1, "data": "hello"}
//
// "send" is client to backend (tunnel.Up), "receive" backend to client; time
// is in Unix seconds; data is the payload as text for a text message
// (inflated, when it was compressed: browsers show messages decompressed),
// the reason for a close, and base64 otherwise (binary, ping, pong,
// compressed and not decodable), as much of it as the Message carries.
// wsgate adds fields of its own, which HAR allows with a leading
// underscore: "_length" (the whole payload's length, inflated),
// "_truncated", "_compressed", "_wireLength" (a compressed message's length
// on the wire), "_undecodable", "_closeCode" and "_closeReason".
//
// Plain HTTP exchanges (HTTP) are ordinary entries, with their bodies as
// far as they were kept.
//
// Everything is kept until WriteTo: the memory a HAR takes grows with
// every message (each at most tunnel.Config.TraceBytes of payload) and
// every exchange (its headers and at most TraceBytes of each body).
type HAR struct {
	version string

	mu      sync.Mutex
	tunnels map[uint64]*harTunnel
	http    []harEntry // the plain exchanges, as they ended
}

// harTunnel is what HAR knows of one tunnel so far.
type harTunnel struct {
	ev     tunnel.TunnelEvent // the last event; zero until one arrived
	seen   bool               // an event with the handshake arrived
	closed bool
	msgs   []harMessage
}

// NewHAR returns an empty HAR whose log names wsgate at creatorVersion as
// its creator.
func NewHAR(creatorVersion string) *HAR {
	return &HAR{version: creatorVersion, tunnels: make(map[uint64]*harTunnel)}
}

// Tunnel records a tunnel's handshake when it opens and its end when it
// closes. A tunnel whose open event was missed takes its handshake from the
// close event.
func (h *HAR) Tunnel(ev tunnel.TunnelEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tunnel(ev.Info.ID)
	start := t.ev.Info.Start
	if ev.URL != "" || !t.seen {
		ev.RequestHeader = ev.RequestHeader.Clone()
		ev.ResponseHeader = ev.ResponseHeader.Clone()
		t.ev = ev
		t.seen = ev.URL != ""
	} else {
		t.ev.Info = ev.Info
	}
	if t.ev.Info.Start.IsZero() {
		t.ev.Info.Start = start
		if start.IsZero() {
			t.ev.Info.Start = time.Now()
		}
	}
	t.closed = t.closed || ev.Closed
}

// Message adds m to its tunnel. A message that arrives before its tunnel's
// open event waits for it; one whose tunnel never had an event is left out
// of the archive (the log's comment counts them).
func (h *HAR) Message(m tunnel.Message) {
	hm := newHARMessage(m)
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tunnel(m.Tunnel)
	t.msgs = append(t.msgs, hm)
}

// tunnel returns the record of tunnel id, making it. h.mu is held.
func (h *HAR) tunnel(id uint64) *harTunnel {
	t := h.tunnels[id]
	if t == nil {
		t = &harTunnel{}
		h.tunnels[id] = t
	}
	return t
}

// WriteFile writes the archive to the file path, replacing it.
func (h *HAR) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write HAR: %w", err)
	}
	_, err = h.WriteTo(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write HAR: %w", cerr)
	}
	return err
}

// WriteTo writes the archive, as indented JSON, to w. It may be called
// while messages still arrive: the archive holds those that had arrived.
func (h *HAR) WriteTo(w io.Writer) (int64, error) {
	doc := h.doc(time.Now())
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return 0, fmt.Errorf("write HAR: %w", err)
	}
	n, err := w.Write(buf.Bytes())
	if err != nil {
		err = fmt.Errorf("write HAR: %w", err)
	}
	return int64(n), err
}

// doc builds the archive: entries in the order the tunnels opened and
// the requests arrived.
func (h *HAR) doc(now time.Time) harDoc {
	h.mu.Lock()
	defer h.mu.Unlock()
	doc := harDoc{Log: harLog{
		Version: "1.2",
		Creator: harCreator{Name: "wsgate", Version: h.version},
		Pages:   []struct{}{},
		Entries: []harEntry{},
	}}
	dropped := 0
	for _, t := range h.tunnels {
		if !t.seen {
			dropped += len(t.msgs)
			continue
		}
		doc.Log.Entries = append(doc.Log.Entries, newHAREntry(t, now))
	}
	doc.Log.Entries = append(doc.Log.Entries, h.http...)
	slices.SortFunc(doc.Log.Entries, func(a, b harEntry) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.id, b.id))
	})
	if dropped > 0 {
		doc.Log.Comment = fmt.Sprintf("%d messages of tunnels whose upgrade was not seen are left out", dropped)
	}
	return doc
}

// The archive, as HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/)
// and Chrome's WebSocket extension of it name its fields.
type (
	harDoc struct {
		Log harLog `json:"log"`
	}
	harLog struct {
		Version string     `json:"version"`
		Creator harCreator `json:"creator"`
		Pages   []struct{} `json:"pages"`
		Entries []harEntry `json:"entries"`
		Comment string     `json:"comment,omitempty"`
	}
	harCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	harEntry struct {
		StartedDateTime string       `json:"startedDateTime"`
		Time            float64      `json:"time"` // milliseconds, the sum of Timings
		Request         harRequest   `json:"request"`
		Response        harResponse  `json:"response"`
		Cache           struct{}     `json:"cache"`
		Timings         harTimings   `json:"timings"`
		Connection      string       `json:"connection,omitempty"`
		Comment         string       `json:"comment,omitempty"`
		ResourceType    string       `json:"_resourceType,omitempty"`
		Messages        []harMessage `json:"_webSocketMessages,omitzero"` // a tunnel's; nil for a plain exchange

		start time.Time // for sorting
		id    uint64
	}
	harRequest struct {
		Method      string       `json:"method"`
		URL         string       `json:"url"`
		HTTPVersion string       `json:"httpVersion"`
		Cookies     []struct{}   `json:"cookies"`
		Headers     []harHeader  `json:"headers"`
		QueryString []harHeader  `json:"queryString"`
		HeadersSize int          `json:"headersSize"`
		BodySize    int          `json:"bodySize"`
		PostData    *harPostData `json:"postData,omitempty"`
	}
	harResponse struct {
		Status      int         `json:"status"`
		StatusText  string      `json:"statusText"`
		HTTPVersion string      `json:"httpVersion"`
		Cookies     []struct{}  `json:"cookies"`
		Headers     []harHeader `json:"headers"`
		Content     harContent  `json:"content"`
		RedirectURL string      `json:"redirectURL"`
		HeadersSize int         `json:"headersSize"`
		BodySize    int         `json:"bodySize"`
	}
	harHeader struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	harContent struct {
		Size      int    `json:"size"`
		MimeType  string `json:"mimeType"`
		Text      string `json:"text,omitempty"`
		Encoding  string `json:"encoding,omitempty"` // "base64"
		Comment   string `json:"comment,omitempty"`
		Truncated bool   `json:"_truncated,omitempty"`
	}
	harTimings struct {
		Blocked float64 `json:"blocked"`
		DNS     float64 `json:"dns"`
		Connect float64 `json:"connect"`
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
	harMessage struct {
		Type        string  `json:"type"` // "send" or "receive"
		Time        float64 `json:"time"` // Unix seconds
		Opcode      int     `json:"opcode"`
		Data        string  `json:"data"`
		Length      int64   `json:"_length"`
		Truncated   bool    `json:"_truncated,omitempty"`
		Compressed  bool    `json:"_compressed,omitempty"`
		WireLength  int64   `json:"_wireLength,omitempty"`
		Undecodable bool    `json:"_undecodable,omitempty"`
		CloseCode   int     `json:"_closeCode,omitempty"`
		CloseReason string  `json:"_closeReason,omitempty"`
	}
)

// newHARMessage copies what the archive needs of m.
func newHARMessage(m tunnel.Message) harMessage {
	hm := harMessage{
		Type:        "receive",
		Time:        float64(m.Time.UnixMicro()) / 1e6,
		Opcode:      int(m.Opcode),
		Length:      m.Len,
		Truncated:   m.Truncated,
		Compressed:  m.Compressed,
		CloseCode:   m.CloseCode,
		CloseReason: m.CloseReason,
	}
	if m.Compressed {
		hm.WireLength, hm.Undecodable = m.WireLen, !m.Inflated
	}
	if m.Dir == tunnel.Up {
		hm.Type = "send"
	}
	p, _ := payload(m)
	if m.Opcode == tunnel.OpClose {
		hm.Data = m.CloseReason
	} else if isText(m) && utf8.Valid(p) {
		hm.Data = string(p)
	} else {
		hm.Data = base64.StdEncoding.EncodeToString(p)
	}
	return hm
}

// newHAREntry is t's entry. A tunnel still open at now lasts until now.
func newHAREntry(t *harTunnel, now time.Time) harEntry {
	ev, info := t.ev, t.ev.Info
	end := info.End
	if !t.closed || end.IsZero() {
		end = now
	}
	ms := max(float64(end.Sub(info.Start).Microseconds())/1e3, 0)
	proto := cmp.Or(ev.Proto, "HTTP/1.1")
	reqHeaders := withHost(ev.RequestHeader, ev.URL)
	msgs := t.msgs[:len(t.msgs):len(t.msgs)]
	if msgs == nil {
		msgs = []harMessage{}
	}
	status := cmp.Or(ev.Status, http.StatusSwitchingProtocols)
	comment := fmt.Sprintf("wsgate tunnel #%d to %s", info.ID, info.Backend)
	if info.ClosedBy != "" {
		comment += ", closed by " + info.ClosedBy
	}
	if info.Error != "" {
		comment += ": " + info.Error
	}
	return harEntry{
		StartedDateTime: info.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Time:            ms,
		Request: harRequest{
			Method:      cmp.Or(ev.Method, http.MethodGet),
			URL:         ev.URL,
			HTTPVersion: proto,
			Cookies:     []struct{}{},
			Headers:     harHeaders(reqHeaders),
			QueryString: harQuery(ev.URL),
			HeadersSize: -1,
			BodySize:    0,
		},
		Response: harResponse{
			Status:      status,
			StatusText:  http.StatusText(status),
			HTTPVersion: proto,
			Cookies:     []struct{}{},
			Headers:     harHeaders(ev.ResponseHeader),
			Content:     harContent{Size: 0, MimeType: "x-unknown"},
			RedirectURL: "",
			HeadersSize: -1,
			BodySize:    -1,
		},
		// The tunnel's whole life counts as receiving: that is where a
		// waterfall shows it, and time stays the sum of the timings.
		Timings:      harTimings{Blocked: -1, DNS: -1, Connect: -1, Receive: ms},
		Connection:   strconv.FormatUint(info.ID, 10),
		Comment:      comment,
		ResourceType: "websocket",
		// Message only appends to t.msgs: this slice's elements stay as
		// they are while WriteTo encodes them outside the lock.
		Messages: msgs,
		start:    info.Start,
		id:       info.ID,
	}
}

// withHost is h with the Host of rawURL, which net/http keeps apart from
// the header, when h has none.
func withHost(h http.Header, rawURL string) http.Header {
	if u, err := url.Parse(rawURL); err == nil && h.Get("Host") == "" && u.Host != "" {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Host", u.Host)
	}
	return h
}

// harHeaders lists h's fields sorted by name, one per value.
func harHeaders(h http.Header) []harHeader {
	out := []harHeader{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			out = append(out, harHeader{Name: name, Value: v})
		}
	}
	return out
}

// harQuery lists the query parameters of rawURL in their order, decoded.
func harQuery(rawURL string) []harHeader {
	out := []harHeader{}
	_, query, ok := strings.Cut(rawURL, "?")
	if !ok {
		return out
	}
	query, _, _ = strings.Cut(query, "#")
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if v, err := url.QueryUnescape(value); err == nil {
			value = v
		}
		out = append(out, harHeader{Name: name, Value: value})
	}
	return out
}
