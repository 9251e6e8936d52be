#!/usr/bin/env bash
# Quickstart, command 1: runs `varsel demo` with the embedded SQLite store over mutual TLS:
# makes the demo certificates (certs-example/make.sh, for trying varsel only) and starts a
# RabbitMQ node of its own for TLS (deploy/dev/rabbitmq-tls.sh: AMQPS on 127.0.0.1:25671,
# client certificates required, EXTERNAL auth, permissions generated from the registry).
# Installs RabbitMQ from the distribution's packages when missing. Extra arguments go to
# `varsel demo` (e.g. --stay to keep the dashboard running afterwards, --desk to also serve two
# desks, the school's and the agencies', with demo accounts; README, "Desk", "Try it").
# With --plain as first argument it runs on the machine's RabbitMQ (guest, port 5672) instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --bin varsel
if [ "${1:-}" = "--plain" ]; then
  shift
  VARSEL_SERVICES=rabbitmq deploy/dev/services.sh
  deploy/dev/vhost.sh varsel-demo
  exec target/debug/varsel demo --plain "$@"
fi
command -v rabbitmq-server >/dev/null 2>&1 || VARSEL_SERVICES=rabbitmq deploy/dev/services.sh
VARSEL_BIN=target/debug/varsel certs-example/make.sh
VARSEL_BIN=target/debug/varsel deploy/dev/rabbitmq-tls.sh start
exec target/debug/varsel demo "$@"
