package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/urfave/cli/v3"
	"github.com/wsgate/wsgate/rules"
)

func routeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "route",
		Usage:     "show which rule a request matches and where it goes",
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
