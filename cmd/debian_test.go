package cmd

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/apachetest"
	"github.com/wsgate/wsgate/internal/eventually"
)

// debianLayout copies Debian's /etc/apache2 (the apache2 package) into a
// temporary directory, enables the proxy modules as a2enmod would, points
// ports.conf at port (a loopback host:port) and enables one proxy site for
// backend. It returns apache2.conf's path. The test skips where the
// package is not installed.
func debianLayout(t *testing.T, backend, port string) string {
	t.Helper()
	if _, err := os.Stat("/etc/apache2/apache2.conf"); err != nil {
		t.Skip("Debian's apache2 is not installed (/etc/apache2/apache2.conf)")
	}
	root := filepath.Join(t.TempDir(), "apache2")
	if out, err := exec.Command("cp", "-a", "/etc/apache2", root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	for _, m := range []string{"proxy", "proxy_http", "proxy_wstunnel", "rewrite", "headers"} {
		for _, ext := range []string{".load", ".conf"} {
			if _, err := os.Stat(filepath.Join(root, "mods-available", m+ext)); err == nil {
				os.Symlink("../mods-available/"+m+ext, filepath.Join(root, "mods-enabled", m+ext))
			}
		}
	}
	_, p, _ := net.SplitHostPort(port)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ports.conf", "Listen 127.0.0.1:"+p+"\n\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n\n<IfModule mod_gnutls.c>\n\tListen 443\n</IfModule>\n")
	write("sites-available/ws.conf", fmt.Sprintf(`<VirtualHost *:%s>
	ServerName ws.example.com
	ErrorLog ${APACHE_LOG_DIR}/ws-error.log
	ProxyPass /ws/ ws://%s/
	ProxyPassReverse /ws/ ws://%s/
</VirtualHost>
`, p, backend, backend))
	os.Symlink("../sites-available/ws.conf", filepath.Join(root, "sites-enabled", "ws.conf"))
	return filepath.Join(root, "apache2.conf")
}

// TestDebianLayout: wsgate reads a whole Debian apache2 installation (its
// mods-enabled, conf-enabled and sites-enabled includes, Define,
// <IfDefine>, <IfModule> by its LoadModule lines, ${APACHE_LOG_DIR}),
// positions its messages by file and line, and routes as that Apache does
// (with WSGATE_APACHE, the same tree runs in a real Apache and the same
// requests get the same answers).
func TestDebianLayout(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	ports, held := handOver(t, 1) // for serve, which is handed the listener
	port := ports[0]
	conf := debianLayout(t, backend, port)
	root := filepath.Dir(conf)

	res := runCmd(t, "", "check", "-c", conf)
	if res.code != 0 {
		t.Fatalf("check exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		root + "/sites-enabled/ws.conf:4:", // the ProxyPass, by its own file
		root + "/mods-enabled/proxy.load:", // a LoadModule line, skipped
		root + "/ports.conf:1:",            // Listen
	} {
		if !strings.Contains(res.stdout+res.stderr, want) {
			t.Errorf("check does not mention %s:\n%s%s", want, res.stdout, res.stderr)
		}
	}
	// A whole line: the test's own random port may start with 443.
	if regexp.MustCompile(`(?m)Listen 127\.0\.0\.1:443$`).MatchString(res.stdout + res.stderr) {
		t.Errorf("ports.conf's <IfModule ssl_module> Listen 443 was read, though mod_ssl is not loaded:\n%s", res.stdout)
	}

	// Each on a tree of its own, listening where its ports.conf says: the
	// port decides which virtual hosts may answer.
	wsgate, _ := backgroundWith(t, held, "serve", "-c", conf, "--no-live", "--quiet")
	if wsgate != port {
		t.Errorf("serve listens on %s; want ports.conf's %s", wsgate, port)
	}
	fronts := map[string]string{"wsgate": wsgate}
	if h, ok := apachetest.Lookup(); ok {
		fronts["apache"] = startDebianApache(t, h, backend)
	}
	cases := []struct {
		host, target string
		upgrade      bool
		want         int
	}{
		{"ws.example.com", "/ws/chat", true, 101},
		{"ws.example.com", "/ws/", false, 200}, // the echo backend's page, as plain HTTP
		{"ws.example.com", "/other", false, 404},
		// Only ws.conf's virtual host is on this port (000-default.conf's is
		// *:80): it answers every name.
		{"default.example.com", "/ws/chat", true, 101},
	}
	for name, addr := range fronts {
		for _, tc := range cases {
			if got := debianRequest(t, addr, tc.host, tc.target, tc.upgrade); got != tc.want {
				t.Errorf("%s: %s%s (upgrade %v) = %d; want %d", name, tc.host, tc.target, tc.upgrade, got, tc.want)
			}
		}
	}
}

// startDebianApache runs Apache on a tree of its own (debianLayout) for
// backend, with the variables Debian's envvars would set, and returns its
// address. The port is a free one; when another process takes it before
// Apache binds it, it tries again with another, three times in all.
func startDebianApache(t *testing.T, h apachetest.Httpd, backend string) string {
	t.Helper()
	for try := 1; ; try++ {
		addr := apachetest.FreeAddr(t)
		conf := debianLayout(t, backend, addr)
		if log, ok := tryDebianApache(t, h, filepath.Dir(conf), addr); ok {
			return addr
		} else if !apachetest.InUse(log) || try == 3 {
			t.Fatalf("Apache does not listen on %s: %s", addr, log)
		}
	}
}

// tryDebianApache starts Apache on the tree at root, listening on addr,
// and reports whether it did, and its error log.
func tryDebianApache(t *testing.T, h apachetest.Httpd, root, addr string) (string, bool) {
	t.Helper()
	run := filepath.Join(t.TempDir(), "run")
	os.MkdirAll(filepath.Join(run, "lock"), 0o755)
	env := append(os.Environ(), "APACHE_RUN_USER=www-data", "APACHE_RUN_GROUP=www-data",
		"APACHE_PID_FILE="+run+"/apache2.pid", "APACHE_RUN_DIR="+run, "APACHE_LOCK_DIR="+run+"/lock",
		"APACHE_LOG_DIR="+run)
	cmd := exec.Command(h.Bin, "-d", root, "-f", filepath.Join(root, "apache2.conf"), "-k", "start")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		if apachetest.InUse(string(out)) {
			return string(out), false
		}
		t.Fatalf("apache2: %v: %s", err, out)
	}
	t.Cleanup(func() {
		stop := exec.Command(h.Bin, "-d", root, "-f", filepath.Join(root, "apache2.conf"), "-k", "stop")
		stop.Env = env
		stop.Run()
		time.Sleep(300 * time.Millisecond)
	})
	// The daemon writes its pid file once it has bound its port (another
	// process on it would accept connections too), or logs why not.
	var log []byte
	started := func() bool {
		log, _ = os.ReadFile(filepath.Join(run, "error.log"))
		_, err := os.Stat(filepath.Join(run, "apache2.pid"))
		return err == nil || apachetest.InUse(string(log))
	}
	eventually.True(t, 10*time.Second, started, func() string {
		return fmt.Sprintf("Apache wrote no pid file for %s: %s", addr, log)
	})
	if apachetest.InUse(string(log)) {
		return string(log), false
	}
	eventually.True(t, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, func() string {
		log, _ := os.ReadFile(filepath.Join(run, "error.log"))
		return fmt.Sprintf("Apache does not listen on %s: %s", addr, log)
	})
	return string(log), true
}

// debianRequest sends one request and returns the status.
func debianRequest(t *testing.T, addr, host, target string, upgrade bool) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if upgrade {
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	} else {
		req += "Connection: close\r\n"
	}
	fmt.Fprint(c, req+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", host, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
