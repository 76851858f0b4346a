package cmd

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"
	"github.com/wsgate/wsgate/rules"
)

// listenAddr is an address serve listens on, what asked for it, and the
// certificates of the virtual hosts it serves with TLS.
type listenAddr struct {
	addr  string
	why   string // "--listen", "Listen at wsgate.conf:2" ...
	certs []rules.TLSFiles
	// fromFile: the address is the rules file's, so a failure suggests
	// --listen; vhost: it is a <VirtualHost>'s port.
	fromFile, vhost bool
}

// listenAddrs decides where serve listens: --listen when given, else the
// rules file's Listen lines, else one listener per port the
// <VirtualHost> sections name (on 127.0.0.1: a bare port means loopback,
// as for Listen), else the default. Each listener serves TLS with the
// certificates of listenerCerts.
func listenAddrs(cmd *cli.Command, table *rules.Table) []listenAddr {
	var out []listenAddr
	switch {
	case cmd.IsSet("listen") || len(table.Listen) == 0 && len(hostPorts(table)) == 0:
		out = append(out, listenAddr{addr: flagAddr(cmd.String("listen")), why: "--listen"})
	case len(table.Listen) > 0:
		for _, l := range table.Listen {
			out = append(out, listenAddr{addr: l.Addr, why: "Listen at " + l.Pos.String(), fromFile: true})
		}
	default:
		for _, p := range hostPorts(table) {
			out = append(out, listenAddr{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
				why: fmt.Sprintf("%s at %s", p.vh, rules.Pos{File: p.vh.Pos.File, Line: p.vh.Pos.Line}), fromFile: true, vhost: true})
		}
	}
	for i := range out {
		out[i].certs = listenerCerts(table, out[i].addr)
	}
	return out
}

// flagAddr is --listen's value as an address: a bare port means
// 127.0.0.1, as "Listen 8080" in a rules file does, and "*:8080" every
// interface, as in Apache.
func flagAddr(v string) string {
	if _, err := strconv.Atoi(v); err == nil {
		return net.JoinHostPort("127.0.0.1", v)
	}
	if p, ok := strings.CutPrefix(v, "*:"); ok {
		return ":" + p
	}
	return v
}

// everyInterface reports whether a listener on addr can be reached from
// other machines: no host, or the unspecified address.
func everyInterface(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// hostPort is a port a virtual host names, with the first that does.
type hostPort struct {
	port int
	vh   *rules.VirtualHost
}

// hostPorts are the distinct ports the virtual hosts name, in order.
func hostPorts(table *rules.Table) []hostPort {
	var ports []hostPort
	for _, vh := range table.Hosts {
		for _, p := range vh.Ports() {
			if !slices.ContainsFunc(ports, func(h hostPort) bool { return h.port == p }) {
				ports = append(ports, hostPort{p, vh})
			}
		}
	}
	return ports
}

// listenerCerts are the certificates a listener on addr serves (none:
// plain HTTP). A port that virtual hosts name serves TLS when they have
// SSLEngine on, with their certificates (Go picks one by SNI). Any other
// port, such as --listen's, serves the main server's SSLEngine, else the
// certificates of every virtual host that has SSLEngine on: a request
// then goes to a virtual host with TLS (Table.Match), which in a pasted
// pair of *:80 and *:443 sections is the one that proxies.
func listenerCerts(table *rules.Table, addr string) []rules.TLSFiles {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	var onPort, all []rules.TLSFiles
	named := false
	for _, vh := range table.Hosts {
		f := vh.Table.TLS
		here := slices.Contains(vh.Ports(), port)
		named = named || here
		if f.CertFile == "" {
			continue
		}
		if here && !slices.Contains(onPort, f) {
			onPort = append(onPort, f)
		}
		if !slices.Contains(all, f) {
			all = append(all, f)
		}
	}
	switch {
	case named:
		return onPort
	case table.TLS.CertFile != "":
		return []rules.TLSFiles{table.TLS}
	}
	return all
}

// listener is a net.Listener with what serve says about it.
type listener struct {
	net.Listener
	tls  bool
	note string // printed on the line after the address
}

// listen opens the listeners, with TLS from the flags (flagTLS) or from
// the rules file, with open (env.listen) when it is set. All or none: a
// port in use closes the ones already open.
func listen(addrs []listenAddr, flagTLS *tls.Config, open func(context.Context, string, string) (net.Listener, error)) ([]listener, error) {
	var lns []listener
	fail := func(err error) ([]listener, error) {
		for _, l := range lns {
			l.Close()
		}
		return nil, err
	}
	// No TCP keep-alive probes on client connections, as in Apache: they
	// cost four setsockopt calls per connection, and a tunnel's peers
	// notice a dead connection themselves (WebSocket pings).
	lc := net.ListenConfig{KeepAlive: -1}
	if open == nil {
		open = lc.Listen
	}
	for _, a := range addrs {
		cfg := flagTLS
		if cfg == nil && len(a.certs) > 0 {
			var err error
			if cfg, err = certsTLS(a.certs); err != nil {
				return fail(err)
			}
		}
		ln, err := open(context.Background(), "tcp", a.addr)
		if err != nil {
			if a.fromFile {
				return fail(fmt.Errorf("listen on %s (%s): %w; choose another address with --listen, for example --listen 127.0.0.1:8080", a.addr, a.why, err))
			}
			return fail(fmt.Errorf("listen: %w", err))
		}
		l := listener{Listener: ln, tls: cfg != nil}
		if cfg != nil {
			l.Listener = tls.NewListener(ln, cfg)
		}
		if a.vhost {
			l.note = "the port of " + a.why + " (on loopback; --listen chooses another address)"
		}
		lns = append(lns, l)
	}
	return lns, nil
}

// certsTLS loads the certificates of a listener; Go picks one by the
// client's SNI, the first when none fits. A file that cannot be read is
// an error at its SSLEngine line.
func certsTLS(files []rules.TLSFiles) (*tls.Config, error) {
	var certs []tls.Certificate
	for _, f := range files {
		c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, usagef("%s: load certificate %s and key %s: %w", cmp.Or(f.CertPos, f.Pos), f.CertFile, f.KeyFile, err)
		}
		certs = append(certs, c)
	}
	cfg := serverTLS(certs[0])
	cfg.Certificates = certs
	return cfg, nil
}
