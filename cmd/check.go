package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/rules"
)

func checkCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate rules and print the routing table (like apachectl configtest)",
		Description: "Parses the rules file and flags exactly as serve would, prints every warning (dead rules,\n" +
			"slashes that glue or double path segments, parameters Apache would drop through worker\n" +
			"sharing, skipped directives) and then the routing table in order, each rule with its origin.\n" +
			"Exit status: 0 when the rules load, 2 when they do not (or, with --strict, on a warning),\n" +
			"1 when --dial finds a backend that does not accept connections.",
		OnUsageError: onUsageError,
		Flags: append(ruleFlags(),
			&cli.BoolFlag{Name: "dial", Usage: "also try a TCP connection to every backend"}),
		ArgsUsage: "[FILE]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			// apachectl -t users type the file name alone: it is --config.
			switch {
			case cmd.NArg() == 1 && !cmd.IsSet("config"):
				if err := cmd.Set("config", cmd.Args().First()); err != nil {
					return err
				}
			case cmd.NArg() > 0:
				return usagef("unexpected argument %q (the rules file is --config FILE, or FILE alone)", cmd.Args().First())
			}
			table, err := loadTable(cmd, e.stdout)
			if err != nil {
				return err
			}
			warnings := append(table.Check(), tlsFileWarnings(table)...)
			if cmd.Bool("strict") && len(warnings) > 0 {
				return rules.ErrorList(warnings)
			}
			printWarnings(e.stdout, warnings)
			fmt.Fprint(e.stdout, table.String())
			if cmd.Bool("dial") {
				if err := dialBackends(ctx, e, table); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "wsgate: %d rules, %d warnings: OK\n", countRules(table), len(table.Warnings)+len(warnings))
			return nil
		},
	}
}

// tlsFileWarnings warns about SSLCertificateFile and SSLCertificateKeyFile
// files that cannot be read. It is a warning, not an error: a pasted
// configuration names the certificates of the machine it came from, and
// the flags can replace them; serve stops with an error at the SSLEngine
// line when it needs them.
func tlsFileWarnings(table *rules.Table) []*rules.Error {
	var warns []*rules.Error
	var seen []string
	for _, s := range table.Servers() {
		f := s.TLS
		for _, file := range []struct{ directive, path string }{{"SSLCertificateFile", f.CertFile}, {"SSLCertificateKeyFile", f.KeyFile}} {
			if file.path == "" || slices.Contains(seen, file.path) {
				continue
			}
			seen = append(seen, file.path)
			if _, err := os.Stat(file.path); err != nil {
				warns = append(warns, &rules.Error{Pos: f.Pos, Msg: fmt.Sprintf(
					"%s %s: %v: serve would stop here; give --tls-cert and --tls-key, or --tls-self-signed, to serve without it",
					file.directive, file.path, errors.Unwrap(err))})
			}
		}
	}
	return warns
}

// allRules are the rules of every server and location, each once.
func allRules(table *rules.Table) []*rules.Rule {
	var all []*rules.Rule
	add := func(r *rules.Rule) {
		if r != nil && !slices.Contains(all, r) {
			all = append(all, r)
		}
	}
	for _, s := range table.Servers() {
		for _, r := range s.Rules {
			add(r)
		}
		for _, l := range s.Locations {
			add(l.Rule)
			add(l.Redirect)
			for _, r := range l.Rewrite {
				add(r)
			}
		}
	}
	return all
}

// countRules is how many rules the table holds, in every server and
// location.
func countRules(table *rules.Table) int { return len(allRules(table)) }

// dialBackends tries a TCP connection to every distinct backend address.
func dialBackends(ctx context.Context, e *env, table *rules.Table) error {
	var addrs []string
	for _, r := range allRules(table) {
		if r.Target == nil || r.Kind == rules.Redirection || strings.ContainsAny(r.Target.Host, "$%") {
			continue // exclusions, redirects, and hosts only known per request
		}
		if a := backendAddr(r.Target); !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	failed := 0
	for _, a := range addrs {
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			failed++
			fmt.Fprintf(e.stdout, "dial %s: %v\n", a, err)
			continue
		}
		c.Close()
		fmt.Fprintf(e.stdout, "dial %s: ok\n", a)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d backends do not accept connections", failed, len(addrs))
	}
	return nil
}

func backendAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "wss" || u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

func routeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "route",
		Usage:     "show which rule a request matches and the backend URL it goes to",
		ArgsUsage: "PATH[?QUERY]",
		Description: "Runs the same matching as serve on a request described by its target, method and headers:\n\n" +
			"   wsgate route --config wsgate.conf -H 'Upgrade: websocket' /chat/room1\n\n" +
			"Exit status: 0 when a rule sends the request to a backend, 1 when none does (the\n" +
			"answer the proxy would give is printed), 2 for bad flags or rules.",
		OnUsageError: onUsageError,
		Flags: append(ruleFlags(),
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "a request header 'Name: value' (repeatable); Host sets the Host"},
			&cli.StringFlag{Name: "method", Value: "GET", Usage: "the request method"},
			&cli.IntFlag{Name: "port", Usage: "the port the request arrives on, which chooses the <VirtualHost> (default: none, the Host alone decides)"}),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return usagef("route takes one request target, for example: wsgate route --config wsgate.conf /chat/room1")
			}
			table, err := loadTable(cmd, e.stderr)
			if err != nil {
				return err
			}
			header, host, err := parseHeaders(cmd.StringSlice("header"))
			if err != nil {
				return err
			}
			return route(e, table, cmd.String("method"), cmd.Args().First(), host, header, int(cmd.Int("port")))
		},
	}
}

// route prints where serve would send a request, using the very same
// Table.Match and Match.Action.
func route(e *env, table *rules.Table, method, target, host string, header http.Header, port int) error {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return usagef("request target %q: %v", target, err)
	}
	if host == "" {
		host = "localhost"
	}
	req := &http.Request{
		Method: method, URL: u, RequestURI: target, Host: host, Header: header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "127.0.0.1:0",
	}
	if port > 0 {
		// What the server's listener puts in every request's context.
		req = req.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey,
			&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}))
	}
	m, err := table.Match(req)
	if err != nil {
		var re *rules.RequestError
		if errors.As(err, &re) {
			return fmt.Errorf("%w: %s (the proxy answers %d %s)", errNoRoute, re.Reason, re.Status, http.StatusText(re.Status))
		}
		return err
	}
	if vh := m.VirtualHost; vh != nil {
		fmt.Fprintf(e.stdout, "server   %s at %s (ServerName %s)\n", vh, vh.Pos, cmp.Or(vh.ServerName, "none"))
	}
	if l := m.Location; l != nil {
		fmt.Fprintf(e.stdout, "location %s at %s\n", l, l.Pos)
	}
	if rd := m.Redirect; rd != nil {
		fmt.Fprintf(e.stdout, "rule     %s: %s\n", m.Rule.Pos, m.Rule)
		answer := fmt.Sprintf("%d %s", rd.Status, http.StatusText(rd.Status))
		if rd.Location != "" {
			answer += ", Location: " + rd.Location
		}
		fmt.Fprintf(e.stdout, "answer   %s (wsgate answers; nothing is proxied)\n", answer)
		return nil
	}
	rule := m.Rule
	if b := m.Balancer; b != nil && len(b.Members) > 0 {
		// The server decides on the member it picks; the members of a
		// balancer share a scheme in every sensible configuration.
		m = m.Member(b.Members[0])
		fmt.Fprintf(e.stdout, "balancer balancer://%s: %d members, the first shown\n", b.Name, len(b.Members))
	}
	asked := strings.Join(header.Values("Upgrade"), ", ")
	backend := m.URL()
	var as string
	switch act, proto := m.Action(req); act {
	case rules.ActTunnel:
		as = fmt.Sprintf("tunnel, if the backend answers 101 (Upgrade: %s)", proto)
	case rules.ActUpgradeRequired:
		as = fmt.Sprintf("426 Upgrade Required: the rule does not allow Upgrade %q", asked)
	default:
		as = "plain HTTP"
		if asked != "" {
			as += fmt.Sprintf(" (Upgrade %q is not allowed by this rule)", asked)
		}
		switch m.Scheme { // ws:// is sent as http:// (ProxyWebsocketFallbackToProxyHttp)
		case "ws":
			backend = "http" + strings.TrimPrefix(backend, "ws")
		case "wss":
			backend = "https" + strings.TrimPrefix(backend, "wss")
		}
	}
	fmt.Fprintf(e.stdout, "rule     %s: %s\n", rule.Pos, rule)
	fmt.Fprintf(e.stdout, "backend  %s\n", backend)
	fmt.Fprintf(e.stdout, "as       %s\n", as)
	idle := "none"
	if m.IdleTimeout > 0 {
		idle = m.IdleTimeout.String()
	}
	fmt.Fprintf(e.stdout, "idle     %s\n", idle)
	return nil
}
