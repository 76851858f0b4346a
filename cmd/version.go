package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v3"
)

// withBuildInfo fills what the linker did not stamp from the build
// information Go records in every binary: a "go install
// github.com/wsgate/wsgate@v1.2.3" build knows its module version, a
// build from a checkout its VCS revision and time. A release build
// (goreleaser's -X flags) keeps what it was given.
func withBuildInfo(i Info, bi *debug.BuildInfo) Info {
	if bi == nil {
		return i
	}
	if (i.Version == "" || i.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if (i.Commit == "" || i.Commit == "none") && rev != "" {
		i.Commit = rev[:min(len(rev), 12)]
		if modified {
			i.Commit += "-dirty"
		}
	}
	if (i.Date == "" || i.Date == "unknown") && at != "" {
		i.Date = at
	}
	i.Go = bi.GoVersion
	return i
}

// versionText is the version and what built it, on one line:
// "v1.2.3 (commit 0123abcd4567, built 2026-12-06T04:00:00Z, go1.26.8,
// linux/amd64)".
func versionText(i Info) string {
	s := fmt.Sprintf("%s (commit %s, built %s", i.Version, i.Commit, i.Date)
	if i.Go != "" {
		s += ", " + i.Go
	}
	return s + fmt.Sprintf(", %s/%s)", runtime.GOOS, runtime.GOARCH)
}

func versionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:         "version",
		Usage:        "print the version and build information",
		OnUsageError: onUsageError,
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print it as one JSON object"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			i := e.info
			if cmd.Bool("json") {
				enc := json.NewEncoder(e.stdout)
				return enc.Encode(map[string]string{"version": i.Version, "commit": i.Commit, "date": i.Date,
					"go": i.Go, "os": runtime.GOOS, "arch": runtime.GOARCH})
			}
			fmt.Fprintln(e.stdout, "wsgate "+versionText(i))
			return nil
		},
	}
}
