#!/usr/bin/env bash
# Creates a RabbitMQ virtual host (if missing) and lets the guest user (loopback only) use it.
# Usage: deploy/dev/vhost.sh NAME
set -euo pipefail
name=${1:?usage: vhost.sh NAME}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
vhosts=$($SUDO rabbitmqctl -q list_vhosts)
if ! grep -qx "$name" <<<"$vhosts"; then
  $SUDO rabbitmqctl -q add_vhost "$name"
fi
$SUDO rabbitmqctl -q set_permissions -p "$name" guest '.*' '.*' '.*'
