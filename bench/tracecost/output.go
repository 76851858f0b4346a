//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

// report prints the header, the two tables and their notes on standard
// output, and writes the JSON file if asked.
func (r *runner) report(targets []*target, samples []sample, stats map[string]traceStats, mem []memResult) error {
	cfg := r.cfg
	var lines []costLine
	index := map[string]int{}
	for _, t := range targets {
		index[t.name] = len(lines)
		lines = append(lines, costLine{Name: t.name, Label: t.label, Ref: t.ref, Deflate: t.deflate})
	}
	var busy []float64
	for _, s := range samples {
		lines[index[s.Target]].add(s)
		if s.ElapsedS > 0 {
			busy = append(busy, 100*s.LoadCPUS/s.ElapsedS)
		}
	}
	var mems []memLine
	for _, m := range mem {
		t := targets[index[m.Target]]
		mems = append(mems, memLine{Name: t.name, Label: t.label, Ref: t.ref, memResult: m})
	}

	date := time.Now().UTC().Format("2006-01-02 15:04 MST")
	versions := benchkit.VersionOf(cfg.wsgate, "version")
	if cfg.baseline != "" {
		versions += "; base: " + benchkit.VersionOf(cfg.baseline, "version")
	}
	traceBytes := cfg.traceBytes
	if traceBytes == 0 {
		traceBytes = 256
	}
	deflated := "–"
	if st := stats["trace"]; st.WireLen > 0 {
		deflated = fmt.Sprintf("%.2f", float64(st.Len)/float64(st.WireLen))
	}
	pace := "unpaced"
	if cfg.rate > 0 {
		pace = fmt.Sprintf("paced at %d echoes/s in all", cfg.rate)
	}
	head := []string{
		fmt.Sprintf("date: %s; %d rounds of %s slices; %d connections, each with %d messages in flight, %s", date, cfg.rounds, cfg.slice, cfg.conns, cfg.window, pace),
		fmt.Sprintf("machine: %s; load average %s before the rounds, %s after them", benchkit.Machine(), r.loadStart, r.loadEnd),
		"pinning: wsgate on CPU 0 (GOMAXPROCS=1); the clients and the echo backend (this program, " + websocketVersion() + ", permessage-deflate with context takeover both ways) on CPU 1",
		"versions: " + versions,
		fmt.Sprintf("messages: JSON-RPC 2.0 requests and responses of %d bytes, each different, deflated %s times on the wire (the --trace-file records' len ÷ wire_len)", cfg.size, deflated),
	}
	notes := []string{
		fmt.Sprintf("Cells are medians over %d rounds, with min–max; ratios divide medians by tracing off's (of the same binary).", cfg.rounds),
		"A message is one WebSocket message crossing wsgate one way: each echo is two, each traced.",
		"wsgate CPU: utime+stime of its process (/proc ticks of 10 ms) over the slice, per message.",
		fmt.Sprintf("trace B/msg: how much the --trace-file grew, per message (a JSON line holding the first %d bytes of the payload, inflated; --trace-bytes).", traceBytes),
		fmt.Sprintf("The load side on CPU 1 (it deflates and inflates every message twice) was busy %s %% of each slice: near 100 %%, msg/s is its ceiling, not wsgate's, and the CPU column is the one that ranks the modes.", spread(busy, "%.0f")),
	}
	for _, t := range targets {
		if st := stats[t.name]; t.mode.decoded != "" && st.Records > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d of %d records decoded as %s.", t.label, st.Decoded, st.Records, t.mode.decoded))
		}
	}
	var memNotes []string
	if len(mems) > 0 {
		memNotes = []string{
			fmt.Sprintf("A fresh wsgate per mode; (VmRSS with the tunnels held − VmRSS before) / tunnels held, each tunnel having passed %d messages each way first (compressed where deflate is agreed, so that a traced tunnel's inflaters exist).", cfg.memMessages),
			"VmRSS counts garbage the Go collector has not freed yet, and memory it has freed but not returned.",
		}
	}

	w := os.Stdout
	fmt.Fprintln(w)
	benchkit.WriteList(w, cfg.markdown, head)
	fmt.Fprintln(w)
	type section struct {
		rows  [][]string
		notes []string
	}
	tables := []section{{costTable(lines), notes}}
	if len(mems) > 0 {
		tables = append(tables, section{memTable(mems), memNotes})
	}
	for _, tb := range tables {
		if cfg.markdown {
			benchkit.WriteMarkdown(w, tb.rows)
		} else {
			benchkit.WritePlain(w, tb.rows)
		}
		fmt.Fprintln(w)
		benchkit.WriteList(w, cfg.markdown, tb.notes)
		fmt.Fprintln(w)
	}
	if len(r.notes) > 0 {
		benchkit.WriteList(w, cfg.markdown, r.notes)
		fmt.Fprintln(w)
	}

	if cfg.jsonFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{
		"date": date, "machine": benchkit.Machine(), "versions": versions,
		"rounds": cfg.rounds, "slice": cfg.slice.String(), "conns": cfg.conns, "window": cfg.window, "rate": cfg.rate,
		"size": cfg.size, "trace_bytes": traceBytes, "tunnels": cfg.tunnels, "mem_messages": cfg.memMessages,
		"modes": lines, "samples": samples, "trace_files": stats, "memory": mem, "notes": r.notes,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}

// websocketVersion names the coder/websocket this program was built with.
func websocketVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i := slices.IndexFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == "github.com/coder/websocket" }); i >= 0 {
			return "coder/websocket " + bi.Deps[i].Version
		}
	}
	return "coder/websocket"
}
