#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with Rust (run as root for the network
# namespace tests). Installs what the tests need, then runs:
#   formatting and lint checks, unit + integration tests (including the real-client tests
#   against libzt), the board builds under emulation (cross/test.sh), the board packages
#   (image/test-packages.sh), an emulated arm64 board booting ztcd (image/boot-test.sh), and a
#   short fuzz run of every fuzz target.
#
#   tests/run.sh            everything
#   FUZZ_SECONDS=0 tests/run.sh   skip the fuzz smoke run
#   BOARDS=0 tests/run.sh         skip the board builds, packages and boot test
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
BOARDS="${BOARDS:-1}"
step() { printf '\n==> %s\n' "$*"; }

step "installing test prerequisites"
need_apt=()
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v curl >/dev/null || need_apt+=(curl)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing packages (${need_apt[*]}) and not root: install them first" >&2
    exit 1
  fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The real-client harness: libzt 1.8.4 from PyPI, cached outside the repository.
tests/libzt/setup.sh >/dev/null
# The browser test of the LAN page: Debian's chromium and playwright-core from npm.
tests/browser/setup.sh >/dev/null
# Board builds: qemu-user/system, zig + cargo-zigbuild, nightly rust-src, arm64 package lists.
if [ "$BOARDS" != 0 ]; then
  cross/setup.sh >/tmp/ztcd-cross-setup.log 2>&1 || { cat /tmp/ztcd-cross-setup.log >&2; exit 1; }
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo test"
# Unit, integration and real-client tests (benchmarks are built by clippy above, run by hand).
TEST_LOG="$(mktemp)"
trap 'rm -f "$TEST_LOG"' EXIT
cargo test --lib --bins --tests 2>&1 | tee "$TEST_LOG"
passed=$(awk '/^test result:/ {s += $4} END {print s+0}' "$TEST_LOG")
failed=$(awk '/^test result:/ {s += $6} END {print s+0}' "$TEST_LOG")

if [ "$BOARDS" != 0 ]; then
  step "boards: cross builds, tests under qemu-user (cross/test.sh)"
  started=$SECONDS
  cross/test.sh
  echo "cross/test.sh: $((SECONDS - started)) s"

  step "boards: packages (image/test-packages.sh)"
  image/test-packages.sh

  step "boards: boot an emulated arm64 board (image/boot-test.sh)"
  image/boot-test.sh
fi

if [ "$FUZZ_SECONDS" != 0 ]; then
  step "fuzz smoke run (${FUZZ_SECONDS}s per target)"
  if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
  fi
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
  (
    cd fuzz
    for target in $(cargo +nightly fuzz list); do
      echo "fuzz target $target"
      cargo +nightly fuzz run "$target" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
        2>&1 | grep -E '^(Done|==|SUMMARY)|panicked|ERROR' || true
      if [ -d "artifacts/$target" ] && [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "fuzz target $target found a crash: fuzz/artifacts/$target" >&2
        exit 1
      fi
    done
  )
fi

step "all tests passed"
echo "tests: ${passed} passed, ${failed} failed"
