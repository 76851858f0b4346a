package liveview

import (
	"strings"
	"sync"

	"github.com/fatih/color"
)

// EventLog keeps the last log lines for the live view, which owns the screen
// and so cannot let log lines scroll it.
type EventLog struct {
	mu    sync.Mutex
	lines []string
	max   int
}

// NewEventLog keeps the last max lines: as many as the log pane of the
// tallest terminal shows.
func NewEventLog(max int) *EventLog { return &EventLog{max: max} }

func (l *EventLog) Write(p []byte) (int, error) {
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

func (l *EventLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// logColor is a log line's colour: warnings and errors stand out. The view's
// logger writes no level for INFO, and "level=WARN" or "level=ERROR"
// before the message for the others.
func logColor(line string, p palette) *color.Color {
	switch {
	case strings.Contains(line, " level=ERROR "):
		return p.red
	case strings.Contains(line, " level=WARN "):
		return p.yellow
	}
	return p.dim
}
