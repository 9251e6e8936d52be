#!/usr/bin/env bash
# Makes the two linters of the metrics tests (crates/varsel/tests/prometheus.rs) available:
# - `promtool` from Debian's `prometheus` package: `check metrics` lints the Prometheus text
#   format, `check rules` and `test rules` check deploy/prometheus/;
# - the OpenMetrics parser of Debian's `python3-prometheus-client` (promtool 2.42 has no
#   OpenMetrics lint): it refuses what does not follow the OpenMetrics 1.0 grammar.
# Neither package is installed (installing `prometheus` would start a Prometheus server): each is
# fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a cache directory. Safe to
# run again: what is already unpacked and runs is left alone.
#
# Environment: VARSEL_TOOLS_CACHE (default ~/.cache/varsel) is where the packages are unpacked;
# the tests look there too. VARSEL_PROMTOOL=/path/to/promtool makes the tests use another one.
set -euo pipefail

say() { printf '[metrics-linters] %s\n' "$*" >&2; }

cache=${VARSEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/varsel}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

for tool in apt-get dpkg-deb python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "$tool is missing; this script needs a Debian or Ubuntu machine with python3"
    exit 1
  fi
done

updated=0
# unpack PACKAGE CHECK...: unpacks PACKAGE into $cache/PACKAGE unless CHECK already succeeds.
unpack() {
  local package=$1; shift
  if "$@" >/dev/null 2>&1; then
    say "$package: already unpacked in $cache/$package"
    return 0
  fi
  local work
  work=$(mktemp -d)
  if ! (cd "$work" && timeout 300 apt-get download "$package" >/dev/null 2>&1); then
    if [ "$updated" -eq 0 ]; then
      say "apt-get update"
      timeout 300 $SUDO apt-get update -qq
      updated=1
    fi
    say "downloading $package"
    (cd "$work" && timeout 300 apt-get download "$package" >/dev/null 2>&1)
  fi
  rm -rf "${cache:?}/$package"
  mkdir -p "$cache/$package"
  dpkg-deb -x "$work"/"$package"_*.deb "$cache/$package"
  rm -rf "$work"
  if ! "$@" >/dev/null 2>&1; then
    say "$package was unpacked into $cache/$package but does not run here"
    exit 1
  fi
  say "$package: unpacked into $cache/$package"
}

promtool="$cache/prometheus/usr/bin/promtool"
unpack prometheus "$promtool" --version
say "$("$promtool" --version 2>&1 | head -n1)"

unpack python3-prometheus-client env PYTHONPATH="$cache/python3-prometheus-client/usr/lib/python3/dist-packages" \
  python3 -c 'import prometheus_client.openmetrics.parser'
