#!/usr/bin/env bash
# Makes axe-core available to the desk's accessibility check (crates/desk/tests/browser.rs): the
# npm package, at a pinned version, installed into a cache directory (not the repository). The
# test loads its axe.min.js into Chromium and runs the WCAG 2.1 A and AA rules on the desk's
# pages. Safe to run again: a copy of the pinned version that is already there is left alone.
#
# Environment: VARSEL_TOOLS_CACHE (default ~/.cache/varsel) is where it goes; the test looks
# there too. VARSEL_AXE=/path/to/axe.min.js makes the test use another copy.
set -euo pipefail

# Pinned: a new axe-core release adds rules, and the suite should not fail on the day it appears.
VERSION=4.10.3

say() { printf '[accessibility] %s\n' "$*" >&2; }

cache=${VARSEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/varsel}
dir="$cache/axe-core"
installed() {
  [ -f "$dir/node_modules/axe-core/axe.min.js" ] &&
    grep -q "\"version\": \"$VERSION\"" "$dir/node_modules/axe-core/package.json"
}

if installed; then
  say "axe-core $VERSION: already in $dir"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  say "npm is missing; install Node.js and npm (Debian: apt-get install npm), then run this again"
  exit 1
fi
rm -rf "${dir:?}"
mkdir -p "$dir"
say "installing axe-core $VERSION into $dir"
timeout 300 npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$dir" "axe-core@$VERSION" >/dev/null
if ! installed; then
  say "npm ran but $dir/node_modules/axe-core/axe.min.js is not axe-core $VERSION"
  exit 1
fi
say "axe-core $VERSION: installed into $dir"
