#!/usr/bin/env bash
# Quickstart, command 2: runs the whole test suite against real services. Installs, starts and
# configures RabbitMQ and PostgreSQL first (deploy/dev/services.sh); the tests create a RabbitMQ
# virtual host and a PostgreSQL database of their own each, and remove them afterwards.
# Formatting is checked first (it takes a second). Clippy lints the workspace's own crates while
# they are compiled for the tests (see below); a lint does not hide the tests' results, and still
# fails the run.
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
# clippy-driver is what `cargo clippy` runs; as cargo's workspace wrapper it lints the workspace's
# crates while compiling them for real, so the dependencies are built once. A separate `cargo
# clippy` built all of them a second time in check mode (813 of its 1,162 CPU-seconds).
# CLIPPY_ARGS is how `cargo clippy` hands `-D warnings` to the driver; the driver declares it as an
# input of each crate, so a change of it recompiles the workspace's crates (never the others).
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
lints=0
CLIPPY_ARGS=-Dwarnings cargo test --workspace --all-targets --no-run --no-fail-fast || lints=$?
if [ "$lints" -eq 0 ]; then
  # The same settings as the build just made: nothing is compiled again.
  export CLIPPY_ARGS=-Dwarnings
else
  echo "test.sh: the build with lints as errors failed (above); the tests run with lints as warnings" >&2
fi
tests=0
if [ "$#" -gt 0 ]; then
  cargo test --no-fail-fast "$@" || tests=$?
else
  # Three groups. The cluster test (crates/varsel/tests/cluster.rs) runs three RabbitMQ nodes of
  # its own and spends most of its three minutes waiting for node faults to take effect, so it
  # runs beside the rest of the suite, its output printed when it ends. The fault tests
  # (faults.rs) stop the shared RabbitMQ, so they run alone, last.
  # Every command selects the whole workspace (then its targets), so cargo resolves the same
  # features as the build above and compiles nothing again.
  cluster=$(cargo test --workspace --test cluster --no-run 2>&1 | sed -n 's/^ *Executable tests\/cluster\.rs (\(.*\))$/\1/p')
  if [ -z "$cluster" ]; then
    echo "test.sh: the cluster test's executable was not found" >&2
    exit 1
  fi
  cluster_log=$(mktemp)
  (cd crates/varsel && CARGO_MANIFEST_DIR="$PWD" timeout --kill-after=30 1200 "../../$cluster") >"$cluster_log" 2>&1 &
  cluster_pid=$!
  rest=()
  for name in $(ls crates/*/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' | sort -u); do
    case "$name" in cluster | faults) ;; *) rest+=(--test "$name") ;; esac
  done
  echo "test.sh: tests start at ${SECONDS}s"
  cargo test --workspace --no-fail-fast --lib --bins "${rest[@]}" || tests=$?
  cargo test --workspace --no-fail-fast --doc || tests=$?
  echo "test.sh: the tests beside the cluster test ended at ${SECONDS}s"
  cluster_rc=0
  wait "$cluster_pid" || cluster_rc=$?
  echo "=== crates/varsel/tests/cluster.rs (ran beside the tests above; ended by ${SECONDS}s): exit $cluster_rc ==="
  cat "$cluster_log"
  rm -f "$cluster_log"
  if [ "$cluster_rc" -ne 0 ]; then tests=$cluster_rc; fi
  cargo test --workspace --no-fail-fast --test faults || tests=$?
  echo "test.sh: the fault tests ended at ${SECONDS}s"
fi
if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$lints"
