package cmd

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/syncbuf"
)

// vhostPorts opens n listeners for serve to be handed (handOver) and
// returns their ports, for <VirtualHost> sections.
func vhostPorts(t *testing.T, n int) ([]int, map[string]net.Listener) {
	t.Helper()
	addrs, held := handOver(t, n)
	var ports []int
	for _, a := range addrs {
		p, _ := strconv.Atoi(portOf(a))
		ports = append(ports, p)
	}
	return ports, held
}

// pathBackend answers every request with the path it received.
func pathBackend(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// serveAll runs serve with args, and the listeners of held (handOver),
// until the test ends and returns the n addresses of its "listening on"
// lines.
func serveAll(t *testing.T, held map[string]net.Listener, n int, args ...string) []string {
	t.Helper()
	addrs, _ := serveAllErr(t, held, n, args...)
	return addrs
}

// serveAllErr is serveAll that also returns serve's stderr, written so
// far and to come.
func serveAllErr(t *testing.T, held map[string]net.Listener, n int, args ...string) ([]string, *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errb := &syncbuf.Buffer{}
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: errb, getenv: func(string) string { return "" },
		listen: handedOver(held)}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, append([]string{"wsgate", "serve", "--no-live"}, args...))
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d; stderr %s", code, errb.String())
		}
	})
	br := bufio.NewReader(pr)
	var addrs []string
	for len(addrs) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("serve output ended: %v; stderr %s", err, errb.String())
		}
		if _, a, ok := strings.Cut(strings.TrimSpace(line), "listening on "); ok {
			addrs = append(addrs, a)
		}
	}
	go io.Copy(io.Discard, br)
	return addrs, errb
}

// get sends GET path with Host host to addr (https when tlsOn) and returns
// the body.
func get(t *testing.T, addr, host, path string, tlsOn bool) string {
	t.Helper()
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Second}
	if tlsOn {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	req, err := http.NewRequest("GET", scheme+"://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s://%s%s (Host %s): %v", scheme, addr, path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// TestVirtualHostListeners serves a file whose only addresses are those
// of its <VirtualHost> sections: each port gets a loopback listener, and
// a request goes to the virtual host of its port; --listen replaces them
// and the Host decides.
func TestVirtualHostListeners(t *testing.T) {
	t.Parallel()
	backend := pathBackend(t)
	ports, held := vhostPorts(t, 2)
	p1, p2 := ports[0], ports[1]
	conf := writeFile(t, "vhosts.conf", fmt.Sprintf(`<VirtualHost *:%d>
  ServerName one.test
  ProxyPass / http://%s/one/
</VirtualHost>
<VirtualHost *:%d>
  ServerName two.test
  ProxyPass / http://%s/two/
</VirtualHost>
`, p1, backend, p2, backend))

	addrs := serveAll(t, held, 2, "-c", conf)
	want := []string{fmt.Sprintf("127.0.0.1:%d", p1), fmt.Sprintf("127.0.0.1:%d", p2)}
	if addrs[0] != want[0] || addrs[1] != want[1] {
		t.Fatalf("listening on %v; want %v", addrs, want)
	}
	for _, tc := range []struct{ addr, host, want string }{
		{addrs[0], "one.test", "200 /one/x"},
		{addrs[0], "two.test", "200 /one/x"}, // the port chooses first
		{addrs[1], "two.test", "200 /two/x"},
		{addrs[1], "other", "200 /two/x"},
	} {
		if got := get(t, tc.addr, tc.host, "/x", false); got != tc.want {
			t.Errorf("GET %s /x Host %s = %s; want %s", tc.addr, tc.host, got, tc.want)
		}
	}

	t.Run("--listen", func(t *testing.T) {
		addr := serveAll(t, nil, 1, "-c", conf, "--listen", "127.0.0.1:0")[0]
		for _, tc := range []struct{ host, want string }{
			{"one.test", "200 /one/x"}, {"two.test:8080", "200 /two/x"}, {"other", "200 /one/x"},
		} {
			if got := get(t, addr, tc.host, "/x", false); got != tc.want {
				t.Errorf("GET /x Host %s = %s; want %s", tc.host, got, tc.want)
			}
		}
	})
}

// TestVirtualHostTLS serves one virtual host with TLS and one without.
func TestVirtualHostTLS(t *testing.T) {
	t.Parallel()
	backend := pathBackend(t)
	certPEM, keyPEM := testCertificate(t)
	cert, key := writeFile(t, "cert.pem", certPEM), writeFile(t, "key.pem", keyPEM)
	ports, held := vhostPorts(t, 2)
	plain, secure := ports[0], ports[1]
	conf := writeFile(t, "tls.conf", fmt.Sprintf(`<VirtualHost *:%d>
  Redirect / https://secure.test/
</VirtualHost>
<VirtualHost *:%d>
  SSLEngine on
  SSLCertificateFile %s
  SSLCertificateKeyFile %s
  ProxyPass / http://%s/secure/
</VirtualHost>
`, plain, secure, cert, key, backend))
	addrs := serveAll(t, held, 2, "-c", conf)
	if got := get(t, addrs[1], "secure.test", "/x", true); got != "200 /secure/x" {
		t.Errorf("GET https://%s/x = %s; want 200 /secure/x", addrs[1], got)
	}
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the plain listener does not speak plain HTTP: %v", err)
	}
	resp.Body.Close()

	t.Run("--listen serves the TLS virtual host", func(t *testing.T) {
		addr := serveAll(t, nil, 1, "-c", conf, "--listen", "127.0.0.1:0")[0]
		if got := get(t, addr, "any.test", "/y", true); got != "200 /secure/y" {
			t.Errorf("GET https://%s/y = %s; want 200 /secure/y", addr, got)
		}
	})
}

// TestVirtualHostListenError: a port that cannot be listened on names the
// <VirtualHost> that asked for it and suggests --listen.
func TestVirtualHostListenError(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	conf := writeFile(t, "busy.conf", fmt.Sprintf("# a comment\n<VirtualHost *:%d>\n  ProxyPass / http://127.0.0.1:9/\n</VirtualHost>\n", port))
	r := runCmd(t, "", "serve", "--no-live", "-c", conf)
	want := fmt.Sprintf("listen on 127.0.0.1:%d (<VirtualHost *:%d> at %s:2): ", port, port, conf)
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--listen") {
		t.Errorf("serve = exit %d, stderr %q; want 1 with %q and a --listen hint", r.code, r.stderr, want)
	}
}

// TestVirtualHostMissingCertificate: serve stops at the SSLEngine line,
// check only warns (a pasted file names the certificates of the machine
// it came from).
func TestVirtualHostMissingCertificate(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "missing.conf", "<VirtualHost *:443>\n  ServerName a.test\n  SSLEngine on\n  SSLCertificateFile /nonexistent/fullchain.pem\n  SSLCertificateKeyFile /nonexistent/privkey.pem\n  ProxyPass / http://127.0.0.1:9/\n</VirtualHost>\n")
	r := runCmd(t, "", "serve", "--no-live", "-c", conf, "--listen", "127.0.0.1:0")
	if want := conf + ":4:3: load certificate /nonexistent/fullchain.pem"; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("serve = exit %d, stderr %q; want 2 with %q", r.code, r.stderr, want)
	}
	r = runCmd(t, "", "check", "-c", conf)
	// Each file is named at its own line, not at SSLEngine's.
	want := conf + ":4:3: warning: SSLCertificateFile /nonexistent/fullchain.pem: no such file or directory"
	wantKey := conf + ":5:3: warning: SSLCertificateKeyFile /nonexistent/privkey.pem: no such file or directory"
	if r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, wantKey) || !strings.Contains(r.stdout, ": OK") {
		t.Errorf("check = exit %d, stdout %q; want 0 with %q", r.code, r.stdout, want)
	}
	// The flags replace the missing files.
	addr := serveAll(t, nil, 1, "-c", conf, "--listen", "127.0.0.1:0", "--tls-self-signed")[0]
	if got := get(t, addr, "a.test", "/x", true); got != "503 " && !strings.HasPrefix(got, "503") {
		t.Errorf("GET https://%s/x = %s; want the 503 of a backend that refuses", addr, got)
	}
}

// TestRouteVirtualHost: wsgate route names the virtual host and the
// location, and shows a redirect.
func TestRouteVirtualHost(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "route.conf", `<VirtualHost *:8080>
  ServerName a.test
  <Location /app/>
    ProxyPass http://127.0.0.1:9001/
  </Location>
</VirtualHost>
<VirtualHost *:8443>
  ServerName b.test
  Redirect permanent /old https://b.test/new
</VirtualHost>
`)
	r := runCmd(t, "", "route", "-c", conf, "--port", "8080", "-H", "Host: b.test", "/app/x")
	for _, want := range []string{
		"server   <VirtualHost *:8080> at " + conf + ":1:1 (ServerName a.test)\n",
		"location <Location \"/app/\"> at " + conf + ":3:3\n",
		"backend  http://127.0.0.1:9001/x\n",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("route --port 8080 /app/x = exit %d, stdout %q; want %q", r.code, r.stdout, want)
		}
	}
	r = runCmd(t, "", "route", "-c", conf, "-H", "Host: b.test", "/old/y?z")
	if want := "answer   301 Moved Permanently, Location: https://b.test/new/y?z"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("route /old/y?z = exit %d, stdout %q; want %q", r.code, r.stdout, want)
	}
}
