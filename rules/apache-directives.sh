#!/bin/sh
# Writes rules/apache-directives.txt: every directive and section Apache
# httpd knows with all of Debian's apache2 modules loaded (apache2 -L),
# once per MPM, since only one MPM loads at a time. wsgate skips any of
# them that it does not read, with a warning, and calls anything else an
# unknown directive, as Apache does.
#
#   apt-get install apache2 && rules/apache-directives.sh
set -eu
mods=${WSGATE_APACHE_MODULES:-/usr/lib/apache2/modules}
bin=${WSGATE_APACHE:-/usr/sbin/apache2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mpm in event worker prefork; do
  conf="$tmp/$mpm.conf"
  {
    echo "ServerRoot $tmp"; echo "ServerName localhost"; echo "ErrorLog $tmp/error.log"; echo "PidFile $tmp/httpd.pid"
    echo "LoadModule mpm_${mpm}_module $mods/mod_mpm_$mpm.so"
    for f in "$mods"/mod_*.so; do
      name=$(basename "$f" .so); name=${name#mod_}
      case $name in mpm_*) continue ;; esac
      echo "LoadModule ${name}_module $f"
    done
  } > "$conf"
  "$bin" -L -f "$conf" 2>"$tmp/$mpm.err" || { cat "$tmp/$mpm.err" >&2; exit 1; }
done | sed -n 's/^\(<\{0,1\}[A-Za-z][A-Za-z0-9_]*\) (.*/\1/p' | sort -u > "$tmp/names"
{
  echo "# Every directive and section of Apache httpd $("$bin" -v | sed -n 's/^Server version: //p'), with all of"
  echo "# Debian's apache2 modules loaded. Made by rules/apache-directives.sh; do not edit."
  cat "$tmp/names"
} > "$(dirname "$0")/apache-directives.txt"
