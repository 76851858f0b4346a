package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// gib is 2^30 bytes.
const gib = 1 << 30

// lines turns the slices and the idle results into the table's lines.
func lines(samples []sample, idle []idleResult) []line {
	one := func(scenario, unit string, lower bool, format string) line {
		return line{Scenario: scenario, Unit: unit, Lower: lower, Format: format,
			Parts: []part{{Values: map[string][]float64{}}}, Failed: map[string]int{}}
	}
	two := func(scenario string) line {
		l := one(scenario, "µs", true, "%.0f")
		l.Parts = []part{{Name: "p50", Values: map[string][]float64{}}, {Name: "p99", Values: map[string][]float64{}}}
		return l
	}
	out := []line{
		one("throughput-1", "MB/s", false, "%.0f"),
		one("throughput-32", "MB/s", false, "%.0f"),
		one("cpu-per-gib", "CPU s/GiB", true, "%.2f"),
		two("latency-1"),
		two("latency-100"),
		one("handshake", "conn/s", false, "%.0f"),
	}
	byName := map[string]*line{}
	for i := range out {
		byName[out[i].Scenario] = &out[i]
	}
	type key struct {
		round  int
		target string
	}
	cpu, relayed := map[key]float64{}, map[key]float64{}
	for _, s := range samples {
		l, res := byName[s.Scenario], s.Result
		if res == nil {
			continue
		}
		if res.Failed > 0 {
			l.Failed[s.Target]++
		}
		if res.Messages == 0 {
			continue // nothing got through: no figure, only the mark
		}
		add := func(i int, v float64) { l.Parts[i].Values[s.Target] = append(l.Parts[i].Values[s.Target], v) }
		switch {
		case strings.HasPrefix(s.Scenario, "throughput"):
			add(0, res.MBPerS)
			if s.Target != "direct" {
				k := key{s.Round, s.Target}
				cpu[k] += s.CPUS
				relayed[k] += 2 * float64(res.Bytes) / gib
				if res.Failed > 0 {
					byName["cpu-per-gib"].Failed[s.Target]++
				}
			}
		case strings.HasPrefix(s.Scenario, "latency"):
			add(0, res.P50US)
			add(1, res.P99US)
		default:
			add(0, res.ConnPerS)
		}
	}
	// One CPU figure per round and proxy, over both throughput slices: a
	// 1 s slice is only 100 ticks of /proc accounting.
	c := byName["cpu-per-gib"]
	for k, g := range relayed {
		if g > 0 {
			c.Parts[0].Values[k.target] = append(c.Parts[0].Values[k.target], cpu[k]/g)
		}
	}
	if len(idle) == 0 {
		return out
	}
	mem := one("idle-memory", "KiB/tunnel", true, "%.1f")
	fds := one("idle-fds", "fds/tunnel", true, "%.2f")
	held := one("idle-held", "tunnels", false, "%.0f")
	for _, r := range idle {
		held.Parts[0].Values[r.Target] = []float64{float64(r.Held)}
		kib, fd, ok := r.perTunnel()
		if !ok {
			continue
		}
		mem.Parts[0].Values[r.Target] = []float64{kib}
		fds.Parts[0].Values[r.Target] = []float64{fd}
		if r.Failed > 0 {
			for _, l := range []*line{&mem, &fds, &held} {
				l.Failed[r.Target]++
			}
		}
	}
	return append(out, mem, fds, held)
}

// machine describes the computer: CPUs, model and kernel.
func machine() string {
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

// loadAvg is the 1-minute load average, to tell a quiet machine from a
// busy one in the header: the figures mean little on a busy one.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// report prints the header, the table and its notes on standard output,
// and writes the JSON file if asked.
func (r *runner) report(targets []*target, skipped []string, samples []sample, idle []idleResult) error {
	ls := lines(samples, idle)
	var names, peerNames, versions []string
	for _, t := range targets {
		names = append(names, t.name)
		if t.name != "direct" && t.name != "wsgate" {
			peerNames = append(peerNames, t.name)
		}
		if t.name != "direct" {
			versions = append(versions, t.version)
		}
	}
	date := time.Now().UTC().Format("2006-01-02 15:04 MST")
	idleNote := fmt.Sprintf("%d idle tunnels", r.cfg.idleConns)
	if r.cfg.skipIdle {
		idleNote = "no idle measurement"
	}
	head := []string{
		fmt.Sprintf("date: %s; %d rounds of %s slices; %s", date, r.cfg.rounds, r.cfg.slice, idleNote),
		fmt.Sprintf("machine: %s; load average %s before the rounds, %s after them", machine(), r.loadStart, r.loadEnd),
		"pinning: each proxy on CPU 0 with one worker/thread (wsgate and Caddy GOMAXPROCS=1); echo backend and load generator on CPU 1",
		"versions: " + strings.Join(versions, "; "),
	}
	if len(skipped) > 0 {
		head = append(head, "skipped: "+strings.Join(skipped, "; "))
	}
	notes := []string{
		fmt.Sprintf("Cells are medians over %d rounds (min and max per cell: --json); – is not measured.", r.cfg.rounds),
		"Ratios are wsgate's median over the other's: above 1 is better for wsgate where \"better\" says higher, below 1 where it says lower.",
		"cpu-per-gib: CPU seconds (utime+stime of the proxy's process tree, /proc ticks of 10 ms) during the throughput slices, per GiB relayed = echoed payload bytes × 2 directions / 2^30; one figure per round over both throughput scenarios.",
		"latency-100 sends 2000 messages/s in all on a fixed schedule; handshake is connect + upgrade + one echo + close, 16 workers.",
		"! marks cells in which some connections failed (see the progress lines or --json).",
	}
	if len(idle) > 0 {
		notes = append(notes, "idle: (VmRSS while held − VmRSS before) / tunnels held, and the same for open descriptors, summed over the proxy's process tree.")
		if slices.Contains(peerNames, "apache2") {
			notes = append(notes, "apache2 holds a thread per tunnel and starts them all with its process: their stacks are in its memory before the tunnels open, not in the idle figure.")
		}
	}
	rows := table(ls, names, peerNames)
	w := os.Stdout
	if r.cfg.markdown {
		for _, h := range head {
			fmt.Fprintf(w, "- %s\n", h)
		}
		fmt.Fprintln(w)
		writeMarkdown(w, rows)
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	} else {
		fmt.Fprintln(w)
		writeLines(w, head)
		fmt.Fprintln(w)
		writePlain(w, rows)
		fmt.Fprintln(w)
		writeLines(w, notes)
	}
	if r.cfg.jsonFile == "" {
		return nil
	}
	vs := map[string]string{}
	for _, t := range targets {
		vs[t.name] = t.version
	}
	b, err := json.MarshalIndent(map[string]any{
		"date": date, "machine": machine(), "rounds": r.cfg.rounds, "slice": r.cfg.slice.String(),
		"idle_conns": r.cfg.idleConns, "versions": vs, "skipped": skipped,
		"summary": summarize(ls, names), "samples": samples, "idle": idle,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.cfg.jsonFile, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}

func writeLines(w io.Writer, ls []string) {
	for _, l := range ls {
		fmt.Fprintln(w, l)
	}
}
