# shellcheck shell=bash disable=SC2034
# Shared by the cross/ and image/ scripts (sourced, not run): the board targets and how each
# one is built.

BOARD_ALIASES=(aarch64 armv7 armv6 mipsel)

# board_triple NAME: prints the Rust triple for a short name or a known triple.
board_triple() {
  case "$1" in
    aarch64 | aarch64-unknown-linux-musl) echo aarch64-unknown-linux-musl ;;
    armv7 | armv7-unknown-linux-musleabihf) echo armv7-unknown-linux-musleabihf ;;
    armv6 | arm | arm-unknown-linux-musleabihf) echo arm-unknown-linux-musleabihf ;;
    mipsel | mipsel-unknown-linux-musl) echo mipsel-unknown-linux-musl ;;
    *) return 1 ;;
  esac
}

# board_needs_build_std TRIPLE: whether std is built from source with nightly. aarch64 musl
# has a prebuilt std on stable. The ARM musl targets have one too on rustup's main server, but
# not on every mirror, so they use build-std like mipsel (tier 3, never prebuilt): one way that
# works everywhere.
board_needs_build_std() {
  [ "$1" != aarch64-unknown-linux-musl ]
}

# board_cargo SUBCOMMAND TRIPLE ARGS...: runs `cargo zigbuild` (SUBCOMMAND zigbuild) or
# `cargo-zigbuild test` (SUBCOMMAND test) for TRIPLE with the right toolchain and flags.
board_cargo() {
  local sub=$1 triple=$2
  shift 2
  if [ -n "${RUSTFLAGS:-}" ]; then
    echo "RUSTFLAGS is set and would replace the target rustflags in .cargo/config.toml; unset it" >&2
    return 2
  fi
  local toolchain=stable
  local extra=()
  if board_needs_build_std "$triple"; then
    toolchain=${CROSS_NIGHTLY:-nightly}
    extra=("-Zbuild-std=std,panic_abort")
  fi
  case "$sub" in
    zigbuild) RUSTUP_TOOLCHAIN=$toolchain cargo zigbuild --target "$triple" "${extra[@]}" "$@" ;;
    # `cargo zigbuild test` is not a thing: the test entry point is the cargo-zigbuild binary.
    test) RUSTUP_TOOLCHAIN=$toolchain cargo-zigbuild test --target "$triple" "${extra[@]}" "$@" ;;
    *) echo "board_cargo: unknown subcommand $sub" >&2; return 2 ;;
  esac
}

# board_strip IN OUT: writes a copy of IN without symbols to OUT. zig links without a symbol
# table already (file(1) says "stripped"); llvm-strip, where installed, drops a few hundred
# bytes more.
board_strip() {
  if command -v llvm-strip >/dev/null; then
    llvm-strip -o "$2" "$1"
  else
    cp "$1" "$2"
  fi
}

# Runs CMD... (a `ztcd run`) with its output in LOG until it logs "listening on udp", then stops
# it with SIGTERM. daemon_pid is set while it runs, for the caller's cleanup trap. Returns 1 if
# the daemon never listened, 2 if it did not exit 0 after SIGTERM; LOG says why.
daemon_smoke() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  daemon_pid=$!
  # Up to 120 s: a first start makes a new identity (memory-hard proof of work), which under
  # emulation on a loaded machine has been seen to take over 20 s.
  for _ in $(seq 600); do
    grep -q "listening on udp" "$log" && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q "listening on udp" "$log"; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    return 1
  fi
  kill -TERM "$daemon_pid"
  local status=0
  wait "$daemon_pid" || status=$?
  daemon_pid=
  [ "$status" = 0 ] || return 2
}
