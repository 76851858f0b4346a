#!/bin/sh
# tracecost.sh: measure what tracing costs wsgate on a stream of compressed
# 1 KiB JSON messages, with tracing off, --trace-file (messages inflated),
# --trace-file --trace-strip-compression and --trace-file --decode jsonrpc
# side by side in one interleaved run, and the memory of a traced tunnel
# (issue 20, "Measured").
#
#   bench/tracecost.sh                          5 rounds of 2 s slices, 1,000 tunnels held
#   bench/tracecost.sh --rate 10000             every mode at one load: CPU per message compares
#   bench/tracecost.sh --rounds 3 --tunnels 200 a quick look, about half a minute
#   bench/tracecost.sh --baseline /tmp/wsgate-old  an earlier build beside this one
#   bench/tracecost.sh --markdown --json run.json  tables for docs/performance.md
#   bench/tracecost.sh -help                    every option
#
# Needs: Linux with /proc, 2 CPUs or more (wsgate is pinned to CPU 0, the
# load and the echo backend to CPU 1), taskset from util-linux, and Go to
# build wsgate. Nothing is installed; the load is coder/websocket, already
# a dependency.
set -eu

cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsgate-tracecost.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
go build -ldflags "-X main.commit=$commit" -o "$tmp/wsgate" .
go run ./bench/tracecost --wsgate "$tmp/wsgate" "$@"
