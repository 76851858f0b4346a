package main

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"testing"
)

// TestGenerator checks what the load's messages promise: valid JSON of
// the size asked, all different, requests and responses alternately, and
// 3 to 5 times smaller when deflated with context takeover (one
// compressor for the whole stream, flushed after each message, at
// flate.BestSpeed: what coder/websocket does).
func TestGenerator(t *testing.T) {
	t.Parallel()
	g := newGenerator(1, 1024)
	var wire bytes.Buffer
	fw, err := flate.NewWriter(&wire, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	const n = 2000
	for i := range n {
		m := g.next()
		if len(m) != 1024 {
			t.Fatalf("message %d: %d bytes; want 1024", i, len(m))
		}
		var v struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      int             `json:"id"`
			Method  string          `json:"method"`
			Result  json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("message %d: %v: %s", i, err, m)
		}
		if v.JSONRPC != "2.0" || v.ID != i/2+1 || (i%2 == 0) != (v.Method != "") || (i%2 == 1) != (v.Result != nil) {
			t.Fatalf("message %d: jsonrpc %q id %d method %q result %v: want a request, then its response", i, v.JSONRPC, v.ID, v.Method, v.Result != nil)
		}
		if seen[string(m)] {
			t.Fatalf("message %d repeats an earlier one", i)
		}
		seen[string(m)] = true
		fw.Write(m)
		fw.Flush()
	}
	ratio := float64(n*1024) / float64(wire.Len())
	t.Logf("deflated %.2f times", ratio)
	if ratio < 3 || ratio > 5 {
		t.Errorf("deflated %.2f times; want 3 to 5", ratio)
	}
}
