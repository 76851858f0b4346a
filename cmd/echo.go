package cmd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/echo"
)

func echoCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "echo",
		Usage: "run the built-in WebSocket echo backend",
		Description: "Echoes every message back with its type, answers pings, and answers a close with\n" +
			"the same code and reason. A plain GET returns a small page that talks to it.",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Value: "127.0.0.1:9001", Usage: "address to listen on (port 0 picks a free one)"},
			&cli.StringSliceFlag{Name: "subprotocol", Usage: "subprotocols the server may choose, in order of preference (repeatable or comma-separated)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log line format: text or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "log only warnings and errors: no line per connection"},
			&cli.BoolFlag{Name: "print", Aliases: []string{"p"}, Usage: "print each message received on standard output: client, type, size, payload (text as is, binary in hex)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			format := cmd.String("log-format")
			if format != "text" && format != "json" {
				return usagef("--log-format %q: want text or json", format)
			}
			ln, err := net.Listen("tcp", cmd.String("listen"))
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			hs := &http.Server{
				Handler: echo.Handler(echo.Options{
					Subprotocols: splitList(cmd.StringSlice("subprotocol")),
					Logger:       newLogger(e.stderr, format, logLevel(cmd)),
					OnMessage:    printer(e, cmd.Bool("print")),
				}),
				ReadHeaderTimeout: time.Minute,
				// Hijacked WebSocket connections outlive hs.Close; their
				// request context is what ends them.
				BaseContext: func(net.Listener) context.Context { return ctx },
			}
			fmt.Fprintf(e.stdout, "wsgate: echo listening on %s\n", ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case <-ctx.Done():
				hs.Close()
				return nil
			case err := <-errc:
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return fmt.Errorf("echo: %w", err)
			}
		},
	}
}

// printShown is how much of a payload --print shows.
const printShown = 256

// printer is echo --print's OnMessage: one line per message on stdout,
// "127.0.0.1:51234 text 5 B: hello". Text with control characters is
// quoted, binary shown in hex, anything past printShown bytes cut.
func printer(e *env, on bool) func(string, bool, []byte, int64) {
	if !on {
		return nil
	}
	var mu sync.Mutex // connections print from their own goroutines
	return func(client string, text bool, p []byte, size int64) {
		kind, shown := "binary", ""
		cut := p[:min(len(p), printShown)]
		switch {
		case p == nil:
			shown = "(streamed back, not shown)"
		case text && strings.ContainsFunc(string(cut), unicode.IsControl):
			kind, shown = "text", strconv.Quote(string(cut))
		case text:
			kind, shown = "text", string(cut)
		default:
			shown = hex.EncodeToString(cut)
		}
		if len(p) > printShown {
			shown += " …"
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(e.stdout, "%s %s %d B: %s\n", client, kind, size, shown)
	}
}

// splitList flattens repeatable, comma-separated flag values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
