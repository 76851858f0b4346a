package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wsgate/wsgate/internal/liveview"
	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/tunnel"
)

// shutdown stops srv: tunnels get grace to answer their 1001 going-away
// close, a second stop signal (e.force) cuts them at once, and if some
// are still open after waitNoticeAfter the user is told what the stop
// waits for, rather than left with seconds of silence.
func shutdown(e *env, srv *tunnel.Server, grace time.Duration, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		notice := time.NewTimer(waitNoticeAfter)
		defer notice.Stop()
		for {
			select {
			case <-notice.C:
				// Tunnels that have not answered their 1001 soon: say
				// what the stop waits for, not seconds of silence.
				if n := srv.Snapshot().Open; n > 0 {
					fmt.Fprintf(e.stderr, "wsgate: waiting for %d %s to close, up to %s; Ctrl-C again to cut %s\n",
						n, plural(n, "tunnel", "tunnels"), grace, plural(n, "it", "them"))
				}
			case <-e.force:
				cancel()
				return
			case <-sctx.Done():
				return
			case <-stopped:
				return
			}
		}
	}()
	serr := srv.Shutdown(sctx)
	close(stopped)
	if serr != nil {
		log.Warn("stopped before every tunnel said goodbye", "error", serr.Error())
	}
}

// connectLines say how to reach the demo through ln: a dial command and
// a browser URL. selfSigned: ln's certificate is --tls-self-signed's,
// which no client trusts, so the command says to skip verification.
func connectLines(ln listener, selfSigned bool) []string {
	addr, scheme, skip, warn := ln.Addr().String(), "ws", "", ""
	if ln.tls {
		scheme = "wss"
	}
	if ln.tls && selfSigned {
		skip, warn = " --insecure-skip-verify", " (and accept its warning about the self-signed certificate)"
	}
	return []string{
		fmt.Sprintf("  connect:  wsgate dial%s %s://%s/   (or: go run . dial%s %s://%s/)", skip, scheme, addr, skip, scheme, addr),
		fmt.Sprintf("  or open %s://%s/ in a browser%s", map[string]string{"ws": "http", "wss": "https"}[scheme], addr, warn),
	}
}

func summary(s tunnel.Snapshot, up time.Duration) string {
	return fmt.Sprintf("wsgate: stopped after %s: tunnels %d, failed %d, plain HTTP requests %d, bytes %s up, %s down",
		up.Round(time.Second), s.Total, s.Failed, s.Requests, liveview.FormatBytes(s.Up), liveview.FormatBytes(s.Down))
}

var errNoRoute = errors.New("no route")

// reloadOnSignal re-reads the rules on SIGHUP: new tunnels use the new
// rules, open ones keep running untouched, and a bad file is reported and
// changes nothing. Listen addresses and TLS are read at start only.
func reloadOnSignal(ctx context.Context, e *env, log *slog.Logger, srv *tunnel.Server, load func() (*rules.Table, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.reload:
		}
		t, err := load()
		if err != nil {
			log.Error("reload failed, the old rules stay", "error", err.Error())
			continue
		}
		srv.SetTable(t)
		log.Info("rules reloaded", "rules", len(t.Rules), "balancers", len(t.Balancers))
	}
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
