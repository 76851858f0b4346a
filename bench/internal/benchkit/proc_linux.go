//go:build linux

package benchkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// CanPin says whether processes can be pinned the way both programs pin
// them, the measured one on CPU 0 and the rest on CPU 1: it needs two
// CPUs and taskset. roles says who goes where, for the error.
func CanPin(roles string) error {
	if runtime.NumCPU() < 2 {
		return errors.New("needs 2 CPUs: " + roles)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("needs taskset (util-linux) to pin processes to CPUs")
	}
	return nil
}

// RaiseNoFile raises the soft open-files limit to the hard one and
// returns it. Raising it here, rather than relying on the Go runtime's own
// raise, is what makes children inherit it: os/exec restores the original
// limit in children unless the program set it itself.
func RaiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read open-files limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise open-files limit: %w", err)
	}
	return lim.Max, nil
}

// A Child is a long-running process started by Start, in its own process
// group, so that stopping the group reaches its workers too.
type Child struct {
	Cmd  *exec.Cmd
	Log  string        // its standard output and error
	Done chan struct{} // closed once it has exited
}

// Start runs argv pinned to cpu, its output going to DIR/NAME.log. The
// child gets deathSig if this program dies without stopping it.
func Start(dir, name, cpu string, deathSig syscall.Signal, env []string, argv ...string) (*Child, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command("taskset", append([]string{"-c", cpu}, argv...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	if err := Spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{Cmd: cmd, Log: logPath, Done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.Done) }()
	return c, nil
}

// Tail is the last line of the child's log, for an error message: where
// a server that refuses to start says why.
func (c *Child) Tail() string {
	b, _ := os.ReadFile(c.Log)
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// Spawn starts cmd from one goroutine locked to its OS thread for the
// whole run. The kernel sends a child its Pdeathsig when the thread that
// forked it exits, not the process, and the Go runtime may end threads
// (go.dev/issue/27505): forked from any thread, a proxy was told to stop
// in the middle of a run.
func Spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for req := range spawnReqs {
				req.done <- req.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd, done}
	return <-done
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)
