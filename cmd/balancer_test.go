package cmd

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/status"
)

// nameServer is a WebSocket backend that sends its name and closes.
func nameServer(t *testing.T, name string) *httptest.Server {
	return nameServerOn(t, name, "127.0.0.1:0")
}

// nameServerOn is nameServer listening on addr.
func nameServerOn(t *testing.T, name, addr string) *httptest.Server {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageText, []byte(name))
		c.Read(r.Context()) // until the client closes
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	return ts
}

// deadAddr is where the members that a test kills listen: on Linux an
// address of its own in 127.0.0.0/8, so that the port it frees is not
// taken by another test's server listening on 127.0.0.1:0 before the
// proxy's next dial (which would then reach that server instead of
// being refused). Other systems route 127.0.0.1 only.
func deadAddr() string {
	if runtime.GOOS == "linux" {
		return "127.0.0.2:0"
	}
	return "127.0.0.1:0"
}

// TestBalancerKillOneOfThree is the example: three members, the
// third a hot standby, bybusyness. A steady stream of new tunnels keeps
// going while the first member is killed: no client sees a failure.
func TestBalancerKillOneOfThree(t *testing.T) {
	t.Parallel()
	a, b, h := nameServerOn(t, "a", deadAddr()), nameServerOn(t, "b", deadAddr()), nameServer(t, "h")
	conf := writeFile(t, "balancer.conf", `<Proxy "balancer://chat">
    BalancerMember "ws://`+a.Listener.Addr().String()+`" loadfactor=2
    BalancerMember "ws://`+b.Listener.Addr().String()+`"
    BalancerMember "ws://`+h.Listener.Addr().String()+`" status=+H
    ProxySet lbmethod=bybusyness
</Proxy>
ProxyPass "/chat/" "balancer://chat/"
`)
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--config", conf)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[string]int{}
	failures := 0
	for i := range 60 {
		if i == 20 {
			a.CloseClientConnections()
			a.Close()
		}
		c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/chat/room", nil)
		if err != nil {
			t.Logf("tunnel %d: %v", i, err)
			failures++
			continue
		}
		_, name, err := c.Read(ctx)
		if err != nil {
			t.Logf("tunnel %d: read: %v", i, err)
			failures++
		}
		got[string(name)]++
		c.Close(websocket.StatusNormalClosure, "")
		if i == 19 && (got["a"] == 0 || got["a"]+got["b"] != 20) {
			// How they split depends on timing: bybusyness counts a
			// tunnel still closing as busy. Both members must serve.
			t.Errorf("first 20 tunnels went %v; want them on a and b, none on the standby", got)
		}
	}
	if failures != 0 {
		t.Errorf("%d of 60 tunnels failed while a member died; want 0", failures)
	}
	if got["h"] != 0 || got["a"] > 20 || got["a"]+got["b"] != 60 {
		t.Errorf("tunnels went %v; want a only before it died, b the rest, the standby none", got)
	}
	// With b gone too, the standby takes over.
	b.CloseClientConnections()
	b.Close()
	c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/chat/room", nil)
	if err != nil {
		t.Fatalf("Dial with only the standby left: %v", err)
	}
	defer c.CloseNow()
	if _, name, _ := c.Read(ctx); string(name) != "h" {
		t.Errorf("with a and b down the tunnel went to %q; want the standby h", name)
	}
}

func TestBalancerShortFormAndStatus(t *testing.T) {
	t.Parallel()
	a, b := nameServer(t, "a"), nameServer(t, "b")
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--status",
		"--pass", "/chat/ ws://"+a.Listener.Addr().String()+" ws://"+b.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	order := ""
	for range 4 {
		c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/chat/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, name, _ := c.Read(ctx)
		order += string(name)
		c.Close(websocket.StatusNormalClosure, "")
	}
	if order != "abab" {
		t.Errorf("4 tunnels over the --pass short form went %s; want abab", order)
	}
	resp, err := http.Get("http://" + proxy + "/.wsgate/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status status.Stats
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	if len(status.Balancers) != 1 || status.Balancers[0].Name != "balancer://pass1" || status.Balancers[0].Method != "byrequests" ||
		len(status.Balancers[0].Members) != 2 || status.Balancers[0].Members[0].State != "ok" || status.Balancers[0].Members[0].Total != 2 {
		t.Errorf("status balancers = %+v; want balancer://pass1, byrequests, 2 members ok with 2 tunnels each", status.Balancers)
	}
}
