// Package metrics answers GET /metrics for Prometheus: tunnel's Metrics
// in the Prometheus text format (0.0.4), or in OpenMetrics 1.0 when the
// scraper asks for it. It names tunnel's counters for Prometheus, in one
// place (docs/observe.md lists the series); tunnel counts, and never
// formats.
//
// The format is written here rather than with prometheus/client_golang:
// every value already exists as a counter tunnel keeps, read once per
// scrape, so a registry of collectors would only copy them again, and its
// dependencies would double the binary's. promtool checks what this
// writes (TestPromtool).
package metrics

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/internal/localpage"
	"github.com/wsgate/wsgate/tunnel"
)

// Path is where --metrics answers: Prometheus' default metrics_path.
const Path = "/metrics"

// Build is what wsgate_build_info says of the binary.
type Build struct {
	Version, Commit, GoVersion string
}

// Content types of the two formats.
const (
	textType        = "text/plain; version=0.0.4; charset=utf-8"
	openMetricsType = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// Handler answers GET /metrics and passes every other request to Next
// (nil: 404). Only loopback clients get an answer unless AllowRemote:
// route names and backends are nobody else's business, as with the
// status page.
type Handler struct {
	Next        http.Handler
	Metrics     func() tunnel.Metrics
	Build       Build
	Start       time.Time
	AllowRemote bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		if h.Next == nil {
			http.NotFound(w, r)
			return
		}
		h.Next.ServeHTTP(w, r)
		return
	}
	if !localpage.Allowed(w, r, Path, "--metrics-allow-remote", h.AllowRemote) {
		return
	}
	om := wantsOpenMetrics(r.Header.Values("Accept"))
	w.Header().Set("Content-Type", textType)
	if om {
		w.Header().Set("Content-Type", openMetricsType)
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	write(&b, append(families(h.Metrics(), h.Build, h.Start), process()...), om)
	io.WriteString(w, b.String())
}

// wantsOpenMetrics reports whether an Accept header asks for OpenMetrics
// before the text format, as Prometheus does when it scrapes
// ("application/openmetrics-text;version=1.0.0,...;q=0.5,text/plain;...").
func wantsOpenMetrics(accept []string) bool {
	best, bestQ := "", -1.0
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			if mt == "application/openmetrics-text" && params["version"] != "" && params["version"] != "1.0.0" {
				continue // a version this does not write
			}
			if q > bestQ {
				best, bestQ = mt, q
			}
		}
	}
	return best == "application/openmetrics-text" && bestQ > 0
}

// family is one metric: its name (without _total for a counter, as
// OpenMetrics names families), type and help, and its samples.
type family struct {
	name, typ, help string
	samples         []sample
}

type sample struct {
	suffix string // "_total", "_bucket"...
	labels []string
	value  float64
}

// Write writes m in the text format, or OpenMetrics when om. The
// handler adds the process's own series (process).
func Write(w io.Writer, m tunnel.Metrics, b Build, start time.Time, om bool) {
	write(w, families(m, b, start), om)
}

func write(w io.Writer, families []*family, om bool) {
	for _, f := range families {
		if len(f.samples) == 0 {
			continue
		}
		name, typ := f.name, f.typ
		if !om && typ == "counter" {
			name += "_total" // the text format names a counter by its sample
		}
		if !om && typ == "info" {
			name, typ = name+"_info", "gauge"
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(f.help), name, typ)
		for _, s := range f.samples {
			io.WriteString(w, f.name+s.suffix)
			if len(s.labels) > 0 {
				io.WriteString(w, "{")
				for i := 0; i < len(s.labels); i += 2 {
					if i > 0 {
						io.WriteString(w, ",")
					}
					fmt.Fprintf(w, "%s=\"%s\"", s.labels[i], escapeLabel(s.labels[i+1]))
				}
				io.WriteString(w, "}")
			}
			fmt.Fprintf(w, " %s\n", formatValue(s.value))
		}
	}
	if om {
		io.WriteString(w, "# EOF\n")
	}
}

// families are the series, in the order docs/observe.md lists them.
func families(m tunnel.Metrics, b Build, start time.Time) []*family {
	var order []*family
	def := func(name, typ, help string) *family {
		x := &family{name: name, typ: typ, help: help}
		order = append(order, x)
		return x
	}
	build := def("wsgate_build", "info", "The wsgate binary: version, commit and the Go that built it.")
	build.samples = append(build.samples, sample{"_info", []string{"version", b.Version, "commit", b.Commit, "goversion", cmp.Or(b.GoVersion, runtime.Version())}, 1})
	started := def("wsgate_start_time_seconds", "gauge", "When serve started, in seconds since the Unix epoch.")
	started.samples = append(started.samples, sample{"", nil, float64(start.UnixNano()) / 1e9})

	open := def("wsgate_tunnels_open", "gauge", "Tunnels open now.")
	opened := def("wsgate_tunnels_opened", "counter", "Tunnels opened: upgrades the backend answered 101 to.")
	failed := def("wsgate_requests_failed", "counter", "Requests answered with an error, and upgrades the backend refused, by the status the client got and a short reason.")
	handshake := def("wsgate_handshake_duration_seconds", "histogram", "Time from an upgrade request's arrival to its 101 sent to the client, for the tunnels opened.")
	duration := def("wsgate_tunnel_duration_seconds", "histogram", "Time each closed tunnel was open.")
	closed := def("wsgate_tunnels_closed", "counter", "Tunnels closed, by whose connection ended first (client, backend, idle, proxy) and the code of the first close frame (1006: ended without a closing handshake; none: no close frame and not abnormal).")
	bytes := def("wsgate_tunnel_bytes", "counter", "Bytes relayed by tunnels, by direction: up is client to backend.")
	messages := def("wsgate_tunnel_messages", "counter", "WebSocket messages (text and binary, all fragments) relayed, by direction.")
	frames := def("wsgate_tunnel_frames", "counter", "WebSocket frames relayed, control frames included, by direction.")
	compressed := def("wsgate_tunnel_compressed_messages", "counter", "WebSocket messages sent compressed (permessage-deflate), by direction.")
	pings := def("wsgate_tunnel_pings", "counter", "WebSocket ping frames relayed, by direction.")
	pongs := def("wsgate_tunnel_pongs", "counter", "WebSocket pong frames relayed, by direction.")
	httpReqs := def("wsgate_http_requests", "counter", "Plain HTTP requests proxied (not upgrades, or upgrades falling back to HTTP), by the class of their status (none: no answer written).")
	member := def("wsgate_balancer_member_state", "gauge", "Each balancer member's state: 1 for the one it is in.")
	memberOpen := def("wsgate_balancer_member_open", "gauge", "Tunnels and requests in flight to each balancer member.")
	picks := def("wsgate_balancer_member_picks", "counter", "Tunnels and requests each balancer member was picked for.")
	memberBytes := def("wsgate_balancer_member_bytes", "counter", "Bytes relayed both ways by each balancer member's closed tunnels.")

	for _, r := range m.Routes {
		route := []string{"route", r.Route}
		if r.Route != "" {
			open.samples = append(open.samples, sample{"", route, float64(r.Open)})
			opened.samples = append(opened.samples, sample{"_total", route, float64(r.Total)})
			handshake.samples = append(handshake.samples, histogram(r.Handshake, route)...)
			duration.samples = append(duration.samples, histogram(r.Duration, route)...)
			for _, d := range []struct {
				name string
				f    tunnel.Flow
			}{{"up", r.Up}, {"down", r.Down}} {
				l := []string{"route", r.Route, "direction", d.name}
				bytes.samples = append(bytes.samples, sample{"_total", l, float64(d.f.Bytes)})
				messages.samples = append(messages.samples, sample{"_total", l, float64(d.f.Messages)})
				frames.samples = append(frames.samples, sample{"_total", l, float64(d.f.Frames)})
				compressed.samples = append(compressed.samples, sample{"_total", l, float64(d.f.Compressed)})
				pings.samples = append(pings.samples, sample{"_total", l, float64(d.f.Pings)})
				pongs.samples = append(pongs.samples, sample{"_total", l, float64(d.f.Pongs)})
			}
		}
		for _, c := range r.Closes {
			closed.samples = append(closed.samples, sample{"_total", []string{"route", r.Route, "closed_by", c.ClosedBy, "code", c.Code}, float64(c.N)})
		}
		for _, c := range r.Failures {
			l := []string{"route", r.Route, "code", strconv.Itoa(c.Status), "reason", c.Reason}
			failed.samples = append(failed.samples, sample{"_total", l, float64(c.N)})
		}
		for _, c := range r.HTTP {
			httpReqs.samples = append(httpReqs.samples, sample{"_total", []string{"route", r.Route, "code", c.Class}, float64(c.N)})
		}
	}
	for _, bal := range m.Balancers {
		for _, mem := range bal.Members {
			l := []string{"balancer", bal.Name, "member", mem.URL}
			for _, st := range memberStates {
				v := 0.0
				if st == mem.State {
					v = 1
				}
				member.samples = append(member.samples, sample{"", append(l[:4:4], "state", st), v})
			}
			memberOpen.samples = append(memberOpen.samples, sample{"", l, float64(mem.Open)})
			picks.samples = append(picks.samples, sample{"_total", l, float64(mem.Total)})
			memberBytes.samples = append(memberBytes.samples, sample{"_total", l, float64(mem.Bytes)})
		}
	}
	return order
}

// memberStates are the states tunnel.MemberInfo.State takes.
var memberStates = []string{"ok", "error", "standby", "disabled", "failing checks"}

// histogram is h's samples: cumulative buckets, then the sum and count.
func histogram(h tunnel.Histogram, labels []string) []sample {
	var out []sample
	var n uint64
	for i, c := range h.Counts {
		n += c
		le := "+Inf"
		if i < len(h.Bounds) {
			le = formatValue(h.Bounds[i])
		}
		out = append(out, sample{"_bucket", append(labels[:len(labels):len(labels)], "le", le), float64(n)})
	}
	return append(out, sample{"_sum", labels, h.Sum}, sample{"_count", labels, float64(n)})
}

// formatValue writes a sample value as both formats take it.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeLabel escapes a label value (backslash, double quote, newline),
// escapeHelp a help text (backslash, newline).
var (
	escapeLabel = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace
	escapeHelp  = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace
)
