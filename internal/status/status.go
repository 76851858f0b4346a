// Package status is what wsgate tells about a running server in JSON:
// the status page (GET /.wsgate/status) and the --stats-json file. It
// names tunnel's counters for JSON, in one place (docs/observe.md lists
// the fields); tunnel counts, and never formats.
package status

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/wsgate/wsgate/internal/localpage"
	"github.com/wsgate/wsgate/tunnel"
)

// Path is where --status answers, on every listener. The leading dot
// keeps it out of the way of any application's paths.
const Path = "/.wsgate/status"

// closedCount is how many tunnels have closed. The per-route counts are
// updated together under the registry's lock, unlike Total, which counts
// a tunnel a moment before it is registered as open.
func ClosedCount(s tunnel.Snapshot) uint64 {
	var n uint64
	for _, r := range s.Routes {
		n += r.Total - uint64(r.Open)
	}
	return n
}

// Handler answers GET /.wsgate/status with the stats as JSON, like
// Apache's server-status, and passes every other request to next. Only
// loopback clients get an answer unless allowRemote: tunnel paths and
// client addresses are nobody else's business.
type Handler struct {
	Next        http.Handler
	Snapshot    func() tunnel.Snapshot
	Start       time.Time
	Version     string
	AllowRemote bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		h.Next.ServeHTTP(w, r)
		return
	}
	if !localpage.Allowed(w, r, Path, "--status-allow-remote", h.AllowRemote) {
		return
	}
	body, err := json.MarshalIndent(View(h.Snapshot(), h.Start, h.Version), "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(body, '\n'))
}

// WriteFile writes the final stats to f and closes it.
func WriteFile(f *os.File, s tunnel.Snapshot, start time.Time, version string) error {
	body, err := json.MarshalIndent(View(s, start, version), "", "  ")
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
	Stats struct {
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

// View is a snapshot as the JSON documents it. Lists are never null.
func View(s tunnel.Snapshot, start time.Time, version string) Stats {
	v := Stats{
		Version: version, Time: s.Time, Start: start, UptimeMS: s.Time.Sub(start).Milliseconds(),
		Open: s.Open, Total: s.Total, Closed: ClosedCount(s), Failed: s.Failed, PlainRequests: s.Requests,
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
