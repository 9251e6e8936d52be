#!/usr/bin/env bash
# Makes certificates for TRYING varsel only: a demo CA, a RabbitMQ server certificate for
# localhost and a client certificate per demo participant, in certs-example/out/.
# Safe to run again: an existing CA and existing certificates are kept.
# Usage: certs-example/make.sh [--registry REGISTRY]   (default: the demo's participants)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VARSEL_BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --bin varsel
  bin=target/debug/varsel
fi
if [ "${1:-}" = "--registry" ]; then
  exec "$bin" certs init --dir certs-example/out --registry "${2:?usage: make.sh --registry FILE}"
fi
exec "$bin" certs init --dir certs-example/out --demo
