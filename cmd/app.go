// Package cmd is wsgate's command line: flags in, rules and a tunnel.Server
// built from them, run until a signal. It is the only package that knows
// about urfave/cli and terminal colour; the actions stay thin.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/rules"
)

// Info is the build's identity, stamped by the linker (see .goreleaser.yaml).
type Info struct {
	Version string
	Commit  string
	Date    string
}

// Exit codes, decided in one place (exitCode) and documented in docs/cli.md.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure: a port in use, a backend that failed the client
	exitUsage   = 2 // bad flags, bad rules: nothing was started
	// exitAbnormal is dial's: the server closed with a code other than
	// 1000 or 1001, or the connection dropped without a close frame (1006),
	// so that a script tells a broken conversation from a failed dial.
	exitAbnormal = 3
)

// env is what a command may touch of the outside world. Tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// terminal reports whether stdout is a terminal the live view may use.
	terminal bool
	info     Info
	// force is closed by a second stop signal: stop at once, no grace.
	force <-chan struct{}
	// reload receives SIGHUP: re-read the rules file.
	reload <-chan struct{}
	// listen, when set, opens serve's listeners instead of
	// net.ListenConfig.Listen: tests hand over listeners they opened on
	// the ports they wrote into a rules file, instead of probing ports
	// that another process may take before serve binds them.
	listen func(ctx context.Context, network, addr string) (net.Listener, error)
}

// usageError marks an error that is the user's input, not the world: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// abnormalClose marks a WebSocket conversation the server did not end
// normally (RFC 6455 §7.4.1: a code other than 1000 or 1001, or 1006, no
// close frame at all): exit 3.
type abnormalClose struct{ err error }

func (e abnormalClose) Error() string { return e.err.Error() }
func (e abnormalClose) Unwrap() error { return e.err }

// Main runs wsgate with the process's arguments and streams and returns the
// exit code. The first SIGINT or SIGTERM stops the running command
// gracefully; a second one stops it at once; a third is left to the
// system, which kills the process. SIGHUP asks serve to re-read its rules.
func Main(args []string, info Info) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	force := make(chan struct{})
	reload := make(chan struct{}, 1)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		stops := 0
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				select {
				case reload <- struct{}{}:
				default: // one reload pending is enough
				}
				continue
			}
			if stops++; stops == 1 {
				cancel()
				continue
			}
			close(force)
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			return
		}
	}()
	e := &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, terminal: isTerminal(os.Stdout), info: info,
		force: force, reload: reload,
	}
	return run(ctx, e, args)
}

// run is Main without the process: tests call it in-process.
func run(ctx context.Context, e *env, args []string) int {
	err := newApp(e).Run(ctx, args)
	return exitCode(e, err)
}

// exitCode prints err, once, and maps it to the exit code.
func exitCode(e *env, err error) int {
	if err == nil {
		return exitOK
	}
	var list rules.ErrorList
	var one *rules.Error
	switch {
	case errors.As(err, &list):
		for _, le := range list {
			fmt.Fprintln(e.stderr, le)
		}
		return exitUsage
	case errors.As(err, &one):
		fmt.Fprintln(e.stderr, one)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "wsgate: %v\n", err)
	var ue usageError
	var ac abnormalClose
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ac):
		return exitAbnormal
	}
	return exitFailure
}

func newApp(e *env) *cli.Command {
	app := &cli.Command{
		Name:  "wsgate",
		Usage: "a WebSocket tunnelling reverse proxy that reads Apache's ProxyPass lines",
		Description: "wsgate forwards HTTP Upgrade requests to ws:// or wss:// backends and relays bytes both ways\n" +
			"once the backend answers 101, like Apache httpd's mod_proxy_wstunnel, in one binary.\n\n" +
			"Try it: wsgate serve --demo",
		Version:                   e.info.Version,
		Reader:                    e.stdin,
		Writer:                    e.stdout,
		ErrWriter:                 e.stderr,
		DisableSliceFlagSeparator: true, // a --pass value may contain commas
		Suggest:                   true,
		HideHelpCommand:           true,
		// The CLI library must never exit the process: exitCode decides.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError:   onUsageError,
		Commands: []*cli.Command{
			serveCommand(e),
			checkCommand(e),
			routeCommand(e),
			echoCommand(e),
			dialCommand(e),
			benchCommand(e),
			versionCommand(e),
		},
	}
	// Each command parses its own flags with its own setting: a --pass or
	// -H 'Connection: keep-alive, Upgrade' value holds commas.
	for _, c := range app.Commands {
		c.DisableSliceFlagSeparator = true
	}
	return app
}

func onUsageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.FullName())}
}

func versionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:         "version",
		Usage:        "print the version and build information",
		OnUsageError: onUsageError,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			fmt.Fprintf(e.stdout, "wsgate %s (commit %s, built %s)\n", e.info.Version, e.info.Commit, e.info.Date)
			return nil
		},
	}
}
