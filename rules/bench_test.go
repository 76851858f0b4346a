package rules

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// BenchmarkMatch1000Rules matches against a table of 1,000 prefixes: a
// request that only the last rule matches, and one that none does, both
// walking the whole list.
func BenchmarkMatch1000Rules(b *testing.B) {
	passes := make([]string, 1000)
	for i := range passes {
		passes[i] = fmt.Sprintf("/svc%d/ ws://127.0.0.1:9001/svc%d/ upgrade=websocket", i, i)
	}
	tb := mustFlags(b, passes...)
	for _, bc := range []struct {
		name, target string
		ok           bool
	}{
		{"hit-last", "/svc999/chat/room%201?since=42", true},
		{"miss", "/nothing/here?x=1", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.target, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tb.Match(req); (err == nil) != bc.ok {
					b.Fatalf("Match(%q): %v", bc.target, err)
				}
			}
		})
	}
}
