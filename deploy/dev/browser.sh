#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is installed for the dashboard's browser test
# (crates/varsel/tests/dashboard.rs), and its WebDriver server (Debian's `chromium-driver`,
# `chromedriver`) for the desk's browser test (crates/desk/tests/browser.rs). Installs Debian's `chromium` package when no Chromium is found. On Ubuntu,
# `chromium-browser` is only a wrapper around a snap, which does not run everywhere (containers
# without snapd); there the script says so and the test will report the browser as missing.
# Safe to run again: it only installs what is missing.
#
# Environment: VARSEL_CHROMIUM=/path/to/chromium skips the search and the installation.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf '[browser] %s\n' "$*" >&2; }

works() { "$1" --version >/dev/null 2>&1; }

find_chromium() {
  local c
  if [ -n "${VARSEL_CHROMIUM:-}" ]; then echo "$VARSEL_CHROMIUM"; return 0; fi
  for c in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$c" >/dev/null 2>&1 && works "$(command -v "$c")"; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

# The WebDriver server that drives Chromium for the desk's test; Debian packages it apart.
ensure_driver() {
  if command -v chromedriver >/dev/null 2>&1 || [ -n "${VARSEL_CHROMEDRIVER:-}" ]; then
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1 && apt-cache show chromium-driver >/dev/null 2>&1; then
    say "installing chromium-driver"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium-driver >/dev/null
  else
    say "no chromedriver found; install one matching Chromium and set VARSEL_CHROMEDRIVER"
    return 1
  fi
}

if found=$(find_chromium); then
  say "found $("$found" --version 2>/dev/null | head -n1) at $found"
  ensure_driver
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "no Chromium found and no apt-get to install one; install Chromium and set VARSEL_CHROMIUM"
  exit 1
fi

say "apt-get update"
$SUDO apt-get update -qq
# Read the policy into a variable first: `grep -q` stops reading at the first match, and under
# pipefail the writer's SIGPIPE would make the whole test fail.
policy=$(apt-cache policy chromium 2>/dev/null || true)
if apt-cache show chromium >/dev/null 2>&1 && grep -q 'Candidate: [0-9]' <<<"$policy"; then
  say "installing chromium"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
else
  # Ubuntu: the deb is a transitional package that installs the snap.
  say "this distribution has no chromium deb; trying chromium-browser (a snap on Ubuntu)"
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium-browser >/dev/null; then
    say "could not install Chromium. Install it by hand (e.g. 'snap install chromium' or Google"
    say "Chrome's .deb) and set VARSEL_CHROMIUM to its path; crates/varsel/tests/dashboard.rs needs it."
    exit 1
  fi
fi

if found=$(find_chromium); then
  say "installed $("$found" --version 2>/dev/null | head -n1) at $found"
  ensure_driver
else
  say "Chromium was installed but does not run here (a snap without snapd?)."
  say "Install a runnable Chromium and set VARSEL_CHROMIUM to its path."
  exit 1
fi
