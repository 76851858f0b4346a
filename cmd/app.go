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
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/internal/spell"
	"github.com/wsgate/wsgate/rules"
)

// Info is the build's identity, stamped by the linker (see .goreleaser.yaml).
type Info struct {
	Version string
	Commit  string
	Date    string
	Go      string // the Go version that built it, from the build information
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
		getenv: os.Getenv, terminal: isTerminal(os.Stdout), info: withBuildInfo(info, readBuildInfo()),
		force: force, reload: reload,
	}
	return run(ctx, e, args)
}

// readBuildInfo is the binary's build information, nil when it has none.
func readBuildInfo() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

// run is Main without the process: tests call it in-process.
func run(ctx context.Context, e *env, args []string) int {
	app := newApp(e)
	if err := checkCommandName(app, args); err != nil {
		return exitCode(e, err)
	}
	return exitCode(e, app.Run(ctx, args))
}

// checkCommandName refuses a first argument that names no command (or a
// "help TOPIC" that names none), with the nearest name. Left to the CLI
// library, "wsgate serv --demo" would blame --demo, which the root
// command does not take.
func checkCommandName(app *cli.Command, args []string) error {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		return nil
	}
	name := args[1]
	if name == "help" || name == "h" {
		if len(args) == 2 || strings.HasPrefix(args[2], "-") {
			return nil
		}
		name = args[2]
	}
	names := []string{"completion"} // added by the CLI library as it runs
	for _, c := range app.Commands {
		names = append(names, c.Names()...)
	}
	if slices.Contains(names, name) {
		return nil
	}
	if near := nearest(name, names); near != "" {
		return usagef("unknown command %q, did you mean %q? (see 'wsgate --help')", name, near)
	}
	return usagef("unknown command %q (see 'wsgate --help')", name)
}

// nearest is the candidate closest to s by edit distance, when it is
// close enough to be what the user meant (about a third of its letters
// wrong at most, or s a prefix of it); "" otherwise.
func nearest(s string, candidates []string) string {
	limit := 0 // a one- or two-letter name is a typo of anything
	if len(s) >= 3 {
		limit = (len(s) + 2) / 3
	}
	best, bestD := "", limit
	for _, c := range candidates {
		d := spell.Distance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			d = 0
		}
		if d < bestD || d == bestD && best == "" {
			best, bestD = c, d
		}
	}
	return best
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

func init() {
	// -v is --verbose wherever a command has one (serve, dial): the
	// version is --version or "wsgate version", never -v.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	cli.VersionPrinter = func(cmd *cli.Command) { fmt.Fprintln(cmd.Root().Writer, "wsgate "+cmd.Root().Version) }
}

func newApp(e *env) *cli.Command {
	app := &cli.Command{
		Name:  "wsgate",
		Usage: "WebSocket tunnelling reverse proxy; reads Apache's ProxyPass lines",
		Description: "wsgate forwards HTTP Upgrade requests to ws:// or wss:// backends and relays bytes both ways\n" +
			"once the backend answers 101, like Apache httpd's mod_proxy_wstunnel, in one binary.\n\n" +
			"Try it: wsgate serve --demo",
		Version:                   versionText(e.info),
		Reader:                    e.stdin,
		Writer:                    e.stdout,
		ErrWriter:                 e.stderr,
		DisableSliceFlagSeparator: true, // a --pass value may contain commas
		Suggest:                   true,
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
			manCommand(e),
		},
		EnableShellCompletion: true,
		ConfigureShellCompletionCommand: func(c *cli.Command) {
			c.Hidden = false
			c.Usage = "print a shell completion script: bash, zsh, fish or pwsh"
		},
	}
	// Each command parses its own flags with its own setting: a --pass or
	// -H 'Connection: keep-alive, Upgrade' value holds commas.
	app.Description = rewrap(app.Description)
	for _, c := range app.Commands {
		c.DisableSliceFlagSeparator = true
		c.Description = rewrap(c.Description)
	}
	return app
}

func onUsageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		for _, f := range cmd.Flags {
			names = append(names, f.Names()...)
		}
		msg := fmt.Sprintf("unknown flag %s", dashes(name))
		if near := nearest(name, names); near != "" {
			msg += fmt.Sprintf(", did you mean %s?", dashes(near))
		}
		return usagef("%s (see '%s --help')", msg, cmd.FullName())
	}
	return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.FullName())}
}

// dashes writes a flag name as it is typed: -v, --listen.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
