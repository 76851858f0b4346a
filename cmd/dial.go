package cmd

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/urfave/cli/v3"
)

func dialCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "dial",
		Usage:     "connect to a WebSocket: send stdin, print what comes back",
		ArgsUsage: "URL",
		Description: "Each line of standard input is sent as one text message; each message received is\n" +
			"printed on its own line (binary messages as their raw bytes). At the end of input, dial\n" +
			"waits until nothing has arrived for --wait, then closes with 1000. Exit status: 0 after a\n" +
			"normal close (1000) from either side, 1 if the handshake fails or the server closes with\n" +
			"another code or drops the connection, 2 for bad arguments.\n\n" +
			"   echo hello | wsgate dial ws://127.0.0.1:8080/",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "limit for connecting and the opening handshake"},
			&cli.DurationFlag{Name: "wait", Value: time.Second, Usage: "after the end of input, how long to wait for more messages before closing"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "extra handshake header 'Name: value' (repeatable)"},
			&cli.StringSliceFlag{Name: "subprotocol", Usage: "subprotocol to offer (repeatable or comma-separated)"},
			&cli.StringFlag{Name: "ca", TakesFile: true, Usage: "PEM file of CA certificates to trust for wss://, besides the system's"},
			&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "do NOT verify the server's certificate (for serve --tls-self-signed)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error { return dial(ctx, e, cmd) },
	}
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
	header, host, err := parseHeaders(cmd.StringSlice("header"))
	if err != nil {
		return err
	}
	client, err := dialClient(cmd.String("ca"), cmd.Bool("insecure-skip-verify"))
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
	c, resp, err := websocket.Dial(dctx, target, &websocket.DialOptions{
		HTTPClient:   client,
		HTTPHeader:   header,
		Host:         host,
		Subprotocols: splitList(cmd.StringSlice("subprotocol")),
	})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("dial %s: server answered %s instead of 101 Switching Protocols", target, resp.Status)
		}
		return fmt.Errorf("dial %s: %w", target, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	return converse(ctx, e, c, cmd.Duration("wait"))
}

// converse sends stdin lines and prints received messages until one side
// closes. Reads use their own context: cancelling a coder/websocket read
// closes the connection, and an interrupted dial should still close politely.
func converse(ctx context.Context, e *env, c *websocket.Conn, wait time.Duration) error {
	done := make(chan struct{})
	defer close(done)

	received := make(chan struct{}, 1)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, p, err := c.Read(context.Background())
			if err != nil {
				readErr <- err
				return
			}
			e.stdout.Write(append(p, '\n'))
			select {
			case received <- struct{}{}:
			default:
			}
		}
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		br := bufio.NewReader(e.stdin)
		for {
			line, err := br.ReadString('\n')
			if line = strings.TrimRight(line, "\r\n"); line != "" || err == nil {
				select {
				case lines <- line:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()

	var quiet <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				timer = time.NewTimer(wait)
				defer timer.Stop()
				quiet = timer.C
				continue
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(line)); err != nil {
				return fmt.Errorf("send: %w", closeReason(c, readErr, err))
			}
		case <-received:
			if timer != nil {
				timer.Reset(wait)
			}
		case <-quiet:
			return c.Close(websocket.StatusNormalClosure, "")
		case <-ctx.Done():
			return c.Close(websocket.StatusNormalClosure, "")
		case err := <-readErr:
			return serverClosed(err)
		}
	}
}

// serverClosed turns the error that ended reading into the command's result.
func serverClosed(err error) error {
	switch code := websocket.CloseStatus(err); {
	case code == websocket.StatusNormalClosure:
		return nil
	case code != -1:
		var ce websocket.CloseError
		errors.As(err, &ce)
		return fmt.Errorf("closed by server with %d %s", int(code), ce.Reason)
	case errors.Is(err, io.EOF):
		return errors.New("connection closed by server without a close frame")
	}
	return fmt.Errorf("connection lost: %w", err)
}

// closeReason prefers the server's close over the write error it caused.
func closeReason(c *websocket.Conn, readErr <-chan error, err error) error {
	select {
	case rerr := <-readErr:
		return serverClosed(rerr)
	case <-time.After(100 * time.Millisecond):
		return err
	}
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

// dialClient is the HTTP client for the handshake; nil is coder/websocket's
// default (http.DefaultClient).
func dialClient(caFile string, insecure bool) (*http.Client, error) {
	cfg, err := clientTLS(caFile, insecure)
	if cfg == nil || err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr}, nil
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
