//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

// A target is something the load generator is pointed at: the echo backend
// itself ("direct"), wsgate, or a peer proxy.
type target struct {
	name    string
	url     string // ws://127.0.0.1:PORT/
	pid     int    // the proxy's process; 0 for direct, which is no proxy
	version string
}

// children are all the long-running processes started, for stopAll.
type children struct {
	mu   sync.Mutex
	list []*benchkit.Child
}

// start runs argv pinned to cpu, its output going to DIR/NAME.log, and
// registers it for stopAll. Its Pdeathsig, for the case this program is
// killed outright, is SIGTERM: that makes nginx's and Apache's parents
// stop their workers.
func (cs *children) start(dir, name, cpu string, env []string, argv ...string) (*benchkit.Child, error) {
	c, err := benchkit.Start(dir, name, cpu, syscall.SIGTERM, env, argv...)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	cs.list = append(cs.list, c)
	cs.mu.Unlock()
	return c, nil
}

// stopAll sends SIGTERM to every process group, waits up to 5 s, then
// sends SIGKILL to what is left. A clean stop matters for Apache, which
// otherwise leaves its IPC objects behind.
func (cs *children) stopAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.list {
		syscall.Kill(-c.Cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.After(5 * time.Second)
	for _, c := range cs.list {
		select {
		case <-c.Done:
		case <-deadline:
		}
	}
	for _, c := range cs.list {
		// The group may outlive its leader (nginx workers), so kill it
		// even when the leader is gone; ESRCH is the normal answer.
		syscall.Kill(-c.Cmd.Process.Pid, syscall.SIGKILL)
	}
	cs.list = nil
}

// upgrades says whether addr answers a WebSocket upgrade with 101.
func upgrades(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if f := strings.Fields(status); len(f) < 2 || f[1] != "101" {
		return fmt.Errorf("answered %q", strings.TrimSpace(status))
	}
	return nil
}

// waitReady polls addr until it upgrades, the child exits, or 30 s pass
// (Apache starts thousands of threads first).
func waitReady(ctx context.Context, c *benchkit.Child, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := upgrades(addr)
		if err == nil {
			return nil
		}
		select {
		case <-c.Done:
			return fmt.Errorf("exited before answering: %s", c.Tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no upgrade on %s after 30 s: %v", addr, err)
		}
	}
}

// A peer is another proxy, measured if installed. Nothing is installed.
type peer struct {
	name    string
	bin     string // looked up on PATH, then in /usr/sbin
	conf    string // template in bench/peers
	args    func(dir, conf string) []string
	env     []string // besides the environment; DIR is replaced
	version []string
}

var peers = []peer{
	{name: "nginx", bin: "nginx", conf: "nginx.conf",
		args: func(dir, conf string) []string {
			return []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log")}
		},
		version: []string{"-v"}},
	{name: "haproxy", bin: "haproxy", conf: "haproxy.cfg",
		args:    func(dir, conf string) []string { return []string{"-f", conf, "-db"} },
		version: []string{"-v"}},
	{name: "apache2", bin: "apache2", conf: "apache2.conf",
		args:    func(dir, conf string) []string { return []string{"-f", conf, "-DFOREGROUND"} },
		version: []string{"-v"}},
	{name: "caddy", bin: "caddy", conf: "Caddyfile",
		args: func(dir, conf string) []string {
			return []string{"run", "--config", conf, "--adapter", "caddyfile"}
		},
		// Caddy keeps state under HOME or XDG_*: keep it in DIR.
		env:     []string{"GOMAXPROCS=1", "HOME=DIR", "XDG_DATA_HOME=DIR", "XDG_CONFIG_HOME=DIR"},
		version: []string{"version"}},
}

func lookPeer(bin string) (string, bool) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, true
	}
	p := filepath.Join("/usr/sbin", bin)
	if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
		return p, true
	}
	return "", false
}

// confData fills the peers' config templates; each file names the fields
// it uses at its top.
type confData struct {
	Listen, Backend, Dir string
	NoFile               uint64
	Threads              int
	User, Group          string
}

// render fills the template src into DIR/NAME.
func render(src, dir string, data confData) (string, error) {
	t, err := template.ParseFiles(src)
	if err != nil {
		return "", fmt.Errorf("read peer config: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	f, err := os.Create(dst)
	if err != nil {
		return "", fmt.Errorf("write peer config: %w", err)
	}
	defer f.Close()
	if err := t.Execute(f, data); err != nil {
		return "", fmt.Errorf("fill %s: %w", src, err)
	}
	return dst, f.Close()
}

// unprivileged is the user Apache's server process switches to when this
// runs as root, in Apache's #UID/#GID form.
func unprivileged() (string, string) {
	if u, err := user.Lookup("nobody"); err == nil {
		return "#" + u.Uid, "#" + u.Gid
	}
	return "#65534", "#65534"
}

// versionOf is the first line a program prints about its version, with
// the boilerplate around the number cut.
func versionOf(bin string, args ...string) string {
	first := benchkit.VersionOf(bin, args...)
	for _, p := range []string{"nginx version: ", "Server version: "} {
		first = strings.TrimPrefix(first, p)
	}
	first, _, _ = strings.Cut(first, " - http")
	first, _, _ = strings.Cut(first, " h1:") // caddy's module hash
	return strings.TrimSpace(first)
}
