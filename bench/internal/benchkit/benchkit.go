// Package benchkit is what bench/compare and bench/tracecost share: the
// way they exit, the machine they describe in their headers, the medians
// and the tables they print, and (on Linux) the children they start. The
// second program began as a copy of the first; one copy keeps a fix to
// one (such as the locked spawning thread of Spawn) from missing the
// other.
package benchkit

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
)

// Main runs a program after flag.Parse, so that both exit alike: a check
// error is a usage error (exit 2, after the flags' usage); a failure
// after an interrupt is the interrupt (exit 130), since run stops every
// process it started before it returns; any other failure exits 1.
// Messages go to standard error behind name.
func Main(name string, check func() error, run func(context.Context) error) {
	if err := check(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "%s: interrupted; every process it started is stopped\n", name)
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// FreePort asks the kernel for an unused port on 127.0.0.1. Another
// program could take it before the child binds it; the child would then
// fail to start, or the readiness check fail, with the child's own
// message.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// VersionOf is the first line BIN ARGS... prints, for the versions line
// of a header; "unknown (why)" when it prints nothing and fails.
func VersionOf(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil && first == "" {
		return "unknown (" + err.Error() + ")"
	}
	return first
}

// Machine describes the computer: CPUs, model and kernel.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs, %s, Linux %s", runtime.NumCPU(), model, strings.TrimSpace(string(kernel)))
}

// LoadAvg is the 1-minute load average, to tell a quiet machine from a
// busy one in the header: the figures mean little on a busy one.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Median is the middle of the values, or the mean of the two middle ones;
// NaN for none. Cells are medians over rounds because a small shared
// machine's rounds spread widely.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Dash is the cell of a figure not measured.
const Dash = "–"

// WriteMarkdown writes rows as a GitHub table, the first row as its
// header.
func WriteMarkdown(w io.Writer, rows [][]string) {
	for i, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		if i == 0 {
			fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(r)))
		}
	}
}

// WritePlain writes rows as aligned columns for a terminal.
func WritePlain(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// WriteList writes lines as a markdown list or as plain lines.
func WriteList(w io.Writer, markdown bool, ls []string) {
	for _, l := range ls {
		if markdown {
			l = "- " + l
		}
		fmt.Fprintln(w, l)
	}
}
