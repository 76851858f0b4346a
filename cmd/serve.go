package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/liveview"
	"github.com/wsgate/wsgate/internal/status"
	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// defaultGrace is how long a stop waits for tunnels to answer their
// going-away close and for requests in flight.
const defaultGrace = 10 * time.Second

// waitNoticeAfter is how long a stop waits quietly for tunnels to answer
// their going-away close before it says what it waits for.
const waitNoticeAfter = 300 * time.Millisecond

// defaultListen is loopback: a development tool must not open a port to
// the network by surprise.
const defaultListen = "127.0.0.1:8080"

func serveCommand(e *env) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Value: defaultListen,
			Usage: "`ADDR` to listen on: host:port, or a port alone for 127.0.0.1 (0 picks a free one); overrides the rules file's Listen lines"},
		&cli.BoolFlag{Name: "demo", Usage: "serve a built-in echo backend behind the proxy"},
	}
	output := []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log line `FORMAT` when not showing the live view: text or json"},
		&cli.BoolFlag{Name: "no-live", Usage: "print log lines instead of the live view, even on a terminal"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also log each upgrade exchange in full: the request sent to the backend, its answer, timings"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "log only warnings and errors: no line per tunnel (the live view and --stats-json still count them)"},
	}
	grace := &cli.DurationFlag{Name: "grace", Value: defaultGrace,
		Usage: "on stop, how long tunnels get to answer the 1001 going-away close before they are cut (a second Ctrl-C cuts at once)"}
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the proxy",
		ArgsUsage: "[BACKEND-URL]",
		Description: "Each --pass takes exactly the arguments of Apache's ProxyPass directive:\n\n" +
			"   wsgate serve --pass '/chat/ ws://127.0.0.1:9001/' \\\n" +
			"                --pass '/api/ http://127.0.0.1:9002/'\n\n" +
			"A lone backend URL is the whole site to that backend (ProxyPass / URL/):\n\n" +
			"   wsgate serve ws://127.0.0.1:9001/\n\n" +
			"--config reads the proxy part of an Apache configuration (see docs/rules.md):\n\n" +
			"   wsgate serve --config wsgate.conf\n\n" +
			"--demo starts a built-in echo backend behind the proxy, to try it at once.",
		OnUsageError: onUsageError,
		Flags: slices.Concat(flags, ruleFlags(),
			inCategory("LIMITS", append(limitFlags(), grace)),
			inCategory("TLS", append(tlsFlags(), backendTLSFlags()...)),
			inCategory("OBSERVING", slices.Concat(observeFlags(), metricsFlags(), traceFlags())),
			inCategory("OUTPUT", output)),
		Action: func(ctx context.Context, cmd *cli.Command) error { return serve(ctx, e, cmd) },
	}
}

func serve(ctx context.Context, e *env, cmd *cli.Command) error {
	format := cmd.String("log-format")
	if format != "text" && format != "json" {
		return usagef("--log-format %q: want text or json", format)
	}
	table, err := loadTable(cmd, e.stderr)
	if err != nil {
		return err
	}
	if err := addBackendArg(cmd, table); err != nil {
		return err
	}
	backendTLS, err := backendTLSConfig(cmd, table.BackendTLS)
	if err != nil {
		return err
	}
	// The TLS flags, which win over the rules file's SSLEngine lines.
	flagTLS, tlsNote, err := listenerTLS(cmd, rules.TLSFiles{})
	if err != nil {
		return err
	}
	obs, err := observeFlagValues(cmd)
	if err != nil {
		return err
	}
	met, err := metricsFlagValues(cmd)
	if err != nil {
		return err
	}
	lim, err := limitFlagValues(cmd)
	if err != nil {
		return err
	}
	if obs.statsFile != nil {
		defer obs.statsFile.Close()
	}
	// quit stops serve as a signal would: the live view's q, --exit-after.
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	tr, err := newTracing(cmd, e)
	if err != nil {
		return err
	}
	defer tr.close()
	// --trace prints on standard output, which the live view owns.
	live := e.terminal && !cmd.Bool("no-live") && !cmd.Bool("trace")
	var events *liveview.EventLog
	log := newLogger(e.stderr, format, logLevel(cmd))
	if live {
		events = liveview.NewEventLog(200) // the log pane of a tall terminal
		log = newViewLogger(events, logLevel(cmd))
	}

	var demoURL string
	var demoRule *rules.Rule
	if cmd.Bool("demo") {
		addr, stopEcho, err := startEcho(ctx)
		if err != nil {
			return err
		}
		defer stopEcho()
		demoURL = "ws://" + addr + "/"
		demoRule, err = rules.ParsePass(rules.Pos{File: "--demo"}, "/ "+demoURL)
		if err != nil {
			return err
		}
		table.Append(demoRule)
	}
	if countRules(table) == 0 {
		return usagef("nothing to proxy: give a backend URL (wsgate serve ws://127.0.0.1:9001/), " +
			"one or more --pass 'PATH URL', a --config file, or --demo to try the built-in echo backend")
	}
	// check's warnings, before the live view takes the screen (loadTable
	// printed the parse's); the view counts them all and shows them on w.
	checked := table.Check()
	printWarnings(e.stderr, checked)
	warnings := warningLines(slices.Concat(table.Warnings, checked))

	addrs := listenAddrs(cmd, table)
	for _, a := range addrs {
		if everyInterface(a.addr) {
			_, port, _ := net.SplitHostPort(a.addr)
			fmt.Fprintf(e.stderr, "wsgate: warning: %s (%s) listens on every interface, so other machines can connect; 127.0.0.1:%s keeps it to this one\n",
				a.addr, a.why, port)
		}
	}
	lns, err := listen(addrs, flagTLS, e.listen)
	if err != nil {
		return err
	}
	metLn, err := met.listenOwn(ctx, e)
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return err
	}
	start := time.Now()
	var srv *tunnel.Server
	cfg := tunnel.Config{Table: table, Logger: log, BackendTLS: backendTLS,
		Wrap: obs.statusWrap(func() tunnel.Snapshot { return srv.Snapshot() }, start, e.info.Version)}
	mh := metricsHandler(func() tunnel.Metrics { return srv.Metrics() }, e, start)
	cfg.Wrap = met.wrap(cfg.Wrap, mh)
	tr.configure(&cfg)
	// For the view's detail pane, and only then: handshakes and, while
	// tracing, each tunnel's last messages.
	cfg.KeepHandshakes = live
	var recent func(uint64) ([]trace.Recorded, bool)
	if live {
		recent = tr.recent()
	}
	lim.configure(&cfg)
	srv = tunnel.New(cfg)
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		fmt.Fprintf(e.stdout, "wsgate: listening on %s\n", ln.Addr())
		if ln.note != "" {
			fmt.Fprintf(e.stdout, "wsgate:   %s\n", ln.note)
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	met.serveOwn(ctx, e, metLn, mh)
	if tlsNote != "" {
		fmt.Fprintln(e.stdout, tlsNote)
	}
	tr.announce(e.stdout)
	if demoURL != "" {
		fmt.Fprintf(e.stdout, "wsgate: demo echo backend on %s\n", demoURL)
		for _, l := range connectLines(lns[0], cmd.Bool("tls-self-signed")) {
			fmt.Fprintln(e.stdout, l)
		}
	}

	go reloadOnSignal(ctx, e, log, srv, func() (*rules.Table, error) {
		t, err := loadTable(cmd, e.stderr)
		if err == nil {
			err = addBackendArg(cmd, t)
		}
		if err == nil && demoRule != nil {
			t.Append(demoRule)
		}
		return t, err
	})
	if obs.exitAfter > 0 || obs.exitIdle > 0 {
		go watchExit(ctx, srv.Snapshot, obs.exitAfter, obs.exitIdle, log, quit)
	}
	if live {
		v := &liveview.View{Out: e.stdout, Addr: lns[0].Addr().String(), Version: e.info.Version, Start: start, Events: events,
			Warnings: warnings, Detail: srv.TunnelDetail, Messages: recent,
			Color: e.getenv("NO_COLOR") == "", Keys: terminalIn(e.stdin), Quit: quit}
		if demoURL != "" {
			v.Header = connectLines(lns[0], cmd.Bool("tls-self-signed"))
		}
		v.Run(ctx, srv.Snapshot)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown(e, srv, cmd.Duration("grace"), log)
	err = errors.Join(err, tr.close()) // the HAR, now that no message can arrive
	if obs.statsFile != nil {
		err = errors.Join(err, status.WriteFile(obs.statsFile, srv.Snapshot(), start, e.info.Version))
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(e.stdout, summary(srv.Snapshot(), time.Since(start)))
	return nil
}

// addBackendArg turns a lone BACKEND-URL argument into ProxyPass / URL/,
// after the other rules: the whole site to that backend, as caddy
// reverse-proxy --to reads it. A literal "ProxyPass / ws://h:9001" would
// map /chat to ws://h:9001chat, an invalid URL Apache answers with 500,
// so the URL's path gets the slash it lacks (docs/cli.md).
func addBackendArg(cmd *cli.Command, table *rules.Table) error {
	switch cmd.NArg() {
	case 0:
		return nil
	case 1:
		target := cmd.Args().First()
		if _, rest, ok := strings.Cut(target, "://"); ok && !strings.HasSuffix(rest, "/") {
			target += "/"
		}
		r, err := rules.ParsePass(rules.Pos{File: "backend URL"}, "/ "+target)
		if err != nil {
			return err
		}
		table.Append(r)
		return nil
	}
	return usagef("serve takes at most one backend URL, got %d; use --pass 'PATH URL' for more", cmd.NArg())
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
