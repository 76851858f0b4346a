package cmd

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// logLevel is --verbose (debug) or --quiet (warnings and errors only: no
// line per tunnel), else info.
func logLevel(cmd *cli.Command) slog.Level {
	switch {
	case cmd.Bool("verbose"):
		return slog.LevelDebug
	case cmd.Bool("quiet"):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newViewLogger writes short lines for the live view's last-events rows:
// clock time only, and no level unless it is worth a look.
func newViewLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
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

// terminalIn returns standard input when it is a terminal the live view
// may read keys from, else nil.
func terminalIn(r io.Reader) *os.File {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}
