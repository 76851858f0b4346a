package decode_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

var capture = flag.Bool("capture", false, "rewrite testdata/*.trace from live traffic (TestLive; needs WSGATE_DECODE_NODE_DIR)")

// liveCases are the exchanges testdata/live.js runs: the URL its client
// connects to (after the proxy's address) and what must be seen, in order,
// among the decoded messages.
var liveCases = []struct {
	proto  string
	path   string // appended to http://ADDR
	forced string // --decode: rpc-websockets negotiates no subprotocol
	// plain starts the payloads that are not the protocol's and must not
	// decode: rpc-websockets' events are its own {"notification": ...}.
	plain  string
	expect []want
}{
	{"socketio", "/", "", "", socketioWant},
	{"socketio-polling", "/", "", "", socketioPollingWant},
	{"graphql-ws", "/graphql", "", "", graphqlWant},
	{"graphql-legacy", "/graphql", "", "", graphqlLegacyWant},
	{"stomp", "/stomp", "", "", stompWant},
	{"mqtt", "/mqtt", "", "", mqttWant},
	{"jsonrpc", "/", "jsonrpc", `{"notification"`, jsonrpcWant},
}

// nodeModules returns the node_modules directory with the libraries
// live.js uses, or skips the test.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WSGATE_DECODE_NODE_DIR")
	if dir == "" {
		t.Skip("WSGATE_DECODE_NODE_DIR is not set: to run, npm install --prefix DIR " + strings.Join(npmPackages, " ") + " and set it to DIR")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("WSGATE_DECODE_NODE_DIR is set but node is not found: %v", err)
	}
	return filepath.Join(dir, "node_modules")
}

// npmPackages are what live.js needs (testdata/README.md has the versions
// the recorded traces were made with).
var npmPackages = []string{"socket.io", "socket.io-client", "graphql", "graphql-ws", "subscriptions-transport-ws",
	"ws", "@stomp/stompjs", "mqtt", "aedes", "rpc-websockets"}

// TestLive runs each real client and server of testdata/live.js through a
// wsgate tunnel and checks that every message it carried decodes, and
// that the expected ones are there. With -capture it rewrites the traces
// in testdata/ that TestRecorded reads.
func TestLive(t *testing.T) {
	modules := nodeModules(t)
	for _, tc := range liveCases {
		t.Run(tc.proto, func(t *testing.T) {
			t.Parallel()
			tr := runLive(t, modules, tc.proto, tc.path)
			if len(tr.items) == 0 {
				t.Fatal("no message passed the tunnel")
			}
			checkTrace(t, tr.tunnels, tr.items, tc.forced, tc.plain, tc.expect)
			if *capture {
				if err := os.WriteFile(filepath.Join("testdata", tc.proto+".trace"), tr.encode(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// runLive starts live.js PROTO, puts a wsgate tunnel server in front of
// its server and hands the proxy's URL to its client; it returns what
// passed once the script exits.
func runLive(t *testing.T, modules, proto, path string) *recorded {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "live.js"), proto)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	var port int
	for out.Scan() {
		if _, err := fmt.Sscanf(out.Text(), "PORT %d", &port); err == nil {
			break
		}
	}
	if port == 0 {
		cmd.Wait()
		t.Fatalf("live.js %s printed no port: %s", proto, stderr.String())
	}

	table, err := rules.FromFlags([]string{fmt.Sprintf("/ ws://127.0.0.1:%d/", port)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &recorded{tunnels: map[uint64]tunnelMeta{}}
	srv := tunnel.New(tunnel.Config{
		Table:      table,
		TraceBytes: 1 << 20,
		OnMessage:  tr.message,
		OnTunnel:   tr.tunnel,
		OnHTTP:     tr.http,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Shutdown(ctx)
		<-served
	}()

	fmt.Fprintf(stdin, "http://%s%s\n", ln.Addr(), path)
	go func() {
		for out.Scan() { // drain
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("live.js %s: %v\n%s", proto, err, stderr.String())
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr
}

// recorded is the traffic of one run: the messages of its tunnels and
// its plain HTTP exchanges (Socket.IO's long polling), in the order they
// were reported, with what decode.For needs to pick a decoder for each
// tunnel.
type recorded struct {
	mu      sync.Mutex
	tunnels map[uint64]tunnelMeta
	items   []item
}

// item is a message, or an exchange when x is set.
type item struct {
	m tunnel.Message
	x *tunnel.HTTPExchange
}

type tunnelMeta struct{ Path, Subprotocol string }

func (r *recorded) message(m tunnel.Message) {
	m.Payload = append([]byte(nil), m.Payload...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, item{m: m})
}

func (r *recorded) http(x tunnel.HTTPExchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, item{x: &x})
}

func (r *recorded) tunnel(ev tunnel.TunnelEvent) {
	if ev.Closed {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tunnels[ev.Info.ID] = tunnelMeta{ev.Info.Path, ev.ResponseHeader.Get("Sec-WebSocket-Protocol")}
}

// encode returns r as a .trace file: a "# tunnel ID PATH SUBPROTOCOL"
// line per tunnel, then the messages and exchanges as trace.JSONL writes
// them (without decoding).
func (r *recorded) encode() []byte {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(r.tunnels)) {
		m := r.tunnels[id]
		fmt.Fprintf(&b, "# tunnel %d %s %s\n", id, m.Path, m.Subprotocol)
	}
	j := trace.NewJSONL(&b)
	for _, it := range r.items {
		if it.x != nil {
			j.HTTP(*it.x, nil)
			continue
		}
		j.Message(it.m)
	}
	return []byte(b.String())
}
