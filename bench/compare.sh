#!/bin/sh
# compare.sh: measure wsgate side by side with the peer proxies installed
# here (nginx, haproxy, apache2, caddy) and with no proxy, in one
# interleaved run, and print medians and ratios (issue 5).
#
#   bench/compare.sh                        3 rounds of 1 s slices, 9,500 idle tunnels
#   bench/compare.sh --rounds 1 --idle-conns 2000
#   bench/compare.sh --markdown --json run.json   table for docs/performance.md
#   bench/compare.sh -help                  every option
#
# Needs: Linux with /proc, 2 CPUs or more (proxies are pinned to CPU 0,
# the echo backend and the load generator to CPU 1), taskset from
# util-linux, and Go to build wsgate. The peers are optional: each one not
# on PATH (or in /usr/sbin) is reported as skipped. This script installs
# nothing. Their configs are the templates in bench/peers/.
#
# For the 9,500 idle tunnels the open-files hard limit must be 20,000 or
# more (the program raises the soft limit to it).
set -eu

cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsgate-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
go build -ldflags "-X main.commit=$commit" -o "$tmp/wsgate" .
go run ./bench/compare --wsgate "$tmp/wsgate" "$@"
