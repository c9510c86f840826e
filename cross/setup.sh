#!/usr/bin/env bash
# One-time setup for the board builds, on Debian (bookworm) as root. Safe to run again: it
# only installs what is missing.
#
#   qemu-user            qemu-aarch64, qemu-arm, qemu-mipsel: the cargo runners in .cargo/config.toml
#   qemu-system-arm, cpio   image/boot-test.sh (an arm64 board booted under qemu-system-aarch64)
#   arm64 as a foreign dpkg architecture   so `apt-get download <pkg>:arm64` finds the boot
#                        test's kernel and busybox (downloaded, never installed)
#   ziglang, cargo-zigbuild (PyPI)   zig is the C toolchain and linker with musl for every target
#   rustup targets       aarch64-unknown-linux-musl has a prebuilt std on stable
#   nightly + rust-src   armv7/armv6 musl (where the mirror has no prebuilt std) and mipsel
#                        (tier 3) build std with -Zbuild-std
#
# Set CROSS_NO_APT=1 to skip the apt part (e.g. without root, with the tools already there).
set -euo pipefail

say() { printf 'cross/setup: %s\n' "$*"; }

if [ "${CROSS_NO_APT:-0}" != 1 ]; then
  need=()
  command -v qemu-aarch64 >/dev/null && command -v qemu-arm >/dev/null &&
    command -v qemu-mipsel >/dev/null || need+=(qemu-user)
  command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
  command -v cpio >/dev/null || need+=(cpio)
  command -v ar >/dev/null || need+=(binutils)
  command -v fakeroot >/dev/null || need+=(fakeroot)
  added_arch=0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    added_arch=1
  fi
  if [ "${#need[@]}" -gt 0 ] || [ "$added_arch" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
      say "need root to install ${need[*]:-} (or set CROSS_NO_APT=1)" >&2
      exit 1
    fi
    say "apt: ${need[*]:-(package lists for arm64)}"
    apt-get update -qq
    if [ "${#need[@]}" -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
  fi
fi

if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
  say "pip: ziglang cargo-zigbuild"
  python3 -m pip install --quiet ziglang cargo-zigbuild
  if command -v pyenv >/dev/null; then pyenv rehash; fi
fi
command -v cargo-zigbuild >/dev/null || {
  say "cargo-zigbuild was installed but is not on PATH (python3 -m pip show -f cargo-zigbuild)" >&2
  exit 1
}

rustup target list --installed | grep -qx aarch64-unknown-linux-musl ||
  rustup target add aarch64-unknown-linux-musl
# Where the rustup mirror has the prebuilt std for the ARM musl targets (everywhere but
# restricted mirrors), this makes cross/build.sh use stable for them; failure is fine.
for t in armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t" >/dev/null 2>&1 || true
done
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --installed --toolchain nightly | grep -q '^rust-src' ||
  rustup component add rust-src --toolchain nightly

say "ready: $(qemu-aarch64 --version | head -1); zig $(python3 -m ziglang version); $(cargo-zigbuild --version)"
