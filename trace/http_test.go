package trace

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/goldentest"
	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// exchange is a plain HTTP exchange on the rule "wsgate.conf:3 /", its
// request at t0 plus at ms.
func exchange(at int, method, target string, status int, req, resp string) tunnel.HTTPExchange {
	start := t0.Add(time.Duration(at) * time.Millisecond)
	return tunnel.HTTPExchange{
		Time: start, Wait: 800 * time.Microsecond, Duration: 1250 * time.Microsecond,
		Method: method, Target: target, URL: "http://127.0.0.1:8080" + target, Proto: "HTTP/1.1",
		Client: "127.0.0.1:50000", Route: "wsgate.conf:3 /", Backend: "ws://127.0.0.1:9001" + target,
		Status:         status,
		RequestHeader:  http.Header{"User-Agent": {"test"}},
		ResponseHeader: http.Header{"Content-Type": {"text/plain; charset=UTF-8"}},
		Request:        tunnel.Body{Data: []byte(req), Len: int64(len(req))},
		Response:       tunnel.Body{Data: []byte(resp), Len: int64(len(resp))},
	}
}

// gzipped is s compressed with gzip.
func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// httpSamples are plain exchanges of every kind: a Socket.IO session's
// polling (handshake, packets both ways, a binary packet, an answer
// compressed with gzip), and other requests: a page cut by TraceBytes, a
// binary answer, a compressed one, an aborted one.
func httpSamples() []tunnel.HTTPExchange {
	const poll = "/socket.io/?EIO=4&transport=polling&sid=Ab3"
	hs := exchange(0, "GET", "/socket.io/?EIO=4&transport=polling&t=PQx1", 200, "",
		`0{"sid":"Ab3","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
	connect := exchange(5, "POST", poll, 200, "40", "ok")
	connect.ResponseHeader.Set("Content-Type", "text/html")
	welcome := exchange(6, "GET", poll, 200, "", "40{\"sid\":\"x1\"}\x1e42[\"welcome\",\"hello\"]")
	chat := exchange(20, "POST", poll, 200, "420[\"chat\",\"hi\"]\x1e451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID", "ok")
	ack := exchange(21, "GET", poll, 200, "", "430[{\"ok\":true}]")
	ack.Duration = 30 * time.Millisecond
	zipped := exchange(60, "GET", poll, 200, "", "")
	z := gzipped("42[\"news\",\"" + strings.Repeat("n", 60) + "\"]")
	zipped.Response = tunnel.Body{Data: z[:40], Len: int64(len(z)), Truncated: true, Encoding: "gzip"}
	zipped.ResponseHeader.Set("Content-Encoding", "gzip")
	page := exchange(100, "GET", "/index.html", 200, "", "")
	html := "<!doctype html><html><head><title>€ page</title></head><body>hello</body></html>"
	page.Response = tunnel.Body{Data: []byte(html[:40]), Len: 4000, Truncated: true}
	page.ResponseHeader.Set("Content-Type", "text/html")
	upload := exchange(110, "POST", "/upload?name=a%20b", 201, `{"name":"a b","size":3}`, "\x00\x01\xfe\xff")
	upload.RequestHeader.Set("Content-Type", "application/json")
	upload.ResponseHeader.Set("Content-Type", "application/octet-stream")
	css := exchange(120, "GET", "/site.css", 200, "", "")
	css.Response = tunnel.Body{Data: gzipped("body{}")[:12], Len: 26, Truncated: true, Encoding: "gzip"}
	css.ResponseHeader.Set("Content-Encoding", "gzip")
	cut := exchange(130, "GET", "/stream\x1b[2J", 200, "", "0123456789")
	cut.Response.Len, cut.Aborted = 100, true
	return []tunnel.HTTPExchange{hs, connect, welcome, chat, ack, zipped, page, upload, css, cut}
}

// decodedSamples are httpSamples with the packets an HTTPDecoder finds.
func decodedSamples() ([]tunnel.HTTPExchange, [][]decode.Packet) {
	d := NewHTTPDecoder("")
	xs := httpSamples()
	pks := make([][]decode.Packet, len(xs))
	for i, x := range xs {
		pks[i] = d.Decode(x)
	}
	return xs, pks
}

// TestTextHTTPGolden writes the sample exchanges in each format.
func TestTextHTTPGolden(t *testing.T) {
	for _, f := range []Format{Compact, Pretty, Raw} {
		t.Run(f.String(), func(t *testing.T) {
			var b bytes.Buffer
			tx := NewTextOptions(&b, TextOptions{Format: f})
			xs, pks := decodedSamples()
			for i, x := range xs {
				tx.HTTP(x, pks[i])
			}
			if err := tx.Err(); err != nil {
				t.Fatal(err)
			}
			goldentest.Check(t, filepath.Join("testdata", "http-"+f.String()+".golden"), b.String())
			if f == Raw {
				return
			}
			for i, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				checkPrintable(t, i+1, line)
			}
		})
	}
}

// TestHTTPDecoder: polling exchanges are decoded, gzip answers inflated
// first, in one session per sid; nothing with --decode none or another
// decoder; an upgrade forgets its sid.
func TestHTTPDecoder(t *testing.T) {
	xs, pks := decodedSamples()
	var got []string
	for i, x := range xs {
		var types []string
		for _, pk := range pks[i] {
			s := pk.Dir + " " + pk.Decoded.Type
			if pk.Partial {
				s += " partial"
			}
			if pk.Decoded.Latency > 0 {
				s += " latency"
			}
			types = append(types, s)
		}
		got = append(got, fmt.Sprintf("%s %s: %s", x.Method, x.Target, strings.Join(types, ", ")))
	}
	want := []string{
		"GET /socket.io/?EIO=4&transport=polling&t=PQx1: down open",
		"POST /socket.io/?EIO=4&transport=polling&sid=Ab3: up connect",
		"GET /socket.io/?EIO=4&transport=polling&sid=Ab3: down connect, down event",
		"POST /socket.io/?EIO=4&transport=polling&sid=Ab3: up event, up binary_event, up attachment",
		"GET /socket.io/?EIO=4&transport=polling&sid=Ab3: down ack latency",
		"GET /socket.io/?EIO=4&transport=polling&sid=Ab3: down event partial",
		"GET /index.html: ",
		"POST /upload?name=a%20b: ",
		"GET /site.css: ",
		"GET /stream\x1b[2J: ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("decoded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, forced := range []string{"none", "jsonrpc"} {
		if d := NewHTTPDecoder(forced); d.Decode(xs[1]) != nil {
			t.Errorf("NewHTTPDecoder(%q) decodes a polling request", forced)
		}
	}
	// An upgrade takes the session over: the ack of an event sent by
	// polling, answered on the WebSocket, gets its latency there; the
	// polling session is forgotten.
	d := NewHTTPDecoder("")
	d.Decode(xs[3]) // the event with ack id 0
	ts := &Tunnels{Takeover: d.Takeover}
	upgrade := tunnel.TunnelEvent{Info: tunnel.TunnelInfo{ID: 5, Path: "/socket.io/?EIO=4&transport=websocket&sid=Ab3", Start: xs[3].Time}}
	ts.Tunnel(upgrade)
	ackAt := xs[3].Time.Add(7 * time.Millisecond)
	if dec, ok := ts.Decode(tunnel.Message{Tunnel: 5, Time: ackAt, Dir: tunnel.Down, Opcode: tunnel.OpText, Payload: []byte(`430[{"ok":true}]`)}); !ok || dec.Type != "ack" || dec.Latency <= 0 {
		t.Errorf("the ack on the WebSocket after the upgrade: %+v, %v; want an ack with the latency since its event's POST", dec, ok)
	}
	if d.Takeover(upgrade) != nil {
		t.Error("a second upgrade of Ab3 took a session over: it was handed over once already")
	}
	if pk := d.Decode(xs[4]); len(pk) != 1 || pk[0].Decoded.Latency != 0 {
		t.Errorf("after the upgrade of Ab3, its polling ack = %+v; want no latency (the session is forgotten)", pk)
	}
}

// TestJSONLHTTP writes the exchanges as JSON Lines and reads them back.
func TestJSONLHTTP(t *testing.T) {
	var b bytes.Buffer
	j := NewJSONL(&b)
	xs, pks := decodedSamples()
	for i, x := range xs {
		j.HTTP(x, pks[i])
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(xs) {
		t.Fatalf("%d lines; want %d", len(lines), len(xs))
	}
	recs := make([]HTTPRecord, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if recs[i].Kind != "http" || !recs[i].Time.Equal(xs[i].Time) || recs[i].Target != xs[i].Target || recs[i].DurationUS != xs[i].Duration.Microseconds() {
			t.Errorf("line %d: kind %q, time %v, target %q, duration %d", i+1, recs[i].Kind, recs[i].Time, recs[i].Target, recs[i].DurationUS)
		}
	}
	text := func(p *string) string {
		if p == nil {
			return "<none>"
		}
		return *p
	}
	chat := recs[3]
	if len(chat.Packets) != 3 || text(chat.Packets[0].Text) != `420["chat","hi"]` || chat.Packets[0].Decoded == nil ||
		chat.Packets[0].Decoded.Fields["event"] != "chat" || chat.Packets[2].Decoded.Type != "attachment" {
		t.Errorf("chat packets = %s", lines[3])
	}
	if text(chat.Request.Text) != "420[\"chat\",\"hi\"]\x1e451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID" || text(chat.Response.Text) != "ok" {
		t.Errorf("chat bodies = %s", lines[3])
	}
	if ack := recs[4]; len(ack.Packets) != 1 || ack.Packets[0].Decoded.LatencyUS <= 0 {
		t.Errorf("ack without latency: %s", lines[4])
	}
	if hs := recs[0]; hs.Request.Text != nil || hs.Request.Base64 != nil || hs.Request.Len != 0 {
		t.Errorf("a GET's empty body has a payload: %s", lines[0])
	}
	if up := recs[7]; up.Request.ContentType != "application/json" || !bytes.Equal(up.Response.Base64, []byte{0, 1, 0xfe, 0xff}) || up.Response.Text != nil {
		t.Errorf("binary answer not in base64, or content type lost: %s", lines[7])
	}
	if css := recs[8]; css.Response.Encoding != "gzip" || css.Response.Text != nil || !bytes.Equal(css.Response.Base64, xs[8].Response.Data) || !css.Response.Truncated {
		t.Errorf("gzip answer not as sent, marked: %s", lines[8])
	}
	if page := recs[6]; text(page.Response.Text) != "<!doctype html><html><head><title>€ pa" || page.Response.Len != 4000 {
		t.Errorf("cut page = %s", lines[6])
	}
	if cut := recs[9]; !cut.Aborted || cut.Response.Len != 100 {
		t.Errorf("aborted exchange = %s", lines[9])
	}
	// A message's record has no kind: a reader tells the two apart.
	var mb bytes.Buffer
	NewJSONL(&mb).Message(samples()[0])
	if strings.Contains(mb.String(), `"kind"`) {
		t.Errorf("message record with a kind: %s", mb.String())
	}
}

// sampleHTTPHAR is sampleHAR with the sample exchanges.
func sampleHTTPHAR() *HAR {
	h := sampleHAR()
	for _, x := range httpSamples() {
		h.HTTP(x)
	}
	return h
}

// TestHARHTTP: plain exchanges are ordinary entries among the tunnels',
// in the order they started, with their bodies as far as kept.
func TestHARHTTP(t *testing.T) {
	var b bytes.Buffer
	if _, err := sampleHTTPHAR().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	var f struct {
		Log struct {
			Entries []struct {
				StartedDateTime string
				Time            float64
				Request         struct {
					Method, URL string
					BodySize    int
					QueryString []struct{ Name, Value string }
					PostData    *struct {
						MimeType, Text string
						Encoding       string `json:"_encoding"`
					}
				}
				Response struct {
					Status   int
					BodySize int
					Content  struct {
						Size                    int
						MimeType, Text, Comment string
						Encoding                string
						Truncated               bool `json:"_truncated"`
					}
				}
				Timings struct {
					Send, Wait, Receive float64
				}
				ResourceType string `json:"_resourceType"`
				Messages     []any  `json:"_webSocketMessages"`
				Comment      string
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range f.Log.Entries {
		if e.ResourceType == "websocket" {
			order = append(order, "ws")
			continue
		}
		order = append(order, e.Request.Method)
		if e.Messages != nil {
			t.Errorf("plain entry %s with _webSocketMessages", e.Request.URL)
		}
	}
	// Tunnel 3 opened a second before t0, tunnel 12 at t0 + 0.123 s
	// (t0's own fraction), the exchanges from t0 on.
	if got := strings.Join(order, " "); got != "ws GET ws POST GET POST GET GET GET POST GET GET" {
		t.Errorf("entries in order %s", got)
	}
	byURL := map[string]int{}
	for i, e := range f.Log.Entries {
		byURL[e.Request.Method+" "+e.Request.URL] = i
	}
	chat := f.Log.Entries[5]
	if chat.Request.PostData == nil || !strings.HasPrefix(chat.Request.PostData.Text, `420["chat"`) || chat.Request.PostData.MimeType != "x-unknown" ||
		chat.Response.Content.Text != "ok" || chat.Timings.Wait != 0.8 || chat.Timings.Receive != 0.45 || chat.Time != 1.25 {
		t.Errorf("chat entry %+v", chat)
	}
	up := f.Log.Entries[byURL["POST http://127.0.0.1:8080/upload?name=a%20b"]]
	if up.Request.PostData == nil || up.Request.PostData.MimeType != "application/json" || up.Request.BodySize != 23 ||
		up.Response.Content.Encoding != "base64" || up.Response.Content.Text != base64.StdEncoding.EncodeToString([]byte{0, 1, 0xfe, 0xff}) ||
		len(up.Request.QueryString) != 1 || up.Request.QueryString[0].Value != "a b" || up.Response.Status != 201 {
		t.Errorf("upload entry %+v", up)
	}
	css := f.Log.Entries[byURL["GET http://127.0.0.1:8080/site.css"]]
	if css.Response.Content.Text != "" || !strings.Contains(css.Response.Content.Comment, "gzip") || css.Response.BodySize != 26 {
		t.Errorf("compressed entry %+v; want no text and a comment naming gzip", css.Response)
	}
	page := f.Log.Entries[byURL["GET http://127.0.0.1:8080/index.html"]]
	if !page.Response.Content.Truncated || !strings.Contains(page.Response.Content.Comment, "the first 40 of 4000 bytes") || page.Request.PostData != nil {
		t.Errorf("cut page entry %+v", page)
	}
}

// TestFilterMatchHTTP: the filter's terms on an exchange's parts, its
// bodies and its packets.
func TestFilterMatchHTTP(t *testing.T) {
	xs, pks := decodedSamples()
	chat, page, css := 3, 6, 8
	cases := []struct {
		exprs []string
		x     int
		want  bool
	}{
		{nil, page, true},
		{[]string{"op=http"}, page, true},
		{[]string{"op=text"}, page, false},
		{[]string{"route=/"}, page, true},
		{[]string{"route=/chat/"}, page, false},
		{[]string{"dir=down size>=4000"}, page, true},
		{[]string{"dir=up size>=4000"}, page, false},
		{[]string{"text~doctype"}, page, true},
		{[]string{"dir=up text~doctype"}, page, false},
		{[]string{"text~body"}, css, false}, // compressed: no text
		{[]string{"event=chat"}, chat, true},
		{[]string{"event=chat"}, page, false},
		{[]string{"dir=down event=chat"}, chat, false},
		{[]string{"type=attachment size=5"}, chat, true},
		{[]string{"protocol=socketio dir=up"}, chat, true},
		{[]string{"text=ok dir=down"}, chat, true},
		{[]string{"event=chat size>100"}, chat, false}, // all terms on one part: the packet is 16 bytes
		{[]string{"op=close", "event=welcome"}, 2, true},
	}
	for _, tc := range cases {
		f, err := ParseFilter(tc.exprs)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.exprs, err)
		}
		if got := f.MatchHTTP(xs[tc.x], pks[tc.x]); got != tc.want {
			t.Errorf("ParseFilter(%q).MatchHTTP(%s %s) = %v; want %v", tc.exprs, xs[tc.x].Method, xs[tc.x].Target, got, tc.want)
		}
	}
	f, _ := ParseFilter([]string{"op=http"})
	if f.Match(samples()[0], "wsgate.conf:3 /", nil) {
		t.Error("op=http matches a message")
	}
	var nilFilter *Filter
	if !nilFilter.MatchHTTP(xs[0], nil) {
		t.Error("a nil Filter drops an exchange")
	}
}

// TestHTTPLineShape pins the exchange line's fields in compact format.
func TestHTTPLineShape(t *testing.T) {
	var b bytes.Buffer
	NewText(&b).HTTP(httpSamples()[1], nil)
	line := strings.SplitN(b.String(), "\n", 2)[0]
	re := regexp.MustCompile(`^13:02:01\.128 http wsgate\.conf:3 / POST /socket\.io/\?EIO=4&transport=polling&sid=Ab3 200 → 2 B ← 2 B 1\.25ms$`)
	if !re.MatchString(line) {
		t.Errorf("line %q", line)
	}
}

// TestHTTPConcurrent is for -race: handler goroutines report exchanges at
// once, through one decoder, to every writer and the filter.
func TestHTTPConcurrent(t *testing.T) {
	var tb, jb bytes.Buffer
	var mu sync.Mutex // bytes.Buffer is not safe for concurrent use; the writers' locks are what is tested
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if bytes.HasPrefix(p, []byte("{")) {
			return jb.Write(p)
		}
		return tb.Write(p)
	})
	tx, j, h, d := NewText(w), NewJSONL(w), NewHAR("dev"), NewHTTPDecoder("")
	f, _ := ParseFilter([]string{"event=chat", "op=http size>0"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, x := range httpSamples() {
				pks := d.Decode(x)
				if f.MatchHTTP(x, pks) {
					tx.HTTP(x, pks)
					j.HTTP(x, pks)
					h.HTTP(x)
				}
			}
		})
	}
	var b bytes.Buffer
	h.WriteTo(&b) // while exchanges arrive
	wg.Wait()
	b.Reset()
	h.WriteTo(&b)
	if n, want := len(readHAR(t, b.Bytes()).Log.Entries), 8*len(httpSamples()); n != want {
		t.Errorf("%d entries; want %d", n, want)
	}
	if n, want := strings.Count(jb.String(), "\n"), 8*len(httpSamples()); n != want {
		t.Errorf("%d JSON lines; want %d", n, want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
