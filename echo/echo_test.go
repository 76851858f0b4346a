package echo

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEcho(t *testing.T) {
	ts := httptest.NewServer(Handler(Options{Subprotocols: []string{"chat.v2", "chat.v1"}}))
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"chat.v1", "other"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := c.Subprotocol(); got != "chat.v1" {
		t.Errorf("Subprotocol() = %q; want chat.v1, the only one both sides know", got)
	}
	for _, m := range []struct {
		typ websocket.MessageType
		p   string
	}{{websocket.MessageText, "text"}, {websocket.MessageBinary, "\x00\x01bin"}} {
		if err := c.Write(ctx, m.typ, []byte(m.p)); err != nil {
			t.Fatal(err)
		}
		typ, p, err := c.Read(ctx)
		if err != nil || typ != m.typ || string(p) != m.p {
			t.Errorf("echo of %v %q = %v %q, %v", m.typ, m.p, typ, p, err)
		}
	}
	// A ping needs a reader running to see its pong.
	c.CloseRead(ctx)
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := c.Close(4000, "done"); err != nil {
		t.Errorf("Close(4000): %v; want the server to answer with the same code", err)
	}
}

func TestPage(t *testing.T) {
	ts := httptest.NewServer(Handler(Options{}))
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "new WebSocket(") {
		t.Errorf("GET / = %d, %q; want the page that connects back", resp.StatusCode, body[:min(len(body), 80)])
	}
}

// TestEchoFraming checks what the load generator relies on: a message up
// to wholeMax comes back as one frame, as it was sent; a larger one comes
// back whole but in fragments, so the echo's memory stays bounded.
func TestEchoFraming(t *testing.T) {
	ts := httptest.NewServer(Handler(Options{}))
	defer ts.Close()
	nc, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	for _, tc := range []struct {
		size   int
		frames int
	}{{10, 1}, {64<<10 + 1, 1}, {wholeMax, 1}, {wholeMax + 1, 2}} {
		// A binary frame masked with the key 0, which leaves the payload as it is.
		hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(hdr[2:], uint64(tc.size))
		if _, err := nc.Write(append(hdr, make([]byte, tc.size)...)); err != nil {
			t.Fatal(err)
		}
		frames, total := 0, 0
		for fin := false; !fin; {
			var h [10]byte
			if _, err := io.ReadFull(br, h[:2]); err != nil {
				t.Fatal(err)
			}
			fin = h[0]&0x80 != 0
			n := int(h[1] & 0x7f)
			switch n {
			case 126:
				io.ReadFull(br, h[:2])
				n = int(binary.BigEndian.Uint16(h[:2]))
			case 127:
				io.ReadFull(br, h[:8])
				n = int(binary.BigEndian.Uint64(h[:8]))
			}
			if _, err := br.Discard(n); err != nil {
				t.Fatal(err)
			}
			frames, total = frames+1, total+n
		}
		if total != tc.size || (tc.frames == 1 && frames != 1) || (tc.frames > 1 && frames < 2) {
			t.Errorf("echo of a %d-byte message: %d bytes in %d frames; want %d bytes in %s", tc.size, total, frames,
				tc.size, map[bool]string{true: "one frame", false: "fragments"}[tc.frames == 1])
		}
	}
}
