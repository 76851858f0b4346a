// Package loadgen is wsgate bench: the load generator that measures a
// WebSocket echo server, or a proxy in front of one (throughput, latency,
// handshakes, idle connections). Its client is internal/wsclient, not
// coder/websocket, so that the generator is not what a benchmark measures
// (docs/performance.md).
package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/wsgate/wsgate/internal/midpage"
	"github.com/wsgate/wsgate/internal/wsclient"
)

// The scenarios, as wsgate bench --scenario names them.
const (
	Throughput = "throughput"
	Latency    = "latency"
	Handshake  = "handshake"
	Idle       = "idle"
)

// benchDialers bounds how many handshakes are in progress at once while the
// connections of a scenario are opened, so that 10 000 idle connections do
// not overflow the server's listen backlog.
const benchDialers = 64

// Config is the validated flags of one run.
// Config is one run.
type Config struct {
	Scenario string        // Throughput, Latency, Handshake or Idle
	URL      string        // ws:// or wss://
	Conns    int           // connections (throughput, latency, idle)
	Size     int           // message size in bytes
	Window   int           // messages in flight per connection (throughput)
	Rate     float64       // messages per second in all (latency); 0: as fast as the answers come
	Workers  int           // connect-echo-close loops (handshake)
	WaitFIN  bool          // wait for the server's FIN after the close handshake (handshake)
	Duration time.Duration // how long to measure, or to hold the connections (idle)
	Timeout  time.Duration // limit for each opening handshake
	TLS      *tls.Config   // for wss://
}

// Result is what a run measured. Its JSON field names are stable: every
// field is always present, zero where the scenario does not measure it.
type Result struct {
	Scenario  string  `json:"scenario"`
	URL       string  `json:"url"`
	Conns     int     `json:"conns"`
	Workers   int     `json:"workers"`
	Size      int     `json:"size"`
	Window    int     `json:"window"`
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"duration_s"` // as asked
	ElapsedS  float64 `json:"elapsed_s"`  // as measured, with the in-flight messages drained
	Messages  int64   `json:"messages"`   // echoed messages received
	Bytes     int64   `json:"bytes"`      // echoed payload bytes received
	MBPerS    float64 `json:"mb_per_s"`   // 10^6 bytes per second
	MsgPerS   float64 `json:"msg_per_s"`
	P50US     float64 `json:"p50_us"`
	P99US     float64 `json:"p99_us"`
	P999US    float64 `json:"p999_us"`
	MaxUS     float64 `json:"max_us"`
	// Handshakes counts completed connect-echo-close loops.
	Handshakes     int64   `json:"handshakes"`
	ConnPerS       float64 `json:"conn_per_s"`
	HandshakeP50US float64 `json:"handshake_p50_us"`
	HandshakeP99US float64 `json:"handshake_p99_us"`
	// Open is how many connections were open at the end (idle).
	Open       int64  `json:"open"`
	Failed     int64  `json:"failed"`
	FirstError string `json:"first_error"`
}

// Measured reports whether the run measured anything: a message echoed,
// a handshake completed, a connection held.
func (r Result) Measured() bool { return r.Messages > 0 || r.Handshakes > 0 || r.Open > 0 }

// benchCounter is one connection's (or worker's) running totals, read by
// the progress line. Padded to a cache line so that connections do not
// share one.
type benchCounter struct {
	msgs, bytes atomic.Int64
	_           [48]byte
}

// failures counts failed connections and keeps the first error.
type failures struct {
	mu    sync.Mutex
	n     int64
	first error
}

// end closes a connection whose run ended with err: normally when err is
// nil, at once otherwise, counting err unless the run was stopped by
// Ctrl-C (ctx), which is no failure.
func (f *failures) end(ctx context.Context, c *wsclient.Conn, err error) {
	if err == nil {
		c.Close(statusNormal)
		return
	}
	if ctx.Err() == nil {
		f.add(err)
	}
	c.CloseNow()
}

func (f *failures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n++; f.first == nil {
		f.first = err
	}
}

// Run runs cfg's scenario against cfg.URL until cfg.Duration is over or
// ctx is done, and returns what it measured. prog, when not nil, gets a
// progress line a second. The error counts the connections that failed
// (Result.Failed) and gives the first.
func Run(ctx context.Context, cfg Config, prog io.Writer) (Result, error) {
	var res Result
	var fails failures
	switch cfg.Scenario {
	case Throughput:
		res = benchThroughput(ctx, prog, cfg, &fails)
	case Latency:
		res = benchLatency(ctx, prog, cfg, &fails)
	case Handshake:
		res = benchHandshake(ctx, prog, cfg, &fails)
	case Idle:
		res = benchIdle(ctx, prog, cfg, &fails)
	default:
		return res, fmt.Errorf("scenario %q: want throughput, latency, handshake or idle", cfg.Scenario)
	}
	res.Scenario, res.URL, res.Size, res.DurationS = cfg.Scenario, cfg.URL, cfg.Size, cfg.Duration.Seconds()
	res.Failed = fails.n
	if fails.first != nil {
		res.FirstError = fails.first.Error()
		return res, fmt.Errorf("%d connections failed; first: %w", fails.n, fails.first)
	}
	return res, nil
}

// statusNormal is the close code bench ends its connections with.
const statusNormal = 1000

// dialOne opens one connection. The client is wsclient, not
// coder/websocket: see its package comment for why.
func (cfg Config) dialOne(ctx context.Context) (*wsclient.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	return wsclient.Dial(dctx, cfg.URL, &wsclient.Options{TLS: cfg.TLS})
}

// dialAll opens n connections, benchDialers at a time. Failed ones are
// counted and left out of the returned slice.
func (cfg Config) dialAll(ctx context.Context, n int, fails *failures) []*wsclient.Conn {
	conns := make([]*wsclient.Conn, n)
	sem := make(chan struct{}, benchDialers)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := cfg.dialOne(ctx)
			if err != nil {
				fails.add(err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	return slices.DeleteFunc(conns, func(c *wsclient.Conn) bool { return c == nil })
}

// progress keeps a live line on standard error while a scenario runs,
// when standard error is a terminal: rewritten in place each second,
// cleared at the end so that only the result stays. line formats the
// last second's counts.
func progress(prog io.Writer, counters []benchCounter, line func(msgs, bytes int64, d time.Duration) string) (stop func()) {
	if prog == nil {
		return func() {}
	}
	fmt.Fprint(prog, "\rbench: connecting…\x1b[K")
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		var lastMsgs, lastBytes int64
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				var msgs, bytes int64
				for i := range counters {
					msgs += counters[i].msgs.Load()
					bytes += counters[i].bytes.Load()
				}
				fmt.Fprintf(prog, "\rbench: %3.0fs %s\x1b[K", now.Sub(start).Seconds(), line(msgs-lastMsgs, bytes-lastBytes, now.Sub(start)))
				lastMsgs, lastBytes = msgs, bytes
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		fmt.Fprint(prog, "\r\x1b[K")
	}
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// benchThroughput keeps cfg.Window binary messages in flight on each
// connection for cfg.Duration, then sends a text message as an end marker
// and reads until its echo: every message sent has then come back, and the
// elapsed time includes draining them.
func benchThroughput(ctx context.Context, prog io.Writer, cfg Config, fails *failures) Result {
	res := Result{Conns: cfg.Conns, Window: cfg.Window}
	conns := cfg.dialAll(ctx, cfg.Conns, fails)
	if len(conns) == 0 {
		return res
	}
	// Sent as it is with a fresh key each time (WriteNoise): no pass over
	// the bytes per message. Half a page in, for the kernel's copy (midpage).
	payload := midpage.Make(cfg.Size)
	rand.Read(payload)
	counters := make([]benchCounter, len(conns))
	stop := progress(prog, counters, func(msgs, bytes int64, _ time.Duration) string {
		return fmt.Sprintf("%8.1f MB/s %9d msg/s", float64(bytes)/1e6, msgs)
	})
	start := time.Now()
	end := start.Add(cfg.Duration)
	// Reading past end + timeout means the server stopped answering.
	rctx, cancel := context.WithDeadline(ctx, end.Add(cfg.Timeout))
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			fails.end(ctx, c, throughputConn(rctx, c, payload, cfg.Window, end, &counters[i]))
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	for i := range counters {
		res.Messages += counters[i].msgs.Load()
		res.Bytes += counters[i].bytes.Load()
	}
	res.ElapsedS = elapsed.Seconds()
	res.MBPerS = perSecond(res.Bytes, elapsed) / 1e6
	res.MsgPerS = perSecond(res.Messages, elapsed)
	return res
}

var endMarker = []byte("end")

// throughputConn is one connection's loop: a writer goroutine that waits
// for a window slot before each message, and this goroutine reading the
// echoes and freeing slots. Nothing is allocated per message.
func throughputConn(ctx context.Context, c *wsclient.Conn, payload []byte, window int, end time.Time, ctr *benchCounter) error {
	// A failed read must also stop a writer waiting for a slot.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(ctx, func() { c.CloseNow() })()
	slots := make(chan struct{}, window)
	werr := make(chan error, 1)
	go func() {
		for time.Now().Before(end) {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				werr <- ctx.Err()
				return
			}
			if err := c.WriteNoise(payload); err != nil {
				werr <- fmt.Errorf("send: %w", err)
				return
			}
		}
		werr <- c.WriteMessage(wsclient.Text, endMarker)
	}()
	buf := make([]byte, len(payload))
	for {
		typ, n, err := c.ReadMessage(buf)
		if err != nil {
			// The writer's error, if any, says more.
			cancel()
			if werr := <-werr; werr != nil && !errors.Is(werr, context.Canceled) {
				return werr
			}
			return fmt.Errorf("receive: %w", echoError(err))
		}
		if typ == wsclient.Text {
			return <-werr
		}
		ctr.msgs.Add(1)
		ctr.bytes.Add(int64(n))
		<-slots
	}
}

// echoError names a message longer than the one sent: the echo changed it.
func echoError(err error) error {
	if errors.Is(err, wsclient.ErrTooLong) {
		return errors.New("echoed message longer than the one sent")
	}
	return err
}

// benchLatency sends one message at a time on each connection and times
// its echo. With cfg.Rate, sends follow a fixed schedule and each latency
// is measured from the scheduled time, not the actual send: a slow answer
// that delays the next sends is charged to them too, as a real client
// would see it (no coordinated omission).
func benchLatency(ctx context.Context, prog io.Writer, cfg Config, fails *failures) Result {
	res := Result{Conns: cfg.Conns, Rate: cfg.Rate}
	conns := cfg.dialAll(ctx, cfg.Conns, fails)
	if len(conns) == 0 {
		return res
	}
	payload := make([]byte, cfg.Size)
	rand.Read(payload)
	counters := make([]benchCounter, len(conns))
	// Room for every sample up front: exact with a rate, an estimate of
	// 50 000 round trips a second per connection without one (the slice
	// grows beyond it if the server is faster).
	perConn := int(cfg.Duration.Seconds()*50000) + 1
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(len(conns)) / cfg.Rate * float64(time.Second))
		perConn = int(cfg.Duration/max(interval, 1)) + 2
	}
	perConn = min(perConn, 1<<24)
	samples := make([][]time.Duration, len(conns))
	stop := progress(prog, counters, func(msgs, _ int64, _ time.Duration) string {
		return fmt.Sprintf("%9d msg/s", msgs)
	})
	start := time.Now()
	end := start.Add(cfg.Duration)
	// An answer still missing at end + timeout means the server stopped.
	rctx, cancel := context.WithDeadline(ctx, end.Add(cfg.Timeout))
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range conns {
		lats := make([]time.Duration, 0, perConn)
		wg.Go(func() {
			// Connection i's schedule is offset so that the sends of all
			// connections are spread evenly over each interval.
			first := start.Add(time.Duration(i) * interval / time.Duration(len(conns)))
			lats, err := latencyConn(rctx, c, payload, first, interval, end, lats, &counters[i])
			samples[i] = lats
			fails.end(ctx, c, err)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	all := make([]time.Duration, 0, len(conns)*perConn)
	for i := range samples {
		all = append(all, samples[i]...)
		res.Bytes += counters[i].bytes.Load()
	}
	res.Messages = int64(len(all))
	res.ElapsedS = elapsed.Seconds()
	res.MsgPerS = perSecond(res.Messages, elapsed)
	res.MBPerS = perSecond(res.Bytes, elapsed) / 1e6
	slices.Sort(all)
	res.P50US, res.P99US, res.P999US = quantileUS(all, 0.5), quantileUS(all, 0.99), quantileUS(all, 0.999)
	res.MaxUS = quantileUS(all, 1)
	return res
}

func latencyConn(ctx context.Context, c *wsclient.Conn, payload []byte, first time.Time, interval time.Duration,
	end time.Time, lats []time.Duration, ctr *benchCounter) ([]time.Duration, error) {
	// ctx ending closes the connection, and the loop's calls fail.
	defer context.AfterFunc(ctx, func() { c.CloseNow() })()
	buf := make([]byte, len(payload))
	// One timer, reset for each scheduled send: Ctrl-C interrupts a wait.
	wait := time.NewTimer(time.Hour)
	defer wait.Stop()
	for i := 0; ; i++ {
		var at time.Time
		if interval > 0 {
			at = first.Add(time.Duration(i) * interval)
			if !at.Before(end) {
				return lats, nil
			}
			if d := time.Until(at); d > 0 {
				wait.Reset(d)
				select {
				case <-wait.C:
				case <-ctx.Done():
					return lats, nil
				}
			}
		} else if at = time.Now(); !at.Before(end) {
			return lats, nil
		}
		if err := c.WriteMessage(wsclient.Binary, payload); err != nil {
			return lats, fmt.Errorf("send: %w", err)
		}
		_, n, err := c.ReadMessage(buf)
		if err != nil {
			return lats, fmt.Errorf("receive: %w", echoError(err))
		}
		lats = append(lats, time.Since(at))
		ctr.msgs.Add(1)
		ctr.bytes.Add(int64(n))
	}
}

// quantileUS is the q-quantile of sorted samples in microseconds, by the
// nearest-rank method; 0 for no samples.
func quantileUS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}

// benchHandshake runs cfg.Workers loops of connect, upgrade, one echo of
// cfg.Size bytes and a close handshake, for cfg.Duration. The handshake
// time is the connect and upgrade alone.
func benchHandshake(ctx context.Context, prog io.Writer, cfg Config, fails *failures) Result {
	res := Result{Workers: cfg.Workers}
	payload := make([]byte, cfg.Size)
	rand.Read(payload)
	counters := make([]benchCounter, cfg.Workers)
	samples := make([][]time.Duration, cfg.Workers)
	stop := progress(prog, counters, func(msgs, _ int64, _ time.Duration) string {
		return fmt.Sprintf("%7d conn/s", msgs)
	})
	start := time.Now()
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		wg.Go(func() {
			lats := make([]time.Duration, 0, int(cfg.Duration.Seconds()*2000)+1)
			buf := make([]byte, cfg.Size)
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				c, err := cfg.dialOne(ctx)
				if err != nil {
					if ctx.Err() == nil {
						fails.add(err)
					}
					continue
				}
				hs := time.Since(t0)
				if err := handshakeEcho(c, payload, buf, cfg.Timeout); err != nil {
					c.CloseNow()
					fails.add(err)
					continue
				}
				closeConn := c.Close
				if cfg.WaitFIN {
					closeConn = c.CloseWaitEOF
				}
				if err := closeConn(statusNormal); err != nil {
					fails.add(fmt.Errorf("close: %w", err))
					continue
				}
				lats = append(lats, hs)
				counters[i].msgs.Add(1)
			}
			samples[i] = lats
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	var all []time.Duration
	for i := range samples {
		all = append(all, samples[i]...)
	}
	slices.Sort(all)
	res.Handshakes = int64(len(all))
	res.Messages = res.Handshakes
	res.Bytes = res.Handshakes * int64(cfg.Size)
	res.ElapsedS = elapsed.Seconds()
	res.ConnPerS = perSecond(res.Handshakes, elapsed)
	res.HandshakeP50US, res.HandshakeP99US = quantileUS(all, 0.5), quantileUS(all, 0.99)
	return res
}

func handshakeEcho(c *wsclient.Conn, payload, buf []byte, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	if err := c.WriteMessage(wsclient.Binary, payload); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, _, err := c.ReadMessage(buf); err != nil {
		return fmt.Errorf("receive: %w", echoError(err))
	}
	return nil
}

// benchIdle opens cfg.Conns connections, holds them for cfg.Duration
// without a message, and reports how many are still open at the end: a
// connection the server (or a proxy) dropped meanwhile counts as failed.
// It is meant for measuring the memory of a proxy holding many tunnels.
//
// The open-files limit needs no raising here: since Go 1.19 the runtime
// raises the soft RLIMIT_NOFILE to the hard limit at start on Unix.
func benchIdle(ctx context.Context, prog io.Writer, cfg Config, fails *failures) Result {
	res := Result{Conns: cfg.Conns}
	conns := cfg.dialAll(ctx, cfg.Conns, fails)
	if len(conns) == 0 {
		return res
	}
	var open atomic.Int64
	open.Store(int64(len(conns)))
	var holding atomic.Bool
	holding.Store(true)
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Go(func() {
			// Reading is how a close or a drop is noticed; the echo
			// sends nothing unasked, so this returns only at the end.
			var buf [125]byte
			_, _, err := c.ReadMessage(buf[:])
			open.Add(-1)
			if holding.Load() {
				fails.add(fmt.Errorf("connection dropped while idle: %w", err))
			}
			c.CloseNow()
		})
	}
	stop := progress(prog, nil, func(int64, int64, time.Duration) string {
		return fmt.Sprintf("%7d open", open.Load())
	})
	start := time.Now()
	t := time.NewTimer(cfg.Duration)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	stop()
	holding.Store(false)
	res.Open = open.Load()
	res.ElapsedS = time.Since(start).Seconds()
	// The readers see the server's answers to these closes and end.
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.SendClose(statusNormal)
	}
	readers.Wait()
	return res
}

// printBench writes the result as a two-column table: the figures the
// scenario measures, then the failures.
// WriteTable prints r for a person, one figure a line.
func (r Result) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, a...)...) }
	row("scenario", "%s", r.Scenario)
	row("url", "%s", r.URL)
	switch r.Scenario {
	case Throughput:
		row("conns", "%d", r.Conns)
		row("size", "%d B", r.Size)
		row("window", "%d", r.Window)
		row("elapsed", "%.3f s", r.ElapsedS)
		row("messages", "%d", r.Messages)
		row("bytes", "%d", r.Bytes)
		row("throughput", "%.1f MB/s", r.MBPerS)
		row("rate", "%.0f msg/s", r.MsgPerS)
	case Latency:
		row("conns", "%d", r.Conns)
		row("size", "%d B", r.Size)
		if r.Rate > 0 {
			row("target rate", "%.0f msg/s", r.Rate)
		}
		row("elapsed", "%.3f s", r.ElapsedS)
		row("messages", "%d", r.Messages)
		row("rate", "%.0f msg/s", r.MsgPerS)
		row("p50", "%.1f µs", r.P50US)
		row("p99", "%.1f µs", r.P99US)
		row("p99.9", "%.1f µs", r.P999US)
		row("max", "%.1f µs", r.MaxUS)
	case Handshake:
		row("workers", "%d", r.Workers)
		row("elapsed", "%.3f s", r.ElapsedS)
		row("connections", "%d", r.Handshakes)
		row("rate", "%.0f conn/s", r.ConnPerS)
		row("handshake p50", "%.1f µs", r.HandshakeP50US)
		row("handshake p99", "%.1f µs", r.HandshakeP99US)
	case Idle:
		row("conns", "%d", r.Conns)
		row("held", "%.3f s", r.ElapsedS)
		row("open", "%d", r.Open)
	}
	row("failed", "%d", r.Failed)
	tw.Flush()
}
