#!/usr/bin/env bash
# Makes sure the command-line tools the test suite checks varsel against are installed:
# OpenSSL, which must read the key files `varsel keygen` writes (crates/varsel/tests/offline.rs),
# and ss (iproute2), which tells the cluster tests which RabbitMQ node a broker is connected to
# (crates/testkit/src/cluster.rs).
# Installs from the distribution's packages only what is missing; safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

say() { printf '[tools] %s\n' "$*" >&2; }

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)

if [ "${#missing[@]}" -eq 0 ]; then
  say "found openssl ($(openssl version)) and ss"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "missing ${missing[*]} and no apt-get to install them; install them by hand"
  exit 1
fi
say "apt-get update"
timeout 600 $SUDO apt-get update -qq
say "installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
say "installed: $(openssl version)"
