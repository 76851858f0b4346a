package cmd

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/tunnel"
)

// originFlag is --allow-origin, a rule flag: its patterns add to the rules
// file's WsgateAllowOrigin lines, so check and route see them too.
func originFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "allow-origin",
		Usage: "refuse (403) WebSocket upgrades whose Origin matches no such `PATTERN`: https://app.example.com, " +
			"*.example.com, http://localhost:* (repeatable; adds to WsgateAllowOrigin; requests without Origin pass)"}
}

// addOrigins appends the --allow-origin patterns to the table's, each
// checked; a bad one is an error at "--allow-origin N".
func addOrigins(cmd *cli.Command, table *rules.Table) error {
	var errs rules.ErrorList
	for i, p := range splitList(cmd.StringSlice("allow-origin")) {
		if err := rules.CheckOriginPattern(p); err != nil {
			errs = append(errs, &rules.Error{Pos: rules.Pos{File: "--allow-origin", Line: i + 1},
				Msg: fmt.Sprintf("%q: %v", p, err)})
			continue
		}
		table.AllowOrigins = append(table.AllowOrigins, p)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// limitFlags are serve's limits on what clients may hold (docs/security.md,
// "Limits").
func limitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "max-header-bytes", Value: 64 << 10,
			Usage: "largest request line and headers, in `BYTES`; larger requests are answered 431"},
		&cli.DurationFlag{Name: "header-timeout", Value: 60 * time.Second,
			Usage: "time a client has to send a request's line and headers, and the longest idle time between keep-alive requests (Apache's Timeout)"},
		&cli.IntFlag{Name: "max-tunnels",
			Usage: "most `N` tunnels open at once; past it upgrades are answered 503 (0: no limit)"},
	}
}

// limits are the values of limitFlags, checked.
type limits struct {
	maxHeaderBytes int
	headerTimeout  time.Duration
	maxTunnels     int
}

// limitFlagValues reads and checks the limit flags: a bad value is a
// usage error before anything starts.
func limitFlagValues(cmd *cli.Command) (limits, error) {
	l := limits{cmd.Int("max-header-bytes"), cmd.Duration("header-timeout"), cmd.Int("max-tunnels")}
	switch {
	case l.maxHeaderBytes < 1024 || l.maxHeaderBytes > 64<<20:
		return l, usagef("--max-header-bytes %d: want 1024 to %d", l.maxHeaderBytes, 64<<20)
	case l.headerTimeout <= 0:
		return l, usagef("--header-timeout %v: want a positive duration, such as 60s", l.headerTimeout)
	case l.maxTunnels < 0:
		return l, usagef("--max-tunnels %d: want 0 (no limit) or more", l.maxTunnels)
	}
	return l, nil
}

// configure puts the limits into cfg.
func (l limits) configure(cfg *tunnel.Config) {
	cfg.MaxHeaderBytes, cfg.HeaderTimeout, cfg.MaxTunnels = l.maxHeaderBytes, l.headerTimeout, l.maxTunnels
}
