#!/usr/bin/env bash
# Makes the outside implementation the wire-format interop test checks varsel against
# (`published_vectors_open_with_a_stock_hpke_library` in crates/varsel/tests/offline.rs):
# pyhpke, an HPKE (RFC 9180) implementation for Python nobody on the project wrote, with the
# `cryptography` package it uses for X25519, ChaCha20-Poly1305 and Ed25519. Installed with pip,
# pinned, into a cache directory of its own (no system Python is changed). Safe to run again:
# what is already there and imports is left alone.
#
# Environment: VARSEL_TOOLS_CACHE (default ~/.cache/varsel); the packages go to
# $VARSEL_TOOLS_CACHE/python-interop, where the test looks too.
set -euo pipefail

say() { printf '[interop] %s\n' "$*" >&2; }

cache=${VARSEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/varsel}
target="$cache/python-interop"
check() { PYTHONPATH="$target" python3 -c 'import pyhpke, cryptography' >/dev/null 2>&1; }

if ! command -v python3 >/dev/null 2>&1; then
  say "python3 is missing; install it (Debian: apt-get install python3 python3-pip)"
  exit 1
fi
if check; then
  say "pyhpke: already in $target"
  exit 0
fi
rm -rf "$target"
say "installing pyhpke 0.6.5 into $target"
timeout 600 python3 -m pip install --quiet --disable-pip-version-check --target "$target" \
  'pyhpke==0.6.5' 2>&1 | grep -v 'Running pip as the' >&2 || true
if ! check; then
  say "pyhpke was installed into $target but does not import"
  exit 1
fi
say "pyhpke: installed into $target"
