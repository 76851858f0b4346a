package cmd

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/urfave/cli/v3"
)

func dialCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "dial",
		Usage:     "send stdin as WebSocket messages, print the messages back",
		ArgsUsage: "URL",
		Description: "Sends each line of standard input (or --file) as one text message and\n" +
			"prints each message received on its own line: text as is, binary as base64\n" +
			"(or --binary-format). At the end of input it closes with 1000 (or --close)\n" +
			"once nothing has arrived for --wait. --count, --once and --idle-exit end it\n" +
			"whatever the input, so that a job against a streaming server ends.\n\n" +
			"Exit status:\n\n" +
			"   0  normal close: the server's 1000 or 1001, or the close dial sent\n" +
			"   1  error: no 101 answer (status and body shown), network, no pong\n" +
			"   2  bad arguments\n" +
			"   3  abnormal close: the server's code was not 1000 or 1001, or the\n" +
			"      connection dropped without a close frame (1006)\n\n" +
			"   echo hello | wsgate dial ws://127.0.0.1:8080/\n" +
			"   wsgate dial --once --idle-exit 30s wss://example.com/feed </dev/null\n" +
			"   base64 -w0 msg.bin | wsgate dial --base64 --binary-format hex URL",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "limit `D` for connect and handshake"},
			&cli.DurationFlag{Name: "wait", Value: time.Second, Usage: "at end of input, close after `D` quiet"},
			&cli.IntFlag{Name: "count", HideDefault: true, Usage: "close after `N` messages received"},
			&cli.BoolFlag{Name: "once", Usage: "close after one message: --count 1"},
			&cli.DurationFlag{Name: "idle-exit", HideDefault: true, Usage: "close once no message came for `D`"},
			&cli.BoolFlag{Name: "binary", Aliases: []string{"b"}, Usage: "send all input as one binary message"},
			&cli.BoolFlag{Name: "base64", Usage: "send each line base64-decoded, as binary"},
			&cli.StringFlag{Name: "file", TakesFile: true, Usage: "read input from `FILE`, not stdin"},
			&cli.StringFlag{Name: "binary-format", Value: "base64", Usage: "show binary as `F`: base64|hex|raw"},
			&cli.DurationFlag{Name: "ping", HideDefault: true, Usage: "ping every `D`; a pong must come within D"},
			&cli.StringFlag{Name: "close", Value: "1000", Usage: "send `CODE[:REASON]` to close"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "send header `'N: v'` (repeatable)"},
			&cli.StringFlag{Name: "origin", Usage: "send Origin: `URL`"},
			&cli.StringSliceFlag{Name: "subprotocol", Usage: "offer subprotocol `P` (repeatable)"},
			&cli.StringFlag{Name: "ca", TakesFile: true, Usage: "trust the CAs in PEM `FILE` for wss://"},
			&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "do NOT verify the server's certificate"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print handshake and close to stderr"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error { return dial(ctx, e, cmd) },
	}
}

// dialConfig is what dial's flags ask of the conversation, checked.
type dialConfig struct {
	input       inputMode
	src         io.Reader
	wait, idle  time.Duration // idle 0: off
	ping        time.Duration // 0: off
	count       int           // 0: no limit
	format      string        // of binary messages received: base64, hex or raw
	closeCode   websocket.StatusCode
	closeReason string
	log         io.Writer // -v; nil: quiet
}

func dial(ctx context.Context, e *env, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return usagef("dial takes one URL, for example: wsgate dial ws://127.0.0.1:8080/")
	}
	target := cmd.Args().First()
	if u, err := url.Parse(target); err != nil || u.Host == "" ||
		(u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") {
		return usagef("dial %q: want a ws:// or wss:// URL with a host", target)
	}
	cfg, err := dialFlags(e, cmd)
	if err != nil {
		return err
	}
	if f, ok := cfg.src.(*os.File); ok && f != os.Stdin {
		defer f.Close()
	}
	header, host, err := parseHeaders(cmd.StringSlice("header"))
	if err != nil {
		return err
	}
	if o := cmd.String("origin"); o != "" {
		header.Set("Origin", o)
	}
	tlsConfig, err := clientTLS(cmd.String("ca"), cmd.Bool("insecure-skip-verify"))
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig // nil: Go's defaults
	defer tr.CloseIdleConnections()
	hs := &handshake{next: tr, log: cfg.log}

	dctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
	c, resp, err := websocket.Dial(dctx, target, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: hs},
		HTTPHeader:   header,
		Host:         host,
		Subprotocols: splitList(cmd.StringSlice("subprotocol")),
	})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("dial %s: server answered %s instead of 101 Switching Protocols%s", target, resp.Status, hs.bodyText())
		}
		return fmt.Errorf("dial %s: %w", target, err)
	}
	defer c.CloseNow()
	if cfg.log != nil {
		fmt.Fprintf(cfg.log, "* subprotocol: %s; extensions: %s\n",
			cmp.Or(c.Subprotocol(), "none"), cmp.Or(resp.Header.Get("Sec-WebSocket-Extensions"), "none"))
	}
	c.SetReadLimit(maxMessage)
	return converse(ctx, e, c, cfg)
}

// dialFlags checks the flags that shape the conversation.
func dialFlags(e *env, cmd *cli.Command) (dialConfig, error) {
	cfg := dialConfig{
		src: e.stdin, wait: cmd.Duration("wait"), idle: cmd.Duration("idle-exit"),
		ping: cmd.Duration("ping"), count: int(cmd.Int("count")), format: cmd.String("binary-format"),
	}
	if cmd.Bool("verbose") {
		cfg.log = e.stderr
	}
	switch {
	case cfg.count < 0:
		return cfg, usagef("--count %d: want 1 or more", cfg.count)
	case cmd.Bool("once") && cfg.count > 1:
		return cfg, usagef("--once is --count 1; not with --count %d", cfg.count)
	case cmd.Bool("once"):
		cfg.count = 1
	}
	for _, d := range []string{"wait", "idle-exit", "ping"} {
		if cmd.Duration(d) < 0 {
			return cfg, usagef("--%s %v: want a positive duration", d, cmd.Duration(d))
		}
	}
	if f := cfg.format; f != "base64" && f != "hex" && f != "raw" {
		return cfg, usagef("--binary-format %q: want base64, hex or raw", f)
	}
	switch {
	case cmd.Bool("base64"):
		cfg.input = inputBase64Lines
	case cmd.Bool("binary"):
		cfg.input = inputWhole
	}
	var err error
	if cfg.closeCode, cfg.closeReason, err = parseClose(cmd.String("close")); err != nil {
		return cfg, err
	}
	if name := cmd.String("file"); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return cfg, usagef("--file: %w", err)
		}
		cfg.src = f
	}
	return cfg, nil
}

// parseClose reads --close CODE[:REASON]. The code must be one an endpoint
// may send (RFC 6455 §7.4.1 and §7.4.2; 1004-1006 and 1015 are reserved),
// and the reason must fit a control frame with the code (125 bytes, §5.5).
func parseClose(s string) (websocket.StatusCode, string, error) {
	code, reason, _ := strings.Cut(s, ":")
	n, err := strconv.Atoi(code)
	switch {
	case err != nil, n < 1000, n > 1003 && n < 1007, n > 1014 && n < 3000, n > 4999:
		return 0, "", usagef("--close %q: want CODE[:REASON], CODE 1000-1003, 1007-1014 or 3000-4999", s)
	case len(reason) > 123:
		return 0, "", usagef("--close: the reason is %d bytes; at most 123 fit a close frame", len(reason))
	}
	return websocket.StatusCode(n), reason, nil
}

// parseHeaders reads 'Name: value' flags; Host is returned apart because
// Go sends it from the request, not the header map.
func parseHeaders(vals []string) (http.Header, string, error) {
	h := http.Header{}
	var host string
	for _, v := range vals {
		name, value, ok := strings.Cut(v, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, "", usagef("--header %q: want 'Name: value'", v)
		}
		if strings.EqualFold(name, "Host") {
			host = value
			continue
		}
		h.Add(name, value)
	}
	return h, host, nil
}

// clientTLS is the TLS configuration of --ca and --insecure-skip-verify;
// nil means Go's defaults.
func clientTLS(caFile string, insecure bool) (*tls.Config, error) {
	if caFile == "" && !insecure {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("--ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca %s: no PEM certificate found", caFile)
		}
	}
	return cfg, nil
}
