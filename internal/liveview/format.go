package liveview

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// fit cuts s to n cells (runes here), marking the cut with an ellipsis.
// Control characters become '?': a close reason or a path comes from a
// peer, and must not reach the terminal as an escape sequence.
func fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if strings.ContainsFunc(s, isControl) {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return '?'
			}
			return r
		}, s)
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// fitLeft is fit cutting at the start.
func fitLeft(s string, n int) string {
	s = fit(s, utf8.RuneCountInString(s)) // only the control characters
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return fit(s, n)
	}
	r := []rune(s)
	return "…" + string(r[len(r)-n+1:])
}

// shortAge is formatAge for a table cell: at most five characters.
func shortAge(d time.Duration) string {
	switch {
	case d < 10*time.Minute:
		return formatAge(d)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 10*time.Hour:
		return formatAge(d)
	case d < 100*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours())/24)
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

func FormatBytes(n int64) string {
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

// shortBytes is FormatBytes for a table cell: at most six characters.
func shortBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	return scaled(float64(n), 1024, "KMGTP")
}

// shortCount is a count for a table cell: at most five characters.
func shortCount(n int64) string {
	if n < 100000 {
		return fmt.Sprint(n)
	}
	return scaled(float64(n), 1000, "kMGTP")
}

// scaled writes f in the first of units (each base times the last) that
// leaves fewer than base of it: one decimal below 10, none above.
func scaled(f, base float64, units string) string {
	for _, unit := range units {
		f /= base
		if f < 10 {
			return fmt.Sprintf("%.1f%c", f, unit)
		}
		if f < base {
			return fmt.Sprintf("%.0f%c", f, unit)
		}
	}
	return fmt.Sprintf("%.0fE", f/base)
}
