#!/usr/bin/env bash
# Quickstart, command 2: runs the whole test suite against real services. Installs, starts and
# configures RabbitMQ and PostgreSQL first (deploy/dev/services.sh); the tests create a RabbitMQ
# virtual host and a PostgreSQL database of their own each, and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/services.sh
# Headless Chromium for the dashboard's browser test (crates/varsel/tests/dashboard.rs).
deploy/dev/browser.sh
# Tools the suite checks varsel against from outside (OpenSSL reads the key files).
deploy/dev/tools.sh
export VARSEL_TEST_POSTGRES=${VARSEL_TEST_POSTGRES:-postgres://varsel:varsel@127.0.0.1:5432/postgres}
exec cargo test --no-fail-fast "$@"
