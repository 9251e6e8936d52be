#!/usr/bin/env bash
# Quickstart, command 1: runs `varsel demo` on the local RabbitMQ with the embedded SQLite store.
# Installs and starts RabbitMQ from the distribution's packages when none is reachable, and gives
# the demo a virtual host of its own (varsel-demo). Extra arguments go to `varsel demo`
# (e.g. --stay to keep the dashboard running afterwards).
set -euo pipefail
cd "$(dirname "$0")/../.."
VARSEL_SERVICES=rabbitmq deploy/dev/services.sh
deploy/dev/vhost.sh varsel-demo
cargo build --quiet --bin varsel
exec target/debug/varsel demo --amqp "amqp://guest:guest@127.0.0.1:5672/varsel-demo" "$@"
