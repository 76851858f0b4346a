package tunnel

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/eventually"
)

// TestFailuresInSnapshot makes upgrades fail in the ways a user meets
// most, on real sockets, and checks that each is in Snapshot.Failures
// with what the client was answered and why.
func TestFailuresInSnapshot(t *testing.T) {
	t.Parallel()
	refusing, _ := refusingBackend(t, forbidden)
	badAccept := rawConnBackend(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			fmt.Fprint(c, switchHead("websocket", "not-the-accept-key"))
		}
	})
	silent := rawConnBackend(t, func(c net.Conn) {
		bufio.NewReader(c).ReadByte()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1)) // until the proxy gives up
	})
	table := flagTable(t,
		"/down/ ws://"+deadAddr(t)+"/",
		"/refuse/ ws://"+refusing+"/",
		"/accept/ ws://"+badAccept+"/",
		"/silent/ ws://"+silent+"/",
		"/ok/ ws://"+startEcho(t)+"/")
	table.AllowOrigins = []string{"https://app.example.com"}
	proxy, srv := serveConfig(t, Config{Table: table, ResponseTimeout: 100 * time.Millisecond})

	cases := []struct {
		path, header string
		status       int
		reason       string
		errText      string
	}{
		{"/down/x", "", 503, "backend refused connection", "connection refused"},
		{"/ok/x", "Origin: https://evil.example.net\r\n", 403, "origin not allowed", `origin "https://evil.example.net" is not allowed`},
		{"/refuse/x", "", 403, "upgrade refused by backend", "answered 403 Forbidden"},
		{"/accept/x", "", 502, "bad Sec-WebSocket-Accept", "does not match the client's key"},
		{"/silent/x", "", 502, "backend timeout", "read upgrade answer"},
		{"/nowhere", "", 404, "not found", `no rule matches "/nowhere"`},
	}
	for i, tc := range cases {
		c, _, resp := rawUpgrade(t, proxy, tc.path, tc.header, "")
		c.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: answered %d; want %d", tc.path, resp.StatusCode, tc.status)
		}
		s := srv.Snapshot()
		if len(s.Failures) != i+1 || s.Failed != uint64(i+1) {
			t.Fatalf("%s: %d failures in the history, Failed %d; want %d", tc.path, len(s.Failures), s.Failed, i+1)
		}
		f := s.Failures[0] // newest first
		if f.Path != tc.path || f.Status != tc.status || f.Reason != tc.reason || !strings.Contains(f.Error, tc.errText) {
			t.Errorf("%s: failure %q %d %q %q; want %q %d %q and an error with %q",
				tc.path, f.Path, f.Status, f.Reason, f.Error, tc.path, tc.status, tc.reason, tc.errText)
		}
		if host, _, err := net.SplitHostPort(f.Client); err != nil || host != "127.0.0.1" || f.Time.IsZero() {
			t.Errorf("%s: client %q, time %v; want the client's address and a time", tc.path, f.Client, f.Time)
		}
	}
	if got := srv.Snapshot().Failures[len(cases)-1].Path; got != cases[0].path {
		t.Errorf("oldest failure is %q; want %q", got, cases[0].path)
	}
}

// TestFailureHistoryRing checks that the history keeps the newest
// failureHistory failures, newest first, while Failed counts them all.
func TestFailureHistoryRing(t *testing.T) {
	t.Parallel()
	var r registry
	const n = failureHistory + 7
	for i := range n {
		r.fail(FailureInfo{Path: fmt.Sprint(i)})
	}
	s := r.snapshot(time.Now())
	if len(s.Failures) != failureHistory || s.Failed != n {
		t.Fatalf("%d failures kept, Failed %d; want %d, %d", len(s.Failures), s.Failed, failureHistory, n)
	}
	for i, f := range s.Failures {
		if want := fmt.Sprint(n - 1 - i); f.Path != want {
			t.Fatalf("Failures[%d] = %q; want %q", i, f.Path, want)
		}
	}
}

// TestAbnormalClose ends tunnels with and without a closing handshake, on
// real sockets: a reset or a killed peer is abnormal, a close frame each
// way is not, and a close frame with 1006 (which no endpoint may send) is.
func TestAbnormalClose(t *testing.T) {
	t.Parallel()
	mask := []byte{1, 2, 3, 4}
	echo := func(t *testing.T) string { return startEcho(t) }
	cases := []struct {
		name     string
		backend  func(t *testing.T) string
		client   func(t *testing.T, proxy string)
		abnormal bool
		closedBy string
	}{
		{"client reset", echo, func(t *testing.T, proxy string) {
			c, _, _ := rawUpgrade(t, proxy, "/", "", "")
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}, true, "client"},
		{"backend killed", func(t *testing.T) string {
			return switchingBackend(t, "", func(c net.Conn, br *bufio.Reader) {
				br.ReadByte() // the client's first byte
				c.(*net.TCPConn).SetLinger(0)
			})
		}, func(t *testing.T, proxy string) {
			c, _, _ := rawUpgrade(t, proxy, "/", "", "x")
			t.Cleanup(func() { c.Close() })
		}, true, "backend"},
		{"close frames", echo, func(t *testing.T, proxy string) {
			c := dialWS(t, testContext(t), "ws://"+proxy+"/")
			c.Close(1000, "bye")
		}, false, ""},
		{"client sends 1006", echo, func(t *testing.T, proxy string) {
			c, _, _ := rawUpgrade(t, proxy, "/", "", string(frame(true, false, OpClose, mask, []byte{0x03, 0xee})))
			c.Close()
		}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy, srv := startProxy(t, "/ ws://"+tc.backend(t)+"/")
			tc.client(t, proxy)
			eventually.True(t, 5*time.Second, func() bool { return len(srv.Snapshot().Closed) == 1 },
				eventually.Says("the tunnel did not close"))
			ti := srv.Snapshot().Closed[0]
			if ti.Abnormal() != tc.abnormal || tc.closedBy != "" && ti.ClosedBy != tc.closedBy {
				t.Errorf("closed by %q, close first %q, codes %d/%d, error %q: Abnormal() = %v; want %v, closed by %q",
					ti.ClosedBy, ti.CloseFirst, ti.Up.CloseCode, ti.Down.CloseCode, ti.Error, ti.Abnormal(), tc.abnormal, tc.closedBy)
			}
		})
	}
}

// TestAbnormalNotForTheProxysEnds covers the ends a snapshot can report
// that no socket test reaches cheaply.
func TestAbnormalNotForTheProxysEnds(t *testing.T) {
	t.Parallel()
	end := time.Now()
	for _, tc := range []struct {
		name string
		ti   TunnelInfo
		want bool
	}{
		{"open", TunnelInfo{ClosedBy: "client"}, false},
		{"idle timeout", TunnelInfo{End: end, ClosedBy: "idle"}, false},
		{"stop", TunnelInfo{End: end, ClosedBy: "proxy"}, false},
		{"not WebSocket", TunnelInfo{End: end, ClosedBy: "client", Up: Flow{Raw: true}, Down: Flow{Raw: true}}, false},
		{"EOF without close", TunnelInfo{End: end, ClosedBy: "backend"}, true},
		{"backend said 1006", TunnelInfo{End: end, ClosedBy: "backend", CloseFirst: "backend", Down: Flow{CloseCode: 1006}}, true},
	} {
		if got := tc.ti.Abnormal(); got != tc.want {
			t.Errorf("%s: Abnormal() = %v; want %v", tc.name, got, tc.want)
		}
	}
}
