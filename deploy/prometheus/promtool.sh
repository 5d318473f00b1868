#!/usr/bin/env bash
# Prometheus's promtool from Debian's `prometheus` package, unpacked into the cache (no
# server installed or started): prints its path. promtool already on PATH is used as it is.
#
#   promtool.sh            install once, print the path
#   promtool.sh ARGS...    install once, run promtool ARGS
#
# Environment: SKUFLOW_CACHE (~/.cache/skuflow).
set -euo pipefail

die() { echo "promtool.sh: $*" >&2; exit 1; }

find_promtool() {
  if command -v promtool >/dev/null; then
    command -v promtool
    return
  fi
  local cache=${SKUFLOW_CACHE:-$HOME/.cache/skuflow}/promtool
  if [[ ! -x $cache/usr/bin/promtool ]]; then
    command -v apt-get >/dev/null || die "apt-get not found: install promtool (Prometheus) and put it on PATH"
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    echo "promtool.sh: unpacking Debian's prometheus package into $cache" >&2
    (cd "$work" && apt-get download -q prometheus >/dev/null 2>"$work/apt.log") ||
      die "apt-get download prometheus failed: $(tail -n1 "$work/apt.log")"
    rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
    dpkg-deb -x "$work"/prometheus_*.deb "$cache.tmp"
    rm -rf "$cache" && mv "$cache.tmp" "$cache"
  fi
  echo "$cache/usr/bin/promtool"
}

promtool=$(find_promtool)
if [[ $# -eq 0 ]]; then
  echo "$promtool"
else
  exec "$promtool" "$@"
fi
