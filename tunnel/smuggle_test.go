package tunnel

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/wsproto"
	"github.com/wsgate/wsgate/rules"
)

// sendRaw writes head (and whatever follows it) to addr and reads one
// response, skipping interim 1xx responses other than 101.
func sendRaw(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode < 200 && resp.StatusCode != 101 {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return c, br, resp
}

// recv receives from ch, failing the test after 5 s.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("the backend received nothing within 5s")
		panic("unreachable")
	}
}

const wsHeaders = "Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n"

// TestUpgradeHeaderVariants covers the forms of Upgrade and Connection
// that must not open a tunnel, and the one that must, as Apache decides:
// only the whole Upgrade value counts, Connection: upgrade is not required
// (APACHE.md §3, hdr-no-connection-upgrade, hdr-upgrade-list,
// hdr-upgrade-h2c).
func TestUpgradeHeaderVariants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		header  string
		tunnel  bool
		upgrade string // the Upgrade the backend must see
	}{
		{"Connection: Upgrade without Upgrade", "Connection: Upgrade\r\n", false, ""},
		{"Upgrade without Connection", "Upgrade: websocket\r\n", true, "websocket"},
		{"Upgrade: h2c", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false, ""},
		{"Upgrade: websocket, h2c", "Upgrade: websocket, h2c\r\nConnection: Upgrade\r\n", false, ""},
		{"two Upgrade lines", "Upgrade: websocket\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n", false, ""},
		{"Upgrade: WebSocket, any case", "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n", true, "WebSocket"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backend, seenc := recordingBackend(t)
			proxy, srv := startProxy(t, "/ ws://"+backend+"/")
			c, br, resp := sendRaw(t, proxy, "GET /v HTTP/1.1\r\nHost: x\r\n"+wsHeaders+tc.header+"\r\n")
			got := recv(t, seenc)
			if up := got.header.Get("Upgrade"); up != tc.upgrade {
				t.Errorf("backend saw Upgrade %q; want %q", up, tc.upgrade)
			}
			if got.header.Get("Http2-Settings") != "" {
				t.Errorf("backend saw HTTP2-Settings, a header named in Connection")
			}
			if !tc.tunnel {
				if resp.StatusCode != 200 || srv.Snapshot().Total != 0 {
					t.Fatalf("status %d, %d tunnels; want a plain 200 and no tunnel", resp.StatusCode, srv.Snapshot().Total)
				}
				if strings.EqualFold(got.header.Get("Connection"), "upgrade") {
					t.Errorf("backend saw Connection: %s on a plain request", got.header.Get("Connection"))
				}
				return
			}
			if resp.StatusCode != 101 {
				t.Fatalf("status = %d; want 101", resp.StatusCode)
			}
			// A masked text frame "hi" comes back from the echo backend.
			c.Write(frame(true, false, OpText, []byte{1, 2, 3, 4}, []byte("hi")))
			echoed := make([]byte, 4)
			if _, err := io.ReadFull(br, echoed); err != nil || string(echoed[2:]) != "hi" {
				t.Fatalf("echo through the tunnel = %q, %v", echoed, err)
			}
		})
	}
}

// backendConn is what a raw backend read on one connection: the request,
// and every byte after it until the connection ended.
type backendConn struct {
	req   *http.Request
	after string
}

// refusingBackend answers every request with answer and reports each
// connection once it has ended; plain keep-alive requests are answered in
// turn on the same connection.
func refusingBackend(t *testing.T, answer func(r *http.Request) string) (string, <-chan backendConn) {
	ch := make(chan backendConn, 16)
	addr := rawConnBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(c, answer(r))
		if r.Header.Get("Upgrade") == "" {
			// A plain request: the proxy may send more on this
			// connection, each a request of its own.
			ch <- backendConn{req: r}
			for {
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, r.Body)
				io.WriteString(c, answer(r))
				ch <- backendConn{req: r}
			}
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		rest, _ := io.ReadAll(br)
		ch <- backendConn{req: r, after: string(rest)}
	})
	return addr, ch
}

func forbidden(*http.Request) string {
	return "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"
}

// TestPipelinedAfterRefusedUpgrade pipelines a request right behind an
// upgrade the backend refuses, in the same write. It must be parsed by the
// proxy as a request of its own and proxied with the proxy's headers, never
// relayed on the upgrade's backend connection (CVE-2019-17567).
func TestPipelinedAfterRefusedUpgrade(t *testing.T) {
	t.Parallel()
	backend, conns := refusingBackend(t, forbidden)
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	_, br, resp := sendRaw(t, proxy, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+wsHeaders+"\r\n"+
		"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 403 {
		t.Fatalf("status = %d; want the backend's 403", resp.StatusCode)
	}
	io.Copy(io.Discard, resp.Body)
	resp2, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the pipelined request: %v", err)
	}
	resp2.Body.Close()
	for range 2 {
		bc := recv(t, conns)
		switch bc.req.URL.Path {
		case "/up":
			if bc.after != "" {
				t.Errorf("the refused upgrade's backend connection carried %q", bc.after)
			}
		case "/smuggled":
			if bc.req.Header.Get("X-Forwarded-For") != "127.0.0.1" || bc.req.Header.Get("Upgrade") != "" {
				t.Errorf("pipelined request reached the backend with %v; want it proxied as a plain request", bc.req.Header)
			}
		default:
			t.Errorf("backend received %s", bc.req.URL)
		}
	}
	if s := srv.Snapshot(); s.Total != 0 {
		t.Errorf("Snapshot.Total = %d; want no tunnel", s.Total)
	}
}

// TestUpgradeWithCLAndTE sends an upgrade with both Content-Length and
// Transfer-Encoding, a chunked body that ends early, and a request hidden
// where a Content-Length reader would look for the body. The backend must
// get one unambiguous request (the body re-sent with Content-Length only,
// as Apache does: TE wins) and nothing more on that connection; the hidden
// request, if it is answered at all, is a request of its own.
func TestUpgradeWithCLAndTE(t *testing.T) {
	t.Parallel()
	backend, conns := refusingBackend(t, forbidden)
	proxy, srv := startProxy(t, "/ ws://"+backend+"/")
	hidden := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s"+
		"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s", wsHeaders, 5+len(hidden), hidden)
	br := bufio.NewReader(c)
	var statuses []int
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.Copy(io.Discard, resp.Body)
		statuses = append(statuses, resp.StatusCode)
	}
	if len(statuses) == 0 {
		t.Fatal("no response")
	}
	if statuses[0] != 400 {
		// Either refused outright, or forwarded with one framing. The
		// hidden request, answered as one of its own, may reach the
		// backend's channel first: the upgrade's connection reports only
		// once the proxy has closed it.
		bc := recv(t, conns)
		if bc.req.URL.Path == "/smuggled" && bc.req.Header.Get("Upgrade") == "" {
			bc = recv(t, conns)
		}
		if bc.req.URL.Path != "/up" {
			t.Fatalf("backend received %s; want /up", bc.req.URL)
		}
		if te := bc.req.TransferEncoding; len(te) != 0 || bc.req.ContentLength != 0 {
			t.Errorf("backend got the upgrade with Transfer-Encoding %v, Content-Length %d; want an empty body sent with Content-Length only",
				te, bc.req.ContentLength)
		}
		if bc.after != "" {
			t.Errorf("the upgrade's backend connection carried %q after the request", bc.after)
		}
	}
	t.Logf("client got %v", statuses)
	if s := srv.Snapshot(); s.Total != 0 {
		t.Errorf("Snapshot.Total = %d; want no tunnel", s.Total)
	}
}

// TestBytesBeforeSwitch is a backend that sends something before its 101.
// What is safe: the backend's first response is its answer. A final
// response (200) is relayed as an ordinary response and the 101 behind it
// is never read; bytes that are not HTTP are a 502. Either way no tunnel
// opens and the client's next bytes never reach the backend. Interim
// responses (100, 103) before a valid 101 may be relayed and the 101 then
// honoured, as Apache does (ap_send_interim_response), or the whole answer
// refused with a 502; a success the backend never sent (a 200 made up by
// the proxy) is wrong either way.
func TestBytesBeforeSwitch(t *testing.T) {
	t.Parallel()
	valid := switchHead("websocket", wsproto.AcceptKey(testKey))
	cases := []struct {
		name   string
		answer string
		want   []int // acceptable statuses; 101 means a working tunnel
	}{
		{"200 then 101", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + valid, []int{200}},
		{"garbage then 101", "garbage\r\n" + valid, []int{502}},
		{"blank line then 101", "\r\n" + valid, []int{502}},
		{"100 then 101", "HTTP/1.1 100 Continue\r\n\r\n" + valid, []int{101, 502}},
		{"103 then 101", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + valid, []int{101, 502}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backend, conns := refusingBackend(t, func(*http.Request) string { return tc.answer })
			proxy, srv := startProxy(t, "/ ws://"+backend+"/")
			c, br, resp := sendRaw(t, proxy, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+wsHeaders+"\r\n")
			ok := false
			for _, s := range tc.want {
				ok = ok || s == resp.StatusCode
			}
			if !ok {
				t.Fatalf("status = %d; want one of %v", resp.StatusCode, tc.want)
			}
			tunnelled := resp.StatusCode == 101
			if !tunnelled {
				io.Copy(io.Discard, resp.Body)
			}
			io.WriteString(c, smuggleMarker)
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, br)
			bc := recv(t, conns)
			if got := strings.Contains(bc.after, "SMUGGLED"); got != tunnelled {
				t.Errorf("backend read %q after its answer; want the client's bytes only through a tunnel", bc.after)
			}
			if s := srv.Snapshot(); (s.Total == 1) != tunnelled {
				t.Errorf("Snapshot.Total = %d with status %d", s.Total, resp.StatusCode)
			}
		})
	}
}

// TestBackendStatusOutOfRange: a backend status below 100 is not an HTTP
// status the proxy can relay (net/http's WriteHeader panics on it); the
// client must get a 502, on the upgrade path and the plain one alike.
func TestBackendStatusOutOfRange(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"000", "099"} {
		for _, upgrade := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s upgrade=%v", status, upgrade), func(t *testing.T) {
				backend, _ := refusingBackend(t, func(*http.Request) string {
					return "HTTP/1.1 " + status + " Odd\r\nContent-Length: 0\r\n\r\n"
				})
				proxy, _ := startProxy(t, "/ ws://"+backend+"/")
				head := "GET /odd HTTP/1.1\r\nHost: x\r\n"
				if upgrade {
					head += "Upgrade: websocket\r\nConnection: Upgrade\r\n" + wsHeaders
				}
				c, err := net.Dial("tcp", proxy)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, head+"\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no response (the handler panicked?): %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadGateway {
					t.Errorf("status = %d; want 502", resp.StatusCode)
				}
			})
		}
	}
}

// TestHopByHopHeadersRemoved sends every hop-by-hop header and headers
// named in Connection in odd spacing and case, over several Connection
// lines, on the upgrade and the plain path: none may reach the backend,
// and end-to-end headers must.
func TestHopByHopHeadersRemoved(t *testing.T) {
	t.Parallel()
	hop := "TE: trailers\r\nTrailer: X-Trailer\r\nProxy-Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n" +
		"Connection: \t x-Odd-One ,, KEEP-ALIVE,x-second\r\nConnection: X-THIRD\r\n" +
		"X-Odd-One: 1\r\nX-Second: 2\r\nX-Third: 3\r\nX-Keep: yes\r\nOrigin: http://app.example\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n"
	for _, upgrade := range []bool{true, false} {
		t.Run(fmt.Sprintf("upgrade=%v", upgrade), func(t *testing.T) {
			backend, seenc := recordingBackend(t)
			proxy, _ := startProxy(t, "/ ws://"+backend+"/")
			head := "GET /h HTTP/1.1\r\nHost: x\r\n" + hop
			if upgrade {
				head += "Upgrade: websocket\r\n" + wsHeaders
			}
			sendRaw(t, proxy, head+"\r\n")
			got := recv(t, seenc)
			for _, name := range []string{"Te", "Trailer", "Proxy-Connection", "Keep-Alive", "X-Odd-One", "X-Second", "X-Third"} {
				if v, ok := got.header[name]; ok {
					t.Errorf("backend saw %s: %q", name, v)
				}
			}
			if c := got.header.Values("Connection"); upgrade && (len(c) != 1 || c[0] != "Upgrade") {
				t.Errorf("backend saw Connection %q; want exactly Upgrade", c)
			}
			for name, want := range map[string]string{"X-Keep": "yes", "Origin": "http://app.example", "Sec-Websocket-Protocol": "chat"} {
				if v := got.header.Get(name); v != want {
					t.Errorf("backend saw %s %q; want %q passed end to end", name, v, want)
				}
			}
		})
	}
}

// TestConnectionCannotStripForwarded: a client naming the X-Forwarded-*
// headers in Connection removes its own values, never the proxy's
// (CVE-2022-31813; Apache's hdr-xff-listed-in-connection).
func TestConnectionCannotStripForwarded(t *testing.T) {
	t.Parallel()
	for _, upgrade := range []bool{true, false} {
		t.Run(fmt.Sprintf("upgrade=%v", upgrade), func(t *testing.T) {
			backend, seenc := recordingBackend(t)
			proxy, _ := startProxy(t, "/ ws://"+backend+"/")
			head := "GET /h HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n" +
				"Connection: X-Forwarded-For, x-forwarded-host,X-FORWARDED-SERVER\r\n"
			if upgrade {
				head += "Upgrade: websocket\r\n" + wsHeaders
			}
			sendRaw(t, proxy, head+"\r\n")
			got := recv(t, seenc)
			for name, want := range map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "x", "X-Forwarded-Server": "wsgate.test",
			} {
				if v := got.header.Values(name); len(v) != 1 || v[0] != want {
					t.Errorf("backend saw %s %q; want exactly %q", name, v, want)
				}
			}
		})
	}
}

// TestNoHeaderInjectionThroughSubstitution feeds CR and LF, encoded and
// raw, to rules that substitute request data into the backend URL:
// ProxyPassMatch $1 (canonical and nocanon), RewriteRule $1 and
// %{HTTP:...}. The backend must never see a CR or LF in the request line
// or a header, nor the injected header.
func TestNoHeaderInjectionThroughSubstitution(t *testing.T) {
	t.Parallel()
	b := startStrictBackend(t, "/mapped/")
	src := fmt.Sprintf(`RewriteEngine on
RewriteRule "^/rw/(.*)$" "ws://%[1]s/mapped/rw/%%{HTTP:X-Sub}/$1" [P]
ProxyPassMatch "^/pm/(.*)$" "ws://%[1]s/mapped/pm/$1"
ProxyPassMatch "^/pmnc/(.*)$" "ws://%[1]s/mapped/pmnc/$1" nocanon
ProxyPass "/nc/" "ws://%[1]s/mapped/nc/" nocanon
`, b.addr)
	table, err := rules.ParseFile("inject.conf", []byte(src), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	proxy, _ := serveTable(t, table)
	targets := []string{
		"/pm/a%0d%0aX-Injected:%20yes",
		"/pm/a%0D%0AX-Injected:%20yes%0d%0a%0d%0aGET%20/x%20HTTP/1.1",
		"/pmnc/a%0d%0aX-Injected:%20yes",
		"/nc/a%0d%0aX-Injected:%20yes",
		"/rw/a%0d%0aX-Injected:%20yes",
		"/pm/a%0aX-Injected:%20yes",
		"/pm/a%0dX-Injected:%20yes",
		"/pm/a\rX-Injected: yes",
		"/pm/a\nX-Injected: yes",
		"/pm/a?q=%0d%0aX-Injected:%20yes",
	}
	for _, target := range targets {
		for _, upgrade := range []bool{true, false} {
			head := "GET " + target + " HTTP/1.1\r\nHost: x\r\nX-Sub: s%0d%0aX-Injected: yes\r\n"
			if upgrade {
				head += "Upgrade: websocket\r\nConnection: Upgrade\r\n" + wsHeaders
			}
			c, err := net.Dial("tcp", proxy)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// No half-close: net/http cancels a request whose client
			// has sent EOF, before it reaches the backend.
			io.WriteString(c, head+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			status := 0
			if err == nil {
				status = resp.StatusCode
			}
			c.Close()
			errs, n := b.take()
			for _, e := range errs {
				t.Errorf("%q (upgrade=%v): %s", target, upgrade, e)
			}
			t.Logf("%q upgrade=%v: status %d, %d requests at the backend", target, upgrade, status, n)
		}
	}
}
