//go:build linux

package tunnel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/echo"
)

// The load test and the soak run only when asked, so that go test ./...
// stays fast:
//
//	WSGATE_LOAD=1 go test -run TestLoad -v -timeout 20m ./tunnel      # 9,000 tunnels
//	WSGATE_LOAD=1 WSGATE_LOAD_TUNNELS=2000 go test -run TestLoad ...  # fewer
//	WSGATE_SOAK=3m go test -run TestSoak -v -timeout 20m ./tunnel     # churn
//
// The proxy runs in the test process; the echo backend and the clients run
// in two helper processes (this test binary again, TestLoadHelper), so that
// no process needs more than about two descriptors per tunnel: the machine
// caps RLIMIT_NOFILE at 20,000, and one process holding all four ends of
// 9,000 tunnels would need 36,000.

// raiseFDLimit lifts the soft RLIMIT_NOFILE to the hard limit.
func raiseFDLimit(t testing.TB) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	return lim.Cur
}

// procStatus returns a field of /proc/self/status, such as "VmRSS".
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// usage is one sample of the proxy process.
func usage() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("VmRSS %s, heap in use %d MiB, stacks %d MiB, sys %d MiB, goroutines %d, fds %d",
		procStatus("VmRSS"), ms.HeapInuse>>20, ms.StackInuse>>20, ms.Sys>>20, runtime.NumGoroutine(), openFDs())
}

// helper is a running helper process and the lines it prints.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startHelper(t *testing.T, role string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadHelper$", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), append(env, "WSGATE_LOAD_ROLE="+role)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "load: "); ok {
				h.lines <- l
			}
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return h
}

// next waits for the helper's next line.
func (h *helper) next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatal("the helper process ended early")
		}
		return l
	case <-time.After(within):
		t.Fatalf("the helper process said nothing for %v", within)
		return ""
	}
}

func TestLoad(t *testing.T) {
	if os.Getenv("WSGATE_LOAD") == "" {
		t.Skip("set WSGATE_LOAD=1 to open 9,000 tunnels")
	}
	n := 9000
	if v, err := strconv.Atoi(os.Getenv("WSGATE_LOAD_TUNNELS")); err == nil {
		n = v
	}
	if os.Getenv("WSGATE_LOAD_HEAP") != "" {
		runtime.MemProfileRate = 1 // every allocation, so the profile divides exactly by n
	}
	t.Logf("RLIMIT_NOFILE %d; before: %s", raiseFDLimit(t), usage())
	backend := startHelper(t, "backend")
	addr := backend.next(t, time.Minute)
	proxy, srv := serveConfig(t, Config{Table: flagTable(t, "/ ws://"+addr+"/")})

	start := time.Now()
	clients := startHelper(t, "clients", "WSGATE_LOAD_PROXY="+proxy, "WSGATE_LOAD_N="+strconv.Itoa(n))
	held := clients.next(t, 10*time.Minute)
	opened := time.Since(start)
	snap := srv.Snapshot()
	t.Logf("%s after %v; proxy: %d open tunnels, %s", held, opened.Round(time.Millisecond), snap.Open, usage())
	if path := os.Getenv("WSGATE_LOAD_HEAP"); path != "" {
		writeHeapProfile(t, path)
	}
	if want := fmt.Sprintf("held %d errors 0", n); held != want || snap.Open != n {
		t.Fatalf("clients: %q, %d open tunnels; want %q and %d", held, snap.Open, want, n)
	}
	io.WriteString(clients.stdin, "close\n")
	closed := clients.next(t, 5*time.Minute)
	deadline := time.Now().Add(time.Minute)
	for srv.Snapshot().Open != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	runtime.GC()
	snap = srv.Snapshot()
	t.Logf("%s; proxy: %d open, %d total, %d failed; after: %s", closed, snap.Open, snap.Total, snap.Failed, usage())
	if closed != "closed errors 0" || snap.Open != 0 || snap.Total != uint64(n) || snap.Failed != 0 {
		t.Errorf("clients: %q; proxy %d open, %d total, %d failed; want no error, 0 open, %d total", closed, snap.Open, snap.Total, snap.Failed, n)
	}
}

func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("WSGATE_SOAK"))
	if err != nil {
		t.Skip("set WSGATE_SOAK=3m to churn tunnels for that long")
	}
	raiseFDLimit(t)
	backend := startHelper(t, "backend")
	addr := backend.next(t, time.Minute)
	proxy, srv := serveConfig(t, Config{Table: flagTable(t, "/ ws://"+addr+"/")})
	clients := startHelper(t, "churn", "WSGATE_LOAD_PROXY="+proxy, "WSGATE_LOAD_N=64", "WSGATE_SOAK_FOR="+d.String())
	t.Logf("start: %s", usage())
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	var last uint64
	for {
		select {
		case l := <-clients.lines:
			runtime.GC()
			time.Sleep(time.Second)
			runtime.GC()
			snap := srv.Snapshot()
			t.Logf("%s; proxy: %d tunnels in all, %d failed, %d open; end: %s", l, snap.Total, snap.Failed, snap.Open, usage())
			if !strings.HasSuffix(l, "errors 0") || snap.Failed != 0 {
				t.Errorf("churn ended with %q, %d failed", l, snap.Failed)
			}
			return
		case <-tick.C:
			runtime.GC()
			total := srv.Snapshot().Total
			t.Logf("%6d tunnels (%4d/s): %s", total, (total-last)/15, usage())
			last = total
		}
	}
}

// TestLoadHelper is the backend or the clients of TestLoad and TestSoak,
// in a process of its own. It prints its results as "load: ..." lines.
func TestLoadHelper(t *testing.T) {
	role := os.Getenv("WSGATE_LOAD_ROLE")
	if role == "" {
		t.Skip("only run by TestLoad and TestSoak")
	}
	raiseFDLimit(t)
	stdin := bufio.NewReader(os.Stdin)
	switch role {
	case "backend":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: echo.Handler(echo.Options{})}
		go hs.Serve(ln)
		fmt.Printf("load: %s\n", ln.Addr())
		io.Copy(io.Discard, stdin) // until the test closes stdin
		hs.Close()
	case "clients":
		n, _ := strconv.Atoi(os.Getenv("WSGATE_LOAD_N"))
		loadClients(stdin, os.Getenv("WSGATE_LOAD_PROXY"), n)
	case "churn":
		n, _ := strconv.Atoi(os.Getenv("WSGATE_LOAD_N"))
		d, _ := time.ParseDuration(os.Getenv("WSGATE_SOAK_FOR"))
		churn(os.Getenv("WSGATE_LOAD_PROXY"), n, d)
	}
}

// loadClients opens n tunnels, 200 handshakes at a time, echoes a message
// on each while all are open, reports, then closes them all on request.
func loadClients(stdin *bufio.Reader, proxy string, n int) {
	ctx := context.Background()
	conns := make([]*websocket.Conn, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			c, _, err := websocket.Dial(dctx, "ws://"+proxy+"/load/"+strconv.Itoa(i), nil)
			if err != nil {
				fmt.Fprintf(os.Stderr, "dial %d: %v\n", i, err)
				errs.Add(1)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	for i, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			mctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			msg := "message " + strconv.Itoa(i)
			if err := c.Write(mctx, websocket.MessageText, []byte(msg)); err != nil {
				errs.Add(1)
				return
			}
			if _, got, err := c.Read(mctx); err != nil || string(got) != msg {
				fmt.Fprintf(os.Stderr, "echo %d: %q, %v\n", i, got, err)
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("load: held %d errors %d\n", n-int(countNil(conns)), errs.Load())
	stdin.ReadString('\n')
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("load: closed errors %d\n", errs.Load())
}

func countNil(conns []*websocket.Conn) (n int64) {
	for _, c := range conns {
		if c == nil {
			n++
		}
	}
	return n
}

// churn runs workers that connect, echo one message and close, over and
// over, for d.
func churn(proxy string, workers int, d time.Duration) {
	var done, errs atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, _, err := websocket.Dial(ctx, "ws://"+proxy+"/soak", nil)
				if err == nil {
					msg := fmt.Sprintf("w%d m%d", w, i)
					err = c.Write(ctx, websocket.MessageText, []byte(msg))
					if err == nil {
						var got []byte
						if _, got, err = c.Read(ctx); err == nil && string(got) != msg {
							err = fmt.Errorf("echo %q; want %q", got, msg)
						}
					}
					if cerr := c.Close(websocket.StatusNormalClosure, ""); err == nil {
						err = cerr
					}
				}
				cancel()
				if err != nil {
					fmt.Fprintf(os.Stderr, "churn: %v\n", err)
					errs.Add(1)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("load: churned %d tunnels in %v, errors %d\n", done.Load(), d, errs.Load())
}

// writeHeapProfile writes what the held tunnels keep live, for
// go tool pprof -sample_index=inuse_space.
func writeHeapProfile(t *testing.T, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}
