#!/usr/bin/env bash
# Makes sure the services varsel's demo and test suite talk to are installed, running and
# configured on this machine (Debian or Ubuntu): RabbitMQ on 127.0.0.1:5672 and PostgreSQL on
# 127.0.0.1:5432. Installs from the distribution's packages only what is missing, starts what is
# not running (with systemd when it is there, directly otherwise), and creates the PostgreSQL role
# the tests use. Safe to run again: every step checks first.
#
# Environment: VARSEL_SERVICES="rabbitmq postgres" selects the services (default: both).
set -euo pipefail

services=${VARSEL_SERVICES:-"rabbitmq postgres"}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf '[services] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 tries=${3:-90}
  for _ in $(seq "$tries"); do
    if port_open "$port"; then return 0; fi
    sleep 1
  done
  say "$what did not start listening on 127.0.0.1:$port"
  return 1
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

ensure_rabbitmq() {
  if port_open 5672; then
    say "RabbitMQ is listening on 5672"
  else
    command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
    if port_open 5672; then :; elif have_systemd; then
      $SUDO systemctl start rabbitmq-server
    else
      say "starting rabbitmq-server -detached"
      $SUDO rabbitmq-server -detached
    fi
    wait_port 5672 RabbitMQ
  fi
  # The tests create a vhost per test with rabbitmqctl; check it answers now rather than later.
  $SUDO rabbitmqctl await_startup >/dev/null 2>&1 || $SUDO rabbitmqctl status >/dev/null
}

pg_cluster_start() {
  if have_systemd; then
    $SUDO systemctl start postgresql
  elif command -v pg_lsclusters >/dev/null 2>&1; then
    local v
    for v in $(ls /etc/postgresql 2>/dev/null); do
      say "starting PostgreSQL cluster $v/main"
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
  else
    $SUDO service postgresql start
  fi
}

psql_admin() {
  # As the postgres superuser over the local socket (peer auth on a fresh install).
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "psql -v ON_ERROR_STOP=1 -qAt -c \"$1\""
  else
    sudo -u postgres psql -v ON_ERROR_STOP=1 -qAt -c "$1"
  fi
}

ensure_postgres() {
  if port_open 5432; then
    say "PostgreSQL is listening on 5432"
  else
    command -v pg_ctlcluster >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || apt_install postgresql
    pg_cluster_start
    wait_port 5432 PostgreSQL
  fi
  # The role the tests connect as (password auth over TCP works with Debian's default
  # pg_hba.conf, which allows scram/md5 on 127.0.0.1).
  local role
  role=$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'varsel'")
  if ! grep -q 1 <<<"$role"; then
    say "creating PostgreSQL role varsel"
    psql_admin "CREATE ROLE varsel LOGIN PASSWORD 'varsel' CREATEDB"
  fi
}

for s in $services; do
  case "$s" in
    rabbitmq) ensure_rabbitmq ;;
    postgres) ensure_postgres ;;
    *) say "unknown service $s"; exit 64 ;;
  esac
done
say "ready: $services"
