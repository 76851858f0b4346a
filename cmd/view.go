package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
	"golang.org/x/term"

	"github.com/wsgate/wsgate/tunnel"
)

// viewInterval is how often the live view redraws: fast enough to look live,
// slow enough to cost nothing next to the relay.
const viewInterval = 250 * time.Millisecond

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newLogger(w io.Writer, format string, verbose bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newViewLogger writes short lines for the live view's last-events rows:
// clock time only, and no level unless it is worth a look.
func newViewLogger(w io.Writer, verbose bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		switch {
		case len(groups) > 0:
		case a.Key == slog.TimeKey:
			return slog.String(slog.TimeKey, a.Value.Time().Format(time.TimeOnly))
		case a.Key == slog.LevelKey && a.Value.Any().(slog.Level) == slog.LevelInfo:
			return slog.Attr{}
		}
		return a
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// eventLog keeps the last log lines for the live view, which owns the screen
// and so cannot let log lines scroll it.
type eventLog struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newEventLog(max int) *eventLog { return &eventLog{max: max} }

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.lines = append(l.lines, line)
	}
	if over := len(l.lines) - l.max; over > 0 {
		l.lines = append(l.lines[:0], l.lines[over:]...)
	}
	return len(p), nil
}

func (l *eventLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// view is the live terminal display of a running proxy. It reads snapshots,
// never the relay's state directly.
type view struct {
	out     io.Writer
	addr    string
	version string
	start   time.Time
	events  *eventLog
	color   bool
}

// run redraws until ctx is done, on the terminal's alternate screen so that
// the user's scrollback is left as it was.
func (v *view) run(ctx context.Context, snapshot func() tunnel.Snapshot) {
	fmt.Fprint(v.out, "\x1b[?1049h\x1b[?25l") // alternate screen, hide cursor
	defer fmt.Fprint(v.out, "\x1b[?25h\x1b[?1049l")
	tick := time.NewTicker(viewInterval)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		width, height := 80, 24
		if f, ok := v.out.(*os.File); ok {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				width, height = w, h
			}
		}
		buf.Reset()
		buf.WriteString("\x1b[H")
		v.render(&buf, snapshot(), width, height)
		buf.WriteString("\x1b[J")
		v.out.Write(buf.Bytes())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// render draws one frame of at most height lines, each at most width cells,
// ending every line with "erase to end of line" so a shorter frame leaves no
// debris of the previous one.
func (v *view) render(w io.Writer, s tunnel.Snapshot, width, height int) {
	bold, dim, green := color.New(color.Bold), color.New(color.Faint), color.New(color.FgGreen)
	if !v.color {
		for _, c := range []*color.Color{bold, dim, green} {
			c.DisableColor()
		}
	}
	lines := 0
	line := func(c *color.Color, text string) {
		if lines >= height {
			return
		}
		text = fit(text, width)
		if c != nil {
			text = c.Sprint(text)
		}
		fmt.Fprintf(w, "%s\x1b[K\n", text)
		lines++
	}
	line(bold, fmt.Sprintf("wsgate %s  listening on %s  up %s", v.version, v.addr, s.Time.Sub(v.start).Round(time.Second)))
	line(nil, fmt.Sprintf("tunnels %d open, %d total, %d failed   http %d   bytes %s up, %s down",
		s.Open, s.Total, s.Failed, s.Requests, formatBytes(s.Up), formatBytes(s.Down)))
	line(nil, "")

	// Fixed columns first; client, path and backend share what is left,
	// the client column no wider than an IPv4 address and port needs.
	const fixed = 4 + 6 + 6 + 6 + 6 // ID, AGE, UP, DOWN and the separators
	flex := max(width-fixed, 24)
	cw := min(22, max(10, flex*31/100))
	pw := (flex - cw) * 55 / 100
	bw := flex - cw - pw
	row := func(id, client, path, backend, age, up, down string) string {
		return fmt.Sprintf("%4s %-*s %-*s %-*s %6s %6s %6s", id,
			cw-1, fit(client, cw-1), pw-1, fit(path, pw-1), bw-1, fit(backend, bw-1), age, up, down)
	}
	line(dim, row("ID", "CLIENT", "PATH", "BACKEND", "AGE", "UP", "DOWN"))
	events := v.events.last()
	room := height - lines - min(len(events), 4) - 2
	for i, t := range s.Tunnels {
		if i >= room && len(s.Tunnels) > room {
			line(dim, fmt.Sprintf("  … and %d more", len(s.Tunnels)-i))
			break
		}
		line(green, row(fmt.Sprint(t.ID), t.Client, t.Path, t.Backend,
			formatAge(s.Time.Sub(t.Start)), shortBytes(t.Up), shortBytes(t.Down)))
	}
	if len(s.Tunnels) == 0 {
		line(dim, "  no open tunnels")
	}
	if len(events) > 0 {
		line(nil, "")
		for _, e := range events[max(0, len(events)-4):] {
			line(dim, e)
		}
	}
}

// fit cuts s to n cells (runes here), marking the cut with an ellipsis.
func fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if f < unit {
			break
		}
		f, suffix = f/unit, s
	}
	return fmt.Sprintf("%.1f %s", f, suffix)
}

// shortBytes is formatBytes for a table cell: at most six characters.
func shortBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, unit := range "KMGTP" {
		f /= 1024
		if f < 10 {
			return fmt.Sprintf("%.1f%c", f, unit)
		}
		if f < 1024 {
			return fmt.Sprintf("%.0f%c", f, unit)
		}
	}
	return fmt.Sprintf("%.0fE", f/1024)
}
