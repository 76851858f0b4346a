package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/internal/metrics"
	"github.com/wsgate/wsgate/tunnel"
)

// metricsFlags are serve's flags for Prometheus (issue 21).
func metricsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "metrics", Usage: "answer GET " + metrics.Path + " for Prometheus on the proxy's listeners (loopback clients only)"},
		&cli.BoolFlag{Name: "metrics-allow-remote", Usage: "let any client read " + metrics.Path + " on the proxy's listeners, not only loopback ones"},
		&cli.StringFlag{Name: "metrics-listen", Usage: "answer GET " + metrics.Path + " on `ADDR` of its own instead, to any client that reaches it (a port alone is 127.0.0.1:PORT)"},
	}
}

// metricsOptions are the metrics flags, checked.
type metricsOptions struct {
	onProxy     bool   // /metrics on the proxy's listeners
	allowRemote bool   // there, for any client
	listen      string // its own listener's address, "" for none
}

func metricsFlagValues(cmd *cli.Command) (metricsOptions, error) {
	o := metricsOptions{
		onProxy:     cmd.Bool("metrics") || cmd.Bool("metrics-allow-remote"),
		allowRemote: cmd.Bool("metrics-allow-remote"),
		listen:      cmd.String("metrics-listen"),
	}
	if o.listen != "" {
		o.listen = flagAddr(o.listen)
		if _, _, err := net.SplitHostPort(o.listen); err != nil {
			return o, usagef("--metrics-listen %q: want HOST:PORT or a port", cmd.String("metrics-listen"))
		}
		if o.onProxy && !cmd.IsSet("metrics") {
			return o, usagef("--metrics-allow-remote applies to --metrics on the proxy's listeners; --metrics-listen answers any client that reaches it")
		}
	}
	return o, nil
}

// wrap puts /metrics in front of next on the proxy's listeners, or
// returns next without --metrics.
func (o metricsOptions) wrap(next func(http.Handler) http.Handler, h *metrics.Handler) func(http.Handler) http.Handler {
	if !o.onProxy {
		return next
	}
	return func(proxy http.Handler) http.Handler {
		if next != nil {
			proxy = next(proxy)
		}
		hh := *h
		hh.Next, hh.AllowRemote = proxy, o.allowRemote
		return &hh
	}
}

// listenOwn opens --metrics-listen's listener, nil without it: before
// the proxy starts, so that an address in use stops serve at once.
func (o metricsOptions) listenOwn(ctx context.Context, e *env) (net.Listener, error) {
	if o.listen == "" {
		return nil, nil
	}
	open := e.listen
	if open == nil {
		open = (&net.ListenConfig{}).Listen
	}
	ln, err := open(ctx, "tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	return ln, nil
}

// serveOwn serves /metrics on ln (nil: nothing) until ctx is done, to any
// client that reaches it: its address decides who can.
func (o metricsOptions) serveOwn(ctx context.Context, e *env, ln net.Listener, h *metrics.Handler) {
	if ln == nil {
		return
	}
	hh := *h
	hh.AllowRemote = true
	hs := &http.Server{Handler: &hh, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(e.stderr, "wsgate: --metrics-listen: %v\n", err)
		}
	}()
	fmt.Fprintf(e.stdout, "wsgate: metrics on http://%s%s\n", ln.Addr(), metrics.Path)
	if everyInterface(o.listen) {
		_, port, _ := net.SplitHostPort(o.listen)
		fmt.Fprintf(e.stderr, "wsgate: warning: --metrics-listen %s listens on every interface, so other machines can read the metrics; 127.0.0.1:%s keeps it to this one\n", o.listen, port)
	}
}

// metricsHandler is what both places answer with.
func metricsHandler(m func() tunnel.Metrics, e *env, start time.Time) *metrics.Handler {
	return &metrics.Handler{Metrics: m, Start: start,
		Build: metrics.Build{Version: e.info.Version, Commit: e.info.Commit, GoVersion: e.info.Go}}
}
