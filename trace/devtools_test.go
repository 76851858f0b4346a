package trace

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/chromiumtest"
	"github.com/wsgate/wsgate/internal/wstest"
	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/tunnel"
)

// devtoolsFrame is a WebSocket frame as DevTools' network log holds it
// (SDK.NetworkRequest.WebSocketFrame), and devtoolsRow a row of the
// Messages tab as the Network panel rendered it.
type (
	devtoolsFrame struct {
		Type   string
		Opcode int
		Text   string
	}
	devtoolsRow struct {
		Send, Receive bool
		Data, Length  string
	}
	devtoolsRequest struct {
		Name, URL, ResourceType, Extensions string
		Status                              int
		Frames                              []devtoolsFrame
		Rows                                []devtoolsRow
	}
)

// TestHARDevTools imports a HAR of real traffic into Chromium's own
// DevTools, the frontend the browser ships, as a user does (Network tab,
// "Import HAR file", the file chooser): two tunnels, one that compressed
// every message it could with context takeover, one that did not. Each
// must come out a WebSocket whose frames are the messages as their
// senders sent them, inflated, in order, sent and received, and the
// Messages tab must show them so. It needs Chromium and playwright-core
// (internal/chromiumtest says how to point at them; .ci/run installs
// both); without them it skips.
func TestHARDevTools(t *testing.T) {
	browser := chromiumtest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	backend := httptest.NewServer(wstest.Echo{Compression: websocket.CompressionContextTakeover, Threshold: 1, Prefix: "echo "}.Handler())
	defer backend.Close()
	table, err := rules.FromFlags([]string{"/ ws://" + backend.Listener.Addr().String() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHAR("test")
	var mu sync.Mutex
	var closes []tunnel.Message
	closed := make(chan struct{}, 2)
	srv := tunnel.New(tunnel.Config{
		Table: table, TraceBytes: 1 << 20,
		OnMessage: func(m tunnel.Message) {
			h.Message(m)
			if m.Opcode == tunnel.OpClose {
				mu.Lock()
				closes = append(closes, m)
				mu.Unlock()
			}
		},
		OnTunnel: func(ev tunnel.TunnelEvent) {
			h.Tunnel(ev)
			if ev.Closed {
				closed <- struct{}{}
			}
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Shutdown(ctx)
		<-served
	}()

	pattern := make([]byte, 4096)
	for i := range pattern {
		pattern[i] = byte(i % 251)
	}
	type message struct {
		typ websocket.MessageType
		p   []byte
	}
	var chat []message
	for i := range 4 { // repetitive JSON: context takeover is what compresses it
		chat = append(chat, message{websocket.MessageText, fmt.Appendf(nil,
			`{"seq":%d,"user":"user%d","text":"%s"}`, i, i%3, strings.Repeat("hello ", 1+i*7))})
	}
	chat = append(chat,
		message{websocket.MessageText, bytes.Repeat([]byte(`{"item":"a long message","ok":true},`), 3000)},
		message{websocket.MessageBinary, pattern},
		message{websocket.MessageText, []byte(strings.Repeat("日本語 € ", 20))},
		message{websocket.MessageText, nil}, // under the threshold: sent plain
	)
	plain := []message{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageBinary, []byte{0, 1, 0xfe, 0xff}},
	}
	tunnels := []struct {
		path string
		mode websocket.CompressionMode
		msgs []message
	}{
		{"/chat", websocket.CompressionContextTakeover, chat},
		{"/plain", websocket.CompressionDisabled, plain},
	}
	for _, tun := range tunnels {
		c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+tun.path, &websocket.DialOptions{
			CompressionMode: tun.mode, CompressionThreshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		for i, m := range tun.msgs {
			if err := c.Write(ctx, m.typ, m.p); err != nil {
				t.Fatal(err)
			}
			if _, echo, err := c.Read(ctx); err != nil || !bytes.Equal(echo, append([]byte("echo "), m.p...)) {
				t.Fatalf("%s: echo %d: %d bytes, %v", tun.path, i, len(echo), err)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatalf("%s: the tunnel did not close", tun.path)
		}
	}
	path := filepath.Join(t.TempDir(), "devtools.har")
	if err := h.WriteFile(path); err != nil {
		t.Fatal(err)
	}

	// The archive says which messages were compressed; DevTools has no
	// field for it, so it is checked here.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var har struct {
		Log struct {
			Entries []struct {
				Messages []struct {
					Opcode     int
					Compressed bool  `json:"_compressed"`
					Length     int64 `json:"_length"`
					WireLength int64 `json:"_wireLength"`
				} `json:"_webSocketMessages"`
			}
		}
	}
	if err := json.Unmarshal(data, &har); err != nil || len(har.Log.Entries) != len(tunnels) {
		t.Fatalf("the HAR: %d entries, %v; want %d", len(har.Log.Entries), err, len(tunnels))
	}
	var compressed int
	for i, tun := range tunnels {
		for j, m := range har.Log.Entries[i].Messages {
			if m.Opcode == int(tunnel.OpClose) {
				continue
			}
			// Each message was compressed where its tunnel compresses,
			// but an empty one: under the threshold of 1 byte. Its echo
			// is not empty.
			want := tun.mode != websocket.CompressionDisabled && (j%2 == 1 || len(tun.msgs[j/2].p) > 0)
			if m.Compressed != want || m.Compressed && m.Length > 100 && m.WireLength >= m.Length {
				t.Errorf("%s message %d: _compressed %v, _length %d, _wireLength %d; want compressed %v",
					tun.path, j, m.Compressed, m.Length, m.WireLength, want)
			}
			if m.Compressed {
				compressed++
			}
		}
	}

	start := time.Now()
	out := browser.Run(t, ctx, filepath.Join("testdata", "devtools_har.js"), path)
	var requests []devtoolsRequest
	if err := json.Unmarshal(out, &requests); err != nil {
		t.Fatalf("devtools_har.js printed %q: %v", out, err)
	}
	t.Logf("DevTools imported %d requests in %v; %d compressed messages in the HAR", len(requests), time.Since(start).Round(time.Millisecond), compressed)
	if len(requests) != len(tunnels) {
		t.Fatalf("DevTools imported %d requests; want %d", len(requests), len(tunnels))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(closes) != 2*len(tunnels) {
		t.Fatalf("%d close frames traced; want 2 a tunnel", len(closes))
	}
	for i, tun := range tunnels {
		r := requests[i]
		ext := ""
		if tun.mode != websocket.CompressionDisabled {
			ext = "permessage-deflate"
		}
		if r.URL != "ws://"+ln.Addr().String()+tun.path || r.ResourceType != "websocket" || r.Status != 101 || !strings.HasPrefix(r.Extensions, ext) {
			t.Errorf("request %d: %s, type %s, status %d, extensions %q; want ws://%s%s, websocket, 101, %q",
				i, r.URL, r.ResourceType, r.Status, r.Extensions, ln.Addr(), tun.path, ext)
		}
		var want []devtoolsFrame
		for _, m := range tun.msgs {
			text := func(p []byte) string {
				if m.typ == websocket.MessageBinary {
					return base64.StdEncoding.EncodeToString(p)
				}
				return string(p)
			}
			want = append(want,
				devtoolsFrame{"send", int(m.typ), text(m.p)},
				devtoolsFrame{"receive", int(m.typ), text(append([]byte("echo "), m.p...))})
		}
		for _, m := range closes[2*i : 2*i+2] { // the client's, then the backend's answer
			typ := map[tunnel.Direction]string{tunnel.Up: "send", tunnel.Down: "receive"}[m.Dir]
			want = append(want, devtoolsFrame{typ, int(tunnel.OpClose), m.CloseReason})
		}
		if want[len(want)-2].Text != "bye" {
			t.Errorf("%s: the client's close was traced with reason %q; want bye", tun.path, want[len(want)-2].Text)
		}
		if len(r.Frames) != len(want) {
			t.Errorf("%s: DevTools holds %d frames; want %d", tun.path, len(r.Frames), len(want))
			continue
		}
		for j, f := range r.Frames {
			if f != want[j] {
				t.Errorf("%s: DevTools frame %d = %s, opcode %d, %d bytes %.50q; want %s, opcode %d, %d bytes %.50q",
					tun.path, j, f.Type, f.Opcode, len(f.Text), f.Text, want[j].Type, want[j].Opcode, len(want[j].Text), want[j].Text)
			}
		}
		if len(r.Rows) != len(want) {
			t.Errorf("%s: the Messages tab shows %d rows; want %d", tun.path, len(r.Rows), len(want))
			continue
		}
		// A row shows a text message whole, a binary one by its size (the
		// base64 decoded; "4\u00a0B" under 1000 bytes), a close by its opcode.
		for j, row := range r.Rows {
			f := want[j]
			ok := row.Send == (f.Type == "send") && row.Receive == (f.Type == "receive")
			switch f.Opcode {
			case int(tunnel.OpText):
				ok = ok && row.Data == f.Text
			case int(tunnel.OpBinary):
				p, _ := base64.StdEncoding.DecodeString(f.Text)
				ok = ok && row.Data == "Binary message" && (len(p) >= 1000 || strings.ReplaceAll(row.Length, "\u00a0", " ") == fmt.Sprintf("%d B", len(p)))
			case int(tunnel.OpClose):
				ok = ok && strings.HasPrefix(row.Data, "Connection close message (Opcode 8")
			}
			if !ok {
				t.Errorf("%s: Messages row %d: send %v, receive %v, %.50q, length %s; want %s of %.50q",
					tun.path, j, row.Send, row.Receive, row.Data, row.Length, f.Type, f.Text)
			}
		}
	}
}
