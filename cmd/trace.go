package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/fatih/color"
	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// maxTraceBytes bounds --trace-bytes: the server sets aside that much per
// direction of every tunnel while tracing.
const maxTraceBytes = 1 << 20

func traceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "trace", Usage: "print every message on standard output as it passes (time, tunnel, direction, type, length, payload), and every plain HTTP request (method, target, status, sizes, bodies); turns the live view off"},
		&cli.StringFlag{Name: "trace-file", TakesFile: true, Usage: "write every message and plain HTTP request to `FILE` as JSON Lines (fields: docs/observe.md)"},
		&cli.StringFlag{Name: "har", TakesFile: true, Usage: "on exit, write the tunnels and their messages, and the plain HTTP requests, to `FILE` as an HTTP Archive (HAR 1.2) that browsers' devtools open; kept in memory until then"},
		&cli.IntFlag{Name: "trace-bytes", Value: 256, Usage: "how many `BYTES` of each payload, and of each plain HTTP body, --trace, --trace-file and --har keep (1 to 1048576)"},
		&cli.StringFlag{Name: "trace-format", Usage: "how --trace shows messages, `FORMAT`: pretty (JSON indented, binary as a hex dump), compact (one line each) or raw (payloads as they are); default pretty on a terminal, else compact"},
		&cli.StringFlag{Name: "decode", Usage: "read messages as subprotocol `NAME` (socketio, graphql-ws, stomp, jsonrpc, mqtt) or none; default: by the negotiated subprotocol or the path"},
		&cli.StringSliceFlag{Name: "trace-filter", Usage: "trace only the messages that `EXPR` matches, e.g. 'dir=down op=text size>1k' (repeatable: any may match; grammar: docs/observe.md)"},
		&cli.BoolFlag{Name: "trace-strip-compression", Usage: "remove permessage-deflate from upgrade requests while tracing, so that the backend answers uncompressed (by default compression passes untouched and compressed messages are shown inflated)"},
		// Issue 20: compression is kept by default now; the flag stays so
		// that scripts that give it still run.
		&cli.BoolFlag{Name: "trace-keep-compression", Hidden: true, Usage: "deprecated: does nothing, compression is kept while tracing"},
	}
}

// tracing is what serve's trace flags asked for: the writers, the files
// they write to, and the settings they need from the tunnel.Server. A nil
// *tracing is tracing off; its methods do nothing.
type tracing struct {
	text      *trace.Text
	jsonl     *trace.JSONL
	jsonlFile *os.File
	har       *trace.HAR
	harFile   *os.File
	bytes     int
	strip     bool
	closed    bool
	// tunnels knows each open tunnel's rule and start, for the text
	// lines and route= terms; filter is --trace-filter (nil: all).
	tunnels *trace.Tunnels
	filter  *trace.Filter
	// polling decodes Socket.IO's long-polling requests (nil: none).
	polling *trace.HTTPDecoder
}

// newTracing checks the trace flags and opens the files they name, so that
// a file that cannot be written stops serve before anything starts. The
// HAR file is opened without truncating it: it is written on exit. Nil
// when no trace is asked for.
func newTracing(cmd *cli.Command, e *env) (_ *tracing, err error) {
	if cmd.IsSet("trace-keep-compression") {
		fmt.Fprintln(e.stderr, "wsgate: --trace-keep-compression is deprecated and does nothing: traces keep permessage-deflate and show messages inflated")
	}
	on := cmd.Bool("trace") || cmd.String("trace-file") != "" || cmd.String("har") != ""
	if !on {
		for _, name := range []string{"trace-bytes", "trace-strip-compression", "trace-format", "trace-filter", "decode"} {
			if cmd.IsSet(name) {
				return nil, usagef("--%s applies to --trace, --trace-file or --har; none is given", name)
			}
		}
		return nil, nil
	}
	tr := &tracing{bytes: cmd.Int("trace-bytes"), strip: cmd.Bool("trace-strip-compression"), tunnels: &trace.Tunnels{}}
	if tr.bytes < 1 || tr.bytes > maxTraceBytes {
		return nil, usagef("--trace-bytes %d: want 1 to %d", tr.bytes, maxTraceBytes)
	}
	opts, err := textOptions(cmd, e)
	if err != nil {
		return nil, err
	}
	opts.Tunnels = tr.tunnels
	if name := cmd.String("decode"); name != "" {
		if name != "none" && !slices.Contains(decode.Names(), strings.ToLower(name)) {
			return nil, usagef("--decode %q: want one of %s, or none", name, strings.Join(decode.Names(), ", "))
		}
		tr.tunnels.Decoder = name
	}
	if exprs := cmd.StringSlice("trace-filter"); len(exprs) > 0 {
		if tr.filter, err = trace.ParseFilter(exprs); err != nil {
			return nil, usagef("--trace-filter %w", err)
		}
	}
	defer func() {
		if err != nil {
			tr.closeFiles()
		}
	}()
	if cmd.Bool("trace") {
		tr.text = trace.NewTextOptions(e.stdout, opts)
	}
	if path := cmd.String("trace-file"); path != "" {
		if tr.jsonlFile, err = os.Create(path); err != nil {
			return nil, usagef("--trace-file: %w", err)
		}
		tr.jsonl = trace.NewJSONL(tr.jsonlFile)
	}
	if path := cmd.String("har"); path != "" {
		if tr.harFile, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644); err != nil {
			return nil, usagef("--har: %w", err)
		}
		tr.har = trace.NewHAR(e.info.Version)
	}
	return tr, nil
}

// textOptions reads --trace-format: pretty on a terminal and compact
// otherwise unless it says, and colour for pretty on a terminal unless
// NO_COLOR is set (https://no-color.org).
func textOptions(cmd *cli.Command, e *env) (trace.TextOptions, error) {
	var opts trace.TextOptions
	if cmd.IsSet("trace-format") && !cmd.Bool("trace") {
		return opts, usagef("--trace-format applies to --trace, which is not given")
	}
	switch s := cmd.String("trace-format"); {
	case s != "":
		f, err := trace.ParseFormat(s)
		if err != nil {
			return opts, usagef("--trace-format %w", err)
		}
		opts.Format = f
	case e.terminal:
		opts.Format = trace.Pretty
	}
	if e.terminal && e.getenv("NO_COLOR") == "" {
		opts.Colors = traceColors()
	}
	return opts, nil
}

// traceColors is the palette of pretty JSON: keys blue, strings green,
// numbers cyan, true, false and null magenta. The caller has decided that
// colour is wanted: fatih/color's own check looks at os.Stdout.
func traceColors() *trace.Colors {
	paint := func(attrs ...color.Attribute) func(string) string {
		c := color.New(attrs...)
		c.EnableColor()
		return func(s string) string { return c.Sprint(s) }
	}
	return &trace.Colors{Key: paint(color.FgBlue, color.Bold), String: paint(color.FgGreen),
		Number: paint(color.FgCyan), Literal: paint(color.FgMagenta)}
}

// configure gives cfg the hooks and settings of the trace.
func (tr *tracing) configure(cfg *tunnel.Config) {
	if tr == nil {
		return
	}
	cfg.TraceBytes = tr.bytes
	cfg.StripCompression = tr.strip
	cfg.OnMessage = tr.message
	cfg.OnTunnel = tr.tunnel
	tr.configureHTTP(cfg)
}

// tunnel records a tunnel that opens or closes, from its handler.
func (tr *tracing) tunnel(ev tunnel.TunnelEvent) {
	tr.tunnels.Tunnel(ev)
	if tr.har != nil {
		tr.har.Tunnel(ev)
	}
}

// message hands m to every writer that is on, from a relay goroutine,
// unless --trace-filter leaves it out; what passes is kept for the live
// view's detail pane too (trace.Tunnels.KeepRecent).
func (tr *tracing) message(m tunnel.Message) {
	var dec *decode.Decoded
	if d, ok := tr.tunnels.Decode(m); ok {
		dec = &d
	}
	if tr.filter != nil {
		o, _ := tr.tunnels.Get(m.Tunnel)
		if !tr.filter.Match(m, o.Route, trace.DecodedFields(dec)) {
			return
		}
	}
	tr.tunnels.Keep(m, dec)
	if tr.text != nil {
		tr.text.MessageDecoded(m, dec)
	}
	if tr.jsonl != nil {
		tr.jsonl.MessageDecoded(m, dec)
	}
	if tr.har != nil {
		tr.har.Message(m)
	}
}

// recent makes each tunnel keep its last messages that pass the trace,
// and returns how to read them, for the live view; nil when tracing is
// off. Call it before the server starts.
func (tr *tracing) recent() func(uint64) ([]trace.Recorded, bool) {
	if tr == nil {
		return nil
	}
	tr.tunnels.KeepRecent = true
	return tr.tunnels.Recent
}

// announce prints the one line that says what tracing does to compression.
func (tr *tracing) announce(w io.Writer) {
	switch {
	case tr == nil:
	case tr.strip:
		fmt.Fprintln(w, "wsgate: trace: permessage-deflate is removed from upgrade requests (--trace-strip-compression): backends answer uncompressed")
	default:
		fmt.Fprintln(w, "wsgate: trace: permessage-deflate passes untouched; compressed messages are shown inflated")
	}
}

// close writes the HAR and closes the files, once; serve calls it after
// the server's shutdown, when no message can arrive any more. It reports
// the first write error of the trace file too.
func (tr *tracing) close() error {
	if tr == nil || tr.closed {
		return nil
	}
	tr.closed = true
	var errs []error
	if tr.har != nil {
		errs = append(errs, tr.writeHAR())
	}
	if tr.jsonl != nil {
		if err := tr.jsonl.Err(); err != nil {
			errs = append(errs, fmt.Errorf("--trace-file: %w", err))
		}
	}
	errs = append(errs, tr.closeFiles())
	return errors.Join(errs...)
}

// writeHAR replaces what the HAR file held with the archive.
func (tr *tracing) writeHAR() error {
	f := tr.harFile
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("--har: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("--har: %w", err)
	}
	if _, err := tr.har.WriteTo(f); err != nil {
		return fmt.Errorf("--har %s: %w", f.Name(), err)
	}
	return nil
}

func (tr *tracing) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{tr.jsonlFile, tr.harFile} {
		if f != nil {
			if err := f.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
