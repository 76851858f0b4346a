// Command wsgate is a WebSocket tunnelling reverse proxy that reads Apache's
// ProxyPass lines. See README.md.
package main

import (
	"os"

	"github.com/wsgate/wsgate/cmd"
)

// Set by the linker: -X main.version=... (see .goreleaser.yaml).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	os.Exit(cmd.Main(os.Args, cmd.Info{Version: version, Commit: commit, Date: date}))
}
