package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/tunnel"
)

// statusPath is where --status answers, on every listener. The leading dot
// keeps it out of the way of any application's paths.
const statusPath = "/.wsgate/status"

// observeFlags are serve's flags for scripts and CI: stop by itself, and
// leave the figures behind.
func observeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stats-json", TakesFile: true,
			Usage: "on exit, write the totals and the tunnels (open, recently closed, per route) to `FILE` as JSON"},
		&cli.IntFlag{Name: "exit-after", Usage: "stop by itself once `N` tunnels have closed (exit status 0)"},
		&cli.DurationFlag{Name: "exit-when-idle",
			Usage: "stop by itself once no tunnel has been open for `DURATION`, counted from the start or the last close"},
		&cli.BoolFlag{Name: "status", Usage: "answer GET " + statusPath + " with the stats as JSON (loopback clients only)"},
		&cli.BoolFlag{Name: "status-allow-remote", Usage: "let any client read " + statusPath + ", not only loopback ones"},
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

// closedCount is how many tunnels have closed. The per-route counts are
// updated together under the registry's lock, unlike Total, which counts
// a tunnel a moment before it is registered as open.
func closedCount(s tunnel.Snapshot) uint64 {
	var n uint64
	for _, r := range s.Routes {
		n += r.Total - uint64(r.Open)
	}
	return n
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
		if n := closedCount(s); exitAfter > 0 && n >= exitAfter {
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

// statusHandler answers GET /.wsgate/status with the stats as JSON, like
// Apache's server-status, and passes every other request to next. Only
// loopback clients get an answer unless allowRemote: tunnel paths and
// client addresses are nobody else's business.
type statusHandler struct {
	next        http.Handler
	snapshot    func() tunnel.Snapshot
	start       time.Time
	version     string
	allowRemote bool
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != statusPath {
		h.next.ServeHTTP(w, r)
		return
	}
	if !h.allowRemote && !isLoopback(r.RemoteAddr) {
		http.Error(w, "403 Forbidden: "+statusPath+" answers loopback clients only (serve --status-allow-remote)", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.MarshalIndent(statsView(h.snapshot(), h.start, h.version), "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(body, '\n'))
}

// isLoopback reports whether a RemoteAddr ("host:port") is a loopback
// address, IPv4-mapped IPv6 included.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// writeStats writes the final stats to f and closes it.
func writeStats(f *os.File, s tunnel.Snapshot, start time.Time, version string) error {
	body, err := json.MarshalIndent(statsView(s, start, version), "", "  ")
	if err == nil {
		_, err = f.Write(append(body, '\n'))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write --stats-json %s: %w", f.Name(), err)
	}
	return nil
}

// The JSON of --stats-json and /.wsgate/status. Its field names are
// documented in docs/observe.md and are stable: add fields, never rename.
// tunnel's types carry no JSON tags; this is the one place that names them.
type (
	statsJSON struct {
		Version       string         `json:"version"`
		Time          time.Time      `json:"time"`
		Start         time.Time      `json:"start"`
		UptimeMS      int64          `json:"uptime_ms"`
		Open          int            `json:"open"`
		Total         uint64         `json:"total"`
		Closed        uint64         `json:"closed"`
		Failed        uint64         `json:"failed"`
		PlainRequests uint64         `json:"plain_requests"`
		UpBytes       int64          `json:"up_bytes"`
		DownBytes     int64          `json:"down_bytes"`
		Routes        []routeJSON    `json:"routes"`
		Tunnels       []tunnelJSON   `json:"tunnels"`
		RecentClosed  []tunnelJSON   `json:"recent_closed"`
		Balancers     []balancerJSON `json:"balancers"`
	}
	balancerJSON struct {
		Name    string       `json:"name"`
		Method  string       `json:"method"`
		Members []memberJSON `json:"members"`
	}
	memberJSON struct {
		URL        string     `json:"url"`
		Route      string     `json:"route"`
		State      string     `json:"state"`
		ErrorUntil *time.Time `json:"error_until"`
		Open       int64      `json:"open"`
		Total      uint64     `json:"total"`
		Bytes      int64      `json:"bytes"`
	}
	routeJSON struct {
		Route string   `json:"route"`
		Open  int      `json:"open"`
		Total uint64   `json:"total"`
		Up    flowJSON `json:"up"`
		Down  flowJSON `json:"down"`
	}
	tunnelJSON struct {
		ID         uint64     `json:"id"`
		Client     string     `json:"client"`
		Path       string     `json:"path"`
		Backend    string     `json:"backend"`
		Route      string     `json:"route"`
		Start      time.Time  `json:"start"`
		End        *time.Time `json:"end"`
		DurationMS int64      `json:"duration_ms"`
		Up         flowJSON   `json:"up"`
		Down       flowJSON   `json:"down"`
		ClosedBy   string     `json:"closed_by"`
		CloseFirst string     `json:"close_first"`
		Error      string     `json:"error"`
	}
	flowJSON struct {
		Bytes       int64  `json:"bytes"`
		Frames      int64  `json:"frames"`
		Messages    int64  `json:"messages"`
		Compressed  int64  `json:"compressed"`
		Pings       int64  `json:"pings"`
		Pongs       int64  `json:"pongs"`
		CloseCode   int    `json:"close_code"`
		CloseReason string `json:"close_reason"`
		Raw         bool   `json:"raw"`
	}
)

// statsView is a snapshot as the JSON documents it. Lists are never null.
func statsView(s tunnel.Snapshot, start time.Time, version string) statsJSON {
	v := statsJSON{
		Version: version, Time: s.Time, Start: start, UptimeMS: s.Time.Sub(start).Milliseconds(),
		Open: s.Open, Total: s.Total, Closed: closedCount(s), Failed: s.Failed, PlainRequests: s.Requests,
		UpBytes: s.Up, DownBytes: s.Down,
		Routes: []routeJSON{}, Tunnels: []tunnelJSON{}, RecentClosed: []tunnelJSON{}, Balancers: []balancerJSON{},
	}
	for _, b := range s.Balancers {
		bj := balancerJSON{Name: b.Name, Method: b.Method, Members: []memberJSON{}}
		for _, m := range b.Members {
			mj := memberJSON{URL: m.URL, Route: m.Route, State: m.State, Open: m.Open, Total: m.Total, Bytes: m.Bytes}
			if !m.ErrorUntil.IsZero() {
				until := m.ErrorUntil
				mj.ErrorUntil = &until
			}
			bj.Members = append(bj.Members, mj)
		}
		v.Balancers = append(v.Balancers, bj)
	}
	for _, r := range s.Routes {
		v.Routes = append(v.Routes, routeJSON{Route: r.Route, Open: r.Open, Total: r.Total, Up: flowView(r.Up), Down: flowView(r.Down)})
	}
	for _, t := range s.Tunnels {
		v.Tunnels = append(v.Tunnels, tunnelView(t, s.Time))
	}
	for _, t := range s.Closed {
		v.RecentClosed = append(v.RecentClosed, tunnelView(t, s.Time))
	}
	return v
}

func tunnelView(t tunnel.TunnelInfo, now time.Time) tunnelJSON {
	v := tunnelJSON{
		ID: t.ID, Client: t.Client, Path: t.Path, Backend: t.Backend, Route: t.Route, Start: t.Start,
		DurationMS: now.Sub(t.Start).Milliseconds(), Up: flowView(t.Up), Down: flowView(t.Down),
		ClosedBy: t.ClosedBy, CloseFirst: t.CloseFirst, Error: t.Error,
	}
	if !t.End.IsZero() {
		end := t.End
		v.End, v.DurationMS = &end, end.Sub(t.Start).Milliseconds()
	}
	return v
}

func flowView(f tunnel.Flow) flowJSON {
	return flowJSON{Bytes: f.Bytes, Frames: f.Frames, Messages: f.Messages, Compressed: f.Compressed,
		Pings: f.Pings, Pongs: f.Pongs, CloseCode: f.CloseCode, CloseReason: f.CloseReason, Raw: f.Raw}
}

// statusWrap is the tunnel.Config.Wrap that puts the status page in front
// of the proxy, or nil without --status.
func (o observeOptions) statusWrap(snapshot func() tunnel.Snapshot, start time.Time, version string) func(http.Handler) http.Handler {
	if !o.status {
		return nil
	}
	return func(next http.Handler) http.Handler {
		return &statusHandler{next: next, snapshot: snapshot, start: start, version: version, allowRemote: o.allowRemote}
	}
}
