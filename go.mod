module github.com/wsgate/wsgate

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/fatih/color v1.19.0
	github.com/urfave/cli/v3 v3.14.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
)
