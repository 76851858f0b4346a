package tunnel

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/chromiumtest"
	"github.com/wsgate/wsgate/internal/wstest"
)

// chromiumPage is the page TestTraceInflatesChromium serves; %s is its
// configuration, {"url": the tunnel's ws:// URL, "messages": [{"binary",
// "data": text, or base64}]}. It sends each message and waits for its
// echo before the next, closes with 1000, and then sets window.result:
// the extensions Chromium agreed to, the close code it saw, and the
// echoes it received, binary ones in base64.
const chromiumPage = `<!doctype html>
<meta charset="utf-8">
<title>wsgate deflate</title>
<link rel="icon" href="data:,">
<script>
const cfg = %s
const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0))
function toBase64 (buf) {
  const a = new Uint8Array(buf)
  let s = ''
  for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode.apply(null, a.subarray(i, i + 0x8000))
  return btoa(s)
}
const ws = new WebSocket(cfg.url)
ws.binaryType = 'arraybuffer'
const echoes = []
let next = 0
function send () {
  const m = cfg.messages[next++]
  ws.send(m.binary ? fromBase64(m.data) : m.data)
}
ws.onopen = send
ws.onmessage = (e) => {
  echoes.push(typeof e.data === 'string' ? { binary: false, data: e.data } : { binary: true, data: toBase64(e.data) })
  if (next < cfg.messages.length) send()
  else ws.close(1000, 'done')
}
ws.onclose = (e) => { window.result = { extensions: ws.extensions, code: e.code, echoes } }
</script>
`

// pageMessage is a message as the page sends it and reports an echo.
type pageMessage struct {
	Binary bool   `json:"binary"`
	Data   string `json:"data"` // base64 when Binary
}

func (m pageMessage) bytes(t *testing.T) []byte {
	if !m.Binary {
		return []byte(m.Data)
	}
	p, err := base64.StdEncoding.DecodeString(m.Data)
	if err != nil {
		t.Fatalf("binary echo: %v", err)
	}
	return p
}

// TestTraceInflatesChromium traces headless Chromium, which offers
// permessage-deflate (with client_max_window_bits) on every WebSocket it
// opens, through the proxy to a backend that accepts it with context
// takeover both ways: the 101 keeps the extension, Chromium compresses
// every message it sends, the backend every echo, and each traced
// message is inflated and equal to what its sender sent, text and binary,
// small, large and fragmented. It needs Chromium and playwright-core
// (internal/chromiumtest says how to point at them; .ci/run installs
// both); without them it skips.
func TestTraceInflatesChromium(t *testing.T) {
	browser := chromiumtest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var want []pageMessage
	for i := range 6 { // repetitive JSON: context takeover is what compresses it
		want = append(want, pageMessage{Data: fmt.Sprintf(`{"seq":%d,"user":"user%d","tags":["chat","deflate"],"text":"%s"}`,
			i, i%3, strings.Repeat("hello ", 1+i*7))})
	}
	// Large: 256 KiB of JSON, which deflates to little, and (last) 300
	// KiB of noise, which does not: Chromium sends that one in several
	// frames.
	want = append(want, pageMessage{Data: string(sample(7, 256<<10))})
	pattern := make([]byte, 64<<10)
	for i := range pattern {
		pattern[i] = byte(i % 251)
	}
	want = append(want,
		pageMessage{Binary: true, Data: base64.StdEncoding.EncodeToString(pattern)},
		pageMessage{Binary: true, Data: base64.StdEncoding.EncodeToString([]byte{0, 1, 0xfe, 0xff})},
		pageMessage{Data: strings.Repeat("日本語のテキスト € ", 40)},
		pageMessage{Data: "x"},
		pageMessage{Binary: true, Data: base64.StdEncoding.EncodeToString(noise(300 << 10))},
	)

	// Every echo compressed, in two frames (one for each piece flate
	// hands on); the page comes from another port.
	backend := startBackend(t, wstest.Echo{Compression: websocket.CompressionContextTakeover, Threshold: 1,
		Prefix: "echo ", Pieces: true, OriginPatterns: []string{"127.0.0.1:*"}}.Handler())
	var mu sync.Mutex
	var got []Message
	var opened TunnelEvent
	closed := make(chan TunnelInfo, 1)
	proxy, _ := serveConfig(t, Config{
		Table: flagTable(t, "/ ws://"+backend+"/"), Logger: slog.New(slog.DiscardHandler),
		TraceBytes: 1 << 20,
		OnMessage: func(m Message) {
			m.Payload = bytes.Clone(m.Payload)
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		},
		OnTunnel: func(ev TunnelEvent) {
			if ev.Closed {
				closed <- ev.Info
				return
			}
			mu.Lock()
			opened = ev
			mu.Unlock()
		},
	})
	cfg, err := json.Marshal(map[string]any{"url": "ws://" + proxy + "/chat", "messages": want})
	if err != nil {
		t.Fatal(err)
	}
	page := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, chromiumPage, cfg) // json.Marshal escapes <, > and &: safe in a script
	}))

	start := time.Now()
	out := browser.Run(t, ctx, filepath.Join("testdata", "chromium_deflate.js"), "http://"+page+"/")
	var result struct {
		Extensions string
		Code       int
		Echoes     []pageMessage
	}
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("chromium_deflate.js printed %q: %v", out, err)
	}
	var info TunnelInfo
	select {
	case info = <-closed:
	case <-ctx.Done():
		t.Fatal("the tunnel did not close")
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("Chromium ran the page in %v; it offered %q, the backend answered %q",
		time.Since(start).Round(time.Millisecond), opened.RequestHeader.Get("Sec-WebSocket-Extensions"),
		opened.ResponseHeader.Get("Sec-WebSocket-Extensions"))
	if ext := opened.RequestHeader.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") || !strings.Contains(ext, "client_max_window_bits") {
		t.Errorf("Chromium offered %q; want permessage-deflate with client_max_window_bits", ext)
	}
	if ext := opened.ResponseHeader.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("the tunnel's 101 said Sec-WebSocket-Extensions: %q; want permessage-deflate (tracing must not strip it)", ext)
	}
	if !strings.HasPrefix(result.Extensions, "permessage-deflate") {
		t.Errorf("Chromium's ws.extensions = %q; want permessage-deflate", result.Extensions)
	}
	if result.Code != 1000 {
		t.Errorf("Chromium's socket closed with %d; want 1000", result.Code)
	}

	// What each side sent, as the trace must show it.
	var up, down [][]byte
	var ops []Opcode
	for _, m := range want {
		p := m.bytes(t)
		up = append(up, p)
		down = append(down, append([]byte("echo "), p...))
		op := OpText
		if m.Binary {
			op = OpBinary
		}
		ops = append(ops, op)
	}
	if len(result.Echoes) != len(want) {
		t.Fatalf("Chromium received %d echoes; want %d", len(result.Echoes), len(want))
	}
	for i, e := range result.Echoes {
		if e.Binary != want[i].Binary || !bytes.Equal(e.bytes(t), down[i]) {
			t.Errorf("Chromium's echo %d: %d bytes %.40q; want %d bytes %.40q", i, len(e.bytes(t)), e.bytes(t), len(down[i]), down[i])
		}
	}
	traced := map[Direction][]Message{}
	var plain, wire int64
	for _, m := range got {
		if m.Opcode != OpText && m.Opcode != OpBinary {
			continue
		}
		traced[m.Dir] = append(traced[m.Dir], m)
		plain, wire = plain+m.Len, wire+m.WireLen
	}
	for _, d := range []Direction{Up, Down} {
		sent := up
		if d == Down {
			sent = down
		}
		if len(traced[d]) != len(sent) {
			t.Errorf("%s: %d messages traced; want %d", d, len(traced[d]), len(sent))
			continue
		}
		for i, m := range traced[d] {
			if !m.Compressed || !m.Inflated || m.Undecodable || m.Truncated {
				t.Errorf("%s message %d: compressed %v, inflated %v, undecodable %v, truncated %v; want compressed and inflated whole",
					d, i, m.Compressed, m.Inflated, m.Undecodable, m.Truncated)
			}
			if m.Opcode != ops[i] || !bytes.Equal(m.Payload, sent[i]) || m.Len != int64(len(sent[i])) {
				t.Errorf("%s message %d: %s, %d bytes (len %d) %.40q; want %s, %d bytes %.40q",
					d, i, m.Opcode, len(m.Payload), m.Len, m.Payload, ops[i], len(sent[i]), sent[i])
			}
		}
	}
	// Chromium splits a message whose deflated form is large into frames,
	// and the backend's writer sends a frame each time flate hands it
	// bytes: fragmented messages pass both ways.
	for _, f := range []struct {
		d Direction
		f Flow
	}{{Up, info.Up}, {Down, info.Down}} {
		if f.f.Compressed != int64(len(want)) || f.f.Frames <= f.f.Messages+1 {
			t.Errorf("%s: %d frames, %d messages, %d compressed; want %d messages compressed, some in several frames",
				f.d, f.f.Frames, f.f.Messages, f.f.Compressed, len(want))
		}
	}
	t.Logf("%d messages each way; %d frames up, %d down; %d bytes inflated from %d on the wire",
		len(want), info.Up.Frames, info.Down.Frames, plain, wire)
}

func noise(n int) []byte {
	p := make([]byte, n)
	x := uint32(1)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	return p
}
