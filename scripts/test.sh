#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, then checks formatting, lints and
# runs every test. The README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
# rustfmt and clippy ship with rustup's default profile; add them when a minimal profile left them out.
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

# The tests start their own redis-server processes on free ports; install the binary when it is missing.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is missing: installing it with apt-get" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

# The moderator page's browser test drives headless Chromium through chromedriver; install both when
# missing. Where they cannot be installed the test is skipped, and this says so (never silently).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "chromium or chromedriver is missing: installing them with apt-get" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
    export SARING_SKIP_BROWSER="chromium and chromium-driver could not be installed with apt-get"
    echo "WARNING: $SARING_SKIP_BROWSER; the browser test (tests/it/browser.rs) will be SKIPPED" >&2
  fi
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
