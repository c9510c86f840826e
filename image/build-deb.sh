#!/usr/bin/env bash
# Builds the Debian / Raspberry Pi OS package of ztcd from a cross build.
#
#   image/build-deb.sh ARCH [--no-build]
#
# ARCH   binary                                         for
# arm64  aarch64-unknown-linux-musl                     Pi 3/4/5 with the 64-bit OS
# armhf  arm-unknown-linux-musleabihf (ARMv6 + VFP)     every Pi with the 32-bit OS: Raspberry Pi
#                                                       OS armhf is built for ARMv6 (Zero/1) too
# The binary is static, so the package depends on nothing. It installs the systemd unit
# (enabled; started once /etc/default/ztcd has an --endpoint), the ztcd system user
# (sysusers.d) and /etc/default/ztcd as a conffile.
# Output: target/packages/ztcd_<version>-1_<arch>.deb. --no-build packages the existing
# target/boards/<triple>/release/ztcd.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: image/build-deb.sh arm64|armhf [--no-build]" >&2; exit 2; }
[ $# -ge 1 ] || usage
arch=$1
shift
build=1
[ "${1:-}" = --no-build ] && build=0
case "$arch" in
  arm64) triple=aarch64-unknown-linux-musl ;;
  armhf) triple=arm-unknown-linux-musleabihf ;;
  *) usage ;;
esac

[ "$build" = 0 ] || cross/build.sh "$triple" >&2
bin=target/boards/$triple/release/ztcd
[ -x "$bin" ] || { echo "image/build-deb.sh: $bin missing (run cross/build.sh $triple)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
description=$(sed -n 's/^description = "\(.*\)"/\1/p' Cargo.toml | head -1)
license=$(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -1)
maintainer=${DEB_MAINTAINER:-ztcd developers <ztcd@localhost>}

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/bin/ztcd"
install -D -m 0644 board/raspberrypi/ztcd.service "$root/lib/systemd/system/ztcd.service"
install -D -m 0644 board/raspberrypi/ztcd.sysusers "$root/usr/lib/sysusers.d/ztcd.conf"
install -D -m 0644 board/raspberrypi/ztcd.default "$root/etc/default/ztcd"
install -D -m 0644 board/raspberrypi/ztcd-backup.service "$root/lib/systemd/system/ztcd-backup.service"
install -D -m 0644 board/raspberrypi/ztcd-backup.timer "$root/lib/systemd/system/ztcd-backup.timer"
install -d -m 0755 "$root/usr/share/doc/ztcd"
cat >"$root/usr/share/doc/ztcd/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ztcd

Files: *
License: $license
COPYRIGHT
chmod 0644 "$root/usr/share/doc/ztcd/copyright"

install -d -m 0755 "$root/DEBIAN"
installed_kib=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: ztcd
Version: $version-1
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kib
Section: net
Priority: optional
Description: $description
 A ZeroTier-compatible root node run as one static daemon. ZeroTier clients
 (zerotier-one 1.8-1.14, libzt) use it as their planet. Statically linked
 (musl): no library dependencies.
CONTROL
printf '/etc/default/ztcd\n' >"$root/DEBIAN/conffiles"
install -m 0755 image/deb/postinst image/deb/prerm image/deb/postrm "$root/DEBIAN/"

mkdir -p target/packages
out=target/packages/ztcd_${version}-1_${arch}.deb
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
