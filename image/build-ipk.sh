#!/usr/bin/env bash
# Builds the OpenWrt package (.ipk, for opkg: OpenWrt 24.10 and earlier) of ztcd from a cross
# build.
#
#   image/build-ipk.sh TARGET [--arch OPENWRT_ARCH] [--no-build]
#
# TARGET   binary                           default OpenWrt arch (opkg refuses other archs)
# aarch64  aarch64-unknown-linux-musl       aarch64_cortex-a53 (MT798x, Pi 3; Pi 4: aarch64_cortex-a72)
# armv7    armv7-unknown-linux-musleabihf   arm_cortex-a7_neon-vfpv4 (IPQ40xx, sunxi, Pi 2)
# armv6    arm-unknown-linux-musleabihf     arm_arm1176jzf-s_vfp (Pi Zero/1)
# mipsel   mipsel-unknown-linux-musl        mipsel_24kc (MT7621, MT76x8)
# The binary is static, so the package depends on nothing; pick the arch your router's
# `opkg print-architecture` lists with --arch. The package holds /usr/bin/ztcd, the procd
# init script, /etc/config/ztcd (a conffile), a sysupgrade keep entry for the home, the
# backup script with its cron line and block hotplug hook, and the iface hotplug hook that
# reloads ztcd when its endpoint interface changes.
# An ipk is a gzipped tar of ./debian-binary, ./data.tar.gz and ./control.tar.gz.
# Output: target/packages/ztcd_<version>-r1_<arch>.ipk.
set -euo pipefail
cd "$(dirname "$0")/.."
source cross/targets.sh

usage() { echo "usage: image/build-ipk.sh aarch64|armv7|armv6|mipsel [--arch OPENWRT_ARCH] [--no-build]" >&2; exit 2; }
[ $# -ge 1 ] || usage
triple=$(board_triple "$1") || usage
shift
case "$triple" in
  aarch64-*) arch=aarch64_cortex-a53 ;;
  armv7-*) arch=arm_cortex-a7_neon-vfpv4 ;;
  arm-*) arch=arm_arm1176jzf-s_vfp ;;
  mipsel-*) arch=mipsel_24kc ;;
esac
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) usage ;;
  esac
done

[ "$build" = 0 ] || cross/build.sh "$triple" >&2
bin=target/boards/$triple/release/ztcd
[ -x "$bin" ] || { echo "image/build-ipk.sh: $bin missing (run cross/build.sh $triple)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
description=$(sed -n 's/^description = "\(.*\)"/\1/p' Cargo.toml | head -1)
license=$(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -1)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

work=$(mktemp -d)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
data=$work/data
control=$work/control
install -D -m 0755 "$bin" "$data/usr/bin/ztcd"
install -D -m 0755 board/openwrt/ztcd.init "$data/etc/init.d/ztcd"
install -D -m 0600 board/openwrt/ztcd.config "$data/etc/config/ztcd"
install -D -m 0644 board/openwrt/ztcd.keep "$data/lib/upgrade/keep.d/ztcd"
install -D -m 0755 board/openwrt/ztcd-backup "$data/usr/sbin/ztcd-backup"
install -D -m 0644 board/openwrt/ztcd.hotplug "$data/etc/hotplug.d/block/90-ztcd-backup"
install -D -m 0644 board/openwrt/ztcd.iface-hotplug "$data/etc/hotplug.d/iface/90-ztcd"
install -D -m 0644 board/openwrt/ztcd.cron "$data/usr/share/ztcd/ztcd.cron"

mkdir -p "$control"
chmod 0755 "$data" "$control"
cat >"$control/control" <<CONTROL
Package: ztcd
Version: $version-r1
Depends:
License: $license
Section: net
Architecture: $arch
Installed-Size: $(du -b -s "$data" | cut -f1)
Description: $description
 Statically linked ($triple).
CONTROL
printf '/etc/config/ztcd\n' >"$control/conffiles"
install -m 0755 image/ipk/postinst image/ipk/prerm "$control/"

pack() { # DIR OUT.tar.gz
  tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$1" -cf - . | gzip -9n >"$2"
}
pack "$data" "$work/data.tar.gz"
pack "$control" "$work/control.tar.gz"
echo 2.0 >"$work/debian-binary"
touch -d "@$epoch" "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"

mkdir -p target/packages
out=target/packages/ztcd_${version}-r1_${arch}.ipk
tar --format=gnu --owner=0 --group=0 --numeric-owner -C "$work" \
  -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -9n >"$out"
echo "$out"
