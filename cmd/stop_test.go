package cmd

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// stalledBackend answers a WebSocket upgrade with a valid 101 and then
// never reads again, like a backend paused at a breakpoint. It lets go
// when the test ends.
func stalledBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"))
				<-release
			})
		}
	})
	t.Cleanup(func() { ln.Close(); close(release); wg.Wait() })
	return ln.Addr().String()
}

// stallTunnel opens a tunnel through addr and writes 64 KiB messages into
// it until every buffer toward the stalled backend is full.
func stallTunnel(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	blocked := make(chan struct{})
	go func() {
		msg := make([]byte, 64<<10)
		for {
			wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := c.Write(wctx, websocket.MessageBinary, msg)
			wcancel()
			if err != nil {
				close(blocked)
				return
			}
		}
	}()
	select {
	case <-blocked:
	case <-ctx.Done():
		t.Fatal("the buffers never filled")
	}
}

// TestStopWithStalledTunnel: a stop with a tunnel whose backend reads
// nothing says what it waits for and exits once the grace period is over.
// The grace period is measured from before the stop, so serve cannot
// honestly stop sooner however loaded the machine; the upper bound only
// needs to tell "once it is over" from "never" (a stop that waits for the
// stalled tunnel), so it is generous. The grace period leaves the notice,
// due 300 ms into the stop, a margin of 700 ms.
func TestStopWithStalledTunnel(t *testing.T) {
	t.Parallel()
	const grace = time.Second
	s := startControlled(t, "--grace", grace.String(), "ws://"+stalledBackend(t)+"/")
	stallTunnel(t, s.addr)
	start := time.Now()
	s.stop()
	select {
	case code := <-s.done:
		s.done <- code
		if d := time.Since(start); d < grace {
			t.Errorf("serve stopped after %v, before its grace period of %v was over", d, grace)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("serve still running %v after the stop, with --grace %v", time.Since(start), grace)
	}
	if !strings.Contains(s.stderr.String(), "waiting for 1 tunnel to close, up to 1s; Ctrl-C again to cut it") {
		t.Errorf("no line saying what the stop waits for:\n%s", s.stderr.String())
	}
}

// TestSecondSignalCutsStalledTunnel: with a long grace period, the second
// signal, given while the stop waits for a stalled tunnel (it says so),
// ends serve long before the grace period is over, even when a tunnel is
// stalled.
func TestSecondSignalCutsStalledTunnel(t *testing.T) {
	t.Parallel()
	s := startControlled(t, "--grace", "1m", "ws://"+stalledBackend(t)+"/")
	stallTunnel(t, s.addr)
	s.stop()
	s.waitStderr(t, "waiting for 1 tunnel to close, up to 1m0s")
	start := time.Now()
	close(s.force)
	select {
	case code := <-s.done:
		s.done <- code
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running %v after the second signal, with --grace 1m", time.Since(start))
	}
}

// TestRouteAgreesWithServe: route and serve make one decision
// (rules.Match.Action). On a balancer of ws:// members, route used to
// answer "plain HTTP" for an upgrade that serve tunnels (issue 18).
func TestRouteAgreesWithServe(t *testing.T) {
	t.Parallel()
	a, b := startEchoServer(t), startEchoServer(t)
	pass := "/chat/ ws://" + a + "/ ws://" + b + "/"
	res := runCmd(t, "", "route", "--pass", pass, "-H", "Upgrade: websocket", "/chat/x")
	if res.code != 0 || !strings.Contains(res.stdout, "as       tunnel") {
		t.Fatalf("route = %d:\n%s%s\nwant a tunnel", res.code, res.stdout, res.stderr)
	}
	addr, _ := background(t, "serve", "--pass", pass, "--listen", "127.0.0.1:0", "--no-live", "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/chat/x", nil)
	if err != nil {
		t.Fatalf("serve did not tunnel: %v", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// TestRouteAgreesOnRecipes: for every request of every recipe, wsgate
// route says "tunnel" exactly when serve (and Apache) answered 101: both
// run Table.Match and Match.Action.
func TestRouteAgreesOnRecipes(t *testing.T) {
	t.Parallel()
	for _, rc := range recipes {
		conf := filepath.Join("testdata", "recipes", rc.name+".conf")
		for _, tc := range rc.cases {
			t.Run(rc.name+"/"+tc.name, func(t *testing.T) {
				port := "80"
				if tc.tls {
					port = "443"
				}
				args := []string{"route", "-c", conf, "--port", port, "--method", tc.methodOr(), "-H", "Host: " + tc.host + ":" + port}
				has := func(name string) bool {
					for _, h := range tc.header {
						if strings.HasPrefix(strings.ToLower(h), strings.ToLower(name)+":") {
							return true
						}
					}
					return false
				}
				if tc.ws {
					if !has("Upgrade") {
						args = append(args, "-H", "Upgrade: websocket")
					}
					if !has("Connection") {
						args = append(args, "-H", "Connection: Upgrade")
					}
					args = append(args, "-H", "Sec-WebSocket-Version: 13")
				}
				for _, h := range tc.header {
					args = append(args, "-H", h)
				}
				res := runCmd(t, "", append(args, tc.target)...)
				tunnels := strings.Contains(res.stdout, "as       tunnel")
				if want := tc.want.status == 101; tunnels != want {
					t.Errorf("route says tunnel = %v; serve answered %d:\n%s%s", tunnels, tc.want.status, res.stdout, res.stderr)
				}
			})
		}
	}
}
