#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this one machine, for varsel's cluster tests and for trying
# active-active brokers locally, beside (never instead of) the machine's own RabbitMQ on 5672.
#
# Nodes varsel-c1@localhost, varsel-c2@localhost and varsel-c3@localhost of Debian's
# rabbitmq-server, run as the invoking user (no sudo, no system service), each with its own AMQP
# port (127.0.0.1:25701..25703), Erlang distribution port (25711..25713), and data and log
# directories under DIR. One Erlang cookie, DIR/.erlang.cookie (the nodes and this script's
# rabbitmqctl run with HOME=DIR), so the cluster is independent of the system node's cookie.
# c2 and c3 join c1; partition handling is pause_minority, so a node cut off from the other two
# stops serving rather than diverging. The project's policies (deploy/rabbitmq/policies.json:
# vhost `varsel`, quorum queue limits and dead-lettering) are imported and guest may use the vhost
# `varsel` (loopback only). Quorum queues declared once the three have joined get a replica on each.
#
# Usage: cluster.sh start|stop|status|urls [DIR] | ctl NODE ARGS... | isolate NODE | heal NODE
#   DIR: $VARSEL_CLUSTER_DIR, or ${XDG_CACHE_HOME:-~/.cache}/varsel/rabbitmq-cluster.
#   start is idempotent; stop stops all three and waits until none runs; status prints the
#   cluster's status; urls prints the three AMQP URLs of the vhost `varsel` as a TOML list.
#   isolate NODE cuts node NODE (1-3) off from the other two: every Erlang distribution link
#   between it and them is closed, and each side is given a different cookie for the other, so
#   neither can connect again (a partition of the distribution traffic; client traffic and the
#   CLI are not touched). With pause_minority the isolated node pauses: it closes its clients'
#   connections and stops listening until it sees the majority again. heal NODE gives both sides
#   the cluster's cookie back, and the node rejoins by itself.
# Ports: VARSEL_CLUSTER_PORT (first AMQP port, default 25701) and VARSEL_CLUSTER_DIST_PORT
# (first distribution port, default 25711); node i uses the first + i - 1. VARSEL_CLUSTER_NAME
# (default varsel-c) names the nodes <name>1@localhost..., so the cluster tests' nodes never meet
# a cluster started by hand in the machine's one epmd.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
cmd=${1:-start}
if [ "$cmd" = ctl ] || [ "$cmd" = isolate ] || [ "$cmd" = heal ]; then
  DIR=${VARSEL_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/varsel/rabbitmq-cluster}
else
  DIR=${2:-${VARSEL_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/varsel/rabbitmq-cluster}}
fi
PREFIX=${VARSEL_CLUSTER_NAME:-varsel-c}
PORT=${VARSEL_CLUSTER_PORT:-25701}
DIST_PORT=${VARSEL_CLUSTER_DIST_PORT:-25711}
RMQ=/usr/lib/rabbitmq/bin
NODES=(1 2 3)
# How long a node may take to boot, join or stop (2 shared cores: booting takes ~10 s each).
BOOT_S=${VARSEL_CLUSTER_BOOT_S:-120}
STOP_S=${VARSEL_CLUSTER_STOP_S:-60}

say() { printf '[cluster] %s\n' "$*" >&2; }
name() { echo "$PREFIX$1@localhost"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# rabbitmqctl against node i with the cluster's cookie; bounded like every wait here.
ctl() {
  local i=$1
  shift
  HOME="$DIR" ERL_CRASH_DUMP="$DIR/erl_crash.dump" timeout 120 "$RMQ/rabbitmqctl" -q -n "$(name "$i")" "$@"
}
# Node i's pid, only while that process is node i's VM (a pid file left by a killed node may
# name another process by now).
pid_of() {
  local pid
  pid=$(cat "$DIR/c$1/node.pid" 2>/dev/null) || return 0
  if [ -n "$pid" ] && tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" |
    grep -qx -- "RABBITMQ_NODENAME=$(name "$1")"; then
    echo "$pid"
  fi
}
alive() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Waits until `check` succeeds, at most `limit` seconds; says what it waited for either way.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "gave up after ${limit} s waiting for $what (logs in $DIR/c*/log)"
      return 1
    fi
    sleep 1
  done
}

write_node() {
  local i=$1 d="$DIR/c$1"
  mkdir -p "$d/mnesia" "$d/log"
  echo '[].' >"$d/enabled_plugins"
  cat >"$d/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$((PORT + i - 1))
loopback_users.guest = true
cluster_partition_handling = pause_minority
management.tcp.port = 0
CONF
  # An env file of its own so the machine's rabbitmq-env.conf (node name, cookie) does not apply.
  cat >"$d/rabbitmq-env.conf" <<ENV
NODENAME=$(name "$i")
ENV
}

start_node() {
  local i=$1 d="$DIR/c$1"
  if alive "$i"; then return 0; fi
  say "starting $(name "$i") on 127.0.0.1:$((PORT + i - 1)) (data in $d)"
  HOME="$DIR" RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$(name "$i")" RABBITMQ_NODE_PORT="$((PORT + i - 1))" \
    RABBITMQ_DIST_PORT="$((DIST_PORT + i - 1))" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    RABBITMQ_PID_FILE="$d/node.pid" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$RMQ/rabbitmq-server" -detached
}

booted() { ctl "$1" await_startup && port_open "$((PORT + $1 - 1))"; }
# Whether node i lists all three nodes as running members of its cluster.
joined() {
  local running
  running=$(ctl "$1" eval 'lists:sort(rabbit_nodes:all_running()).') || return 1
  for j in "${NODES[@]}"; do
    grep -q "$(name "$j")" <<<"$running" || return 1
  done
}

start() {
  [ -x "$RMQ/rabbitmq-server" ] || VARSEL_SERVICES=rabbitmq deploy/dev/services.sh
  for i in "${NODES[@]}"; do
    local p=$((PORT + i - 1)) dp=$((DIST_PORT + i - 1))
    if ! alive "$i" && { port_open "$p" || port_open "$dp"; }; then
      say "port $p or $dp is taken by something else; set VARSEL_CLUSTER_PORT/VARSEL_CLUSTER_DIST_PORT"
      return 1
    fi
  done
  mkdir -p "$DIR"
  if [ ! -s "$DIR/.erlang.cookie" ]; then
    (umask 077 && head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DIR/.erlang.cookie")
    chmod 0400 "$DIR/.erlang.cookie"
  fi
  for i in "${NODES[@]}"; do write_node "$i"; done
  # Booting in parallel: each node starts on its own, then c2 and c3 join c1.
  for i in "${NODES[@]}"; do start_node "$i"; done
  for i in "${NODES[@]}"; do
    wait_for "$(name "$i") to boot" "$BOOT_S" booted "$i"
  done
  for i in 2 3; do
    if ! joined "$i"; then
      local members
      members=$(ctl "$i" eval 'rabbit_nodes:all().')
      if ! grep -q "$(name 1)" <<<"$members"; then
        say "joining $(name "$i") to $(name 1) (output in $DIR/join.log)"
        {
          ctl "$i" stop_app
          ctl "$i" reset
          ctl "$i" join_cluster "$(name 1)"
          ctl "$i" start_app
        } >>"$DIR/join.log" 2>&1
      fi
    fi
  done
  for i in "${NODES[@]}"; do
    wait_for "$(name "$i") to see all three nodes running" "$BOOT_S" joined "$i"
  done
  ctl 1 import_definitions "$repo/deploy/rabbitmq/policies.json"
  ctl 1 set_permissions -p varsel guest '.*' '.*' '.*'
  say "ready: $(urls)"
}

stop() {
  # RabbitMQ removes its pid file while it shuts down, before the VM exits: keep the pids.
  local pids=()
  for i in "${NODES[@]}"; do pids[i]=$(pid_of "$i"); done
  for i in "${NODES[@]}"; do
    if alive "$i"; then
      say "stopping $(name "$i")"
      ctl "$i" stop >/dev/null 2>&1 || true
    fi
  done
  for i in "${NODES[@]}"; do
    local pid=${pids[i]}
    [ -n "$pid" ] || continue
    if ! wait_for "$(name "$i") (pid $pid) to exit" "$STOP_S" bash -c "! kill -0 $pid 2>/dev/null"; then
      say "killing $(name "$i") (pid $pid), which did not stop within ${STOP_S} s"
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  # Each node's erl_child_setup and epmd registration end with its VM; nothing of ours is left.
  say "stopped"
}

status() {
  local up=0
  for i in "${NODES[@]}"; do
    if alive "$i"; then
      up=$((up + 1))
      echo "$(name "$i"): running, pid $(pid_of "$i"), amqp 127.0.0.1:$((PORT + i - 1))"
    else
      echo "$(name "$i"): not running"
    fi
  done
  for i in "${NODES[@]}"; do
    if alive "$i"; then
      ctl "$i" cluster_status
      break
    fi
  done
  [ "$up" -eq 3 ]
}

urls() {
  local list=()
  for i in "${NODES[@]}"; do list+=("\"amqp://guest:guest@127.0.0.1:$((PORT + i - 1))/varsel\""); done
  local IFS=,
  echo "urls = [${list[*]}]"
}

others() { for j in "${NODES[@]}"; do [ "$j" = "$1" ] || echo "'$(name "$j")'"; done | paste -sd, -; }

isolate() {
  local i=$1
  say "isolating $(name "$i") from $(others "$i")"
  ctl "$i" eval "[erlang:set_cookie(N, varsel_isolated) || N <- [$(others "$i")]], \
    [erlang:disconnect_node(N) || N <- [$(others "$i")]], ok." >/dev/null
  for j in "${NODES[@]}"; do
    [ "$j" = "$i" ] && continue
    ctl "$j" eval "erlang:set_cookie('$(name "$i")', varsel_isolated_from_$j), \
      erlang:disconnect_node('$(name "$i")'), ok." >/dev/null
  done
}

heal() {
  local i=$1
  say "healing $(name "$i")"
  ctl "$i" eval "[erlang:set_cookie(N, erlang:get_cookie()) || N <- [$(others "$i")]], ok." >/dev/null
  for j in "${NODES[@]}"; do
    [ "$j" = "$i" ] && continue
    ctl "$j" eval "erlang:set_cookie('$(name "$i")', erlang:get_cookie()), ok." >/dev/null
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  urls) urls ;;
  ctl)
    node=${2:?usage: cluster.sh ctl NODE(1-3) ARGS...}
    [ -s "$DIR/.erlang.cookie" ] || { say "no cluster in $DIR (set VARSEL_CLUSTER_DIR)"; exit 1; }
    shift 2
    ctl "$node" "$@"
    ;;
  isolate | heal)
    node=${2:?usage: cluster.sh isolate|heal NODE(1-3)}
    [ -s "$DIR/.erlang.cookie" ] || { say "no cluster in $DIR (set VARSEL_CLUSTER_DIR)"; exit 1; }
    "$cmd" "$node"
    ;;
  *) say "usage: $0 start|stop|status|urls [DIR] | ctl NODE ARGS... | isolate|heal NODE"; exit 64 ;;
esac
