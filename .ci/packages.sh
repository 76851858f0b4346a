#!/usr/bin/env bash
# Packages (issue 21): checks .goreleaser.yaml, builds a snapshot release of it
# (archives, .deb, .rpm, .apk, the Homebrew cask, checksums) and, as root on a
# machine with dpkg and apt-get, installs the linux/amd64 .deb on this machine,
# runs what it installed, and removes it. Called by .ci/run; runs alone too:
#
#   bash .ci/packages.sh
#
# goreleaser is installed with `go install` outside the project's go.mod
# (it is a tool, not a dependency) into a cache folder kept between runs; set
# WSGATE_GORELEASER to use another binary.
#
# The snapshot builds every target of the real file: goreleaser's `release`
# has no single-target option (only `goreleaser build --single-target`, which
# stops before archives and packages; splitting a release by GOOS/GOARCH is
# GoReleaser Pro's `--split`). It takes about 2.5 minutes on a cold Go build
# cache and under 10 seconds on a warm one.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

# v2.15.1 if v2.17.0 cannot be had (it needs modules from one more host).
versions="v2.17.0 v2.15.1"
cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/wsgate-ci"

goreleaser="${WSGATE_GORELEASER:-}"
if [ -z "$goreleaser" ]; then
  for v in $versions; do
    bin="$cache/goreleaser-$v/goreleaser"
    if [ ! -x "$bin" ]; then
      echo "== installing goreleaser $v (go install, outside go.mod)"
      t0=$SECONDS
      if ! (cd / && GOBIN="$cache/goreleaser-$v" GOFLAGS=-buildvcs=false \
          timeout 1200 go install "github.com/goreleaser/goreleaser/v2@$v"); then
        echo "goreleaser $v could not be installed"
        continue
      fi
      echo "   installed in $((SECONDS - t0))s"
    fi
    goreleaser="$bin"
    break
  done
fi
if [ -z "$goreleaser" ]; then
  echo "packages: no goreleaser could be installed"; exit 1
fi
# goreleaser's logger forces colour when CI is set; CI's log reads better plain.
gr() { env -u CI NO_COLOR=1 "$goreleaser" "$@"; }
gr --version | grep -E '^GitVersion:' || true

# A deprecated property fails CI like an invalid one (check exits 2 for it;
# the grep also catches notices printed with exit 0).
echo "== goreleaser check"
if ! out=$(gr check 2>&1); then echo "$out"; exit 1; fi
echo "$out"
if grep -qi 'deprecat' <<<"$out"; then echo "goreleaser check: deprecated properties"; exit 1; fi

echo "== goreleaser release --snapshot --clean (every target; publishing is skipped)"
t0=$SECONDS
log=$(mktemp)
if ! gr release --snapshot --clean >"$log" 2>&1; then
  cat "$log"; rm -f "$log"; exit 1
fi
grep -E 'building  |archiving|creating|writing  |succeeded' "$log" | sed 's/^ *//' || true
if grep -qi 'deprecat' "$log"; then grep -i 'deprecat' "$log"; rm -f "$log"; exit 1; fi
rm -f "$log"
echo "   snapshot in $((SECONDS - t0))s"
# The before-hook runs go mod tidy; a release must not change the tree.
if ! git diff --quiet -- go.mod go.sum; then
  echo "warning: go mod tidy changed go.mod or go.sum:"; git --no-pager diff -- go.mod go.sum
fi

version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json)
base="dist/wsgate_${version}_linux_amd64"
fail() { echo "packages: $*"; exit 1; }

# What every package and the archive must carry, and where.
echo "== contents"
(cd dist && sha256sum -c --quiet --ignore-missing checksums.txt) || fail "checksums.txt does not match"
for f in "$base.deb" "$base.rpm" "$base.apk" "$base.tar.gz"; do
  [ -s "$f" ] || fail "$f was not built"
  grep -qF "  $(basename "$f")" dist/checksums.txt || fail "$f is not in checksums.txt"
done
[ -s dist/homebrew/Casks/wsgate.rb ] || fail "the Homebrew cask was not written"
common="usr/bin/wsgate usr/share/man/man1/wsgate.1.gz usr/share/bash-completion/completions/wsgate
  usr/share/fish/vendor_completions.d/wsgate.fish"
expect() { # expect LISTING-FILE NAME PATH...
  local listing=$1 name=$2; shift 2
  for p in "$@"; do grep -qE "(^|[ /.])$p\$" "$listing" || fail "$name has no /$p"; done
}
listing=$(mktemp)
tar -tzf "$base.tar.gz" >"$listing"
expect "$listing" tar.gz wsgate README.md LICENSE completions/wsgate.bash completions/wsgate.zsh \
  completions/wsgate.fish manpages/wsgate.1
tar -tzf "$base.apk" 2>/dev/null >"$listing"
expect "$listing" .apk $common usr/share/zsh/site-functions/_wsgate usr/share/licenses/wsgate/LICENSE
if ! command -v rpm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing rpm (rpm -qlp reads the .rpm's file list)"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq rpm >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq rpm >/dev/null; } ||
    echo "rpm could not be installed"
fi
if command -v rpm >/dev/null; then
  rpm -qlp "$base.rpm" 2>/dev/null >"$listing"
  expect "$listing" .rpm $common usr/share/zsh/site-functions/_wsgate usr/share/licenses/wsgate/LICENSE
else
  echo "rpm not found: the .rpm's file list is not read"
fi
if command -v dpkg-deb >/dev/null; then
  dpkg-deb -c "$base.deb" | awk '{print $NF}' >"$listing"
  expect "$listing" .deb $common usr/share/zsh/vendor-completions/_wsgate usr/share/doc/wsgate/copyright
  dpkg-deb -f "$base.deb" Package Version Architecture Section
fi
rm -f "$listing"
grep -q 'postflight_steps do' dist/homebrew/Casks/wsgate.rb || fail "the cask does not clear the quarantine flag"
! grep -qE '^ *(preflight|postflight) do' dist/homebrew/Casks/wsgate.rb || fail "the cask has a deprecated flight block"
echo "archive, .deb, .rpm, .apk and cask: as expected"

# Installing touches /usr: only as root, with dpkg and apt-get, and never over
# a wsgate that some other package or a hand install put in /usr/bin.
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
  echo "== packages: not root or no dpkg/apt-get here: skipping the .deb install (built and listed above)"
  echo "packages: done in $((SECONDS - start))s"
  exit 0
fi
if [ -e /usr/bin/wsgate ] && ! dpkg -S /usr/bin/wsgate 2>/dev/null | grep -q '^wsgate:'; then
  echo "== packages: /usr/bin/wsgate exists and is not the wsgate package's: skipping the .deb install"
  echo "packages: done in $((SECONDS - start))s"
  exit 0
fi
if ! command -v man >/dev/null; then
  echo "== installing man-db (man -w)"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq man-db >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq man-db >/dev/null; }
fi

echo "== dpkg -i $base.deb"
trap 'dpkg -r wsgate >/dev/null 2>&1 || true' EXIT
# --path-include: a slim image's dpkg.cfg.d may exclude /usr/share/man.
DEBIAN_FRONTEND=noninteractive dpkg -i --path-include='/usr/share/man/man1/wsgate.1.gz' "$base.deb"
dpkg -L wsgate

echo "-- /usr/bin/wsgate version"
out=$(/usr/bin/wsgate version); echo "$out"
grep -qF "wsgate $version " <<<"$out" || fail "not version $version"
echo "-- man -w wsgate"
[ "$(man -w wsgate)" = /usr/share/man/man1/wsgate.1.gz ] || fail "man -w wsgate: $(man -w wsgate 2>&1)"
man -w wsgate
zcat /usr/share/man/man1/wsgate.1.gz | cmp -s - <(/usr/bin/wsgate man) ||
  fail "the installed manual page is not what wsgate man prints"
echo "-- wsgate completion bash"
/usr/bin/wsgate completion bash | grep -q 'complete ' || fail "wsgate completion bash printed no completion"
cmp -s /usr/share/bash-completion/completions/wsgate <(/usr/bin/wsgate completion bash) ||
  fail "the installed bash completion is not what wsgate completion bash prints"
cmp -s /usr/share/zsh/vendor-completions/_wsgate <(/usr/bin/wsgate completion zsh) || fail "zsh completion differs"
cmp -s /usr/share/fish/vendor_completions.d/wsgate.fish <(/usr/bin/wsgate completion fish) || fail "fish completion differs"
cmp -s /usr/share/doc/wsgate/copyright LICENSE || fail "/usr/share/doc/wsgate/copyright is not LICENSE"
echo "installed: binary, manual page, completions, copyright"

echo "== dpkg -r wsgate"
dpkg -r wsgate
trap - EXIT
for p in /usr/bin/wsgate /usr/share/man/man1/wsgate.1.gz /usr/share/bash-completion/completions/wsgate \
  /usr/share/zsh/vendor-completions/_wsgate /usr/share/fish/vendor_completions.d/wsgate.fish /usr/share/doc/wsgate; do
  [ ! -e "$p" ] || fail "$p is still there after dpkg -r"
done
! dpkg -s wsgate >/dev/null 2>&1 || fail "dpkg still lists wsgate as installed"
echo "removed: /usr/bin/wsgate and the rest are gone"
echo "packages: done in $((SECONDS - start))s"
