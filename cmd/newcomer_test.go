package cmd

import (
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/eventually"
)

// getBody is the body of GET url, failing the test on any error.
func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status + " " + string(b)
}

// A lone backend URL without a trailing slash is the whole site to that
// backend, as caddy reverse-proxy --to reads it; a literal ProxyPass /
// http://h:p would glue /x to the port (http://h:px, a 500).
func TestLoneBackendURL(t *testing.T) {
	t.Parallel()
	backend := pathBackend(t)
	for _, tc := range []struct{ url, path, want string }{
		{"http://" + backend, "/chat/x", "200 OK /chat/x"},
		{"http://" + backend + "/app", "/x", "200 OK /app/x"},
		{"http://" + backend + "/app/", "/x", "200 OK /app/x"},
	} {
		addr, _ := background(t, "serve", "--no-live", "--listen", "127.0.0.1:0", tc.url)
		if got := getBody(t, "http://"+addr+tc.path); got != tc.want {
			t.Errorf("serve %s; GET %s = %q; want %q", tc.url, tc.path, got, tc.want)
		}
	}
}

// --listen 8080 is 127.0.0.1:8080, as "Listen 8080" in a rules file;
// an address on every interface is said so.
func TestListenBarePort(t *testing.T) {
	t.Parallel()
	backend := pathBackend(t)
	addrs, held := handOver(t, 1)
	_, port, _ := net.SplitHostPort(addrs[0])
	// The test holds no listener but on 127.0.0.1:PORT: serve must ask
	// for that one.
	got := serveAll(t, held, 1, "--listen", port, "http://"+backend+"/")[0]
	if got != addrs[0] {
		t.Errorf("--listen %s listens on %s; want %s", port, got, addrs[0])
	}

	// ":PORT" is every interface: the test hands serve a loopback
	// listener under that name, so nothing listens beyond this machine.
	_, held = handOver(t, 1)
	for a, ln := range held {
		_, p, _ := net.SplitHostPort(a)
		delete(held, a)
		held[":"+p] = ln
		port = p
	}
	_, stderr := serveAllErr(t, held, 1, "--listen", ":"+port, "http://"+backend+"/")
	want := "wsgate: warning: :" + port + " (--listen) listens on every interface, so other machines can connect; 127.0.0.1:" + port + " keeps it to this one"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q; want %q", stderr.String(), want)
	}
}

// check --dial verifies a backend's certificate as serve does, says how
// to trust it, and accepts what serve would accept.
func TestCheckDialVerifiesTLS(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes check aborts
	pass := "/ wss://" + ts.Listener.Addr().String() + "/"

	r := runCmd(t, "", "check", "--dial", "--pass", pass)
	if r.code != 1 || !strings.Contains(r.stdout, "(TLS): tls: failed to verify certificate") ||
		!strings.Contains(r.stdout, "--backend-ca FILE") {
		t.Errorf("check --dial on an untrusted backend = exit %d, stdout %q; want 1, the verification error and how to trust it", r.code, r.stdout)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, trust := range [][]string{{"--backend-ca", ca}, {"--backend-insecure-skip-verify"}} {
		r = runCmd(t, "", append([]string{"check", "--dial", "--pass", pass}, trust...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "(TLS): ok") {
			t.Errorf("check --dial %s = exit %d, stdout %q; want 0 and ok", trust, r.code, r.stdout)
		}
	}
}

// serve --tls-self-signed --demo prints a dial command that connects.
func TestSelfSignedDemoDialLine(t *testing.T) {
	t.Parallel()
	_, stdout := background(t, "serve", "--demo", "--no-live", "--tls-self-signed", "--listen", "127.0.0.1:0")
	var line string
	eventually.True(t, 5*time.Second, func() bool { line = stdout.Line("connect:"); return line != "" },
		func() string { return "no connect line in " + stdout.String() })
	i := strings.Index(line, "wsgate dial ")
	if i < 0 {
		t.Fatalf("no dial command in %q", stdout.String())
	}
	args := strings.Fields(line[i+len("wsgate "):])
	if j := strings.Index(strings.Join(args, " "), "("); j >= 0 {
		args = strings.Fields(strings.Join(args, " ")[:j])
	}
	r := runCmd(t, "hello\n", append(args, "--wait", "100ms")...)
	if r.code != 0 || !strings.Contains(r.stdout, "hello") {
		t.Errorf("%s = exit %d, stdout %q, stderr %q; want 0 and the echo", args, r.code, r.stdout, r.stderr)
	}
}
