// Command tracecost measures what tracing costs wsgate on a stream of
// compressed JSON, for issue 20's "Measured" items: messages per second
// and wsgate's CPU per message with tracing off, with --trace-file (the
// default since issue 20: permessage-deflate passes and wsgate inflates
// every message to trace it), with --trace-file --trace-strip-compression
// (the backend answers uncompressed) and with --trace-file --decode
// jsonrpc; then the memory a tunnel holds once compressed messages have
// passed both ways, traced and not. Run it with bench/tracecost.sh, which
// builds wsgate first.
//
// As in bench/compare, wsgate is pinned to CPU 0 and everything else to
// CPU 1: this program itself, which is both the clients and the echo
// backend (coder/websocket, compressing with context takeover both ways):
//
//	clients (CPU 1) ──► wsgate serve + a mode's flags (CPU 0) ──► echo backend (CPU 1)
//
// One wsgate per mode, all running at once; the load rotates between them
// in slices, round after round, so that the modes are compared over the
// same seconds (bench/compare says why that matters on small shared
// machines).
package main

import "time"

// A mode is one way of running wsgate serve: the flags besides --listen
// and --pass.
type mode struct {
	name  string   // short, for progress lines and JSON
	label string   // the flags, for the table
	args  []string // besides --trace-file for a traced mode
	// traced says it writes a trace file, which this program names.
	traced bool
	// deflate says permessage-deflate is negotiated end to end: the client
	// and the backend both offer it, and only --trace-strip-compression
	// takes it out of the upgrade request.
	deflate bool
	// decoded is the protocol the trace records' "decoded" must name.
	decoded string
}

var modes = []mode{
	{name: "off", label: "tracing off", deflate: true},
	{name: "trace", label: "--trace-file", traced: true, deflate: true},
	{name: "strip", label: "--trace-file --trace-strip-compression", args: []string{"--trace-strip-compression"}, traced: true},
	{name: "jsonrpc", label: "--trace-file --decode jsonrpc", args: []string{"--decode", "jsonrpc"}, traced: true, deflate: true, decoded: "jsonrpc"},
}

// baseline prefixes the names of the targets of --baseline.
const baseline = "base-"

type config struct {
	wsgate, baseline, jsonFile string
	rounds                     int
	slice                      time.Duration
	conns, window, size, rate  int
	traceBytes                 int // --trace-bytes for the traced modes; 0: wsgate's default
	tunnels, memMessages       int
	skipMemory, markdown, keep bool
}

// A sample is one slice: the load against one target for --slice.
type sample struct {
	Round    int     `json:"round"`
	Target   string  `json:"target"`
	Echoes   int64   `json:"echoes"` // messages sent and echoed back
	ElapsedS float64 `json:"elapsed_s"`
	CPUS     float64 `json:"wsgate_cpu_s"` // utime+stime, /proc ticks of 10 ms
	LoadCPUS float64 `json:"load_cpu_s"`   // this program's: clients and echo backend
	// TraceBytes is how much the trace file grew.
	TraceBytes int64  `json:"trace_bytes,omitempty"`
	Error      string `json:"error,omitempty"`
}

// messages is how many messages crossed wsgate: each echo twice.
func (s sample) messages() float64 { return 2 * float64(s.Echoes) }

// memResult is the once-per-target memory measurement.
type memResult struct {
	Target string `json:"target"`
	Asked  int    `json:"asked"`
	Held   int    `json:"held"`
	Before int64  `json:"rss_before_bytes"` // VmRSS
	During int64  `json:"rss_held_bytes"`
	Error  string `json:"error,omitempty"`
}

// traceStats sums a trace file's records, to check that the mode did
// what it says: compressed messages inflated, or none compressed.
type traceStats struct {
	Records     int64 `json:"records"`
	Compressed  int64 `json:"compressed"`
	Undecodable int64 `json:"undecodable"`
	Decoded     int64 `json:"decoded"`  // records whose decoder is the mode's
	Len         int64 `json:"len"`      // of the compressed records: inflated
	WireLen     int64 `json:"wire_len"` // and on the wire
}
