package tunnel

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"

	"github.com/wsgate/wsgate/internal/wsproto"
)

// TestTunnelDetailHandshake checks that a tunnel's detail holds the
// headers that really went to the backend and the ones it answered with.
func TestTunnelDetailHandshake(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	backend := rawBackend(t, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		got <- r
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat.v2\r\nSec-WebSocket-Extensions: x-one\r\n"+
			"Sec-WebSocket-Extensions: x-two; p=1\r\nX-Backend: yes\r\n\r\n", wsproto.AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
		io.Copy(io.Discard, br)
	})
	proxy, srv := serveConfig(t, Config{Table: flagTable(t, "/ws/ ws://"+backend+"/b/"), KeepHandshakes: true})
	c, _, resp := rawUpgrade(t, proxy, "/ws/room?x=1", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\nX-Client: one\r\n", "")
	defer c.Close()
	if resp.StatusCode != 101 {
		t.Fatalf("status = %d; want 101", resp.StatusCode)
	}
	sent := <-got
	id := srv.Snapshot().Tunnels[0].ID

	d, ok := srv.TunnelDetail(id)
	if !ok {
		t.Fatalf("TunnelDetail(%d) found nothing", id)
	}
	if d.Info.ID != id || d.Method != "GET" || d.Target != "/b/room?x=1" || d.Host != sent.Host {
		t.Errorf("detail: tunnel %d, %s %s, Host %q; want %d, GET /b/room?x=1, Host %q", d.Info.ID, d.Method, d.Target, d.Host, id, sent.Host)
	}
	if !reflect.DeepEqual(d.RequestHeader, sent.Header) {
		t.Errorf("detail's request header:\n%v\nthe backend got:\n%v", d.RequestHeader, sent.Header)
	}
	if d.RequestHeader.Get("X-Client") != "one" || d.RequestHeader.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("request header %v; want X-Client and X-Forwarded-For", d.RequestHeader)
	}
	if d.Status != 101 || d.ResponseHeader.Get("X-Backend") != "yes" || d.ResponseHeader.Get("Connection") != "Upgrade" {
		t.Errorf("response %d %v; want 101 with X-Backend and Connection as the backend sent them", d.Status, d.ResponseHeader)
	}
	if d.Subprotocol != "chat.v2" || d.Extensions != "x-one, x-two; p=1" {
		t.Errorf("subprotocol %q, extensions %q; want chat.v2, \"x-one, x-two; p=1\"", d.Subprotocol, d.Extensions)
	}

	// The detail is the caller's: changing it changes no other.
	d.RequestHeader.Set("X-Client", "changed")
	if d2, _ := srv.TunnelDetail(id); d2.RequestHeader.Get("X-Client") != "one" {
		t.Errorf("a caller's change reached the tunnel: X-Client %q", d2.RequestHeader.Get("X-Client"))
	}
	if _, ok := srv.TunnelDetail(id + 1); ok {
		t.Errorf("TunnelDetail(%d) found a tunnel that does not exist", id+1)
	}
	c.Close()
	waitOpen(t, srv, 0)
	if _, ok := srv.TunnelDetail(id); ok {
		t.Errorf("TunnelDetail(%d) found a closed tunnel", id)
	}
}
