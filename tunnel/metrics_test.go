package tunnel

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/internal/eventually"
)

// TestMetrics runs tunnels that end in each way a scrape tells apart, a
// refused backend, a request no rule matches and a plain request, and
// reads them back from Metrics: per route, the open tunnels' counts as the
// relay keeps them, the handshakes and durations, closes by code, failures
// by status and reason, plain requests by class.
func TestMetrics(t *testing.T) {
	t.Parallel()
	proxy, srv := serveTable(t, flagTable(t, "/ws/ ws://"+startEcho(t)+"/", "/down/ ws://127.0.0.1:1/"))
	ctx := testContext(t)
	route := func(suffix string) RouteMetrics {
		for _, r := range srv.Metrics().Routes {
			if strings.HasSuffix(r.Route, suffix) && (suffix != "" || r.Route == "") {
				return r
			}
		}
		return RouteMetrics{}
	}

	// An open tunnel's messages are counted before it closes.
	c := dialWS(t, ctx, "ws://"+proxy+"/ws/a")
	for range 2 {
		if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r := route(" /ws/"); r.Open != 1 || r.Total != 1 || r.Up.Messages != 2 || r.Down.Messages != 2 || r.Handshake.Count() != 1 {
		t.Errorf("one open tunnel: open %d, opened %d, messages %d up %d down, %d handshakes; want 1, 1, 2, 2, 1",
			r.Open, r.Total, r.Up.Messages, r.Down.Messages, r.Handshake.Count())
	}
	c.Close(websocket.StatusNormalClosure, "bye")
	killed := dialWS(t, ctx, "ws://"+proxy+"/ws/b")
	killed.CloseNow() // no close frame: abnormal
	private := dialWS(t, ctx, "ws://"+proxy+"/ws/c")
	private.Close(4001, "kicked")

	if _, _, err := websocket.Dial(ctx, "ws://"+proxy+"/down/x", nil); err == nil {
		t.Fatal("the refused backend's route upgraded")
	}
	for _, path := range []string{"/nowhere", "/ws/plain"} {
		resp, err := http.Get("http://" + proxy + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	eventually.True(t, 5*time.Second, func() bool { return route(" /ws/").Duration.Count() == 3 },
		func() string { return fmt.Sprintf("closed tunnels counted: %+v", route(" /ws/")) })
	ws := route(" /ws/")
	if ws.Open != 0 || ws.Total != 3 || ws.Handshake.Count() != 3 || ws.Handshake.Sum <= 0 {
		t.Errorf("/ws/: open %d, opened %d, %d handshakes taking %vs; want 0, 3, 3, more than 0", ws.Open, ws.Total, ws.Handshake.Count(), ws.Handshake.Sum)
	}
	codes := map[string]uint64{}
	for _, cl := range ws.Closes {
		codes[cl.Code] += cl.N
		if cl.ClosedBy != "client" && cl.ClosedBy != "backend" {
			t.Errorf("closed by %q; want client or backend", cl.ClosedBy)
		}
	}
	if codes["1000"] != 1 || codes["1006"] != 1 || codes["4xxx"] != 1 || len(codes) != 3 {
		t.Errorf("closes by code %v; want one each of 1000, 1006 and 4xxx", codes)
	}
	if len(ws.HTTP) != 1 || ws.HTTP[0].N != 1 {
		t.Errorf("/ws/ plain requests %+v; want one", ws.HTTP)
	}
	if down := route(" /down/"); len(down.Failures) != 1 || down.Failures[0].Status != 503 || down.Failures[0].Reason != "backend refused connection" || down.Total != 0 {
		t.Errorf("/down/: failures %+v, %d opened; want one 503 backend refused connection, none opened", down.Failures, down.Total)
	}
	if none := route(""); len(none.Failures) != 1 || none.Failures[0].Status != 404 {
		t.Errorf("requests no rule matched: %+v; want one 404", none.Failures)
	}
}

func TestCloseClass(t *testing.T) {
	end := time.Unix(100, 0)
	closed := func(first string, up, down int, by string) TunnelInfo {
		return TunnelInfo{End: end, CloseFirst: first, ClosedBy: by, Up: Flow{CloseCode: up}, Down: Flow{CloseCode: down}}
	}
	for _, c := range []struct {
		ti   TunnelInfo
		want string
	}{
		{closed("client", 1000, 1000, "backend"), "1000"},
		{closed("backend", 1000, 1011, "backend"), "1011"},
		{closed("client", 4001, 4001, "backend"), "4xxx"},
		{closed("backend", 0, 3003, "backend"), "3xxx"},
		{closed("client", 2999, 0, "client"), "other"},
		{closed("", 0, 0, "client"), "1006"}, // a peer went away without a close frame
		{closed("", 0, 0, "idle"), "none"},
		{closed("", 0, 0, "proxy"), "none"},
		{TunnelInfo{End: end, ClosedBy: "client", Up: Flow{Raw: true}}, "none"}, // upgrade=NAME: no frames
	} {
		if got := CloseClass(c.ti); got != c.want {
			t.Errorf("CloseClass(first %q, codes %d/%d, by %s) = %q; want %q", c.ti.CloseFirst, c.ti.Up.CloseCode, c.ti.Down.CloseCode, c.ti.ClosedBy, got, c.want)
		}
	}
}
