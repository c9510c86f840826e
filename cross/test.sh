#!/usr/bin/env bash
# Tests the board builds under qemu-user (cross/setup.sh installs everything needed).
#
#   cross/test.sh [TARGET...]        default: aarch64 armv7 armv6 mipsel
#
# For every target: builds the release binary (cross/build.sh) and self-checks it under qemu
# on a CPU like the board's: --version, validation of zerotier-one's known-good identity
# (memory-hard hash, SHA-512, Salsa20) and rejection of the known-bad one, a new identity, a
# planet, and the daemon started on 127.0.0.1 until it logs "listening on udp" and then stopped
# cleanly with SIGTERM.
# For the targets in CROSS_SUITE_TARGETS (default "aarch64 armv7") it also runs the unit and
# simulation tests (`cargo test`) with the test binaries under qemu. tests/real_clients.rs is
# left out: it drives host network namespaces and libzt, which are not emulated.
set -euo pipefail
cd "$(dirname "$0")/.."
source cross/targets.sh

suite_targets=${CROSS_SUITE_TARGETS-aarch64 armv7}
# Test targets that need the host (network namespaces, libzt, a host ztcd binary to start,
# tmpfs mounts, chromium); never run under emulation.
host_only_tests=(real_clients real_controller real_flood real_backup real_roots store_crash remote_root admin_api admin_page backup loadgen admin_attacks udp_attacks faults)

# Drops the one harmless linker warning of build-std targets (zig is pointed at rustlib's
# target lib directory, which only a prebuilt std would create). Never fails: under pipefail the
# pipeline's status is the build's.
quiet_linker() {
  grep -v -e 'unable to open library directory "[^"]*/rustlib/' -e 'linker_messages' \
    -e 'generated 1 warning' -e '^ *|$' -e '^$' || true
}

say() { printf '\n--> %s\n' "$*"; }
fail() { echo "cross/test.sh: FAIL: $*" >&2; exit 1; }

# The qemu runner of TRIPLE from .cargo/config.toml, so the two never disagree.
runner_of() {
  awk -v sect="[target.$1]" '
    /^\[/ { in_sect = ($0 == sect) }
    in_sect && /^runner *=/ { sub(/^runner *= *"/, ""); sub(/".*$/, ""); print; exit }
  ' .cargo/config.toml
}

suite_args=(--lib --bins)
for f in tests/*.rs; do
  name=$(basename "$f" .rs)
  skip=0
  for h in "${host_only_tests[@]}"; do [ "$name" = "$h" ] && skip=1; done
  [ "$skip" = 1 ] || suite_args+=(--test "$name")
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
known_good=$(sed -n 's/^known_good=//p' tests/vectors/identities.txt)
known_bad=$(sed -n 's/^known_bad=//p' tests/vectors/identities.txt)
[ -n "$known_good" ] && [ -n "$known_bad" ] || fail "no known identities in tests/vectors/identities.txt"

tmp=$(mktemp -d)
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

selfcheck() {
  local triple=$1 bin=$2
  local runner
  runner=$(runner_of "$triple")
  [ -n "$runner" ] || fail "$triple: no runner in .cargo/config.toml"
  # shellcheck disable=SC2086 # the runner is a command with arguments
  run() { $runner "$bin" "$@"; }
  local home=$tmp/$triple out
  rm -rf "$home"
  mkdir -p "$home"

  out=$(run --version) || fail "$triple: --version"
  [ "$out" = "ztcd $version" ] || fail "$triple: --version printed '$out'"
  echo "$out"

  out=$(run identity validate "$known_good") || fail "$triple: known-good identity rejected"
  [ "$out" = "valid: ${known_good%%:*}" ] || fail "$triple: identity validate printed '$out'"
  echo "known-good identity: $out"
  if run identity validate "$known_bad" 2>/dev/null; then
    fail "$triple: known-bad identity accepted"
  fi
  echo "known-bad identity: rejected"

  out=$(run identity new --out "$home/identity.secret") || fail "$triple: identity new"
  out=$(run identity validate "$home/identity.secret") || fail "$triple: new identity invalid"
  echo "new identity: $out"

  out=$(run planet --home "$home" --endpoint 192.0.2.1/9993) || fail "$triple: planet"
  case "$out" in "planet created: "*) ;; *) fail "$triple: planet printed '$out'" ;; esac
  [ -s "$home/planet" ] || fail "$triple: no planet file"
  echo "${out%% (*}"

  local port=$((20000 + RANDOM % 20000)) log=$home/run.log
  local rc=0
  # shellcheck disable=SC2086
  daemon_smoke "$log" $runner "$bin" run --home "$home" --bind 127.0.0.1 --port "$port" || rc=$?
  if [ "$rc" = 1 ]; then cat "$log" >&2; fail "$triple: daemon did not start"; fi
  if [ "$rc" != 0 ]; then cat "$log" >&2; fail "$triple: daemon exited with an error after SIGTERM"; fi
  grep -q "stopping" "$log" || { cat "$log" >&2; fail "$triple: no clean stop"; }
  echo "daemon: listened on udp 127.0.0.1:$port, stopped cleanly on SIGTERM"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${BOARD_ALIASES[@]}")
summary=()
for t in "${targets[@]}"; do
  triple=$(board_triple "$t") || fail "unknown target $t"

  if [[ " $suite_targets " == *" $t "* || " $suite_targets " == *" $triple "* ]]; then
    say "$triple: cargo test under $(runner_of "$triple")"
    start=$SECONDS
    # Debug info makes linking the test binaries twice as slow and is not needed here.
    CARGO_PROFILE_DEV_DEBUG=false CARGO_PROFILE_TEST_DEBUG=false \
      board_cargo test "$triple" "${suite_args[@]}" 2>&1 | quiet_linker || fail "$triple: cargo test"
    summary+=("$triple: cargo test passed in $((SECONDS - start)) s")
  fi

  say "$triple: release build and self-check under $(runner_of "$triple")"
  start=$SECONDS
  cross/build.sh "$triple" 2>&1 | quiet_linker || fail "$triple: build"
  built=$((SECONDS - start))
  start=$SECONDS
  selfcheck "$triple" "target/boards/$triple/release/ztcd"
  summary+=("$triple: release build $built s, self-check passed in $((SECONDS - start)) s")
done

say "summary"
printf '%s\n' "${summary[@]}"
