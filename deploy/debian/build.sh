#!/usr/bin/env bash
# Builds the Debian package of the broker: target/debian/varsel_<version>-1_<arch>.deb.
# Installs what is missing first (dpkg-dev from Debian's packages, cargo-deb from crates.io),
# each within a time limit; builds the release binary; generates the man pages and the shell
# completions from it (`varsel man`, `varsel completions`); then packs the files listed in
# [package.metadata.deb] of crates/varsel/Cargo.toml. Install the result with
#   apt install ./target/debian/varsel_*.deb
#
# Environment: CARGO_TARGET_DIR (default target), CARGO_DEB_VERSION (default 3.8.0).
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
say() { printf '[debian] %s\n' "$*" >&2; }

if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
    say "installing dpkg-dev (dpkg-shlibdeps works out the package's library dependencies)"
    timeout 300 $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 \
        $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    version=${CARGO_DEB_VERSION:-3.8.0}
    say "installing cargo-deb $version (at most 20 minutes)"
    timeout 1200 cargo install --locked cargo-deb --version "$version"
fi

target=${CARGO_TARGET_DIR:-target}
say "building the release binary (at most 60 minutes)"
timeout 3600 cargo build --release --locked -p varsel

# Generated from the binary, so they describe exactly what is packed. cargo-deb reads them from
# target/release/deb/ (its name for the release directory, whatever CARGO_TARGET_DIR says).
assets="$target/release/deb"
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
bin="$target/release/varsel"
"$bin" man --dir "$assets/man"
"$bin" completions bash > "$assets/completions/varsel"
"$bin" completions zsh > "$assets/completions/_varsel"
"$bin" completions fish > "$assets/completions/varsel.fish"

say "packing"
timeout 600 cargo deb -p varsel --no-build --output "$target/debian/"
ls -1 "$target"/debian/varsel_*.deb
