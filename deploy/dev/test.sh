#!/usr/bin/env bash
# Quickstart, command 2: runs the whole test suite against real services. Installs, starts and
# configures RabbitMQ and PostgreSQL first (deploy/dev/services.sh); the tests create a RabbitMQ
# virtual host and a PostgreSQL database of their own each, and remove them afterwards.
# Formatting is checked first (it takes a second); clippy runs after the tests, so a lint does
# not hide their results, and still fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/services.sh
# Headless Chromium for the dashboard's browser test (crates/varsel/tests/dashboard.rs), and
# chromedriver for the desk's (crates/desk/tests/browser.rs, school.rs) and the demo's desks
# (crates/varsel/tests/demo_desk.rs).
deploy/dev/browser.sh
# promtool and an OpenMetrics parser for the metrics and alerting-rule tests (tests/prometheus.rs).
deploy/dev/metrics-linters.sh
# axe-core for the desk's accessibility check (crates/desk/tests/browser.rs).
deploy/dev/accessibility.sh
# Tools the suite checks varsel against from outside (OpenSSL reads the key files).
deploy/dev/tools.sh
# pyhpke, which opens the published wire-format test vectors (tests/offline.rs).
deploy/dev/interop.sh
export VARSEL_TEST_POSTGRES=${VARSEL_TEST_POSTGRES:-postgres://varsel:varsel@127.0.0.1:5432/postgres}
# rustup's minimal profile has neither rustfmt nor clippy.
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    component=$([ "$tool" = fmt ] && echo rustfmt || echo clippy)
    timeout 300 rustup component add "$component"
  fi
done
cargo fmt --all --check
tests=0
cargo test --no-fail-fast "$@" || tests=$?
lints=0
cargo clippy --workspace --all-targets -- -D warnings || lints=$?
if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$lints"
