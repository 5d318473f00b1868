#!/usr/bin/env bash
# Debian's Chromium for the console's browser test: prints its path, installing the
# `chromium` package first when it is missing (apt-get, as root). No browser download.
set -euo pipefail

die() { echo "chromium.sh: $*" >&2; exit 1; }

if [[ ! -x /usr/bin/chromium ]]; then
  command -v apt-get >/dev/null || die "apt-get not found: install Debian's chromium package"
  [[ $(id -u) == 0 ]] || die "installing Debian's chromium package needs root: sudo apt-get install chromium"
  echo "chromium.sh: installing Debian's chromium package" >&2
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium >"$log" 2>&1 ||
    { apt-get update -q >>"$log" 2>&1 && apt-get install -y -q --no-install-recommends chromium >>"$log" 2>&1; } ||
    die "apt-get install chromium failed: $(tail -n1 "$log")"
fi
echo /usr/bin/chromium
