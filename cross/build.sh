#!/usr/bin/env bash
# Builds the ztcd binary for a board target with cargo-zigbuild (cross/setup.sh installs it).
#
#   cross/build.sh TARGET [--profile P]
#
# TARGET is a Rust triple or its short name:
#   aarch64  aarch64-unknown-linux-musl       Pi 3/4/5 (64-bit OS), ARM64 routers    stable
#   armv7    armv7-unknown-linux-musleabihf   Pi 2, ARMv7 routers                    nightly -Zbuild-std
#   armv6    arm-unknown-linux-musleabihf     Pi Zero/1                              nightly -Zbuild-std
#   mipsel   mipsel-unknown-linux-musl        MT7621 routers                         nightly -Zbuild-std
# The profile defaults to release. All binaries are static (musl), so they run on any kernel
# and userland. The stripped copy goes to target/boards/<triple>/<profile>/ztcd and its size is
# printed. Per-target rustflags and qemu runners are in .cargo/config.toml.
#
# CROSS_NIGHTLY names the nightly toolchain (default: nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
source cross/targets.sh

usage() { echo "usage: cross/build.sh TARGET [--profile P]   (TARGET: ${BOARD_ALIASES[*]} or a triple)" >&2; exit 2; }
[ $# -ge 1 ] || usage
triple=$(board_triple "$1") || usage
shift
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || usage; profile=$2; shift 2 ;;
    --release) profile=release; shift ;;
    *) usage ;;
  esac
done

board_cargo zigbuild "$triple" --profile "$profile" --bin ztcd

out=target/$triple/$profile/ztcd
dist=target/boards/$triple/$profile
mkdir -p "$dist"
board_strip "$out" "$dist/ztcd"
printf '%s %s: %s bytes stripped (%s)\n' "$triple" "$profile" "$(stat -c %s "$dist/ztcd")" "$dist/ztcd"
