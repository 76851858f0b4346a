// Package apachetest starts a real Apache httpd 2.4 for the tests that
// compare wsgate with it (rules.TestMatchApache, tunnel.TestEditsApache,
// cmd.TestRecipesApache and the others). Those tests are what keep
// wsgate's claim to answer as Apache answers honest, and they live in
// three packages; the httpd they run must be set up the same way in all
// of them, so it is set up here, once.
//
// The tests run only when WSGATE_APACHE names an httpd binary:
//
//	apt-get install apache2
//	WSGATE_APACHE=/usr/sbin/apache2 go test -run Apache ./...
//
// WSGATE_APACHE_MODULES overrides the module directory
// (/usr/lib/apache2/modules), and WSGATE_APACHE_PORT is a base port for
// the tests that document one (see Port).
//
// The package is for tests only and uses the standard library only.
package apachetest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultModules is the module directory when WSGATE_APACHE_MODULES is
// unset: Debian's and Ubuntu's.
const DefaultModules = "/usr/lib/apache2/modules"

// Httpd is an httpd binary and the directory of its modules.
type Httpd struct {
	Bin, Modules string
}

// Lookup returns the httpd named by WSGATE_APACHE and
// WSGATE_APACHE_MODULES, and false when WSGATE_APACHE is unset. It is for
// tests with a half that runs without Apache; the others call Need.
func Lookup() (Httpd, bool) {
	h := Httpd{Bin: os.Getenv("WSGATE_APACHE"), Modules: os.Getenv("WSGATE_APACHE_MODULES")}
	if h.Modules == "" {
		h.Modules = DefaultModules
	}
	return h, h.Bin != ""
}

// Need is Lookup for a test that means nothing without Apache: it skips
// t when WSGATE_APACHE is unset.
func Need(t testing.TB) Httpd {
	t.Helper()
	h, ok := Lookup()
	if !ok {
		t.Skip("set WSGATE_APACHE=/usr/sbin/apache2 to compare with a real Apache httpd")
	}
	return h
}

// Port is WSGATE_APACHE_PORT, the first of the fixed ports a test asks
// Apache and its backends to use instead of free ones; 0 when it is unset
// or not a positive number.
func Port() int {
	n, err := strconv.Atoi(os.Getenv("WSGATE_APACHE_PORT"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Config is what an httpd is started with. Every field may be left
// empty, but an httpd without Modules lacks even its MPM, and Start has
// nothing to wait for without Listen or Wait.
type Config struct {
	// Modules are loaded in order, by short name: "proxy_http" loads
	// mod_proxy_http.so as proxy_http_module.
	Modules []string
	// Listen are the addresses of the Listen lines of the preamble;
	// Start waits until each of them accepts connections.
	Listen []string
	// Wait are more addresses Start waits for: those of Listen lines
	// in Directives.
	Wait []string
	// ServerName is the preamble's ServerName; "localhost" when empty.
	// A ServerName in Directives comes later and wins.
	ServerName string
	// Dir is the ServerRoot, holding httpd.conf, the logs, the pid file
	// and an empty DocumentRoot; a t.TempDir() when empty.
	Dir string
	// Directives follow the preamble.
	Directives string
}

// Conf writes c's httpd.conf in c.Dir, which must exist, and returns
// its path and text. The preamble sets ServerRoot, ServerName, Listen,
// LoadModule, User nobody when running as root, DefaultRuntimeDir and
// an APACHE_LOG_DIR definition (Dir/logs), PidFile, ErrorLog (Dir/error.log)
// and DocumentRoot (Dir/htdocs, empty, so that every request Apache
// serves itself is a 404).
func (h Httpd) Conf(t testing.TB, c Config) (path, text string) {
	t.Helper()
	dir := c.Dir
	for _, d := range []string{"htdocs", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// What httpd reads and writes once it drops root: errors are left
	// for httpd to report.
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "htdocs")} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(filepath.Join(dir, "logs"), 0o777)

	name := c.ServerName
	if name == "" {
		name = "localhost"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %s\nServerName %s\n", dir, name)
	for _, a := range c.Listen {
		fmt.Fprintf(&b, "Listen %s\n", a)
	}
	for _, m := range c.Modules {
		fmt.Fprintf(&b, "LoadModule %s_module %s/mod_%s.so\n", m, h.Modules, m)
	}
	if os.Geteuid() == 0 {
		b.WriteString("User nobody\n")
	}
	fmt.Fprintf(&b, "Define APACHE_LOG_DIR %[1]s/logs\nDefaultRuntimeDir %[1]s/logs\n"+
		"PidFile %[1]s/httpd.pid\nErrorLog %[1]s/error.log\nDocumentRoot %[1]s/htdocs\n", dir)
	b.WriteString(c.Directives)
	path = filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b.String()
}

// Check runs httpd -t on c and returns its output and whether it accepts
// the configuration.
func (h Httpd) Check(t testing.TB, c Config) (string, bool) {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	path, _ := h.Conf(t, c)
	out, err := exec.Command(h.Bin, "-f", path, "-t").CombinedOutput()
	return string(out), err == nil
}

// Start runs httpd with c, waits until every address of c.Listen and
// c.Wait accepts connections (httpd gives no other sign of readiness),
// and stops it when t ends. If httpd exits or is not ready within 10
// seconds, Start fails t with the configuration and httpd's logs.
//
// httpd runs with -X, one process in the foreground, so that killing it
// leaves no children behind.
func (h Httpd) Start(t testing.TB, c Config) {
	t.Helper()
	if err := h.start(t, c); err != nil {
		t.Fatal(err)
	}
}

// StartOnFreePorts is Start for an httpd that listens on n free loopback
// addresses, which config turns into its Config; it returns them. A free
// port is found by opening a listener on port 0 and closing it, and
// another process may take it before httpd binds it: when httpd then
// fails to bind, StartOnFreePorts tries again with new ports, three
// times in all.
func (h Httpd) StartOnFreePorts(t testing.TB, n int, config func(addrs []string) Config) []string {
	t.Helper()
	for try := 1; ; try++ {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = FreeAddr(t)
		}
		err := h.start(t, config(addrs))
		if err == nil {
			return addrs
		}
		if !errors.Is(err, errInUse) || try == 3 {
			t.Fatal(err)
		}
		t.Logf("httpd: a port was taken, trying new ones: %v", addrs)
	}
}

// FreeAddr is a loopback address that nothing listened on a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// InUse reports whether an httpd log says it could not bind a port
// because something else listens there.
func InUse(log string) bool { return strings.Contains(log, "Address already in use") }

var errInUse = errors.New("address in use")

// start is Start, returning what went wrong; the error wraps errInUse
// when httpd could not bind a port.
func (h Httpd) start(t testing.TB, c Config) error {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	path, text := h.Conf(t, c)
	out, err := os.Create(filepath.Join(c.Dir, "stdout"))
	if err != nil {
		return err
	}
	cmd := exec.Command(h.Bin, "-f", path, "-X")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		out.Close()
	})
	// httpd writes its pid file once it has bound every port: a port
	// that another process holds accepts connections too.
	pidFile := filepath.Join(c.Dir, "httpd.pid")
	deadline := time.After(10 * time.Second)
	for _, addr := range append(append([]string{""}, c.Listen...), c.Wait...) {
		for {
			if addr == "" {
				if _, err := os.Stat(pidFile); err == nil {
					break
				}
			} else if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
			case <-deadline:
			case <-time.After(20 * time.Millisecond):
				continue
			}
			log, _ := os.ReadFile(filepath.Join(c.Dir, "stdout"))
			elog, _ := os.ReadFile(filepath.Join(c.Dir, "error.log"))
			err := fmt.Errorf("httpd did not start on %q:\n%s\n%s\n%s", append(c.Listen, c.Wait...), text, log, elog)
			if InUse(string(log) + string(elog)) {
				err = fmt.Errorf("%w: %w", errInUse, err)
			}
			return err
		}
	}
	return nil
}
