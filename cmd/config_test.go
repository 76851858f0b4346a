package cmd

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/eventually"
	"github.com/wsgate/wsgate/internal/syncbuf"
)

// writeFile writes a file under the test's temporary directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startEchoServer(t *testing.T) string {
	ts := httptest.NewServer(echo.Handler(echo.Options{}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func TestServeConfig(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	conf := writeFile(t, "wsgate.conf", `# pasted from an Apache vhost
LoadModule proxy_module modules/mod_proxy.so
ServerName example.test
ProxyPass /private !
ProxyPass "/chat/" "ws://`+backend+`/room/"
ProxyPassMatch ^/pm/([a-z]+)$ ws://`+backend+`/match/$1
`)
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--config", conf)
	for _, path := range []string{"/chat/a", "/pm/abc"} {
		r := runCmd(t, "hi\n", "dial", "--wait", "200ms", "ws://"+proxy+path)
		if r.code != 0 || r.stdout != "hi\n" {
			t.Errorf("dial %s = exit %d, %q, stderr %q; want the echo", path, r.code, r.stdout, r.stderr)
		}
	}
	r := runCmd(t, "", "dial", "ws://"+proxy+"/private")
	if r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Errorf("dial /private = exit %d, stderr %q; want 404", r.code, r.stderr)
	}
}

func TestConfigListenLines(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	conf := writeFile(t, "listen.conf", "Listen 127.0.0.1:0\nListen 127.0.0.1:0\nProxyPass / ws://"+backend+"/\n")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"wsgate", "serve", "--config", conf})
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	var addrs []string
	for len(addrs) < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("serve output ended: %v; stderr %s", err, errb.String())
		}
		if _, a, ok := strings.Cut(strings.TrimSpace(line), "listening on "); ok {
			addrs = append(addrs, a)
		}
	}
	go io.Copy(io.Discard, br)
	for _, a := range addrs {
		r := runCmd(t, "x\n", "dial", "--wait", "100ms", "ws://"+a+"/")
		if r.code != 0 || r.stdout != "x\n" {
			t.Errorf("dial %s = exit %d, %q; want the echo on every Listen address", a, r.code, r.stdout)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exit %d; stderr %s", code, errb.String())
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "bad.conf", "ProxyPass /ok/ ws://127.0.0.1:9/\nProxyPas /x ws://127.0.0.1:9/\nProxyPass /y ws://127.0.0.1:9/ upgarde=websocket\n")
	for _, args := range [][]string{{"serve", "--config", conf}, {"check", "--config", conf}, {"route", "--config", conf, "/ok/"}} {
		r := runCmd(t, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, conf+":2:1: ") || !strings.Contains(r.stderr, conf+":3:") || r.stdout != "" {
			t.Errorf("%v = exit %d, stdout %q, stderr %q; want 2 and both errors with their positions", args[0], r.code, r.stdout, r.stderr)
		}
	}
	r := runCmd(t, "", "serve", "--config", filepath.Join(t.TempDir(), "missing.conf"))
	if r.code != 2 || !strings.Contains(r.stderr, "missing.conf") {
		t.Errorf("serve --config missing = exit %d, stderr %q; want 2 naming the file", r.code, r.stderr)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "check.conf", "ServerName x\nProxyPass /a/ ws://127.0.0.1:9001/a/\nProxyPass /a/b/ ws://127.0.0.1:9001/b/\n")
	r := runCmd(t, "", "check", "--config", conf, "--pass", "/first/ ws://127.0.0.1:9002/")
	if r.code != 0 {
		t.Fatalf("check = exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	want := []string{
		conf + ":1:", // the skipped ServerName, as a warning
		conf + ":3:", // /a/b/ is shadowed by /a/
		`--pass 1: ProxyPass "/first/" "ws://127.0.0.1:9002/"`,
		conf + `:2: ProxyPass "/a/" "ws://127.0.0.1:9001/a/"`,
		"wsgate: 3 rules, 2 warnings: OK",
	}
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.Contains(l, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("check output lacks %q (in this order):\n%s", want[i], r.stdout)
	}
	r = runCmd(t, "", "check", "--strict", "--config", conf)
	if r.code != 2 {
		t.Errorf("check --strict with warnings = exit %d; want 2", r.code)
	}
}

func TestCheckDial(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	live := startEchoServer(t)
	r := runCmd(t, "", "check", "--dial", "--pass", "/a/ ws://"+live+"/", "--pass", "/b/ ws://"+dead+"/")
	if r.code != 1 || !strings.Contains(r.stdout, "dial "+live+": ok") || !strings.Contains(r.stdout, "dial "+dead+": ") ||
		!strings.Contains(r.stderr, "1 of 2 backends do not accept connections") {
		t.Errorf("check --dial = exit %d, stdout %q, stderr %q; want 1 naming the dead backend", r.code, r.stdout, r.stderr)
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "route.conf", `ProxyPass /x/private !
ProxyPass /x/ ws://127.0.0.1:9001/x/
RewriteEngine On
RewriteCond %{HTTP:Upgrade} websocket [NC]
RewriteRule ^/rw/(.*) ws://127.0.0.1:9003/socket/$1 [P,L]
`)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"plain", []string{"/x/a%20b?q=1"}, 0, []string{
			conf + `:2:1: ProxyPass "/x/" "ws://127.0.0.1:9001/x/"`, "backend  http://127.0.0.1:9001/x/a%20b?q=1", "as       plain HTTP"}, ""},
		{"upgrade", []string{"-H", "Upgrade: websocket", "/x/a"}, 0, []string{
			"backend  ws://127.0.0.1:9001/x/a", "as       tunnel, if the backend answers 101 (Upgrade: websocket)"}, ""},
		{"rewrite", []string{"-H", "Upgrade: WebSocket", "/rw/chat"}, 0, []string{
			"backend  ws://127.0.0.1:9003/socket/chat"}, ""},
		{"encoded exclusion", []string{"/x/%70rivate"}, 1, nil, "no route: "},
		{"no rule", []string{"/nowhere"}, 1, nil, "(the proxy answers 404 Not Found)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", append([]string{"route", "--config", conf}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("route %v = exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("route %v stdout lacks %q:\n%s", tc.args, w, r.stdout)
				}
			}
		})
	}
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	t.Run("self-signed", func(t *testing.T) {
		proxy, out := background(t, "serve", "--listen", "127.0.0.1:0", "--tls-self-signed", "ws://"+backend+"/")
		waitFor(t, out, "SHA-256 fingerprint")
		r := runCmd(t, "sealed\n", "dial", "--insecure-skip-verify", "--wait", "200ms", "wss://"+proxy+"/")
		if r.code != 0 || r.stdout != "sealed\n" {
			t.Errorf("dial wss:// = exit %d, %q, %q; want the echo", r.code, r.stdout, r.stderr)
		}
		r = runCmd(t, "", "dial", "wss://"+proxy+"/")
		if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
			t.Errorf("dial wss:// without trusting the certificate = exit %d, %q; want a certificate error", r.code, r.stderr)
		}
	})
	t.Run("SSLEngine lines", func(t *testing.T) {
		certPEM, keyPEM := testCertificate(t)
		cert, key := writeFile(t, "cert.pem", certPEM), writeFile(t, "key.pem", keyPEM)
		conf := writeFile(t, "tls.conf", "SSLEngine on\nSSLCertificateFile "+cert+"\nSSLCertificateKeyFile "+key+"\nProxyPass / ws://"+backend+"/\n")
		proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--config", conf)
		r := runCmd(t, "over tls\n", "dial", "--ca", cert, "--wait", "200ms", "wss://"+proxy+"/")
		if r.code != 0 || r.stdout != "over tls\n" {
			t.Errorf("dial wss:// = exit %d, %q, %q; want the echo", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("missing certificate file", func(t *testing.T) {
		conf := writeFile(t, "tls.conf", "SSLEngine on\nSSLCertificateFile /nonexistent/cert.pem\nSSLCertificateKeyFile /nonexistent/key.pem\nProxyPass / ws://"+backend+"/\n")
		r := runCmd(t, "", "serve", "--listen", "127.0.0.1:0", "--config", conf)
		if r.code != 2 || !strings.Contains(r.stderr, "/nonexistent/cert.pem") || !strings.Contains(r.stderr, conf+":") {
			t.Errorf("serve with a missing certificate = exit %d, %q; want 2 naming the file and the line", r.code, r.stderr)
		}
	})
}

func TestSSLProxyCAFromConfig(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(echo.Handler(echo.Options{}))
	defer ts.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})))
	conf := writeFile(t, "proxy.conf", "SSLProxyEngine on\nSSLProxyCACertificateFile "+ca+"\nProxyPass / wss://"+ts.Listener.Addr().String()+"/\n")
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--config", conf)
	r := runCmd(t, "trusted\n", "dial", "--wait", "200ms", "ws://"+proxy+"/")
	if r.code != 0 || r.stdout != "trusted\n" {
		t.Errorf("dial through a wss:// backend trusted by SSLProxyCACertificateFile = exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}

// testCertificate makes a PEM certificate and key for 127.0.0.1.
func testCertificate(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	c, err := selfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// waitFor waits until a background command's output contains s.
func waitFor(t *testing.T, out *syncbuf.Buffer, s string) {
	t.Helper()
	eventually.True(t, 5*time.Second, func() bool { return strings.Contains(out.String(), s) },
		func() string { return fmt.Sprintf("output lacks %q:\n%s", s, out.String()) })
}

// TestCheckFileArgument: `wsgate check FILE` reads FILE as --config does;
// anything more is a usage error, never silently ignored.
func TestCheckFileArgument(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "arg.conf", "ProxyPass /a/ ws://127.0.0.1:9001/a/\n")
	withFlag := runCmd(t, "", "check", "--config", conf)
	alone := runCmd(t, "", "check", conf)
	if alone.code != 0 || alone.stdout != withFlag.stdout || !strings.Contains(alone.stdout, "1 rules") {
		t.Errorf("check FILE = exit %d, stdout %q; want exit 0 and the output of check --config FILE: %q", alone.code, alone.stdout, withFlag.stdout)
	}
	for _, args := range [][]string{{"check", conf, conf}, {"check", "--config", conf, "extra"}} {
		if r := runCmd(t, "", args...); r.code != 2 || !strings.Contains(r.stderr, "unexpected argument") {
			t.Errorf("%v = exit %d, stderr %q; want 2 and unexpected argument", args, r.code, r.stderr)
		}
	}
}
