package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/internal/status"
	"github.com/wsgate/wsgate/tunnel"
)

// observeFlags are serve's flags for scripts and CI: stop by itself, and
// leave the figures behind.
func observeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stats-json", TakesFile: true,
			Usage: "on exit, write the totals and the tunnels (open, recently closed, per route) to `FILE` as JSON"},
		&cli.IntFlag{Name: "exit-after", Usage: "stop by itself once `N` tunnels have closed (exit status 0)"},
		&cli.DurationFlag{Name: "exit-when-idle",
			Usage: "stop by itself once no tunnel has been open for `DURATION`, counted from the start or the last close"},
		&cli.BoolFlag{Name: "status", Usage: "answer GET " + status.Path + " with the stats as JSON (loopback clients only)"},
		&cli.BoolFlag{Name: "status-allow-remote", Usage: "let any client read " + status.Path + ", not only loopback ones"},
	}
}

// observeOptions are the observe flags, checked.
type observeOptions struct {
	statsFile   *os.File // nil without --stats-json
	exitAfter   uint64
	exitIdle    time.Duration
	status      bool
	allowRemote bool
}

// observeFlagValues checks the observe flags. The --stats-json file is
// created at once, so that a path that cannot be written fails before the
// proxy starts rather than after a long run; the caller closes it.
func observeFlagValues(cmd *cli.Command) (observeOptions, error) {
	o := observeOptions{
		exitIdle:    cmd.Duration("exit-when-idle"),
		status:      cmd.Bool("status") || cmd.Bool("status-allow-remote"),
		allowRemote: cmd.Bool("status-allow-remote"),
	}
	if n := cmd.Int("exit-after"); n < 0 {
		return o, usagef("--exit-after %d: want a number of tunnels, 1 or more", n)
	} else {
		o.exitAfter = uint64(n)
	}
	if cmd.IsSet("exit-after") && o.exitAfter == 0 {
		return o, usagef("--exit-after 0: want a number of tunnels, 1 or more")
	}
	if o.exitIdle < 0 || cmd.IsSet("exit-when-idle") && o.exitIdle == 0 {
		return o, usagef("--exit-when-idle %v: want a positive duration such as 2s", o.exitIdle)
	}
	if path := cmd.String("stats-json"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return o, usagef("--stats-json: %w", err)
		}
		o.statsFile = f
	}
	return o, nil
}

// watchExit polls snapshots until ctx is done, and calls stop once after
// exitAfter tunnels have closed (0: never) or once no tunnel has been open
// for idle (0: never). It reads Snapshot like the live view does, so it
// costs the relay nothing.
func watchExit(ctx context.Context, snapshot func() tunnel.Snapshot, exitAfter uint64, idle time.Duration, log *slog.Logger, stop func()) {
	every := 100 * time.Millisecond
	if idle > 0 {
		every = min(every, max(idle/4, time.Millisecond))
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	s := snapshot()
	quietSince, total := s.Time, s.Total
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s = snapshot()
		if n := status.ClosedCount(s); exitAfter > 0 && n >= exitAfter {
			log.Info("stopping", "reason", fmt.Sprintf("%d tunnels closed (--exit-after %d)", n, exitAfter))
			stop()
			return
		}
		if s.Open > 0 || s.Total != total {
			// Busy now, or a tunnel came and went between two polls.
			quietSince, total = time.Time{}, s.Total
			continue
		}
		if quietSince.IsZero() {
			// The first quiet poll: the last close was no later, so the
			// wait is never cut short, at most one poll too long.
			quietSince = s.Time
		}
		if idle > 0 && s.Time.Sub(quietSince) >= idle {
			log.Info("stopping", "reason", fmt.Sprintf("no tunnel open for %v (--exit-when-idle)", idle))
			stop()
			return
		}
	}
}

// statusWrap is the tunnel.Config.Wrap that puts the status page in front
// of the proxy, or nil without --status.
func (o observeOptions) statusWrap(snapshot func() tunnel.Snapshot, start time.Time, version string) func(http.Handler) http.Handler {
	if !o.status {
		return nil
	}
	return func(next http.Handler) http.Handler {
		return &status.Handler{Next: next, Snapshot: snapshot, Start: start, Version: version, AllowRemote: o.allowRemote}
	}
}
