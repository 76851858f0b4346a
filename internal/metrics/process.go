package metrics

import "runtime"

// process are the series Prometheus' own client libraries export for
// any process, under the names dashboards look for: what the wsgate
// process itself costs. The process_* ones are read from /proc where
// there is one (processStats), else left out.
func process() []*family {
	gor := &family{name: "go_goroutines", typ: "gauge", help: "Goroutines that currently exist."}
	gor.samples = []sample{{"", nil, float64(runtime.NumGoroutine())}}
	out := []*family{gor}
	st, ok := processStats()
	if !ok {
		return out
	}
	add := func(name, typ, help, suffix string, v float64) {
		out = append(out, &family{name: name, typ: typ, help: help, samples: []sample{{suffix, nil, v}}})
	}
	add("process_cpu_seconds", "counter", "Total user and system CPU time spent in seconds.", "_total", st.cpuSeconds)
	add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "", st.residentBytes)
	add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "", st.virtualBytes)
	add("process_open_fds", "gauge", "Number of open file descriptors.", "", st.openFDs)
	add("process_max_fds", "gauge", "Maximum number of open file descriptors.", "", st.maxFDs)
	return out
}

// procStats is what processStats reads.
type procStats struct {
	cpuSeconds, residentBytes, virtualBytes, openFDs, maxFDs float64
}
