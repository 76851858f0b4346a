package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/syncbuf"
)

// openPTY opens a pseudo-terminal: the side a test types into, and the
// terminal serve reads keys from (as a user's would be).
func openPTY(t *testing.T) (typed, terminal *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestServeLiveViewMessages drives serve's live view through a
// pseudo-terminal while --trace-file traces: Enter opens the tunnel that
// carried a JSON message, G follows its messages, r shows them raw, and a
// filter typed after / leaves out the other direction.
func TestServeLiveViewMessages(t *testing.T) {
	t.Parallel()
	typed, terminal := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb syncbuf.Buffer
	e := &env{stdin: terminal, stdout: &out, stderr: &errb, terminal: true, info: Info{Version: "1.2.3"},
		getenv: func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"wsgate", "serve", "--listen", "127.0.0.1:0", "--demo",
			"--trace-file", filepath.Join(t.TempDir(), "trace.jsonl")})
	}()
	var addr string
	eventually.True(t, 10*time.Second, func() bool {
		_, rest, ok := strings.Cut(out.String(), "listening on ")
		addr, _, _ = strings.Cut(rest, "\n")
		return ok && strings.Contains(rest, "\n")
	}, func() string { return "serve printed no address: " + errb.String() })

	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"hello":"world","n":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}

	// What the view draws after the keys: the frames since they were typed.
	frames := func(keys string, want ...string) {
		t.Helper()
		from := len(out.String())
		if _, err := typed.WriteString(keys); err != nil {
			t.Fatal(err)
		}
		eventually.True(t, 10*time.Second, func() bool {
			got := out.String()[from:]
			for _, w := range want {
				if !strings.Contains(got, w) {
					return false
				}
			}
			return true
		}, func() string {
			return fmt.Sprintf("after %q, no %q in the frames:\n%q", keys, want, out.String()[from:])
		})
	}
	frames("", "tunnels 1 open") // Enter opens the tunnel the view has seen
	frames("\r", "tunnel 1  (Esc: back)")
	frames("G", "following", `→ text   23`, `    "hello": "world",`, `← text   23`)
	frames("r", `raw (r)`, `→ text   23 "{\"hello\":\"world\",\"n\":1}"`)
	frames("/dir=down\r", "filter: dir=down", "1 of the last 2 match the filter")
	c.Close(websocket.StatusNormalClosure, "")
	if _, err := typed.WriteString("q"); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("serve = exit %d; stderr:\n%s", code, errb.String())
	}
}
