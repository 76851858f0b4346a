package liveview

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/wsgate/wsgate/tunnel"
)

// detailTitle labels the detail pane.
func detailTitle(st *viewState) string {
	t := fmt.Sprintf("tunnel %d  (Esc: back)", st.detail.Info.ID)
	if st.gone {
		t += "  has closed: as last seen"
	}
	return t
}

// detailRows is the detail pane: one tunnel's addresses, what its
// handshake settled, its counters, the headers of its upgrade as sent to
// the backend and as the backend answered, and its last messages as mv
// shows them.
func detailRows(d tunnel.Detail, mv *messageView, now time.Time, width int, p palette) []row {
	ti := d.Info
	var rows []row
	add := func(c *color.Color, format string, a ...any) {
		rows = append(rows, row{c, fmt.Sprintf(format, a...)})
	}
	if ti.Start.IsZero() { // closed before it could be read
		add(p.dim, "  closed before its detail could be read")
		return rows
	}
	add(nil, "client %s  →  backend %s", ti.Client, ti.Backend)
	add(nil, "path %s   route %s   age %s", ti.Path, ti.Route, formatAge(now.Sub(ti.Start)))
	add(nil, "subprotocol %s   extensions %s", cmp.Or(d.Subprotocol, "none"), cmp.Or(d.Extensions, "none"))
	for i, r := range flowTable(ti, width) {
		if i == 0 {
			add(p.dim, "%s", r)
		} else {
			add(nil, "%s", r)
		}
	}

	add(p.dim, "request to backend")
	add(nil, "  %s %s HTTP/1.1", d.Method, d.Target)
	add(nil, "  Host: %s", d.Host)
	for _, l := range headerLines(d.RequestHeader) {
		add(nil, "  %s", l)
	}
	add(p.dim, "response from backend")
	add(nil, "  HTTP/1.1 %d %s", d.Status, http.StatusText(d.Status))
	for _, l := range headerLines(d.ResponseHeader) {
		add(nil, "  %s", l)
	}

	return append(rows, messageRows(mv, ti, width, p)...)
}

// flowTable is a tunnel's counters, one row a direction.
func flowTable(ti tunnel.TunnelInfo, width int) []string {
	cols := []column{
		{title: "", min: 4, max: 4, prio: 0},
		{title: "BYTES", min: 6, max: 6, right: true, prio: 0},
		{title: "FRAMES", min: 6, max: 6, right: true, prio: 2},
		{title: "MSGS", min: 5, max: 5, right: true, prio: 1},
		{title: "DEFLATE", min: 7, max: 7, right: true, prio: 3},
		{title: "PINGS", min: 5, max: 5, right: true, prio: 3},
		{title: "PONGS", min: 5, max: 5, right: true, prio: 3},
		{title: "CLOSE", min: 6, max: 40, prio: 1},
	}
	var rows [][]string
	for _, f := range []struct {
		name string
		tunnel.Flow
	}{{"up", ti.Up}, {"down", ti.Down}} {
		rows = append(rows, []string{f.name, shortBytes(f.Bytes), shortCount(f.Frames), shortCount(f.Messages),
			shortCount(f.Compressed), shortCount(f.Pings), shortCount(f.Pongs), closeCell(f.Flow, "", false, false)})
	}
	return table(cols, rows, width)
}

// headerLines are h's lines, sorted by name, with WebSocket spelt as RFC
// 6455 spells it rather than as Go canonicalises it.
func headerLines(h http.Header) []string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(h)) {
		name := k
		if rest, ok := strings.CutPrefix(k, "Sec-Websocket-"); ok {
			name = "Sec-WebSocket-" + rest
		}
		for _, v := range h[k] {
			lines = append(lines, name+": "+v)
		}
	}
	return lines
}
