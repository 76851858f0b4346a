//go:build !linux

package metrics

// processStats has no /proc to read here: the process_* series are left
// out.
func processStats() (procStats, bool) { return procStats{}, false }
