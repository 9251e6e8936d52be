#!/usr/bin/env bash
# A RabbitMQ node of its own for varsel's TLS demo and tests, independent of how the machine's
# default RabbitMQ is configured: node varsel-tls@localhost, AMQPS on 127.0.0.1:25671 only
# (verify_peer, fail_if_no_peer_cert, EXTERNAL auth, TLS 1.3/1.2), its own data and log
# directories under $VARSEL_TLS_BASE (default /tmp/varsel-rabbitmq-tls), certificates from
# certs-example/out (made by certs-example/make.sh when missing), definitions for the demo
# participants in the vhost varsel-demo loaded at boot.
#
# Usage: rabbitmq-tls.sh start|stop|status|ctl ARGS...   (start is idempotent)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
NODE=varsel-tls@localhost
PORT=${VARSEL_TLS_PORT:-25671}
DIST_PORT=${VARSEL_TLS_DIST_PORT:-25681}
BASE=${VARSEL_TLS_BASE:-/tmp/varsel-rabbitmq-tls}
CERTS=${VARSEL_TLS_CERTS:-$repo/certs-example/out}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf '[rabbitmq-tls] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctl() { $SUDO rabbitmqctl -q -n "$NODE" "$@"; }

varsel_bin() {
  if [ -n "${VARSEL_BIN:-}" ]; then echo "$VARSEL_BIN"; return; fi
  cargo build --quiet --bin varsel >&2
  echo "$repo/target/debug/varsel"
}

start() {
  command -v rabbitmq-server >/dev/null 2>&1 || VARSEL_SERVICES=rabbitmq deploy/dev/services.sh
  [ -f "$CERTS/ca.pem" ] && [ -f "$CERTS/varsel-broker.pem" ] || VARSEL_BIN=$(varsel_bin) certs-example/make.sh
  if port_open "$PORT" && ctl status >/dev/null 2>&1; then
    # A node started from another checkout trusts another demo CA: restart it with ours.
    if $SUDO cmp -s "$CERTS/ca.pem" "$BASE/tls/ca.pem"; then
      say "running: $NODE on 127.0.0.1:$PORT"
      return 0
    fi
    say "running with another CA than $CERTS/ca.pem: restarting"
    ctl stop >/dev/null 2>&1 || true
    for _ in $(seq 30); do port_open "$PORT" || break; sleep 1; done
  fi
  $SUDO mkdir -p "$BASE/mnesia" "$BASE/log" "$BASE/tls"
  # RabbitMQ runs as the rabbitmq user: give it copies of the server's files it can read.
  $SUDO cp "$CERTS/ca.pem" "$CERTS/rabbitmq-server.pem" "$CERTS/rabbitmq-server.key" "$BASE/tls/"
  "$(varsel_bin)" rabbitmq definitions --demo --vhost varsel-demo > "$BASE/definitions.json.new"
  $SUDO mv "$BASE/definitions.json.new" "$BASE/definitions.json"
  echo '[rabbitmq_auth_mechanism_ssl].' | $SUDO tee "$BASE/enabled_plugins" >/dev/null
  $SUDO tee "$BASE/rabbitmq.conf" >/dev/null <<CONF
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:$PORT
ssl_options.cacertfile = $BASE/tls/ca.pem
ssl_options.certfile = $BASE/tls/rabbitmq-server.pem
ssl_options.keyfile = $BASE/tls/rabbitmq-server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.depth = 1
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
auth_mechanisms.1 = EXTERNAL
ssl_cert_login_from = common_name
loopback_users.guest = true
load_definitions = $BASE/definitions.json
management.tcp.port = 0
CONF
  # An env file of its own so the machine's rabbitmq-env.conf (node name) does not apply.
  $SUDO tee "$BASE/rabbitmq-env.conf" >/dev/null <<ENV
NODENAME=$NODE
ENV
  $SUDO chown -R rabbitmq:rabbitmq "$BASE"
  $SUDO chmod 0600 "$BASE/tls/rabbitmq-server.key"
  say "starting $NODE on 127.0.0.1:$PORT (data in $BASE)"
  $SUDO env RABBITMQ_CONF_ENV_FILE="$BASE/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_PORT="$PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
    RABBITMQ_MNESIA_BASE="$BASE/mnesia" RABBITMQ_LOG_BASE="$BASE/log" \
    RABBITMQ_CONFIG_FILE="$BASE/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins" \
    RABBITMQ_PID_FILE="$BASE/node.pid" ERL_EPMD_ADDRESS=127.0.0.1 \
    rabbitmq-server -detached
  for _ in $(seq 90); do
    if ctl await_startup >/dev/null 2>&1 && port_open "$PORT"; then
      say "ready: $NODE on 127.0.0.1:$PORT"
      return 0
    fi
    sleep 1
  done
  say "did not start; see $BASE/log"
  return 1
}

stop() {
  if ctl status >/dev/null 2>&1; then
    say "stopping $NODE"
    ctl stop >/dev/null
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) ctl status ;;
  ctl) shift; ctl "$@" ;;
  *) say "usage: $0 start|stop|status|ctl ARGS..."; exit 64 ;;
esac
