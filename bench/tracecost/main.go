//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.wsgate, "wsgate", "", "the wsgate binary to measure (required)")
	flag.StringVar(&cfg.baseline, "baseline", "", "another wsgate binary (an earlier commit) measured beside it in every mode, its rows marked base")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of slices; cells are medians over rounds")
	flag.DurationVar(&cfg.slice, "slice", 2*time.Second, "how long each slice loads one mode")
	flag.IntVar(&cfg.conns, "conns", 4, "connections the load keeps open during a slice")
	flag.IntVar(&cfg.window, "window", 8, "messages each connection keeps in flight")
	flag.IntVar(&cfg.rate, "rate", 0, "echoes per second over all connections, to compare the modes' CPU per message at one load (0: as fast as the windows allow)")
	flag.IntVar(&cfg.size, "size", 1024, "bytes of each JSON message (512 or more)")
	flag.IntVar(&cfg.traceBytes, "trace-bytes", 0, "wsgate's --trace-bytes in the traced modes (0: its default, 256)")
	flag.IntVar(&cfg.tunnels, "tunnels", 1000, "tunnels held open for the memory measurement (this program holds about 0.5 MiB for each, mostly coder/websocket's flate writers)")
	flag.IntVar(&cfg.memMessages, "mem-messages", 40, "messages each held tunnel passes each way before the memory is read: 40 of 1 KiB fill a traced direction's 32 KiB window, whose untouched pages VmRSS would not count")
	flag.BoolVar(&cfg.skipMemory, "skip-memory", false, "leave out the memory measurement")
	flag.StringVar(&cfg.jsonFile, "json", "", "also write every slice, the figures per round and the memory to this file")
	flag.BoolVar(&cfg.markdown, "markdown", false, "print the tables as GitHub markdown (for docs/performance.md)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs, trace files) even on success")
	flag.Parse()
	benchkit.Main("tracecost", cfg.check, func(ctx context.Context) error { return run(ctx, cfg) })
}

func (cfg config) check() error {
	switch {
	case cfg.wsgate == "":
		return errors.New("--wsgate is required")
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	case cfg.rounds < 1 || cfg.slice <= 0 || cfg.conns < 1 || cfg.window < 1 || cfg.tunnels < 1 || cfg.memMessages < 1:
		return errors.New("--rounds, --slice, --conns, --window, --tunnels and --mem-messages must be positive")
	case cfg.size < 512:
		return errors.New("--size must be 512 or more: the JSON's fixed fields take about 300 bytes")
	case cfg.traceBytes < 0 || cfg.rate < 0:
		return errors.New("--trace-bytes and --rate must be 0 or more")
	}
	return nil
}

// A target is one wsgate binary run in one mode.
type target struct {
	name, label string
	ref         string // the same binary's tracing-off target
	mode        mode
	bin         string
	base        bool // of --baseline: a mismatch is a note, not a failure
	// Set when it runs:
	c         *child
	url       string
	traceFile string
	deflate   bool // what its 101 agreed
}

// A runner holds one run's state.
type runner struct {
	cfg                config
	dir                string
	echo               *echoServer
	notes              []string // what the baseline did otherwise, mostly
	loadStart, loadEnd string   // 1-minute load averages around the rounds
}

func run(ctx context.Context, cfg config) (err error) {
	if err := benchkit.CanPin("wsgate on CPU 0, load and echo on CPU 1"); err != nil {
		return err
	}
	bins := []string{cfg.wsgate}
	if cfg.baseline != "" {
		bins = append(bins, cfg.baseline)
	}
	for i, b := range bins {
		if bins[i], err = filepath.Abs(b); err != nil {
			return err
		}
		if _, err := os.Stat(bins[i]); err != nil {
			return err
		}
	}
	noFile, err := benchkit.RaiseNoFile()
	if err != nil {
		return err
	}
	// Each tunnel holds 2 descriptors here and 2 in wsgate.
	if most := int(noFile/2) - 250; !cfg.skipMemory && cfg.tunnels > most {
		fmt.Fprintf(os.Stderr, "tracecost: open-files limit %d: holding %d tunnels, not %d\n", noFile, most, cfg.tunnels)
		cfg.tunnels = most
	}
	if err := pinSelf("1"); err != nil {
		return err
	}

	r := &runner{cfg: cfg}
	if r.dir, err = os.MkdirTemp("", "wsgate-tracecost-"); err != nil {
		return err
	}
	defer func() {
		if err != nil || cfg.keep {
			fmt.Fprintf(os.Stderr, "tracecost: logs and trace files kept in %s\n", r.dir)
		} else {
			os.RemoveAll(r.dir)
		}
	}()
	if r.echo, err = startEcho(); err != nil {
		return err
	}
	defer r.echo.close()

	var targets []*target
	for i, bin := range bins {
		for _, m := range modes {
			t := &target{name: m.name, ref: "off", label: m.label, mode: m, bin: bin}
			if i > 0 {
				t.name, t.ref, t.label, t.base = baseline+m.name, baseline+"off", "base: "+m.label, true
			}
			targets = append(targets, t)
		}
	}
	defer func() {
		for _, t := range targets {
			if t.c != nil {
				t.c.stop()
			}
		}
	}()
	var running []*target
	for _, t := range targets {
		if err := r.serve(ctx, t, t.name); err != nil {
			if !t.base {
				return err
			}
			r.notes = append(r.notes, fmt.Sprintf("left out: %v", err))
			continue
		}
		running = append(running, t)
	}

	r.loadStart = benchkit.LoadAvg()
	samples, err := r.rounds(ctx, running)
	if err != nil {
		return err
	}
	r.loadEnd = benchkit.LoadAvg()
	stats, err := r.checkTraces(running)
	if err != nil {
		return err
	}

	var mem []memResult
	if !cfg.skipMemory {
		for _, t := range running {
			res, err := r.memory(ctx, *t)
			if err != nil {
				return err
			}
			mem = append(mem, res)
		}
	}
	return r.report(running, samples, stats, mem)
}

// serve starts wsgate for t, named name, and waits for it to upgrade. It
// fails when the upgrade's compression is not what the mode promises,
// unless t is the baseline's, which may predate the mode.
func (r *runner) serve(ctx context.Context, t *target, name string) error {
	addr, err := benchkit.FreePort()
	if err != nil {
		return err
	}
	argv := []string{t.bin, "serve", "--no-live", "--quiet", "--listen", addr, "--pass", "/ ws://" + r.echo.addr + "/"}
	if t.mode.traced {
		t.traceFile = filepath.Join(r.dir, name+".jsonl")
		argv = append(argv, "--trace-file", t.traceFile)
		if r.cfg.traceBytes > 0 {
			argv = append(argv, "--trace-bytes", strconv.Itoa(r.cfg.traceBytes))
		}
	}
	argv = append(argv, t.mode.args...)
	c, err := start(r.dir, name, "0", []string{"GOMAXPROCS=1"}, argv...)
	if err != nil {
		return err
	}
	t.url = "ws://" + addr + "/"
	if t.deflate, err = c.waitReady(ctx, t.url); err != nil {
		c.stop()
		return fmt.Errorf("wsgate serve %s: %w", t.label, err)
	}
	if t.deflate != t.mode.deflate {
		if !t.base {
			c.stop()
			return fmt.Errorf("wsgate serve %s: the 101 agreed permessage-deflate: %v; want %v", t.label, t.deflate, t.mode.deflate)
		}
		if name == t.name {
			r.notes = append(r.notes, fmt.Sprintf("%s: the 101 agreed permessage-deflate: %v, unlike this build's", t.label, t.deflate))
		}
	}
	t.c = c
	return nil
}

// rounds loads every target for a slice, round after round, the targets
// in an order that rotates from one round to the next so that none is
// always first.
func (r *runner) rounds(ctx context.Context, targets []*target) ([]sample, error) {
	var out []sample
	for round := 1; round <= r.cfg.rounds; round++ {
		n := (round - 1) % len(targets)
		for _, t := range append(slices.Clone(targets[n:]), targets[:n]...) {
			s := r.slice(ctx, t, round)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			fmt.Fprintf(os.Stderr, "round %d/%d  %-13s  %s\n", round, r.cfg.rounds, t.name, brief(s))
			out = append(out, s)
		}
	}
	return out, nil
}

// slice runs --conns connections against t for --slice and reads what it
// cost wsgate.
func (r *runner) slice(ctx context.Context, t *target, round int) sample {
	s := sample{Round: round, Target: t.name}
	pid := t.c.Cmd.Process.Pid
	cpu0, err := cpuTime(pid)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	load0, size0 := selfCPU(), fileSize(t.traceFile)
	var every time.Duration
	if r.cfg.rate > 0 {
		every = time.Second * time.Duration(r.cfg.conns) / time.Duration(r.cfg.rate)
	}
	start := time.Now()
	until := start.Add(r.cfg.slice)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i := range r.cfg.conns {
		wg.Go(func() {
			g := newGenerator(uint64(round<<16|i), r.cfg.size)
			n, err := stream(ctx, t.url, t.deflate, r.cfg.window, every, g, until)
			mu.Lock()
			defer mu.Unlock()
			s.Echoes += n
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	s.ElapsedS = time.Since(start).Seconds()
	cpu1, err := cpuTime(pid)
	if err == nil {
		err = first
	}
	if err != nil {
		s.Error = err.Error()
	}
	s.CPUS = (cpu1 - cpu0).Seconds()
	s.LoadCPUS = (selfCPU() - load0).Seconds()
	s.TraceBytes = fileSize(t.traceFile) - size0
	return s
}

// brief is a slice's figures for the progress lines.
func brief(s sample) string {
	if s.Error != "" {
		return "error: " + s.Error
	}
	m := s.messages()
	f := fmt.Sprintf("%6.0f msg/s  %5.2f µs/msg  load %3.0f %%", m/s.ElapsedS, s.CPUS*1e6/m, 100*s.LoadCPUS/s.ElapsedS)
	if s.TraceBytes > 0 {
		f += fmt.Sprintf("  trace %.0f B/msg", float64(s.TraceBytes)/m)
	}
	return f
}

func fileSize(path string) int64 {
	if path == "" {
		return 0
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// checkTraces stops the targets, so that their trace files are complete,
// and checks each file against its mode. A failure is fatal for this
// build and a note for the baseline.
func (r *runner) checkTraces(targets []*target) (map[string]traceStats, error) {
	stats := map[string]traceStats{}
	for _, t := range targets {
		t.c.stop()
		t.c = nil
		if !t.mode.traced {
			continue
		}
		st, err := scanTrace(t.traceFile, t.mode.decoded)
		if err == nil {
			err = t.checkTrace(st)
		}
		if err != nil && !t.base {
			return nil, fmt.Errorf("%s: %w", t.label, err)
		} else if err != nil {
			r.notes = append(r.notes, fmt.Sprintf("%s: %v", t.label, err))
		}
		stats[t.name] = st
	}
	return stats, nil
}

// scanTrace reads every record of a trace file, counting what checkTrace
// needs.
func scanTrace(path, decoded string) (traceStats, error) {
	var st traceStats
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var rec struct {
			Opcode      string `json:"opcode"`
			Len         int64  `json:"len"`
			Compressed  bool   `json:"compressed"`
			WireLen     int64  `json:"wire_len"`
			Undecodable bool   `json:"undecodable"`
			Decoded     *struct {
				Protocol string `json:"protocol"`
			} `json:"decoded"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return st, fmt.Errorf("%s: record %d: %w", path, st.Records+1, err)
		}
		st.Records++
		if rec.Compressed {
			st.Compressed++
			st.Len += rec.Len
			st.WireLen += rec.WireLen
		}
		if rec.Undecodable {
			st.Undecodable++
		}
		if rec.Decoded != nil && rec.Decoded.Protocol == decoded {
			st.Decoded++
		}
	}
	return st, sc.Err()
}

// checkTrace fails unless the trace shows what the 101 agreed (for this
// build, what the mode promises): the messages deflated on the wire and
// every one inflated, or none deflated; and decoded when a decoder is
// named. Without it a mode could measure something else (a wsgate that
// strips compression by default, say) and say nothing.
func (t *target) checkTrace(st traceStats) error {
	switch {
	case st.Records == 0:
		return fmt.Errorf("%s holds no record", t.traceFile)
	case t.deflate && st.Compressed < st.Records/2:
		return fmt.Errorf("%d of %d records compressed; want nearly all: the stream was not deflated", st.Compressed, st.Records)
	case st.Undecodable > 0:
		return fmt.Errorf("%d of %d compressed records not inflated (undecodable)", st.Undecodable, st.Compressed)
	case !t.deflate && st.Compressed > 0:
		return fmt.Errorf("%d records compressed; want none", st.Compressed)
	case t.mode.decoded != "" && st.Decoded == 0:
		return fmt.Errorf("none of %d records decoded as %s", st.Records, t.mode.decoded)
	}
	return nil
}

// memory starts a fresh wsgate in t's mode, opens --tunnels tunnels
// through it, each passing --mem-messages messages both ways (compressed
// when the mode agrees it, so that a traced tunnel's inflaters exist),
// and reads wsgate's VmRSS before and while they are held. A fresh
// process, because one that has run the rounds keeps memory the new
// tunnels would reuse.
func (r *runner) memory(ctx context.Context, t target) (memResult, error) {
	res := memResult{Target: t.name, Asked: r.cfg.tunnels}
	if err := r.serve(ctx, &t, t.name+"-mem"); err != nil {
		return res, err
	}
	defer t.c.stop()
	pid := t.c.Cmd.Process.Pid
	fmt.Fprintf(os.Stderr, "memory  %-13s  opening %d tunnels\n", t.name, r.cfg.tunnels)

	// A few tunnels first, closed again, so that what any first tunnel
	// costs (pools, code paged in) is in the figure before.
	warm, _ := r.open(ctx, t, r.cfg.conns)
	for _, c := range warm {
		c.Close(websocket.StatusNormalClosure, "")
	}
	time.Sleep(time.Second)
	var err error
	if res.Before, err = rss(pid); err != nil {
		return res, err
	}
	held, err := r.open(ctx, t, r.cfg.tunnels)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Held = len(held)
	if err != nil {
		res.Error = err.Error()
	}
	// Let the last tunnels' allocations land.
	time.Sleep(time.Second)
	res.During, _ = rss(pid)
	for _, c := range held {
		c.CloseNow()
	}
	l := memLine{memResult: res}
	fmt.Fprintf(os.Stderr, "memory  %-13s  held %d: %.1f KiB per tunnel\n", t.name, res.Held, l.kibPerTunnel())
	// This program's share, coder/websocket's flate writers, is let go
	// before the next target.
	runtime.GC()
	debug.FreeOSMemory()
	return res, nil
}

// open opens n tunnels through t, 16 at a time, each passing
// --mem-messages messages, and returns those that did; the error is the
// first failure.
func (r *runner) open(ctx context.Context, t target, n int) ([]*websocket.Conn, error) {
	var (
		mu    sync.Mutex
		conns []*websocket.Conn
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				c, err := dialAs(ctx, t.url, t.deflate)
				if err == nil {
					if err = exchange(ctx, c, newGenerator(uint64(i), r.cfg.size), r.cfg.memMessages); err != nil {
						c.CloseNow()
					}
				}
				mu.Lock()
				if err == nil {
					conns = append(conns, c)
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return conns, first
}
