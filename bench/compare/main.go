//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

func main() {
	var cfg config
	var only string
	flag.StringVar(&cfg.wsgate, "wsgate", "", "the wsgate binary to measure and to drive the load with (required)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds of slices; cells are medians over rounds")
	flag.DurationVar(&cfg.slice, "slice", time.Second, "how long each slice loads one target")
	flag.StringVar(&only, "only", "", "comma-separated peers to measure (nginx,haproxy,apache2,caddy); direct and wsgate always run")
	flag.IntVar(&cfg.idleConns, "idle-conns", 9500, "idle tunnels each proxy holds for the memory measurement")
	flag.BoolVar(&cfg.skipIdle, "skip-idle", false, "leave out the idle-tunnel measurement")
	flag.StringVar(&cfg.jsonFile, "json", "", "also write every slice and the medians with min and max to this file")
	flag.BoolVar(&cfg.markdown, "markdown", false, "print the table as GitHub markdown (for docs/performance.md)")
	flag.StringVar(&cfg.peersDir, "peers", "bench/peers", "directory of the peers' config templates")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (configs, logs) even on success")
	flag.StringVar(&cfg.baseline, "baseline", "", "another wsgate binary (an earlier commit) measured beside it as wsgate-base, for a before and after in one run; not a peer in the ratios")
	flag.Parse()
	if only != "" {
		cfg.only = strings.Split(only, ",")
	}
	benchkit.Main("compare", cfg.check, func(ctx context.Context) error { return run(ctx, cfg) })
}

func (cfg config) check() error {
	if cfg.wsgate == "" {
		return errors.New("--wsgate is required")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if cfg.rounds < 1 || cfg.slice <= 0 || cfg.idleConns < 1 {
		return errors.New("--rounds, --slice and --idle-conns must be positive")
	}
	for _, o := range cfg.only {
		if !slices.ContainsFunc(peers, func(p peer) bool { return p.name == o }) {
			return fmt.Errorf("--only: unknown peer %q (want nginx, haproxy, apache2 or caddy)", o)
		}
	}
	return nil
}

// A runner holds one run's state: the processes started and where their
// files go.
type runner struct {
	cfg                config
	dir                string
	kids               children
	echo               *benchkit.Child
	noFile             uint64
	loadStart, loadEnd string // 1-minute load averages around the rounds
}

func run(ctx context.Context, cfg config) (err error) {
	if err := benchkit.CanPin("proxies on CPU 0, load and echo on CPU 1"); err != nil {
		return err
	}
	if cfg.wsgate, err = filepath.Abs(cfg.wsgate); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.wsgate); err != nil {
		return fmt.Errorf("--wsgate: %w", err)
	}
	if cfg.peersDir, err = filepath.Abs(cfg.peersDir); err != nil {
		return err
	}
	r := &runner{cfg: cfg}
	if r.noFile, err = benchkit.RaiseNoFile(); err != nil {
		return err
	}
	// A proxy holds 2 descriptors per tunnel, plus its own few.
	if most := int(r.noFile/2) - 250; !cfg.skipIdle && cfg.idleConns > most {
		fmt.Fprintf(os.Stderr, "compare: open-files limit %d: holding %d idle tunnels, not %d\n", r.noFile, most, cfg.idleConns)
		r.cfg.idleConns = most
	}

	if r.dir, err = os.MkdirTemp("", "wsgate-compare-"); err != nil {
		return err
	}
	// Apache's and nginx's workers drop root and still read this directory.
	os.Chmod(r.dir, 0o755)
	defer func() {
		r.kids.stopAll()
		if err != nil || cfg.keep {
			fmt.Fprintf(os.Stderr, "compare: configs and logs kept in %s\n", r.dir)
		} else {
			os.RemoveAll(r.dir)
		}
	}()

	targets, skipped, err := r.startAll(ctx)
	if err != nil {
		return err
	}
	r.loadStart = benchkit.LoadAvg()
	for _, s := range skipped {
		fmt.Fprintf(os.Stderr, "compare: skipped %s\n", s)
	}
	samples, err := r.rounds(ctx, targets)
	if err != nil {
		return err
	}
	r.loadEnd = benchkit.LoadAvg()
	var idle []idleResult
	if !cfg.skipIdle {
		for _, t := range targets[1:] {
			res, err := r.idle(ctx, t)
			if err != nil {
				return err
			}
			idle = append(idle, res)
		}
	}
	return r.report(targets, skipped, samples, idle)
}

// startAll starts the echo backend, wsgate and every installed peer at
// once, and waits until each answers a WebSocket upgrade. The first target
// is direct, the second wsgate.
func (r *runner) startAll(ctx context.Context) ([]*target, []string, error) {
	echoAddr, err := benchkit.FreePort()
	if err != nil {
		return nil, nil, err
	}
	r.echo, err = r.kids.start(r.dir, "echo", "1", nil, r.cfg.wsgate, "echo", "--listen", echoAddr, "--quiet")
	if err != nil {
		return nil, nil, err
	}
	version := versionOf(r.cfg.wsgate, "version")
	targets := []*target{{name: "direct", url: "ws://" + echoAddr + "/", version: version}}
	type pending struct {
		t    *target
		c    *benchkit.Child
		addr string
	}
	var starting []pending
	var skipped []string

	addr, err := benchkit.FreePort()
	if err != nil {
		return nil, nil, err
	}
	c, err := r.kids.start(r.dir, "wsgate", "0", []string{"GOMAXPROCS=1"}, r.cfg.wsgate, "serve",
		"ws://"+echoAddr+"/", "--listen", addr, "--no-live", "--quiet")
	if err != nil {
		return nil, nil, err
	}
	starting = append(starting, pending{&target{name: "wsgate", version: version}, c, addr})
	if r.cfg.baseline != "" {
		addr, err := benchkit.FreePort()
		if err != nil {
			return nil, nil, err
		}
		c, err := r.kids.start(r.dir, baseline, "0", []string{"GOMAXPROCS=1"}, r.cfg.baseline, "serve",
			"ws://"+echoAddr+"/", "--listen", addr, "--no-live", "--quiet")
		if err != nil {
			return nil, nil, err
		}
		starting = append(starting, pending{&target{name: baseline, version: versionOf(r.cfg.baseline, "version")}, c, addr})
	}

	u, g := unprivileged()
	for _, p := range peers {
		if len(r.cfg.only) > 0 && !slices.Contains(r.cfg.only, p.name) {
			continue
		}
		bin, ok := lookPeer(p.bin)
		if !ok {
			skipped = append(skipped, p.name+" (not installed)")
			continue
		}
		addr, err := benchkit.FreePort()
		if err != nil {
			return nil, nil, err
		}
		conf, err := render(filepath.Join(r.cfg.peersDir, p.conf), r.dir, confData{
			Listen: addr, Backend: echoAddr, Dir: r.dir, NoFile: r.noFile,
			Threads: max(r.cfg.idleConns+64, 256), User: u, Group: g,
		})
		if err != nil {
			return nil, nil, err
		}
		var env []string
		for _, e := range p.env {
			env = append(env, strings.ReplaceAll(e, "DIR", r.dir))
		}
		c, err := r.kids.start(r.dir, p.name, "0", env, append([]string{bin}, p.args(r.dir, conf)...)...)
		if err != nil {
			return nil, nil, err
		}
		v := versionOf(bin, p.version...)
		if !strings.Contains(strings.ToLower(v), strings.TrimRight(p.name, "0123456789")) {
			v = p.name + " " + v // caddy prints the number alone
		}
		starting = append(starting, pending{&target{name: p.name, version: v}, c, addr})
	}

	if err := waitReady(ctx, r.echo, echoAddr); err != nil {
		return nil, nil, fmt.Errorf("echo backend: %w", err)
	}
	for _, s := range starting {
		if err := waitReady(ctx, s.c, s.addr); err != nil {
			if s.t.name == "wsgate" || s.t.name == baseline {
				return nil, nil, fmt.Errorf("%s serve: %w", s.t.name, err)
			}
			// A peer that will not run here is left out, not fatal.
			skipped = append(skipped, fmt.Sprintf("%s (%v)", s.t.name, err))
			syscall.Kill(-s.c.Cmd.Process.Pid, syscall.SIGKILL)
			continue
		}
		s.t.url, s.t.pid = "ws://"+s.addr+"/", s.c.Cmd.Process.Pid
		targets = append(targets, s.t)
	}
	return targets, skipped, nil
}

// rounds runs every scenario against every target, round after round, the
// targets in an order that rotates from one scenario to the next so that
// none is always first after a change of scenario.
func (r *runner) rounds(ctx context.Context, targets []*target) ([]sample, error) {
	var out []sample
	k := 0
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, sc := range scenarios {
			n := k % len(targets)
			k++
			for _, t := range append(slices.Clone(targets[n:]), targets[:n]...) {
				s := sample{Round: round, Scenario: sc.name, Target: t.name}
				var before time.Duration
				if t.pid > 0 {
					before = treeCPU(t.pid)
				}
				res, err := r.bench(ctx, t, append(slices.Clone(sc.args), "--duration", r.cfg.slice.String()))
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if t.pid > 0 {
					s.CPUS = (treeCPU(t.pid) - before).Seconds()
				}
				s.Result = res
				if err != nil {
					s.Error = err.Error()
				}
				fmt.Fprintf(os.Stderr, "round %d/%d  %-13s  %-8s  %s\n", round, r.cfg.rounds, sc.name, t.name, brief(s))
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// brief is a slice's main figure for the progress lines.
func brief(s sample) string {
	if s.Result == nil {
		return "error: " + s.Error
	}
	res := s.Result
	var f string
	switch {
	case strings.HasPrefix(s.Scenario, "throughput"):
		f = fmt.Sprintf("%.0f MB/s", res.MBPerS)
	case strings.HasPrefix(s.Scenario, "latency"):
		f = fmt.Sprintf("p50 %.0f µs  p99 %.0f µs", res.P50US, res.P99US)
	default:
		f = fmt.Sprintf("%.0f conn/s", res.ConnPerS)
	}
	if res.Failed > 0 {
		f += fmt.Sprintf("  (%d failed: %s)", res.Failed, res.FirstError)
	}
	return f
}

// bench runs wsgate bench against t on CPU 1 and decodes its JSON. A run
// in which connections failed still has a result (and an error).
func (r *runner) bench(ctx context.Context, t *target, args []string) (*benchResult, error) {
	cmd := r.benchCmd(ctx, t, args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := benchkit.Spawn(cmd)
	if runErr == nil {
		runErr = cmd.Wait()
	}
	var res benchResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("bench %s: %v: %s", t.name, runErr, strings.TrimSpace(stderr.String()))
	}
	if runErr != nil {
		return &res, fmt.Errorf("bench %s: %d connections failed: %s", t.name, res.Failed, res.FirstError)
	}
	return &res, nil
}

func (r *runner) benchCmd(ctx context.Context, t *target, args []string) *exec.Cmd {
	argv := append([]string{"-c", "1", r.cfg.wsgate, "bench", "--json"}, args...)
	cmd := exec.CommandContext(ctx, "taskset", append(argv, t.url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// idle opens --idle-conns connections through t with wsgate bench's idle
// scenario, which reports only when it ends: so it runs in the background
// while this polls the proxy's descriptors until they have risen by 2 per
// tunnel (or stop rising), samples the memory, then interrupts the bench
// and takes from its result how many connections were held.
func (r *runner) idle(ctx context.Context, t *target) (idleResult, error) {
	n := r.cfg.idleConns
	res := idleResult{Target: t.name, Asked: n, Before: treeUsage(t.pid)}
	echoBefore := treeUsage(r.echo.Cmd.Process.Pid)
	fmt.Fprintf(os.Stderr, "idle  %-8s  opening %d tunnels\n", t.name, n)

	cmd := r.benchCmd(ctx, t, []string{"--scenario", "idle", "--conns", fmt.Sprint(n), "--duration", "10m"})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := benchkit.Spawn(cmd); err != nil {
		return res, fmt.Errorf("idle %s: %w", t.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	want := res.Before.FDs + 2*n
	last, lastRise := res.Before.FDs, time.Now()
	deadline := time.Now().Add(60*time.Second + time.Duration(n)*5*time.Millisecond)
poll:
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case err := <-done:
			done <- err
			break poll
		case <-time.After(250 * time.Millisecond):
		}
		fds := treeUsage(t.pid).FDs
		if fds > last {
			last, lastRise = fds, time.Now()
		}
		if fds >= want || time.Since(lastRise) > 5*time.Second || time.Now().After(deadline) {
			break
		}
	}
	// Let the last tunnels' allocations land before sampling.
	time.Sleep(time.Second)
	res.During = treeUsage(t.pid)

	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	var br benchResult
	if err := json.Unmarshal(stdout.Bytes(), &br); err == nil {
		res.Held, res.Failed = br.Open, br.Failed
		if br.FirstError != "" {
			res.Error = br.FirstError
		}
	} else {
		res.Held = int64(res.During.FDs-res.Before.FDs) / 2
		res.Error = "no result from bench: " + strings.TrimSpace(stderr.String())
	}
	fmt.Fprintf(os.Stderr, "idle  %-8s  held %d: %s\n", t.name, res.Held, idleBrief(res))

	// The next target starts from a quiet echo backend.
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		if treeUsage(r.echo.Cmd.Process.Pid).FDs <= echoBefore.FDs+10 && treeUsage(t.pid).FDs <= res.Before.FDs+10 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return res, nil
}

func idleBrief(res idleResult) string {
	kib, fds, ok := res.perTunnel()
	if !ok {
		return "nothing held: " + res.Error
	}
	s := fmt.Sprintf("%.1f KiB and %.2f fds per tunnel", kib, fds)
	if res.Failed > 0 {
		s += fmt.Sprintf(" (%d failed: %s)", res.Failed, res.Error)
	}
	return s
}

// report prints the header, the table and its notes on standard output,
// and writes the JSON file if asked.
func (r *runner) report(targets []*target, skipped []string, samples []sample, idle []idleResult) error {
	ls := lines(samples, idle)
	var names, peerNames, versions []string
	for _, t := range targets {
		names = append(names, t.name)
		if t.name != "direct" && t.name != "wsgate" && t.name != baseline {
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
		fmt.Sprintf("machine: %s; load average %s before the rounds, %s after them", benchkit.Machine(), r.loadStart, r.loadEnd),
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
		"latency-100 sends 2000 messages/s in all on a fixed schedule, latency-100-10k 10,000; handshake is connect + upgrade + one echo + close, 16 workers; handshake-fin also waits for the server to close TCP after the close handshake (RFC 6455 §7.1.1).",
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
		benchkit.WriteList(w, true, head)
		fmt.Fprintln(w)
		benchkit.WriteMarkdown(w, rows)
		fmt.Fprintln(w)
		benchkit.WriteList(w, true, notes)
	} else {
		fmt.Fprintln(w)
		benchkit.WriteList(w, false, head)
		fmt.Fprintln(w)
		benchkit.WritePlain(w, rows)
		fmt.Fprintln(w)
		benchkit.WriteList(w, false, notes)
	}
	if r.cfg.jsonFile == "" {
		return nil
	}
	vs := map[string]string{}
	for _, t := range targets {
		vs[t.name] = t.version
	}
	b, err := json.MarshalIndent(map[string]any{
		"date": date, "machine": benchkit.Machine(), "rounds": r.cfg.rounds, "slice": r.cfg.slice.String(),
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
