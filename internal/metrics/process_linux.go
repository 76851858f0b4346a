package metrics

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of /proc's CPU times: 100 on every Linux that
// Prometheus' procfs library has met.
const userHZ = 100

// processStats reads this process's CPU time, memory and descriptors
// from /proc, as Prometheus' process collector does.
func processStats() (procStats, bool) {
	var st procStats
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return st, false
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15, vsize 23, rss 24.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return st, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 22 {
		return st, false
	}
	num := func(k int) float64 { // field k of proc(5), counted from 1
		v, _ := strconv.ParseFloat(string(f[k-3]), 64)
		return v
	}
	st.cpuSeconds = (num(14) + num(15)) / userHZ
	st.virtualBytes = num(23)
	st.residentBytes = num(24) * float64(os.Getpagesize())
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		st.openFDs = float64(len(fds))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		st.maxFDs = float64(lim.Cur)
	}
	return st, true
}
