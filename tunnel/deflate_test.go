package tunnel

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/wstest"
)

func TestNegotiatedDeflate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ext  string
		want [2]deflateParams
		ok   bool
	}{
		{"", [2]deflateParams{}, false},
		{"x-webkit-deflate-frame", [2]deflateParams{}, false},
		{"permessage-deflate", [2]deflateParams{{true, 15}, {true, 15}}, true},
		{"foo, Permessage-Deflate; client_no_context_takeover", [2]deflateParams{{false, 15}, {true, 15}}, true},
		{"permessage-deflate; server_no_context_takeover; server_max_window_bits=10", [2]deflateParams{{true, 15}, {false, 10}}, true},
		{`permessage-deflate; client_max_window_bits="9"; server_max_window_bits=99`, [2]deflateParams{{true, 9}, {true, 15}}, true},
	} {
		h := http.Header{}
		if tc.ext != "" {
			h.Set("Sec-WebSocket-Extensions", tc.ext)
		}
		got, ok := negotiatedDeflate(h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("negotiatedDeflate(%q) = %v, %v; want %v, %v", tc.ext, got, ok, tc.want, tc.ok)
		}
	}
}

// compressor deflates messages as a permessage-deflate peer does: one
// flate stream, flushed after each message, the tail removed; a new stream
// per message without context takeover.
type compressor struct {
	takeover bool
	buf      bytes.Buffer
	w        *flate.Writer
}

func (c *compressor) compress(msg []byte) []byte {
	if c.w == nil || !c.takeover {
		c.buf.Reset()
		c.w, _ = flate.NewWriter(&c.buf, flate.BestSpeed)
	}
	start := c.buf.Len()
	c.w.Write(msg)
	c.w.Flush()
	out := bytes.Clone(c.buf.Bytes()[start:])
	return bytes.TrimSuffix(out, deflateTail)
}

// traced is a tunnel whose frame readers inflate with the given
// parameters and record every message whole.
type traced struct {
	tun  *Tunnel
	mu   sync.Mutex
	msgs []Message
}

func newTraced(p [2]deflateParams, traceMax int) *traced {
	tr := &traced{tun: &Tunnel{ID: 1}}
	tr.tun.watch(true, func(m Message) {
		m.Payload = bytes.Clone(m.Payload)
		tr.mu.Lock()
		tr.msgs = append(tr.msgs, m)
		tr.mu.Unlock()
	}, traceMax)
	for d := range tr.tun.frames {
		tr.tun.frames[d].inf = newInflater(p[d], traceMax)
	}
	return tr
}

// feed passes stream in pieces of chunk bytes, checking that none is changed.
func (tr *traced) feed(t *testing.T, d Direction, stream []byte, chunk int) {
	t.Helper()
	orig := bytes.Clone(stream)
	for p := stream; len(p) > 0; p = p[min(chunk, len(p)):] {
		tr.tun.frames[d].feed(p[:min(chunk, len(p))])
	}
	if !bytes.Equal(stream, orig) {
		t.Fatal("the frame reader changed the relayed bytes")
	}
}

// sample is n bytes of text that compresses, different for each i.
func sample(i, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"seq":%d,"item":%d,"name":"message %d"},`, i, b.Len(), i%7)
	}
	return b.Bytes()[:n]
}

func TestInflateContextTakeover(t *testing.T) {
	t.Parallel()
	mask := []byte{9, 8, 7, 6}
	for _, tc := range []struct {
		name     string
		params   deflateParams
		d        Direction
		fragment bool
	}{
		{"up takeover", deflateParams{true, 15}, Up, false},
		{"down takeover", deflateParams{true, 15}, Down, false},
		{"up no takeover", deflateParams{false, 15}, Up, false},
		{"up takeover fragmented", deflateParams{true, 15}, Up, true},
		{"down no takeover fragmented", deflateParams{false, 15}, Down, true},
	} {
		for _, chunk := range []int{1, 7, 1000, 1 << 20} {
			t.Run(fmt.Sprintf("%s/chunks of %d", tc.name, chunk), func(t *testing.T) {
				t.Parallel()
				var m []byte
				if tc.d == Up {
					m = mask
				}
				c := compressor{takeover: tc.params.takeover}
				var stream []byte
				var sent [][]byte
				for i := range 6 {
					msg := sample(i%3, 300+i*2000) // repeats: takeover matters
					if i == 4 {
						msg = nil // an empty message
					}
					sent = append(sent, msg)
					z := c.compress(msg)
					if !tc.fragment || len(z) < 3 {
						stream = append(stream, frame(true, true, OpText, m, z)...)
						continue
					}
					// RSV1 on the first frame only (RFC 7692 §6.1), a ping between.
					k := len(z) / 3
					stream = append(stream, frame(false, true, OpText, m, z[:k])...)
					stream = append(stream, frame(true, false, OpPing, m, []byte("p"))...)
					stream = append(stream, frame(false, false, OpContinuation, m, z[k:2*k])...)
					stream = append(stream, frame(true, false, OpContinuation, m, z[2*k:])...)
				}
				stream = append(stream, frame(true, false, OpText, m, []byte("plain"))...)
				sent = append(sent, []byte("plain"))
				var p [2]deflateParams
				p[tc.d] = tc.params
				tr := newTraced(p, 1<<20)
				tr.feed(t, tc.d, stream, chunk)
				var data []Message
				for _, msg := range tr.msgs {
					if msg.Opcode == OpText {
						data = append(data, msg)
					}
				}
				if len(data) != len(sent) {
					t.Fatalf("%d messages; want %d", len(data), len(sent))
				}
				for i, msg := range data {
					compressed := i < len(sent)-1
					if !bytes.Equal(msg.Payload, sent[i]) || msg.Len != int64(len(sent[i])) ||
						msg.Inflated != compressed || msg.Compressed != compressed || msg.Undecodable || msg.Truncated {
						t.Errorf("message %d: %d bytes %.40q, len %d, inflated %v, undecodable %v; want %.40q (%d)",
							i, len(msg.Payload), msg.Payload, msg.Len, msg.Inflated, msg.Undecodable, sent[i], len(sent[i]))
					}
					if compressed && len(sent[i]) > 1000 && msg.WireLen >= msg.Len {
						t.Errorf("message %d: wire length %d, plain %d", i, msg.WireLen, msg.Len)
					}
				}
			})
		}
	}
}

// TestInflateWindowBits: with server_max_window_bits=9 the inflater keeps a
// 512-byte window, which is all that a compressor so bound refers to.
func TestInflateWindowBits(t *testing.T) {
	t.Parallel()
	tr := newTraced([2]deflateParams{Down: {true, 9}}, 64)
	c := compressor{takeover: true}
	sentence := strings.Repeat("a sentence that the next message repeats. ", 4)
	for i := range 5 {
		msg := fmt.Sprintf("%d %s", i, sentence)
		tr.feed(t, Down, frame(true, true, OpText, nil, c.compress([]byte(msg))), 5)
		m := tr.msgs[len(tr.msgs)-1]
		if !m.Inflated || m.Len != int64(len(msg)) || string(m.Payload) != msg[:64] || !m.Truncated {
			t.Fatalf("message %d: %+v; want %q inflated, cut at 64", i, m, msg)
		}
	}
	if w := tr.tun.frames[Down].inf.window; cap(w) != 512 {
		t.Errorf("window of %d bytes; want 512", cap(w))
	}
}

// TestInflateCorrupt: a stream the inflater cannot follow marks that
// direction's message (and with context takeover every later compressed
// one) undecodable; without takeover the next message decodes again. The
// other direction is not affected, and the bytes never change (feed).
func TestInflateCorrupt(t *testing.T) {
	t.Parallel()
	tr := newTraced([2]deflateParams{Up: {true, 15}, Down: {false, 15}}, 1<<10)
	for _, d := range []Direction{Up, Down} {
		c := compressor{takeover: d == Up}
		var m []byte
		if d == Up {
			m = []byte{1, 2, 3, 4}
		}
		for i := range 4 {
			z := c.compress(sample(i, 500))
			if i == 1 {
				z = bytes.Repeat([]byte{0xff}, len(z)) // not deflate
			}
			tr.feed(t, d, frame(true, true, OpBinary, m, z), 3)
		}
	}
	var got []string
	for _, m := range tr.msgs {
		s := fmt.Sprintf("%s inflated=%v undecodable=%v", m.Dir, m.Inflated, m.Undecodable)
		if m.Inflated && !bytes.Equal(m.Payload, sample(len(got)%4, 500)) {
			s += " wrong payload"
		}
		if m.Undecodable && (m.Len != m.WireLen || m.Len == 500) {
			s += fmt.Sprintf(" len %d", m.Len)
		}
		got = append(got, s)
	}
	want := []string{
		"up inflated=true undecodable=false",
		"up inflated=false undecodable=true",
		"up inflated=false undecodable=true", // takeover: the dictionary is lost
		"up inflated=false undecodable=true",
		"down inflated=true undecodable=false",
		"down inflated=false undecodable=true",
		"down inflated=true undecodable=false", // no takeover: each message stands alone
		"down inflated=true undecodable=false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestInflateBomb: a message that inflates past the limit is undecodable,
// and the inflater holds no more than its window and traceMax bytes
// however much the message inflates to.
func TestInflateBomb(t *testing.T) {
	t.Parallel()
	tr := newTraced([2]deflateParams{{true, 15}, {true, 15}}, 100)
	inf := tr.tun.frames[Up].inf
	inf.limit = 4 << 20
	c := compressor{takeover: true}
	bomb := c.compress(make([]byte, 16<<20))
	if len(bomb) > 100<<10 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	tr.feed(t, Up, frame(true, true, OpBinary, []byte{1, 2, 3, 4}, bomb), 1<<20)
	m := tr.msgs[0]
	if !m.Undecodable || m.Inflated || m.Len != int64(len(bomb)) {
		t.Errorf("bomb: undecodable %v, inflated %v, len %d; want undecodable, len %d", m.Undecodable, m.Inflated, m.Len, len(bomb))
	}
	if cap(inf.window) > 32<<10 || cap(inf.plain) > 100 || inf.run != nil {
		t.Errorf("inflater holds a window of %d bytes, %d of payload, run %v; want at most 32 KiB, 100, none", cap(inf.window), cap(inf.plain), inf.run)
	}
	// Under the limit, the same holds.
	tr2 := newTraced([2]deflateParams{{true, 15}, {true, 15}}, 100)
	tr2.feed(t, Up, frame(true, true, OpBinary, []byte{1, 2, 3, 4}, bomb), 1<<20)
	inf = tr2.tun.frames[Up].inf
	if m := tr2.msgs[0]; !m.Inflated || m.Len != 16<<20 || m.WireLen != int64(len(bomb)) || len(m.Payload) != 100 {
		t.Errorf("16 MiB message: inflated %v, len %d, wire %d, %d bytes shown", m.Inflated, m.Len, m.WireLen, len(m.Payload))
	}
	if cap(inf.window) > 32<<10 || cap(inf.plain) > 100 {
		t.Errorf("inflater holds a window of %d bytes, %d of payload; want at most 32 KiB, 100", cap(inf.window), cap(inf.plain))
	}
}

// TestInflateAbort: a tunnel that closes in the middle of a compressed
// message ends the message's goroutine (goleak in TestMain checks it).
func TestInflateAbort(t *testing.T) {
	t.Parallel()
	tr := newTraced([2]deflateParams{{true, 15}, {true, 15}}, 100)
	z := (&compressor{takeover: true}).compress(sample(1, 5000))
	f := frame(true, true, OpBinary, nil, z)
	tr.feed(t, Down, f[:len(f)/2], len(f))
	tr.tun.frames[Down].inf.abort()
	tr.feed(t, Down, f[len(f)/2:], len(f))
	if m := tr.msgs[0]; !m.Undecodable {
		t.Errorf("message cut by the close: %+v; want undecodable", m)
	}
}

// TestTraceInflatesThroughProxy: coder/websocket at both ends, compressing
// with context takeover through a traced wsgate, the negotiation
// untouched: every traced message is what was sent.
func TestTraceInflatesThroughProxy(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, wstest.Echo{Compression: websocket.CompressionContextTakeover, Prefix: "echo "}.Handler())
	var mu sync.Mutex
	var got []Message
	proxy, _ := serveConfig(t, Config{
		Table: flagTable(t, "/ ws://"+backend+"/"), Logger: slog.New(slog.DiscardHandler),
		TraceBytes: 1 << 20,
		OnMessage: func(m Message) {
			m.Payload = bytes.Clone(m.Payload)
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		},
	})
	ctx := testContext(t)
	c, resp, err := websocket.Dial(ctx, "ws://"+proxy+"/", &websocket.DialOptions{
		CompressionMode: websocket.CompressionContextTakeover, CompressionThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("the client negotiated %q: the trace must not strip compression", ext)
	}
	var want []string
	for i := range 20 {
		msg := string(sample(i%4, 10+i*i*300))
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, echo, err := c.Read(ctx); err != nil || string(echo) != "echo "+msg {
			t.Fatalf("echo %d: %d bytes, %v", i, len(echo), err)
		}
		want = append(want, "up "+msg, "down echo "+msg)
	}
	c.Close(websocket.StatusNormalClosure, "")
	mu.Lock()
	defer mu.Unlock()
	var seen []string
	var compressed int
	for _, m := range got {
		if m.Opcode != OpText {
			continue
		}
		seen = append(seen, m.Dir.String()+" "+string(m.Payload))
		if m.Compressed {
			compressed++
			if !m.Inflated || m.Undecodable || m.Len != int64(len(m.Payload)) {
				t.Errorf("%s message: inflated %v, undecodable %v, len %d for %d bytes", m.Dir, m.Inflated, m.Undecodable, m.Len, len(m.Payload))
			}
		}
	}
	if compressed < 20 {
		t.Errorf("%d compressed messages traced; want most of 40", compressed)
	}
	if len(seen) != len(want) {
		t.Fatalf("%d messages traced; want %d", len(seen), len(want))
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("message %d: %.60q; want %.60q", i, seen[i], want[i])
		}
	}
}

// BenchmarkTraceInflate is the frame reader's cost per message of a traced
// direction: a stream of 1 KiB JSON messages, compressed with context
// takeover ("deflate") or not ("plain"), masked as a client sends them.
func BenchmarkTraceInflate(b *testing.B) {
	for _, deflate := range []bool{false, true} {
		name := "plain"
		if deflate {
			name = "deflate"
		}
		b.Run(name, func(b *testing.B) {
			c := compressor{takeover: true}
			var msgs [][]byte
			for i := range 64 {
				p := sample(i, 1024)
				if deflate {
					p = c.compress(p)
				}
				msgs = append(msgs, frame(true, deflate, OpText, []byte{1, 2, 3, 4}, p))
			}
			tun := &Tunnel{ID: 1}
			tun.watch(true, func(Message) {}, 256)
			if deflate {
				tun.frames[Up].inf = newInflater(deflateParams{true, 15}, 256)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%64 == 0 && deflate { // the stream starts again: so must the window
					tun.frames[Up].inf.window = tun.frames[Up].inf.window[:0]
				}
				tun.frames[Up].feed(msgs[i%64])
			}
		})
	}
}

// TestTraceInflatesNodeWS traces Node's ws library talking to itself
// through the proxy, both sides compressing with context takeover: every
// message is traced inflated and equal to what was sent. It needs node
// and the ws package: WSGATE_DECODE_NODE_DIR names a prefix where npm
// installed it (.ci/run sets it); without it the test skips.
func TestTraceInflatesNodeWS(t *testing.T) {
	dir := os.Getenv("WSGATE_DECODE_NODE_DIR")
	node, err := exec.LookPath("node")
	if dir == "" || err != nil {
		t.Skip("needs node and WSGATE_DECODE_NODE_DIR with the ws package (npm install --prefix DIR ws)")
	}
	env := append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	traceRealPeers(t, env, node, "testdata/ws_deflate.js")
}

// TestTraceInflatesPython does the same with Python's websockets, which
// compresses by default (Debian: python3-websockets; .ci/run installs
// it). Without it the test skips.
func TestTraceInflatesPython(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Skip("needs python3 with the websockets package")
		}
	}
	if exec.Command(py, "-c", "import websockets").Run() != nil {
		t.Skip("needs python3's websockets package (apt-get install python3-websockets)")
	}
	traceRealPeers(t, os.Environ(), py, "testdata/py_deflate.py")
}

// traceRealPeers runs the script as a server ("server": it prints its
// port, echoes "echo "+message) and as a client ("client URL N") through
// a traced proxy, and checks that every message was compressed, traced
// inflated, and equal to what the peers sent and received.
func traceRealPeers(t *testing.T, env []string, interp, script string) {
	script, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(interp, script, "server")
	srv.Env = env
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%s server: %v", script, err)
	}
	var mu sync.Mutex
	var got []Message
	proxy, _ := serveConfig(t, Config{
		Table: flagTable(t, "/ ws://127.0.0.1:"+strings.TrimSpace(port)+"/"), Logger: slog.New(slog.DiscardHandler),
		TraceBytes: 1 << 20,
		OnMessage: func(m Message) {
			m.Payload = bytes.Clone(m.Payload)
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		},
	})
	const n = 30
	cli := exec.Command(interp, script, "client", "ws://"+proxy+"/", strconv.Itoa(n))
	cli.Env = env
	echoes, err := cli.Output()
	if err != nil {
		t.Fatalf("%s client: %v", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(echoes)), "\n")
	if len(lines) != n {
		t.Fatalf("the client printed %d echoes; want %d", len(lines), n)
	}
	mu.Lock()
	defer mu.Unlock()
	var up, down []string
	for _, m := range got {
		if m.Opcode != OpText {
			continue
		}
		if !m.Compressed || !m.Inflated || m.Undecodable {
			t.Errorf("%s message %.40q: compressed %v, inflated %v, undecodable %v; the peers compress every message", m.Dir, m.Payload, m.Compressed, m.Inflated, m.Undecodable)
		}
		if m.Dir == Up {
			up = append(up, string(m.Payload))
		} else {
			down = append(down, string(m.Payload))
		}
	}
	if !slices.Equal(down, lines) {
		t.Errorf("traced %d backend messages; they differ from the %d the client received", len(down), len(lines))
	}
	for i, u := range up {
		if i < len(lines) && "echo "+u != lines[i] {
			t.Errorf("traced client message %d = %.60q; the echo was %.60q", i, u, lines[i])
		}
	}
	if len(up) != n {
		t.Errorf("traced %d client messages; want %d", len(up), n)
	}
}
