package tunnel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// tracedProxy serves the --pass values with Config.OnHTTP set; each
// exchange arrives on the channel returned.
func tracedProxy(t *testing.T, traceBytes int, passes ...string) (string, <-chan HTTPExchange) {
	t.Helper()
	xs := make(chan HTTPExchange, 16)
	proxy, _ := serveConfig(t, Config{Table: flagTable(t, passes...), TraceBytes: traceBytes,
		OnHTTP: func(x HTTPExchange) { xs <- x }})
	return proxy, xs
}

// TestPlainTraced: a POST that takes the plain path (the rule's backend is
// ws://, as a Socket.IO polling request's is) is reported once, with its
// request, its answer and both bodies as they passed.
func TestPlainTraced(t *testing.T) {
	t.Parallel()
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Got", string(body))
		io.WriteString(w, "ok")
	}))
	proxy, xs := tracedProxy(t, 0, "/socket.io/ ws://"+backend+"/socket.io/")
	target := "/socket.io/?EIO=4&transport=polling&sid=abc"
	resp, err := http.Post("http://"+proxy+target, "text/plain;charset=UTF-8", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "ok" {
		t.Fatalf("POST = %d %q; want 200 ok", resp.StatusCode, got)
	}
	x := <-xs
	checks := []struct{ name, got, want string }{
		{"Method", x.Method, "POST"},
		{"Target", x.Target, target},
		{"URL", x.URL, "http://" + proxy + target},
		{"Proto", x.Proto, "HTTP/1.1"},
		{"Route", x.Route, "--pass 1:1 /socket.io/"},
		{"Backend", x.Backend, "ws://" + backend + target},
		{"Status", fmt.Sprint(x.Status), "200"},
		{"Aborted", fmt.Sprint(x.Aborted), "false"},
		{"Request Content-Type", x.RequestHeader.Get("Content-Type"), "text/plain;charset=UTF-8"},
		{"Response X-Got", x.ResponseHeader.Get("X-Got"), "40"},
		{"Response Content-Type", x.ResponseHeader.Get("Content-Type"), "text/html"},
		{"Request", fmt.Sprintf("%q %d %v %q", x.Request.Data, x.Request.Len, x.Request.Truncated, x.Request.Encoding), `"40" 2 false ""`},
		{"Response", fmt.Sprintf("%q %d %v %q", x.Response.Data, x.Response.Len, x.Response.Truncated, x.Response.Encoding), `"ok" 2 false ""`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("exchange %s = %q; want %q", c.name, c.got, c.want)
		}
	}
	if host, _, err := net.SplitHostPort(x.Client); err != nil || host != "127.0.0.1" {
		t.Errorf("exchange Client = %q; want 127.0.0.1:PORT", x.Client)
	}
	if x.Time.IsZero() || x.Wait <= 0 || x.Wait > x.Duration {
		t.Errorf("exchange Time %v, Wait %v, Duration %v; want a time and 0 < Wait <= Duration", x.Time, x.Wait, x.Duration)
	}
	select {
	case x := <-xs:
		t.Errorf("a second exchange for one request: %+v", x)
	default:
	}
}

// TestPlainTracedBytesUnchanged: with tracing on, the backend gets the
// request body and the client the answer byte for byte, whatever their
// size and framing (chunked or with a length), while the trace keeps
// only the first TraceBytes of each and says how much passed.
func TestPlainTracedBytesUnchanged(t *testing.T) {
	t.Parallel()
	big := make([]byte, 1<<20+7)
	rand.Read(big)
	// The backend answers the body it got, reversed, so that what the
	// client gets depends on every byte the backend got.
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for i, j := 0, len(body)-1; i < j; i, j = i+1, j-1 {
			body[i], body[j] = body[j], body[i]
		}
		if r.URL.Query().Get("length") == "1" {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		}
		for len(body) > 0 { // several writes: chunked unless a length was set
			n := min(len(body), 10000)
			w.Write(body[:n])
			body = body[n:]
		}
	}))
	traced, xs := tracedProxy(t, 100, "/ ws://"+backend+"/")
	untraced, _ := startProxy(t, "/ ws://"+backend+"/")
	want := bytes.Clone(big)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	for _, length := range []string{"0", "1"} {
		answers := map[string]*http.Response{}
		bodies := map[string][]byte{}
		for name, proxy := range map[string]string{"traced": traced, "untraced": untraced} {
			resp, err := http.Post("http://"+proxy+"/echo?length="+length, "application/octet-stream", bytes.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			bodies[name], err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			answers[name] = resp
		}
		if !bytes.Equal(bodies["traced"], want) || !bytes.Equal(bodies["untraced"], want) {
			t.Errorf("length=%s: the client got %d bytes traced, %d untraced, not the %d the backend sent", length, len(bodies["traced"]), len(bodies["untraced"]), len(want))
		}
		a, b := answers["traced"], answers["untraced"]
		a.Header.Del("Date")
		b.Header.Del("Date")
		if a.StatusCode != b.StatusCode || fmt.Sprint(a.Header) != fmt.Sprint(b.Header) || fmt.Sprint(a.TransferEncoding) != fmt.Sprint(b.TransferEncoding) {
			t.Errorf("length=%s: traced answer %d %v %v; untraced %d %v %v", length, a.StatusCode, a.Header, a.TransferEncoding, b.StatusCode, b.Header, b.TransferEncoding)
		}
		x := <-xs
		if !bytes.Equal(x.Request.Data, big[:100]) || x.Request.Len != int64(len(big)) || !x.Request.Truncated {
			t.Errorf("length=%s: Request = %d bytes kept, Len %d, Truncated %v; want the first 100, %d, true", length, len(x.Request.Data), x.Request.Len, x.Request.Truncated, len(big))
		}
		if !bytes.Equal(x.Response.Data, want[:100]) || x.Response.Len != int64(len(want)) || !x.Response.Truncated {
			t.Errorf("length=%s: Response = %d bytes kept, Len %d, Truncated %v; want the first 100, %d, true", length, len(x.Response.Data), x.Response.Len, x.Response.Truncated, len(want))
		}
	}
}

// TestPlainTracedLongPoll: a long poll's answer streams through a traced
// proxy as it comes. The backend writes its header and a first chunk,
// then waits until the client has read that chunk: were the proxy to
// hold the answer back, the test would hang until its deadline. The
// exchange is reported once, at the end, with the whole answer.
func TestPlainTracedLongPoll(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		io.WriteString(w, "2")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "\x1e42[\"chat\",\"hi\"]")
	}))
	proxy, xs := tracedProxy(t, 0, "/ ws://"+backend+"/")
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://"+proxy+"/socket.io/?EIO=4&transport=polling&sid=s1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "2" {
		t.Fatalf("first byte of the poll = %q, %v; want 2", first, err)
	}
	select {
	case x := <-xs:
		t.Fatalf("exchange reported before its answer ended: %+v", x)
	default:
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "\x1e42[\"chat\",\"hi\"]" {
		t.Fatalf("rest of the poll = %q, %v", rest, err)
	}
	x := <-xs
	if string(x.Response.Data) != "2\x1e42[\"chat\",\"hi\"]" || x.Request.Len != 0 || x.Method != "GET" {
		t.Errorf("exchange %s, request %d bytes, answer %q; want GET, 0, the whole answer", x.Method, x.Request.Len, x.Response.Data)
	}
}

// TestPlainTracedCompressed: a gzip answer passes as the backend sent it
// and is traced as sent, marked with its encoding.
func TestPlainTracedCompressed(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, strings.Repeat("hello ", 100))
	zw.Close()
	backend := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	}))
	proxy, xs := tracedProxy(t, 0, "/ ws://"+backend+"/")
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+proxy+"/page", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, gz.Bytes()) {
		t.Errorf("the client got %d bytes, not the %d gzip bytes the backend sent", len(got), gz.Len())
	}
	x := <-xs
	if x.Response.Encoding != "gzip" || !bytes.Equal(x.Response.Data, gz.Bytes()) || x.Request.Encoding != "" {
		t.Errorf("Response Encoding %q, Data % x; Request Encoding %q; want gzip, the bytes as sent, none", x.Response.Encoding, x.Response.Data, x.Request.Encoding)
	}
}

// TestPlainTracedAborted: an answer whose backend goes away halfway is cut
// short (the reverse proxy aborts the handler); it is reported all the
// same, with what passed, marked Aborted.
func TestPlainTracedAborted(t *testing.T) {
	t.Parallel()
	backend := rawBackend(t, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		c.Close()
	})
	proxy, xs := tracedProxy(t, 0, "/ ws://"+backend+"/")
	resp, err := http.Get("http://" + proxy + "/x")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("the client read a whole answer from a backend that sent 10 of 100 bytes")
	}
	x := <-xs
	if !x.Aborted || x.Status != 200 || string(x.Response.Data) != "0123456789" {
		t.Errorf("exchange Aborted %v, Status %d, Response %q; want true, 200, the 10 bytes that passed", x.Aborted, x.Status, x.Response.Data)
	}
}

// TestPlainUntracedUntouched: without OnHTTP the request body is read by
// the reverse proxy with nothing of wsgate's in between; with it, through
// the tee. The allocations of one request (an in-memory backend, so that
// every one is the plain path's) are logged both ways: untraced, the same
// 54 as before OnHTTP existed (Go 1.26).
func TestPlainUntracedUntouched(t *testing.T) {
	for _, traced := range []bool{false, true} {
		cfg := Config{Table: flagTable(t, "/ ws://127.0.0.1:1/")}
		if traced {
			cfg.OnHTTP = func(HTTPExchange) {}
		}
		srv := New(cfg)
		srv.proxy.Transport = stubTransport{"ok"}
		body := &spyBody{r: strings.NewReader("40")}
		r := httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling", nil)
		r.Body, r.ContentLength = body, 2
		srv.ServeHTTP(httptest.NewRecorder(), r)
		if body.reads == 0 || body.teed != traced {
			t.Errorf("traced %v: body read %d times, through the tee: %v; want a tee only when traced", traced, body.reads, body.teed)
		}
		allocs := testing.AllocsPerRun(100, func() {
			r := httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling", strings.NewReader("40"))
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != 200 || w.Body.String() != "ok" {
				t.Fatalf("answer %d %q", w.Code, w.Body)
			}
		})
		t.Logf("traced %v: %v allocations per plain request (in-memory backend, request and recorder included)", traced, allocs)
	}
}

// spyBody is a request body that notes whether a bodyTee called its Read.
type spyBody struct {
	r     io.Reader
	reads int
	teed  bool
}

func (b *spyBody) Read(p []byte) (int, error) {
	b.reads++
	pc := make([]uintptr, 32)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		b.teed = b.teed || strings.Contains(f.Function, "(*bodyTee).Read")
		if !more {
			break
		}
	}
	return b.r.Read(p)
}

func (b *spyBody) Close() error { return nil }

// stubTransport answers every request in memory, so that the plain path
// runs on the caller's goroutine alone.
type stubTransport struct{ body string }

func (st stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		Body:          io.NopCloser(strings.NewReader(st.body)),
		ContentLength: int64(len(st.body)), Request: r}, nil
}

// TestPlainTracedFallbackInterim: an upgrade the rule does not take
// (h2c on a WebSocket rule) falls back to plain HTTP and is traced like
// any plain request; an interim 103 from the backend passes to the client
// and stays out of the exchange, whose header is the final answer's.
func TestPlainTracedFallbackInterim(t *testing.T) {
	t.Parallel()
	backend := rawBackend(t, func(c net.Conn, br *bufio.Reader, r *http.Request) {
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\nfine")
	})
	proxy, xs := tracedProxy(t, 0, "/ ws://"+backend+"/")
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /h2 HTTP/1.1\r\nHost: wsgate.test\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var answers []string
	for len(answers) < 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %q: %v", answers, err)
		}
		body, _ := io.ReadAll(resp.Body)
		answers = append(answers, fmt.Sprintf("%d %q", resp.StatusCode, body))
	}
	if answers[0] != `103 ""` || answers[1] != `200 "fine"` {
		t.Errorf("the client got %q; want the 103, then 200 fine", answers)
	}
	x := <-xs
	if x.Status != 200 || x.RequestHeader.Get("Upgrade") != "h2c" || x.ResponseHeader.Get("Link") != "" ||
		x.ResponseHeader.Get("X-Final") != "yes" || string(x.Response.Data) != "fine" {
		t.Errorf("exchange status %d, request Upgrade %q, answer Link %q, X-Final %q, body %q; want 200, h2c, none, yes, fine",
			x.Status, x.RequestHeader.Get("Upgrade"), x.ResponseHeader.Get("Link"), x.ResponseHeader.Get("X-Final"), x.Response.Data)
	}
}
