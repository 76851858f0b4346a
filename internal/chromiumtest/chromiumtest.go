// Package chromiumtest runs a node script that drives a real headless
// Chromium through npm's playwright-core, for the tests that hold wsgate
// to what the browser does: tunnel.TestTraceInflatesChromium (Chromium
// compresses every WebSocket it opens) and trace.TestHARDevTools
// (Chromium's own DevTools imports wsgate's HAR files). Both packages
// must start the browser the same way, so it is set up here, once.
//
// The tests run only when WSGATE_PLAYWRIGHT_DIR names the prefix npm
// installed playwright-core in (or that prefix's node_modules) and a
// Chromium binary exists: WSGATE_CHROMIUM, or Debian's /usr/bin/chromium.
//
//	apt-get install chromium
//	npm install --prefix /tmp/pw playwright-core
//	WSGATE_PLAYWRIGHT_DIR=/tmp/pw go test -run Chromium ./tunnel/
//
// The package is for tests only and uses the standard library only.
package chromiumtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DefaultChromium is the browser when WSGATE_CHROMIUM is unset: Debian's
// package, a wrapper script that runs /usr/lib/chromium/chromium.
const DefaultChromium = "/usr/bin/chromium"

// Flags are the switches Chromium gets besides those playwright-core
// adds (--headless, --user-data-dir, --remote-debugging-pipe): no sandbox,
// because CI runs as root, where Chromium refuses to start sandboxed; no
// GPU, QUIC or first-run tasks; and nothing that talks to Google's
// servers (background networking, component updates, sync) while a test
// runs.
var Flags = []string{
	"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// Browser is what a test needs to run a script: node, the node_modules
// that hold playwright-core, and the Chromium binary.
type Browser struct {
	Node, Modules, Chromium string
}

// Need returns the Browser the environment names, and skips t, saying
// what to install, when something is missing. A WSGATE_PLAYWRIGHT_DIR
// that is set but does not hold playwright-core fails t: whoever set it
// meant the test to run.
func Need(t testing.TB) Browser {
	t.Helper()
	dir := os.Getenv("WSGATE_PLAYWRIGHT_DIR")
	if dir == "" {
		t.Skip("needs headless Chromium driven by playwright-core: npm install --prefix DIR playwright-core, then set WSGATE_PLAYWRIGHT_DIR=DIR")
	}
	chromium := os.Getenv("WSGATE_CHROMIUM")
	if chromium == "" {
		chromium = DefaultChromium
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("needs Chromium (apt-get install chromium, or WSGATE_CHROMIUM=PATH): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("needs node to run playwright-core: %v", err)
	}
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(modules); err != nil {
		modules = dir // given the node_modules folder itself
	}
	if _, err := os.Stat(filepath.Join(modules, "playwright-core", "package.json")); err != nil {
		t.Fatalf("WSGATE_PLAYWRIGHT_DIR=%s: no playwright-core there: %v", dir, err)
	}
	return Browser{Node: node, Modules: modules, Chromium: chromium}
}

// Run runs the node script with args and returns what it printed on
// stdout; it fails t, with the script's stderr, when the script fails or
// ctx ends first. The script finds the browser in its environment:
// WSGATE_CHROMIUM is the binary, WSGATE_CHROMIUM_FLAGS the JSON array
// of Flags and WSGATE_CHROMIUM_PROFILE a fresh, empty user data
// directory, removed when t ends. It launches with
//
//	chromium.launchPersistentContext(process.env.WSGATE_CHROMIUM_PROFILE, {
//	  executablePath: process.env.WSGATE_CHROMIUM,
//	  args: JSON.parse(process.env.WSGATE_CHROMIUM_FLAGS), headless: true })
func (b Browser) Run(t testing.TB, ctx context.Context, script string, args ...string) []byte {
	t.Helper()
	flags, _ := json.Marshal(Flags)
	cmd := exec.CommandContext(ctx, b.Node, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+b.Modules,
		"WSGATE_CHROMIUM="+b.Chromium,
		"WSGATE_CHROMIUM_FLAGS="+string(flags),
		"WSGATE_CHROMIUM_PROFILE="+t.TempDir(),
	)
	// Killed at ctx's end, node leaves Chromium behind holding the
	// pipes; Wait gives up on them after this.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", filepath.Base(script), err, stderr.Bytes())
	}
	if testing.Verbose() && stderr.Len() > 0 {
		t.Logf("node %s: stderr:\n%s", filepath.Base(script), stderr.Bytes())
	}
	return stdout.Bytes()
}
