package echo

import (
	"context"
	"io"
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
