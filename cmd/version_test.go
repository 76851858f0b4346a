package cmd

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

func TestWithBuildInfo(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-06T04:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	// go install module@v1.2.3: nothing stamped, all from the build.
	got := withBuildInfo(Info{Version: "dev", Commit: "none", Date: "unknown"}, bi)
	if want := (Info{Version: "v1.2.3", Commit: "0123456789ab-dirty", Date: "2026-12-06T04:00:00Z", Go: "go1.26.8"}); got != want {
		t.Errorf("withBuildInfo(unstamped) = %+v; want %+v", got, want)
	}
	// A release build keeps what the linker stamped.
	got = withBuildInfo(Info{Version: "1.4.0", Commit: "abc1234", Date: "2026-12-01"}, bi)
	if want := (Info{Version: "1.4.0", Commit: "abc1234", Date: "2026-12-01", Go: "go1.26.8"}); got != want {
		t.Errorf("withBuildInfo(stamped) = %+v; want %+v", got, want)
	}
	// go build in a checkout: "(devel)" is no version.
	bi.Main.Version = "(devel)"
	if got := withBuildInfo(Info{Version: "dev"}, bi); got.Version != "dev" {
		t.Errorf("withBuildInfo((devel)).Version = %q; want dev", got.Version)
	}
}

func TestVersionJSON(t *testing.T) {
	t.Parallel()
	r := runCmd(t, "", "version", "--json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("version --json = exit %d, %q: %v", r.code, r.stdout, err)
	}
	for _, k := range []string{"version", "commit", "date", "os", "arch"} {
		if v[k] == "" {
			t.Errorf("version --json has no %q: %v", k, v)
		}
	}
	if v["version"] != "1.2.3" {
		t.Errorf("version = %q; want the stamped 1.2.3", v["version"])
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{"bash": "complete -o bashdefault", "zsh": "#compdef wsgate", "fish": "complete -c wsgate"} {
		r := runCmd(t, "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s = exit %d, %.80q; want 0 and %q", shell, r.code, r.stdout, want)
		}
	}
}

// The manual page covers every command and every flag of serve, and
// groff reads it without a warning.
func TestManPage(t *testing.T) {
	t.Parallel()
	r := runCmd(t, "", "man")
	if r.code != 0 || !strings.HasPrefix(r.stdout, ".TH WSGATE 1 ") {
		t.Fatalf("man = exit %d, %.80q", r.code, r.stdout)
	}
	for _, c := range []string{"serve", "check", "route", "echo", "dial", "bench", "version"} {
		if !strings.Contains(r.stdout, `.SS "wsgate `+c) {
			t.Errorf("no section for %s", c)
		}
	}
	for _, f := range serveCommand(&env{}).Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue // a deprecated flag kept for old scripts
		}
		if n := f.Names()[0]; !strings.Contains(r.stdout, `.B \-\-`+strings.ReplaceAll(n, "-", `\-`)) {
			t.Errorf("serve's --%s is not in the page", n)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff to render the page with")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin, cmd.Stderr = strings.NewReader(r.stdout), &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff: %v: %s", err, stderr.String())
	}
}
