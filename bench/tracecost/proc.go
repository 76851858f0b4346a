//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsgate/wsgate/bench/internal/benchkit"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's HZ.
const userHZ = 100

// cpuTime is the CPU time (utime + stime, all threads) process pid has
// used. wsgate is one process: taskset execs it, so its PID is the one
// started.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	// f[0] is field 3: utime is field 14, stime 15.
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// rss is process pid's VmRSS in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// selfCPU is the CPU time this program has used: the clients' and the echo
// backend's, to tell whether CPU 1 was the limit.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pinSelf moves every thread of this program to cpu, and holds it to one
// P: threads started later inherit the affinity of the thread that starts
// them.
func pinSelf(cpu string) error {
	out, err := exec.Command("taskset", "-a", "-c", "-p", cpu, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, bytes.TrimSpace(out))
	}
	runtime.GOMAXPROCS(1)
	return nil
}

// A child is a wsgate this program started, in its own process group.
type child struct{ *benchkit.Child }

// start runs argv pinned to cpu, its output going to DIR/NAME.log. wsgate
// has no workers to stop in order, so if this program is killed outright
// its Pdeathsig is SIGKILL.
func start(dir, name, cpu string, env []string, argv ...string) (*child, error) {
	c, err := benchkit.Start(dir, name, cpu, syscall.SIGKILL, env, argv...)
	if err != nil {
		return nil, err
	}
	return &child{c}, nil
}

// stop sends SIGTERM, gives wsgate 5 s to end its tunnels, then SIGKILL.
func (c *child) stop() {
	syscall.Kill(-c.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.Done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-c.Cmd.Process.Pid, syscall.SIGKILL)
		<-c.Done
	}
}

// waitReady dials url until an upgrade succeeds, the child exits, or 10 s
// pass, and says whether the 101 agreed permessage-deflate.
func (c *child) waitReady(ctx context.Context, url string) (deflate bool, err error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, deflate, err := dial(ctx, url)
		if err == nil {
			conn.CloseNow()
			return deflate, nil
		}
		select {
		case <-c.Done:
			return false, fmt.Errorf("exited before answering: %s", c.Tail())
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("no upgrade after 10 s: %v", err)
		}
	}
}
