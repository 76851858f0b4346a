package liveview

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/goldentest"
	"github.com/wsgate/wsgate/internal/snapshottest"
	"github.com/wsgate/wsgate/tunnel"
)

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
	paused.scroll = 1

	cases := []struct {
		name string
		w, h int
		st   *viewState
	}{
		{"80x24", 80, 24, st},
		{"60x20", 60, 20, st},
		{"40x12", 40, 12, st},
		{"80x10-paused", 80, 10, paused},
		{"100x40-balancer", 100, 40, st},
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
			lines, _ := v.render(snap, events.last(), tc.w, tc.h, tc.st)
			if len(lines) > tc.h {
				t.Errorf("%d lines; want at most %d", len(lines), tc.h)
			}
			for i, l := range lines {
				if n := len([]rune(l)); n > tc.w {
					t.Errorf("line %d is %d wide: %q", i+1, n, l)
				}
				if strings.ContainsAny(l, "\x1b\n\r") {
					t.Errorf("line %d holds a control character: %q", i+1, l)
				}
			}
			goldentest.Check(t, filepath.Join("testdata", "view-"+tc.name+".golden"), strings.Join(lines, "\n")+"\n")
		})
	}
}

// TestViewFits renders every size from 1x1 up: no frame may be taller or
// wider than the screen.
func TestViewFits(t *testing.T) {
	start, s := snapshottest.Busy()
	v := &View{Addr: "127.0.0.1:8080", Version: "1.2.3", Start: start}
	st := newViewState()
	st.paused = true
	events := []string{"a log line that is rather long, longer than many a narrow terminal is wide"}
	for w := 1; w <= 120; w++ {
		for h := 1; h <= 40; h++ {
			lines, page := v.render(s, events, w, h, st)
			if len(lines) > h {
				t.Fatalf("%dx%d: %d lines", w, h, len(lines))
			}
			for i, l := range lines {
				if n := len([]rune(l)); n > w {
					t.Fatalf("%dx%d: line %d is %d wide: %q", w, h, i+1, n, l)
				}
			}
			if page > len(s.Tunnels) {
				t.Fatalf("%dx%d: page %d > %d tunnels", w, h, page, len(s.Tunnels))
			}
		}
	}
}

func TestViewKeys(t *testing.T) {
	cases := []struct {
		name   string
		in     []string // successive reads
		scroll int
		paused bool
		quit   bool
	}{
		{name: "j twice", in: []string{"jj"}, scroll: 2},
		{name: "down arrows", in: []string{"\x1b[B\x1bOB"}, scroll: 2},
		{name: "arrow split across reads", in: []string{"\x1b", "[", "B"}, scroll: 1},
		{name: "down then up", in: []string{"jjj\x1b[Ak"}, scroll: 1},
		{name: "not above the top", in: []string{"kkk\x1b[A"}, scroll: 0},
		{name: "not past the end", in: []string{strings.Repeat("j", 50)}, scroll: 6}, // 10 tunnels, 4 shown
		{name: "page down", in: []string{"\x1b[6~"}, scroll: 3},
		{name: "end and home", in: []string{"G", "\x1b[H"}, scroll: 0},
		{name: "end", in: []string{"\x1b[F"}, scroll: 6},
		{name: "pause", in: []string{"p"}, paused: true},
		{name: "pause and resume", in: []string{"p", "p"}},
		{name: "q quits", in: []string{"q"}, quit: true},
		{name: "Ctrl-C quits", in: []string{"\x03"}, quit: true},
		{name: "escape then q", in: []string{"\x1b", "q"}, quit: true},
		{name: "unknown keys", in: []string{"x\x1b[15~\x1b[Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newViewState()
			st.count, st.page = 10, 4
			for _, in := range tc.in {
				st.input([]byte(in))
			}
			if st.scroll != tc.scroll || st.paused != tc.paused || st.quit != tc.quit {
				t.Errorf("after %q: scroll %d, paused %v, quit %v; want %d, %v, %v",
					tc.in, st.scroll, st.paused, st.quit, tc.scroll, tc.paused, tc.quit)
			}
		})
	}
}

// TestViewScroll checks that the keys move the rows render shows.
func TestViewScroll(t *testing.T) {
	start, s := snapshottest.Busy()
	v := &View{Addr: "a", Version: "v", Start: start}
	st := newViewState()
	lines, page := v.render(s, nil, 80, 5, st)
	st.count, st.page = len(s.Tunnels), page
	if page != 1 {
		t.Fatalf("5 lines show %d open tunnels; want 1:\n%s", page, strings.Join(lines, "\n"))
	}
	st.input([]byte("jj"))
	lines, _ = v.render(s, nil, 80, 5, st)
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "open tunnels 3-3 of 3") || !strings.Contains(text, ":61234") {
		t.Errorf("after jj, the last tunnel is not shown:\n%s", text)
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
