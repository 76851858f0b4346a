package trace

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/syncbuf"
	"github.com/wsgate/wsgate/tunnel"
)

// The archive as a reader sees it, declared apart from the writer's types.
type harFile struct {
	Log struct {
		Version string
		Creator struct{ Name, Version string }
		Pages   []any
		Entries []struct {
			StartedDateTime string
			Time            float64
			Request         struct {
				Method, URL, HTTPVersion string
				Headers, QueryString     []struct{ Name, Value string }
			}
			Response struct {
				Status     int
				StatusText string
				Headers    []struct{ Name, Value string }
			}
			Connection   string
			ResourceType string `json:"_resourceType"`
			Messages     []struct {
				Type   string
				Time   float64
				Opcode int
				Data   string
			} `json:"_webSocketMessages"`
		}
		Comment string
	}
}

// openEvent is tunnel id's open event, as the server reports it.
func openEvent(id uint64, start time.Time, path string) tunnel.TunnelEvent {
	return tunnel.TunnelEvent{
		Info:   tunnel.TunnelInfo{ID: id, Client: "127.0.0.1:50000", Path: path, Backend: "ws://127.0.0.1:9001" + path, Start: start},
		Method: "GET", URL: "ws://127.0.0.1:8080" + path, Proto: "HTTP/1.1",
		RequestHeader: http.Header{
			"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Cookie": {"a=b"},
		},
		Status: 101,
		ResponseHeader: http.Header{
			"Upgrade": {"websocket"}, "Connection": {"Upgrade"},
			"Sec-Websocket-Accept": {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
		},
	}
}

// sampleHAR has tunnels 3 and 12 with the sample messages. Tunnel 12's
// first message comes before its open event; tunnel 7's only message has
// no event at all.
func sampleHAR() *HAR {
	h := NewHAR("1.2.3")
	h.Message(tunnel.Message{Tunnel: 7, Time: t0, Dir: tunnel.Up, Opcode: tunnel.OpText, Len: 1, Payload: []byte("x")})
	h.Tunnel(openEvent(3, t0.Add(-time.Second), "/chat/room1?user=ann&x=%20y"))
	var rest []tunnel.Message
	for _, m := range samples() {
		if m.Tunnel == 12 && rest == nil {
			h.Message(m)
			rest = []tunnel.Message{}
			continue
		}
		rest = append(rest, m)
	}
	h.Tunnel(openEvent(12, t0, "/other"))
	for _, m := range rest {
		h.Message(m)
	}
	closed := openEvent(3, t0.Add(-time.Second), "/chat/room1?user=ann&x=%20y")
	closed.Closed = true
	closed.Info.End = t0.Add(2 * time.Second)
	closed.Info.ClosedBy = "client"
	h.Tunnel(closed)
	return h
}

func readHAR(t *testing.T, data []byte) harFile {
	t.Helper()
	var f harFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("the HAR does not parse: %v\n%s", err, data)
	}
	return f
}

func TestHARRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.har")
	if err := sampleHAR().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := readHAR(t, data)
	l := f.Log
	if l.Version != "1.2" || l.Creator.Name != "wsgate" || l.Creator.Version != "1.2.3" {
		t.Errorf("log version %q, creator %+v; want 1.2 and wsgate 1.2.3", l.Version, l.Creator)
	}
	if l.Comment == "" {
		t.Errorf("no comment on the message of a tunnel never seen")
	}
	if len(l.Entries) != 2 {
		t.Fatalf("%d entries; want 2 (tunnels 3 and 12; 7 was never seen)", len(l.Entries))
	}
	e := l.Entries[0]
	if e.Connection != "3" || e.ResourceType != "websocket" || e.StartedDateTime != "2026-11-27T13:02:00.123Z" || e.Time != 3000 {
		t.Errorf("first entry: connection %q, _resourceType %q, startedDateTime %q, time %v; want 3, websocket, 2026-11-27T13:02:00.123Z, 3000",
			e.Connection, e.ResourceType, e.StartedDateTime, e.Time)
	}
	if e.Request.Method != "GET" || e.Request.URL != "ws://127.0.0.1:8080/chat/room1?user=ann&x=%20y" || e.Request.HTTPVersion != "HTTP/1.1" {
		t.Errorf("request %+v", e.Request)
	}
	if got := e.Request.QueryString; len(got) != 2 || got[0].Name != "user" || got[0].Value != "ann" || got[1].Name != "x" || got[1].Value != " y" {
		t.Errorf("queryString = %+v; want user=ann, x=' y' in order", got)
	}
	hasHeader := func(hs []struct{ Name, Value string }, name, value string) bool {
		for _, h := range hs {
			if h.Name == name && h.Value == value {
				return true
			}
		}
		return false
	}
	if !hasHeader(e.Request.Headers, "Host", "127.0.0.1:8080") || !hasHeader(e.Request.Headers, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") {
		t.Errorf("request headers %+v lack Host or Sec-Websocket-Key", e.Request.Headers)
	}
	if e.Response.Status != 101 || e.Response.StatusText != "Switching Protocols" || !hasHeader(e.Response.Headers, "Sec-Websocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
		t.Errorf("response %+v", e.Response)
	}

	// Every message comes back as it went in, in its tunnel's entry.
	byTunnel := map[string][]tunnel.Message{}
	for _, m := range samples() {
		id := "3"
		if m.Tunnel == 12 {
			id = "12"
		}
		byTunnel[id] = append(byTunnel[id], m)
	}
	for _, e := range l.Entries {
		want := byTunnel[e.Connection]
		if len(e.Messages) != len(want) {
			t.Errorf("tunnel %s: %d messages; want %d", e.Connection, len(e.Messages), len(want))
			continue
		}
		for i, got := range e.Messages {
			m := want[i]
			wantType := map[tunnel.Direction]string{tunnel.Up: "send", tunnel.Down: "receive"}[m.Dir]
			p, _ := payload(m)
			data := []byte(got.Data)
			if m.Opcode == tunnel.OpClose {
				p = []byte(m.CloseReason)
			} else if !isText(m) || string(p) != got.Data {
				if data, err = base64.StdEncoding.DecodeString(got.Data); err != nil {
					t.Errorf("tunnel %s message %d: data %q is neither the text nor base64", e.Connection, i, got.Data)
				}
			}
			if got.Type != wantType || got.Opcode != int(m.Opcode) || !bytes.Equal(data, p) ||
				math.Abs(got.Time-float64(m.Time.UnixNano())/1e9) > 1e-6 {
				t.Errorf("tunnel %s message %d = %+v; want %s opcode %d time %v data %q",
					e.Connection, i, got, wantType, m.Opcode, m.Time, p)
			}
		}
	}
}

func TestHAREmpty(t *testing.T) {
	var b bytes.Buffer
	n, err := NewHAR("dev").WriteTo(&b)
	if err != nil || n != int64(b.Len()) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, b.Len())
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if entries, ok := raw["log"]["entries"].([]any); !ok || len(entries) != 0 {
		t.Errorf("log.entries = %v; want [] (not null)", raw["log"]["entries"])
	}
}

// TestConcurrent is for -race: relay goroutines call the writers at once.
func TestConcurrent(t *testing.T) {
	var tb, jb syncbuf.Buffer
	tx, j, h := NewText(&tb), NewJSONL(&jb), NewHAR("dev")
	var wg sync.WaitGroup
	for id := range uint64(8) {
		wg.Go(func() {
			h.Tunnel(openEvent(id, t0, "/"))
			for _, m := range samples() {
				m.Tunnel = id
				tx.Message(m)
				j.Message(m)
				h.Message(m)
			}
			ev := openEvent(id, t0, "/")
			ev.Closed = true
			h.Tunnel(ev)
		})
	}
	var b bytes.Buffer
	h.WriteTo(&b) // while messages arrive
	wg.Wait()
	b.Reset()
	h.WriteTo(&b)
	if f := readHAR(t, b.Bytes()); len(f.Log.Entries) != 8 || len(f.Log.Entries[7].Messages) != len(samples()) {
		t.Errorf("%d entries; want 8 with %d messages each", len(f.Log.Entries), len(samples()))
	}
	if got, want := bytes.Count([]byte(tb.String()), []byte("\n")), 8*len(samples()); got != want {
		t.Errorf("text: %d lines; want %d", got, want)
	}
}

// TestHARValidator checks the archives against the HAR 1.2 JSON schema with
// npm's har-validator, written apart from wsgate: .ci/run installs it and
// sets WSGATE_HAR_VALIDATOR_DIR to the prefix it was installed in.
func TestHARValidator(t *testing.T) {
	dir := os.Getenv("WSGATE_HAR_VALIDATOR_DIR")
	if dir == "" {
		t.Skip("WSGATE_HAR_VALIDATOR_DIR is not set: to run, npm install --prefix DIR har-validator and set it to DIR")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("WSGATE_HAR_VALIDATOR_DIR is set but node is not found: %v", err)
	}
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(modules); err != nil {
		modules = dir // given the node_modules folder itself
	}
	tmp := t.TempDir()
	var files []string
	for name, h := range map[string]*HAR{"empty.har": NewHAR(""), "sample.har": sampleHAR(), "http.har": sampleHTTPHAR()} {
		path := filepath.Join(tmp, name)
		if err := h.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	cmd := exec.Command(node, append([]string{filepath.Join("testdata", "validate.js")}, files...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("har-validator: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
