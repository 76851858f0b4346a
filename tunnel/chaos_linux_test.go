//go:build linux

package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/rules"
)

// TestChaos runs a few hundred tunnels through one proxy, each peer drawn
// at random from the ways peers misbehave: it echoes, stops reading, is
// killed with SIGKILL (a backend process of its own), half-closes, resets,
// or trickles a byte a second. Meanwhile the proxy reloads its rules
// (some reloads drop a route), and then it is stopped. The stop must end
// within its grace period plus a second, no tunnel between two
// well-behaved peers may be disturbed before it, the tunnels to the killed
// backend must end as soon as their clients see the end (a client leaves
// when its tunnel ends; one that trickles notices on its next write, a
// second later), and goroutines and descriptors must come back to where
// they were.
//
//	go test -run TestChaos -v ./tunnel                        # 200 tunnels
//	WSGATE_CHAOS_TUNNELS=600 go test -run TestChaos -v ./tunnel
func TestChaos(t *testing.T) {
	n := 200
	if v := os.Getenv("WSGATE_CHAOS_TUNNELS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if testing.Short() {
		n = 60
	}
	raiseFDLimit(t)
	noLeaks(t)
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs()

	// The backends. The killable one is a process of its own.
	killed := startHelper(t, "backend")
	killedAddr := killed.next(t, 10*time.Second)
	release := make(chan struct{})
	behave := map[string]func(c net.Conn, br *bufio.Reader){
		"echo": func(c net.Conn, br *bufio.Reader) { echoBack(c, br) },
		"stall": func(c net.Conn, br *bufio.Reader) {
			<-release // never reads
		},
		"half": func(c net.Conn, br *bufio.Reader) {
			if op, p, err := readFrame(br); err == nil {
				c.Write(frame(true, false, op, nil, p))
			}
			closeWrite(c)
			io.Copy(io.Discard, br)
		},
		"rst": func(c net.Conn, br *bufio.Reader) {
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
			tcp(c).SetLinger(0)
			c.Close()
		},
		"trickle": func(c net.Conn, br *bufio.Reader) {
			go io.Copy(io.Discard, br)
			msg := frame(true, false, OpText, nil, []byte("one byte a second"))
			for _, b := range msg {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				select {
				case <-release:
					return
				case <-time.After(time.Second):
				}
			}
		},
	}
	routes := []string{"/killed/ ws://" + killedAddr + "/"}
	for name, fn := range behave {
		backend := backendOn(t, plainEndpoints.listen(t), fn)
		routes = append(routes, "/"+name+"/ ws://"+backend+"/")
	}
	t.Cleanup(func() { close(release) }) // before the backends' own cleanups
	table, err := rules.FromFlags(routes)
	if err != nil {
		t.Fatal(err)
	}
	ln := plainEndpoints.listen(t)
	srv := startServer(t, Config{Table: table}, ln)
	proxy := ln.Addr().String()

	// The clients.
	var (
		wg        sync.WaitGroup
		stopping  atomic.Bool
		healthy   atomic.Int64 // messages echoed on well-behaved tunnels
		disturbed atomic.Int64
		kinds     = map[string]int{}
	)
	clientKinds := []string{"echo", "echo", "echo", "silent", "rst", "half", "trickle"}
	backendKinds := []string{"echo", "echo", "stall", "half", "rst", "trickle", "killed"}
	for i := range n {
		ck, bk := clientKinds[rand.IntN(len(clientKinds))], backendKinds[rand.IntN(len(backendKinds))]
		kinds[ck+"→"+bk]++
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		br := upgradeOn(t, c, "/"+bk+"/"+strconv.Itoa(i))
		c.SetDeadline(time.Time{})
		wg.Go(func() {
			err := chaosClient(c, br, ck, bk, &healthy)
			if err != nil && !stopping.Load() && ck == "echo" && bk == "echo" {
				disturbed.Add(1)
				t.Errorf("tunnel %d (echo client, echo backend) disturbed before the stop: %v", i, err)
			}
			c.Close() // a client whose tunnel ended goes away
		})
	}
	t.Logf("%d tunnels: %v", n, kinds)

	// Reloads, one of them without the trickle route, while it all runs.
	time.Sleep(300 * time.Millisecond)
	for i := range 6 {
		next := routes
		if i%2 == 0 {
			next = routes[:len(routes)-1]
		}
		tb, err := rules.FromFlags(next)
		if err != nil {
			t.Fatal(err)
		}
		srv.SetTable(tb)
		if i == 2 {
			killed.cmd.Process.Kill()
			killedAt := time.Now()
			// Each client sees the end (EOF, or an error on its next
			// write: a trickling one writes once a second) and goes away.
			waitRouteClosed(t, srv, "/killed/", 3*time.Second)
			t.Logf("the killed backend's tunnels all closed %v after SIGKILL", time.Since(killedAt).Round(time.Millisecond))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The stop.
	const grace = time.Second
	stopping.Store(true)
	open := srv.Snapshot().Open
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	serr := srv.Shutdown(ctx)
	took := time.Since(start)
	if took > grace+time.Second {
		t.Errorf("Shutdown took %v with a grace period of %v", took, grace)
	}
	wg.Wait()
	t.Logf("every client done %v after the stop began", time.Since(start).Round(time.Millisecond))
	t.Logf("stop with %d tunnels open: Shutdown returned in %v (%v); %d messages echoed on well-behaved tunnels, %d disturbed",
		open, took.Round(time.Millisecond), serr, healthy.Load(), disturbed.Load())
	t.Logf("goroutines %d before the tunnels, fds %d (checked when the test ends)", baseGoroutines, baseFDs)
}

var plainEndpoints = endpoints{false}

// chaosClient plays one client until its tunnel ends.
func chaosClient(c net.Conn, br *bufio.Reader, kind, backend string, echoed *atomic.Int64) error {
	switch kind {
	case "silent": // sends until its writes block, never reads
		f := blob(true)
		for {
			if _, err := c.Write(f); err != nil {
				return err
			}
		}
	case "rst":
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		tcp(c).SetLinger(0)
		return c.Close()
	case "half":
		c.Write(frame(true, false, OpText, clientMask, []byte("then nothing")))
		closeWrite(c)
		_, err := io.Copy(io.Discard, br)
		return err
	case "trickle":
		go io.Copy(io.Discard, br)
		msg := frame(true, false, OpText, clientMask, []byte("one byte a second"))
		for _, b := range msg {
			if _, err := c.Write([]byte{b}); err != nil {
				return err
			}
			time.Sleep(time.Second)
		}
		return nil
	}
	// echo: a message every 20 ms, checked when it comes back.
	for i := 0; ; i++ {
		msg := frame(true, false, OpText, clientMask, fmt.Appendf(nil, "message %d", i))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if backend != "echo" {
			// Other backends do not echo: read whatever comes.
			if _, err := br.Discard(1); err != nil {
				return err
			}
			continue
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("echo %q; want %q", got, msg)
		}
		echoed.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRouteClosed waits up to within for the route whose path is path to
// have no open tunnel.
func waitRouteClosed(t *testing.T, srv *Server, path string, within time.Duration) {
	t.Helper()
	open := func() int {
		n := 0
		for _, r := range srv.Snapshot().Routes {
			if strings.HasSuffix(r.Route, " "+path) {
				n += r.Open
			}
		}
		return n
	}
	eventually.True(t, within, func() bool { return open() == 0 }, func() string {
		return fmt.Sprintf("%d tunnels of %s still open after its backend was killed", open(), path)
	})
}
