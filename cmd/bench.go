package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v3"
	"github.com/wsgate/wsgate/internal/loadgen"
)

func benchCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "benchmark a WebSocket echo server, directly or through a proxy",
		ArgsUsage: "URL",
		Description: "bench talks to an echo server (wsgate echo, or wsgate serve in front of one) and reports\n" +
			"what it measured as a table on standard output, or with --json as one JSON object.\n" +
			"Run it against the backend and then through the proxy to see what the proxy costs.\n\n" +
			"Scenarios:\n" +
			"   throughput  --conns connections, each keeping --window messages of --size bytes in flight: MB/s, msg/s\n" +
			"   latency     one message at a time per connection (or --rate messages/s in all): p50, p99, p99.9\n" +
			"   handshake   --workers loops of connect, upgrade, one echo, close: conn/s, handshake p99\n" +
			"   idle        open --conns connections, hold them --duration, report how many stayed open\n\n" +
			"Exit status: 0 when every connection worked, 1 if any failed (the count and the first\n" +
			"error are printed), 2 for bad arguments.\n\n" +
			"   wsgate bench --scenario latency --conns 4 ws://127.0.0.1:8080/",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scenario", Value: loadgen.Throughput, Usage: "throughput, latency, handshake or idle"},
			&cli.IntFlag{Name: "conns", Value: 1, Usage: "connections (throughput, latency, idle)"},
			&cli.IntFlag{Name: "size", DefaultText: "65536 for throughput, 32 otherwise", Usage: "message size in bytes"},
			&cli.IntFlag{Name: "window", Value: 4, Usage: "messages in flight per connection (throughput)"},
			&cli.FloatFlag{Name: "rate", Usage: "messages per second in all, sent on a fixed schedule (latency); 0: as fast as the answers come"},
			&cli.IntFlag{Name: "workers", Value: 16, Usage: "concurrent connect-echo-close loops (handshake)"},
			&cli.BoolFlag{Name: "wait-fin", Usage: "after the close handshake, wait for the server to close TCP first, as RFC 6455 asks (handshake)"},
			&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "how long to measure (or, for idle, to hold the connections)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "limit for each connection's opening handshake"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON object instead of a table"},
			&cli.StringFlag{Name: "ca", TakesFile: true, Usage: "PEM file of CA certificates to trust for wss://, besides the system's"},
			&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "do NOT verify the server's certificate (for serve --tls-self-signed)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error { return bench(ctx, e, cmd) },
	}
}

func bench(ctx context.Context, e *env, cmd *cli.Command) error {
	cfg, err := benchFlags(cmd)
	if err != nil {
		return err
	}
	var prog io.Writer
	if f, ok := e.stderr.(*os.File); ok && isTerminal(f) {
		prog = e.stderr
	}
	res, runErr := loadgen.Run(ctx, cfg, prog)
	if cmd.Bool("json") {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	} else if runErr == nil || res.Measured() {
		// A run that measured nothing (no backend, a bad URL) says why
		// and no more: a table of zeros would read as a result.
		res.WriteTable(e.stdout)
	}
	if runErr != nil {
		return fmt.Errorf("bench: %w", runErr)
	}
	return nil
}

func benchFlags(cmd *cli.Command) (loadgen.Config, error) {
	cfg := loadgen.Config{
		Scenario: cmd.String("scenario"),
		Conns:    int(cmd.Int("conns")),
		Size:     int(cmd.Int("size")),
		Window:   int(cmd.Int("window")),
		Rate:     cmd.Float("rate"),
		Workers:  int(cmd.Int("workers")),
		WaitFIN:  cmd.Bool("wait-fin"),
		Duration: cmd.Duration("duration"),
		Timeout:  cmd.Duration("timeout"),
	}
	if cmd.NArg() != 1 {
		return cfg, usagef("bench takes one URL, for example: wsgate bench ws://127.0.0.1:9001/")
	}
	cfg.URL = cmd.Args().First()
	if u, err := url.Parse(cfg.URL); err != nil || u.Host == "" ||
		(u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") {
		return cfg, usagef("bench %q: want a ws:// or wss:// URL with a host", cfg.URL)
	}
	switch cfg.Scenario {
	case loadgen.Throughput, loadgen.Latency, loadgen.Handshake, loadgen.Idle:
	default:
		return cfg, usagef("--scenario %q: want throughput, latency, handshake or idle", cfg.Scenario)
	}
	if !cmd.IsSet("size") {
		cfg.Size = 32
		if cfg.Scenario == loadgen.Throughput {
			cfg.Size = 64 << 10
		}
	}
	switch {
	case cfg.Conns < 1:
		return cfg, usagef("--conns %d: want at least 1", cfg.Conns)
	case cfg.Size < 1 || cfg.Size > 64<<20:
		return cfg, usagef("--size %d: want 1 to 67108864 bytes", cfg.Size)
	case cfg.Window < 1:
		return cfg, usagef("--window %d: want at least 1", cfg.Window)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return cfg, usagef("--rate %v: want a positive number of messages per second", cfg.Rate)
	case cfg.Workers < 1:
		return cfg, usagef("--workers %d: want at least 1", cfg.Workers)
	case cfg.Duration <= 0:
		return cfg, usagef("--duration %v: want more than 0", cfg.Duration)
	case cfg.Timeout <= 0:
		return cfg, usagef("--timeout %v: want more than 0", cfg.Timeout)
	}
	tlsConfig, err := clientTLS(cmd.String("ca"), cmd.Bool("insecure-skip-verify"))
	cfg.TLS = tlsConfig
	return cfg, err
}
