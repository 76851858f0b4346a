package liveview

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/goldentest"
	"github.com/wsgate/wsgate/internal/snapshottest"
	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// liveEvents are log lines as the view's logger writes them, warnings
// and an error among them.
func liveEvents() []string {
	var lines []string
	for i := range 24 {
		switch i {
		case 17:
			lines = append(lines, `time=13:01:31 level=WARN msg="request failed" client=127.0.0.1:53020 path=/chat/x status=503 error="dial backend ws://127.0.0.1:9001/chat/x: dial tcp 127.0.0.1:9001: connect: connection refused"`)
		case 21:
			lines = append(lines, `time=13:01:33 level=ERROR msg="reload failed, the old rules stay" error="wsgate.conf:4:1: unknown directive \"ProxyPas\""`)
		default:
			lines = append(lines, fmt.Sprintf(`time=13:01:%02d msg="tunnel open" id=%d client=127.0.0.1:%d path=/chat/b backend=ws://127.0.0.1:9001/b upgrade=websocket`, 10+i, 100+i, 53100+i))
		}
	}
	return lines
}

// liveView is a view as serve --demo starts it, with rules warnings.
func liveView(start time.Time, s tunnel.Snapshot) *View {
	return &View{Addr: "127.0.0.1:8080", Version: "1.2.3", Start: start,
		Header: []string{
			"  connect:  wsgate dial ws://127.0.0.1:8080/   (or: go run . dial ws://127.0.0.1:8080/)",
			"  or open http://127.0.0.1:8080/ in a browser",
		},
		Warnings: []string{
			"wsgate.conf:7: warning: ProxyPass /chat/ ws://127.0.0.1:9001/chat/: can never match: wsgate.conf:3 ProxyPass /chat ws://127.0.0.1:9001/ matches every path it does",
			"wsgate.conf:9: warning: ProxyPass /api ws://127.0.0.1:9002/api/: the path has no trailing \"/\" and the URL has one: /apix maps to /api/x",
		},
		Detail:   func(uint64) (tunnel.Detail, bool) { return snapshottest.Detail(s), true },
		Messages: func(uint64) ([]trace.Recorded, bool) { return snapshottest.Messages(s), true },
	}
}

func TestViewGolden(t *testing.T) {
	start, s := snapshottest.Busy()
	events := NewEventLog(8)
	events.Write([]byte("time=13:01:30 msg=\"tunnel closed\" id=1 closed_by=idle\n" +
		"time=13:01:33 msg=\"tunnel closed\" id=7 closed_by=backend\n"))
	v := &View{Addr: "127.0.0.1:8080", Version: "1.2.3", Start: start}
	st := newViewState()
	st.observe(s)
	// Tunnel 2 moved bytes 40 s ago, then nothing.
	st.active[2] = activity{up: s.Tunnels[0].Up.Bytes, down: s.Tunnels[0].Down.Bytes, at: s.Time.Add(-40 * time.Second)}
	paused := newViewState()
	paused.paused = true
	paused.sel, paused.scroll = 1, 1

	// What serve shows on a terminal: keys read, the second tunnel
	// selected, and each pane in turn.
	live := liveView(start, s)
	inPane := func(keys string) *viewState {
		st := newViewState()
		st.interactive, st.details = true, true
		st.observe(s)
		st.active[2] = activity{at: s.Time.Add(-40 * time.Second)}
		st.page = 3
		st.input([]byte(keys))
		live.fetch(st)
		return st
	}

	cases := []struct {
		name   string
		w, h   int
		v      *View
		st     *viewState
		events []string
	}{
		{"80x24", 80, 24, v, st, events.last()},
		{"60x20", 60, 20, v, st, events.last()},
		{"40x12", 40, 12, v, st, events.last()},
		{"80x10-paused", 80, 10, v, paused, events.last()},
		{"100x40-balancer", 100, 40, v, st, events.last()},
	}
	// A tunnel's messages, at the end of its detail pane: pretty, then
	// raw and filtered.
	for _, c := range []struct{ name, keys string }{
		{"detail-pretty", "\rG"}, {"detail-raw-filtered", "\rGr/dir=down\r"},
	} {
		cases = append(cases, struct {
			name   string
			w, h   int
			v      *View
			st     *viewState
			events []string
		}{"100x36-" + c.name, 100, 36, live, inPane(c.keys), nil})
	}
	for _, size := range []struct{ w, h int }{{80, 24}, {140, 40}} {
		for _, pane := range []struct{ name, keys string }{{"list", "j"}, {"keys", "?"}, {"warnings", "w"}, {"detail", "\r"}} {
			cases = append(cases, struct {
				name   string
				w, h   int
				v      *View
				st     *viewState
				events []string
			}{fmt.Sprintf("%dx%d-%s", size.w, size.h, pane.name), size.w, size.h, live, inPane(pane.keys), liveEvents()})
		}
	}
	withBalancer := s
	withBalancer.Balancers = []tunnel.BalancerInfo{{Name: "balancer://chat", Method: "bybusyness", Members: []tunnel.MemberInfo{
		{URL: "ws://127.0.0.1:9001", Route: "r1", State: "ok", Open: 2, Total: 14, Bytes: 4 << 20},
		{URL: "ws://127.0.0.1:9002", State: "error", ErrorUntil: s.Time.Add(42 * time.Second), Total: 3},
		{URL: "ws://127.0.0.1:9003", State: "standby"},
	}}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := s
			if strings.Contains(tc.name, "balancer") {
				snap = withBalancer
			}
			lines := tc.v.render(snap, tc.events, tc.w, tc.h, tc.st).lines
			checkFrame(t, lines, tc.w, tc.h)
			goldentest.Check(t, filepath.Join("testdata", "view-"+tc.name+".golden"), strings.Join(lines, "\n")+"\n")
		})
	}
}

// checkFrame fails when a frame is taller or wider than the screen, or
// holds a control character (the goldens are rendered without colour).
func checkFrame(t *testing.T, lines []string, w, h int) {
	t.Helper()
	if len(lines) > h {
		t.Errorf("%d lines; want at most %d", len(lines), h)
	}
	for i, l := range lines {
		if n := len([]rune(l)); n > w {
			t.Errorf("line %d is %d wide: %q", i+1, n, l)
		}
		if strings.ContainsAny(l, "\x1b\n\r") {
			t.Errorf("line %d holds a control character: %q", i+1, l)
		}
	}
}

// TestViewFits renders every pane at every size from 1x1 up: no frame
// may be taller or wider than the screen.
func TestViewFits(t *testing.T) {
	start, s := snapshottest.Busy()
	v := liveView(start, s)
	events := []string{"a log line that is rather long, longer than many a narrow terminal is wide"}
	for _, keys := range []string{"", "?", "w", "\r"} {
		st := newViewState()
		st.interactive, st.details, st.paused = true, true, true
		st.observe(s)
		st.input([]byte(keys))
		v.fetch(st)
		for w := 1; w <= 120; w++ {
			for h := 1; h <= 40; h++ {
				f := v.render(s, events, w, h, st)
				if len(f.lines) > h {
					t.Fatalf("pane %d, %dx%d: %d lines", st.pane, w, h, len(f.lines))
				}
				for i, l := range f.lines {
					if n := len([]rune(l)); n > w {
						t.Fatalf("pane %d, %dx%d: line %d is %d wide: %q", st.pane, w, h, i+1, n, l)
					}
				}
				if f.page > len(s.Tunnels) {
					t.Fatalf("%dx%d: page %d > %d tunnels", w, h, f.page, len(s.Tunnels))
				}
			}
		}
	}
}

// TestLogTakesTheRowsLeft checks that on a tall screen the log fills what
// the tables leave: no row stays blank while log lines are left out, but
// one (the log needs a label and a line).
func TestLogTakesTheRowsLeft(t *testing.T) {
	start, s := snapshottest.Busy()
	v := liveView(start, s)
	st := newViewState()
	events := liveEvents()
	for h := 24; h <= 60; h++ {
		lines := v.render(s, events, 120, h, st).lines
		logged := 0
		if i := slices.Index(lines, "log"); i >= 0 {
			logged = len(lines) - i - 1
		}
		if len(lines) < h-1 && logged < len(events) || len(lines) < h && logged > 0 && logged < len(events) {
			t.Errorf("%d rows: %d lines, %d of %d log lines; want every row used", h, len(lines), logged, len(events))
		}
	}
}

// TestViewColour checks the colours that tell trouble apart: an abnormal
// close and a 5xx failure in red, a 4xx failure and a warning line in
// yellow, an error line in red, the selected tunnel in reverse video.
func TestViewColour(t *testing.T) {
	start, s := snapshottest.Busy()
	v := liveView(start, s)
	v.Color = true
	st := newViewState()
	st.interactive = true
	st.observe(s)
	lines := v.render(s, liveEvents(), 140, 60, st).lines
	const red, yellow, reverse = "\x1b[31m", "\x1b[33m", "\x1b[7m"
	for _, tc := range []struct{ has, colour string }{
		{"1006 connection reset by peer", red},
		{"backend refused connection", red},
		{"origin not allowed", yellow},
		{"2 warnings (w)", yellow},
		{"level=WARN", yellow},
		{"level=ERROR", red},
		{">", reverse},
	} {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, tc.has) })
		if i < 0 || !strings.HasPrefix(lines[i], tc.colour) {
			t.Errorf("the line with %q is not in %q: %q", tc.has, tc.colour, lines[max(i, 0)])
		}
	}
}

// TestViewActivity checks that IDLE counts from the last snapshot in which
// a tunnel's bytes changed.
func TestViewActivity(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	snap := func(at time.Duration, up int64) tunnel.Snapshot {
		return tunnel.Snapshot{Time: t0.Add(at), Open: 1, Tunnels: []tunnel.TunnelInfo{{ID: 1, Start: t0, Up: tunnel.Flow{Bytes: up}}}}
	}
	st := newViewState()
	for _, step := range []struct {
		at   time.Duration
		up   int64
		want time.Duration
	}{
		{1 * time.Second, 0, 0},
		{2 * time.Second, 10, 2 * time.Second},
		{5 * time.Second, 10, 2 * time.Second},
		{6 * time.Second, 11, 6 * time.Second},
	} {
		st.observe(snap(step.at, step.up))
		if got := st.active[1].at.Sub(t0); got != step.want {
			t.Errorf("at %v with %d bytes: last activity %v; want %v", step.at, step.up, got, step.want)
		}
	}
	st.observe(tunnel.Snapshot{Time: t0.Add(7 * time.Second)})
	if len(st.active) != 0 {
		t.Errorf("a closed tunnel is still tracked: %v", st.active)
	}
}

func TestDraw(t *testing.T) {
	var b bytes.Buffer
	draw(&b, []string{"one", "two"}, 5)
	want := "\x1b[1;1H\x1b[2Kone\x1b[2;1H\x1b[2Ktwo\x1b[3;1H\x1b[J"
	if b.String() != want {
		t.Errorf("draw = %q; want %q", b.String(), want)
	}
	b.Reset()
	draw(&b, []string{"one", "two"}, 2)
	if strings.Contains(b.String(), "\n") || strings.HasSuffix(b.String(), "\x1b[J") {
		t.Errorf("a full screen frame = %q; want no newline and no clear below", b.String())
	}
}

func TestShortCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 99999: "99999", 100000: "100k", 1234567: "1.2M", 999999999: "1000M"} {
		if got := shortCount(n); got != want || len(got) > 5 {
			t.Errorf("shortCount(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestCloseCell(t *testing.T) {
	for _, tc := range []struct {
		f                tunnel.Flow
		err              string
		failed, abnormal bool
		want             string
	}{
		{tunnel.Flow{CloseCode: 1000, CloseReason: "bye"}, "", false, false, "1000 bye"},
		{tunnel.Flow{CloseCode: 1006}, "", false, true, "1006"},
		{tunnel.Flow{}, "read tcp 127.0.0.1:8080->127.0.0.1:5000: read: connection reset by peer", true, true, "1006 connection reset by peer"},
		{tunnel.Flow{}, "", true, true, "1006 abnormal"},
		{tunnel.Flow{}, "", false, true, "-"},
		{tunnel.Flow{}, "write client: broken pipe", true, false, "write client: broken pipe"},
		{tunnel.Flow{Raw: true}, "", false, false, "(not ws)"},
	} {
		if got := closeCell(tc.f, tc.err, tc.failed, tc.abnormal); got != tc.want {
			t.Errorf("closeCell(%+v, %q, %v, %v) = %q; want %q", tc.f, tc.err, tc.failed, tc.abnormal, got, tc.want)
		}
	}
}
