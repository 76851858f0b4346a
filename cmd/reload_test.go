package cmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/syncbuf"
)

// controlled runs serve in-process with its stop, force and reload
// channels in the test's hands, and returns the listening address.
type controlled struct {
	addr   string
	stop   context.CancelFunc
	force  chan struct{}
	reload chan struct{}
	stderr *syncbuf.Buffer
	done   chan int
}

func startControlled(t *testing.T, args ...string) *controlled {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	c := &controlled{stop: stop, force: make(chan struct{}), reload: make(chan struct{}, 1), stderr: &syncbuf.Buffer{}, done: make(chan int, 1)}
	pr, pw := io.Pipe()
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: c.stderr, getenv: func(string) string { return "" },
		force: c.force, reload: c.reload}
	go func() {
		c.done <- run(ctx, e, append([]string{"wsgate", "serve", "--listen", "127.0.0.1:0"}, args...))
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, _ := br.ReadString('\n')
	_, c.addr, _ = strings.Cut(strings.TrimSpace(line), "listening on ")
	if c.addr == "" {
		t.Fatalf("serve did not start: %q %s", line, c.stderr.String())
	}
	go io.Copy(io.Discard, br)
	t.Cleanup(func() {
		stop()
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return c
}

// waitStderr waits up to 10 s for serve to write text on standard error.
func (c *controlled) waitStderr(t *testing.T, text string) {
	t.Helper()
	eventually.True(t, 10*time.Second, func() bool { return strings.Contains(c.stderr.String(), text) },
		func() string { return fmt.Sprintf("no %q on standard error:\n%s", text, c.stderr.String()) })
}

// dialOK reports whether a tunnel to path opens and echoes.
func dialOK(ctx context.Context, addr, path string) bool {
	c, _, err := websocket.Dial(ctx, "ws://"+addr+path, nil)
	if err != nil {
		return false
	}
	defer c.CloseNow()
	if c.Write(ctx, websocket.MessageText, []byte("x")) != nil {
		return false
	}
	_, p, err := c.Read(ctx)
	return err == nil && string(p) == "x"
}

func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	conf := writeFile(t, "reload.conf", "ProxyPass /a/ ws://"+backend+"/\n")
	s := startControlled(t, "--config", conf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	old, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/a/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.CloseNow()

	if err := os.WriteFile(conf, []byte("ProxyPass /b/ ws://"+backend+"/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.reload <- struct{}{}
	eventually.True(t, 5*time.Second, func() bool { return dialOK(ctx, s.addr, "/b/") },
		func() string { return "/b/ never routed after the reload; stderr:\n" + s.stderr.String() })
	if dialOK(ctx, s.addr, "/a/") {
		t.Error("/a/ still routed after the reload removed it")
	}
	// The tunnel opened under the old rules keeps running.
	if err := old.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := old.Read(ctx); err != nil || string(p) != "still here" {
		t.Errorf("old tunnel after reload = %q, %v; want it untouched", p, err)
	}

	// A bad file is reported and the rules in force stay.
	if err := os.WriteFile(conf, []byte("ProxyPas /c/ ws://"+backend+"/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.reload <- struct{}{}
	eventually.True(t, 5*time.Second, func() bool { return strings.Contains(s.stderr.String(), "reload failed") },
		func() string { return "no 'reload failed' line; stderr:\n" + s.stderr.String() })
	if !strings.Contains(s.stderr.String(), "reload.conf:1:1") {
		t.Errorf("the reload error does not say where:\n%s", s.stderr.String())
	}
	if !dialOK(ctx, s.addr, "/b/") {
		t.Error("/b/ stopped routing after a bad reload; want the old rules kept")
	}
}

func TestSecondSignalStopsAtOnce(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	s := startControlled(t, "--grace", "1m", "ws://"+backend+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/", nil) // never reads: never answers the close
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	s.stop() // the first signal: a graceful stop, waiting up to a minute
	// It says so once the tunnel has not answered for a while.
	s.waitStderr(t, "waiting for 1 tunnel to close, up to 1m0s")
	select {
	case code := <-s.done:
		t.Fatalf("serve stopped (exit %d) while a tunnel had not answered, within its grace", code)
	default:
	}
	close(s.force) // the second signal
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		if code != 0 {
			t.Errorf("exit %d after a second signal; want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve still waiting after a second signal")
	}
	if !strings.Contains(s.stderr.String(), "stopped before every tunnel said goodbye") {
		t.Errorf("no line about the cut tunnels:\n%s", s.stderr.String())
	}
}
