package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/rules"
)

// fuzzBound is how long one fuzz iteration may take before the proxy is
// said to hang: every connection must have answered and ended by then.
const fuzzBound = 5 * time.Second

// panicLog is a slog handler that remembers the records that report a
// recovered panic: net/http recovers a handler's panic and logs it through
// http.Server.ErrorLog, which the Server routes to its Logger, so a fuzz
// target would otherwise never see one.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (*panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		first, _, _ := strings.Cut(r.Message, "\n")
		p.panics = append(p.panics, first)
		p.mu.Unlock()
	}
	if *verbose {
		return slog.NewTextHandler(os.Stderr, nil).Handle(context.Background(), r)
	}
	return nil
}
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicLog) WithGroup(string) slog.Handler      { return p }

func (p *panicLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.panics
	p.panics = nil
	return out
}

// wsAccept is Sec-WebSocket-Accept for key, computed here from RFC 6455
// §4.2.2 rather than with the package's acceptKey, so that the oracle does
// not share the code it checks.
func wsAccept(key string) string {
	h := sha1.New()
	io.WriteString(h, key)
	io.WriteString(h, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// The grammar a request head the proxy writes must follow (RFC 9112 §3,
// §5): method SP origin-form SP HTTP/1.1, then name: value lines whose
// values hold no control character but HTAB. The target may hold bytes
// from 0x80 up (obs-text) besides visible ASCII, as Apache's does: 2.4.71
// passes "GET /?\x80" to the backend as "/mapped/?\x80", unescaped (its
// ap_scan_vchar_obstext; rules.isVisible). Go's regexp reads such a byte
// as U+FFFD, so the class is "neither control nor space".
var (
	requestLineRE = regexp.MustCompile(`^[!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]+ (/[^\x00-\x20\x7f]*) HTTP/1\.1$`)
	headerLineRE  = regexp.MustCompile(`^[!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]+:[ \t]?[^\x00-\x08\x0a-\x1f\x7f]*$`)
)

// strictHead reads one request head from br and returns it, with an error
// saying how it breaks the grammar above: a bare CR or LF, a request line
// or header line of the wrong form, a target outside prefix, framing that
// could be read two ways, or not exactly one Host.
func strictHead(br *bufio.Reader, prefix string) ([]byte, error) {
	var head bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		head.Write(line)
		if err != nil {
			if head.Len() == 0 {
				return nil, io.EOF // no request: the connection ended
			}
			return head.Bytes(), fmt.Errorf("incomplete head %q: %w", head.Bytes(), err)
		}
		if head.Len() > 1<<20 {
			return head.Bytes(), errors.New("head over 1 MiB")
		}
		if len(line) == 2 && line[0] == '\r' {
			break
		}
	}
	lines := strings.Split(strings.TrimSuffix(head.String(), "\r\n\r\n"), "\r\n")
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return head.Bytes(), fmt.Errorf("bare CR or LF in line %q", l)
		}
	}
	m := requestLineRE.FindStringSubmatch(lines[0])
	if m == nil {
		return head.Bytes(), fmt.Errorf("malformed request line %q", lines[0])
	}
	if !strings.HasPrefix(m[1], prefix) {
		return head.Bytes(), fmt.Errorf("request target %q outside the mapped %q", m[1], prefix)
	}
	hosts, cl, te := 0, 0, 0
	for _, l := range lines[1:] {
		if !headerLineRE.MatchString(l) {
			return head.Bytes(), fmt.Errorf("malformed header line %q", l)
		}
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(name) {
		case "host":
			hosts++
		case "content-length":
			cl++
		case "transfer-encoding":
			te++
		}
	}
	if hosts != 1 || cl > 1 || cl+te > 1 {
		return head.Bytes(), fmt.Errorf("%d Host, %d Content-Length, %d Transfer-Encoding lines in %q", hosts, cl, te, head.Bytes())
	}
	return head.Bytes(), nil
}

// strictBackend is a backend that checks every request head it receives
// with strictHead. It answers a WebSocket upgrade with a valid 101 and then
// discards what comes until EOF, and any other request with 200 "ok",
// keeping the connection alive for the proxy's next plain request.
type strictBackend struct {
	addr string
	mu   sync.Mutex
	errs []string
	n    int
}

func startStrictBackend(t testing.TB, prefix string) *strictBackend {
	b := &strictBackend{}
	b.addr = rawConnBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			head, err := strictHead(br, prefix)
			if err == io.EOF {
				return
			}
			b.mu.Lock()
			b.n++
			if err != nil {
				b.errs = append(b.errs, err.Error())
			}
			b.mu.Unlock()
			if err != nil {
				return
			}
			r, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(head), br)))
			if err != nil {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("net/http cannot read %q: %v", head, err))
				b.mu.Unlock()
				return
			}
			if r.Header.Get("Upgrade") != "" {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "+r.Header.Get("Upgrade")+
					"\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+wsAccept(r.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
				io.Copy(io.Discard, br)
				return
			}
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			// A body read with http.ReadRequest's buffering may have
			// consumed bytes of the next request: that cannot be put
			// back, so such a connection ends here.
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	return b
}

// take returns the violations and the number of heads since the last call.
func (b *strictBackend) take() ([]string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	errs, n := b.errs, b.n
	b.errs, b.n = nil, 0
	return errs, n
}

// rawConnBackend accepts TCP connections and hands each to serve, closing
// them all when the test ends.
func rawConnBackend(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// fuzzRules maps everything under /mapped/ on the backend, through a prefix
// rule, a nocanon rule and a ProxyPassMatch whose $1 comes from the path.
func fuzzRules(t testing.TB, backend string) *rules.Table {
	t.Helper()
	src := fmt.Sprintf(`ProxyPassMatch "^/pm/([^/]*)/(.*)$" "ws://%[1]s/mapped/pm/$2/k/$1"
ProxyPass "/nc/" "ws://%[1]s/mapped/nc/" nocanon
ProxyPass "/bin/" "ws://%[1]s/mapped/bin/" upgrade=ANY
ProxyPass "/" "ws://%[1]s/mapped/"
`, backend)
	table, err := rules.ParseFile("fuzz.conf", []byte(src), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// FuzzUpgradeRequest writes arbitrary bytes to a running proxy, as a
// client would, in front of a backend that checks every request head it
// receives. The proxy must never panic, must send the backend only
// well-formed HTTP/1.1 heads aimed at the mapped target with no CR or LF
// injected, and must answer and end the connection within fuzzBound once
// the client has sent everything (half-close).
func FuzzUpgradeRequest(f *testing.F) {
	backend := startStrictBackend(f, "/mapped/")
	logs := &panicLog{}
	proxy, _ := serveConfig(f, Config{
		Table:           fuzzRules(f, backend.addr),
		Logger:          slog.New(logs),
		ServerName:      "wsgate.test",
		ResponseTimeout: 2 * time.Second,
		ConnectTimeout:  2 * time.Second,
	})
	f.Add([]byte("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	f.Add([]byte("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(fuzzBound))
		// Write errors are fine: the proxy may answer and close before
		// it has read everything.
		c.Write(data)
		// Read an answer to each complete request, then half-close: an
		// EOF from the client earlier would cancel the requests in
		// flight (net/http) before they reach the backend.
		br := bufio.NewReader(c)
		for _, req := range completeRequests(data) {
			resp, err := http.ReadResponse(br, req)
			for err == nil && resp.StatusCode < 200 && resp.StatusCode != 101 {
				resp, err = http.ReadResponse(br, req)
			}
			if err != nil || resp.StatusCode == 101 {
				break // closed, or a tunnel: the rest is tunnel bytes
			}
			io.Copy(io.Discard, resp.Body)
			if resp.Close {
				break
			}
		}
		c.(*net.TCPConn).CloseWrite()
		_, err = io.Copy(io.Discard, br)
		if isTimeout(err) {
			t.Fatalf("the proxy neither answered nor closed within %v", fuzzBound)
		}
		c.Close()
		if p := logs.take(); len(p) > 0 {
			t.Fatalf("the proxy panicked: %q", p)
		}
		if errs, _ := backend.take(); len(errs) > 0 {
			t.Fatalf("the backend received what the proxy should never build: %q", errs)
		}
	})
}

// completeRequests returns the requests net/http reads from data, in
// order, up to the first it cannot read.
func completeRequests(data []byte) []*http.Request {
	var reqs []*http.Request
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return reqs
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return reqs
		}
		reqs = append(reqs, r)
	}
}

// backendAnswer is a raw backend that answers each upgrade request with
// the next bytes from answers, half-closes, and reports on after what it
// read from the connection behind the request until EOF.
type backendAnswer struct {
	addr    string
	answers chan []byte
	after   chan string
}

func startBackendAnswer(t testing.TB) *backendAnswer {
	b := &backendAnswer{answers: make(chan []byte, 1), after: make(chan string, 1)}
	b.addr = rawConnBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		var answer []byte
		select {
		case answer = <-b.answers:
		case <-time.After(fuzzBound):
			return
		}
		c.Write(answer)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(fuzzBound))
		rest, _ := io.ReadAll(br)
		b.after <- string(rest)
	})
	return b
}

// validSwitch is the oracle of FuzzBackendResponse: the status of the
// backend's answer (-1 when it is not HTTP), whether it is a 101 that may
// open a WebSocket tunnel for testKey, and whether interim 1xx responses
// came before it (RFC 9110 §15.2).
func validSwitch(answer []byte) (status int, ok, interim bool) {
	br := bufio.NewReader(bytes.NewReader(answer))
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
		interim = true
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		return -1, false, interim
	}
	up := resp.Header.Values("Upgrade")
	return resp.StatusCode, resp.StatusCode == 101 && len(up) == 1 && strings.EqualFold(up[0], "websocket") &&
		resp.Header.Get("Sec-WebSocket-Accept") == wsAccept(testKey), interim
}

const smuggleMarker = "SMUGGLED / HTTP/1.1\r\n\r\n"

// FuzzBackendResponse answers a valid WebSocket upgrade with arbitrary
// bytes from the backend. A tunnel may open only when they start with a
// 101 switching to websocket with the right Sec-WebSocket-Accept (computed
// here independently). Otherwise the client gets an ordinary response, 502
// when the bytes are not HTTP, and what it sends afterwards never reaches
// the backend.
func FuzzBackendResponse(f *testing.F) {
	backend := startBackendAnswer(f)
	logs := &panicLog{}
	proxy, srv := serveConfig(f, Config{
		Table:           flagTable(f, "/ ws://"+backend.addr+"/"),
		Logger:          slog.New(logs),
		ResponseTimeout: 2 * time.Second,
	})
	f.Add([]byte(switchHead("websocket", wsAccept(testKey))))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		status, valid, interim := validSwitch(answer)
		before := srv.Snapshot().Total
		backend.answers <- answer
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(fuzzBound))
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", testKey)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		for err == nil && resp.StatusCode < 200 && resp.StatusCode != 101 {
			resp, err = http.ReadResponse(br, nil) // interim responses
		}
		got := 0
		if err == nil {
			got = resp.StatusCode
			if got != 101 {
				io.Copy(io.Discard, resp.Body)
			}
		}
		c.Write([]byte(smuggleMarker))
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, br)
		c.Close()

		var after string
		select {
		case after = <-backend.after:
		case <-time.After(fuzzBound):
			select {
			case <-backend.answers: // the proxy never reached the backend
			default:
			}
			t.Fatalf("the backend connection did not end within %v", fuzzBound)
		}
		tunnels := srv.Snapshot().Total - before
		if p := logs.take(); len(p) > 0 {
			t.Fatalf("the proxy panicked: %q", p)
		}
		smuggled := strings.Contains(after, "SMUGGLED")
		// Interim responses before the answer may be skipped (the answer
		// then counts) or refused as a whole with a 502: both are safe.
		refusedInterim := interim && tunnels == 0 && got == http.StatusBadGateway
		switch {
		case tunnels != 0 && !valid:
			t.Fatalf("answer %q opened a tunnel", answer)
		case valid && (tunnels != 1 || got != 101) && !refusedInterim:
			t.Fatalf("answer %q: client got %d, %d tunnels; want 101 and a tunnel", answer, got, tunnels)
		case tunnels == 0 && got == 101:
			t.Fatalf("answer %q: client got a 101 without a tunnel", answer)
		case tunnels == 0 && smuggled:
			t.Fatalf("answer %q: the client's next bytes reached the backend: %q", answer, after)
		case tunnels == 1 && !smuggled:
			t.Fatalf("answer %q: the tunnel did not carry the client's bytes (backend read %q)", answer, after)
		case status == -1 && got != http.StatusBadGateway:
			t.Fatalf("answer %q is not HTTP: client got %d; want 502", answer, got)
		case status == 101 && !valid && got != http.StatusBadGateway:
			t.Fatalf("answer %q is not a valid switch: client got %d; want 502", answer, got)
		case status >= 200 && got != status && !refusedInterim:
			t.Fatalf("answer %q: client got %d; want the backend's %d", answer, got, status)
		}
	})
}
