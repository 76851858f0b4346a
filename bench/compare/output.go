package main

import (
	"strings"
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
		two("latency-100-10k"),
		one("handshake", "conn/s", false, "%.0f"),
		one("handshake-fin", "conn/s", false, "%.0f"),
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
