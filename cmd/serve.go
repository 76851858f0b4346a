package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/tunnel"
)

// shutdownGrace is how long a stop waits for requests in flight.
const shutdownGrace = 5 * time.Second

func serveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the proxy",
		ArgsUsage: "[BACKEND-URL]",
		Description: "Each --pass takes exactly the arguments of Apache's ProxyPass directive:\n\n" +
			"   wsgate serve --pass '/chat/ ws://127.0.0.1:9001/' --pass '/api/ http://127.0.0.1:9002/'\n\n" +
			"A lone backend URL means ProxyPass / URL:\n\n" +
			"   wsgate serve ws://127.0.0.1:9001/\n\n" +
			"--demo starts a built-in echo backend behind the proxy, to try it at once.",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Value: "127.0.0.1:8080", Usage: "address to listen on (port 0 picks a free one)"},
			&cli.StringSliceFlag{Name: "pass", Aliases: []string{"p"}, Usage: "a mapping, as ProxyPass's arguments: 'PATH URL [key=value ...]' or 'PATH !' (repeatable)"},
			&cli.BoolFlag{Name: "demo", Usage: "serve a built-in echo backend behind the proxy"},
			&cli.StringFlag{Name: "backend-ca", Usage: "PEM file of CA certificates trusted for wss:// and https:// backends, besides the system's", TakesFile: true},
			&cli.BoolFlag{Name: "backend-insecure-skip-verify", Usage: "do NOT verify backend TLS certificates (anyone on the path can read the traffic)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log line format when not showing the live view: text or json"},
			&cli.BoolFlag{Name: "no-live", Usage: "print log lines instead of the live view, even on a terminal"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log more (debug level)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error { return serve(ctx, e, cmd) },
	}
}

func serve(ctx context.Context, e *env, cmd *cli.Command) error {
	table, err := tableFromFlags(cmd)
	if err != nil {
		return err
	}
	format := cmd.String("log-format")
	if format != "text" && format != "json" {
		return usagef("--log-format %q: want text or json", format)
	}
	backendTLS, err := backendTLSConfig(cmd.String("backend-ca"), cmd.Bool("backend-insecure-skip-verify"))
	if err != nil {
		return err
	}
	live := e.terminal && !cmd.Bool("no-live")
	var events *eventLog
	log := newLogger(e.stderr, format, cmd.Bool("verbose"))
	if live {
		events = newEventLog(8)
		log = newViewLogger(events, cmd.Bool("verbose"))
	}

	var demoURL string
	if cmd.Bool("demo") {
		addr, stopEcho, err := startEcho(ctx)
		if err != nil {
			return err
		}
		defer stopEcho()
		demoURL = "ws://" + addr + "/"
		r, err := rules.ParsePass(rules.Pos{File: "--demo"}, "/ "+demoURL)
		if err != nil {
			return err
		}
		table.Rules = append(table.Rules, r)
	}
	if len(table.Rules) == 0 {
		return usagef("nothing to proxy: give a backend URL (wsgate serve ws://127.0.0.1:9001/), " +
			"one or more --pass 'PATH URL', or --demo to try the built-in echo backend")
	}

	ln, err := net.Listen("tcp", cmd.String("listen"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := tunnel.New(tunnel.Config{Table: table, Logger: log, BackendTLS: backendTLS})
	addr := ln.Addr().String()
	fmt.Fprintf(e.stdout, "wsgate: listening on %s\n", addr)
	if demoURL != "" {
		fmt.Fprintf(e.stdout, "wsgate: demo echo backend on %s\n", demoURL)
		fmt.Fprintf(e.stdout, "  connect:  wsgate dial ws://%s/   (or: go run . dial ws://%s/)\n", addr, addr)
		fmt.Fprintf(e.stdout, "  or open http://%s/ in a browser\n", addr)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	start := time.Now()
	if live {
		v := &view{out: e.stdout, addr: addr, version: e.info.Version, start: start, events: events, color: e.getenv("NO_COLOR") == ""}
		v.run(ctx, srv.Snapshot)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	srv.Shutdown(sctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(e.stdout, summary(srv.Snapshot(), time.Since(start)))
	return nil
}

// tableFromFlags reads --pass values and the optional lone backend URL.
func tableFromFlags(cmd *cli.Command) (*rules.Table, error) {
	table, err := rules.FromFlags(cmd.StringSlice("pass"))
	if err != nil {
		return nil, err
	}
	switch cmd.NArg() {
	case 0:
	case 1:
		r, err := rules.ParsePass(rules.Pos{File: "backend URL"}, "/ "+cmd.Args().First())
		if err != nil {
			return nil, err
		}
		table.Rules = append(table.Rules, r)
	default:
		return nil, usagef("serve takes at most one backend URL, got %d; use --pass 'PATH URL' for more", cmd.NArg())
	}
	return table, nil
}

func backendTLSConfig(caFile string, insecure bool) (*tls.Config, error) {
	if caFile == "" && !insecure {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("--backend-ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--backend-ca %s: no PEM certificate found", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// startEcho runs the built-in echo backend on a free loopback port, quietly:
// the proxy's own lines already tell every tunnel.
func startEcho(ctx context.Context) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("start demo echo backend: %w", err)
	}
	hs := &http.Server{
		Handler:           echo.Handler(echo.Options{}),
		ReadHeaderTimeout: time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go hs.Serve(ln)
	return ln.Addr().String(), func() { hs.Close() }, nil
}

func summary(s tunnel.Snapshot, up time.Duration) string {
	return fmt.Sprintf("wsgate: stopped after %s: tunnels %d, failed %d, plain HTTP requests %d, bytes %s up, %s down",
		up.Round(time.Second), s.Total, s.Failed, s.Requests, formatBytes(s.Up), formatBytes(s.Down))
}
