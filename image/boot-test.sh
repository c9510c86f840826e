#!/usr/bin/env bash
# Boots an emulated arm64 board with ztcd as its service and talks to it from the host.
#
#   image/boot-test.sh [--keep]
#
# The board: qemu-system-aarch64 -M virt (cortex-a53, 1 CPU, 256 MiB, no KVM needed), Debian's
# arm64 cloud kernel, and an initramfs holding busybox-static (arm64), the virtio network
# modules and the aarch64 musl ztcd (cross/build.sh aarch64). The kernel and busybox packages
# are fetched with `apt-get download` (arm64 added by cross/setup.sh) into
# /var/cache/ztcd-test/boot and unpacked with dpkg-deb, never installed. /init brings up eth0,
# runs `ztcd identity validate` on zerotier-one's known-good identity, makes the node's identity
# and starts `ztcd run` as a service that is restarted if it exits.
# The guest's UDP 9993 is forwarded to 127.0.0.1 only. From the host, tests/remote_root.rs sends
# a HELLO from a fresh identity and needs an authenticated OK(HELLO) back.
# The console log is kept in target/boot-test/console.log. --keep leaves the VM running.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
[ "${1:-}" = --keep ] && keep=1
cache=${ZTCD_BOOT_CACHE:-/var/cache/ztcd-test/boot}
out=target/boot-test
triple=aarch64-unknown-linux-musl
say() { printf 'boot-test: %s\n' "$*"; }
fail() { echo "image/boot-test.sh: FAIL: $*" >&2; exit 1; }

for tool in qemu-system-aarch64 cpio apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool missing: run cross/setup.sh"
done

# The kernel and busybox packages (arm64), downloaded once.
mkdir -p "$cache"
kernel_pkg=$(apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-cloud-arm64\):arm64$/\1/p' | head -1)
[ -n "$kernel_pkg" ] || fail "no arm64 package lists: run cross/setup.sh (adds arm64 to dpkg and apt-get update)"
for pkg in "$kernel_pkg" busybox-static; do
  if ! ls "$cache/${pkg}_"*_arm64.deb >/dev/null 2>&1; then
    say "downloading $pkg:arm64"
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg:arm64" >/dev/null)
  fi
done
kernel_deb=$(ls -t "$cache/${kernel_pkg}_"*_arm64.deb | head -1)
busybox_deb=$(ls -t "$cache/busybox-static_"*_arm64.deb | head -1)

cross/build.sh "$triple" >/dev/null 2>&1 || cross/build.sh "$triple"
ztcd=target/boards/$triple/release/ztcd
# The host side of the smoke test, built before the clock starts.
cargo test --quiet --test remote_root --no-run 2>/dev/null

work=$(mktemp -d)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && [ "$keep" = 0 ]; then kill "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- initramfs
unpack=$work/unpack
mkdir -p "$unpack"
dpkg-deb --fsys-tarfile "$kernel_deb" | tar -x -C "$unpack" --wildcards './boot/vmlinuz-*' \
  './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/net/virtio_net.ko' \
  './lib/modules/*/kernel/drivers/net/net_failover.ko' './lib/modules/*/kernel/net/core/failover.ko'
dpkg-deb --fsys-tarfile "$busybox_deb" | tar -x -C "$unpack" ./bin/busybox
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,lib/modules,var/lib/ztcd}
cp "$unpack/bin/busybox" "$root/bin/busybox"
cp "$ztcd" "$root/bin/ztcd"
modules=(virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net)
for m in "${modules[@]}"; do
  f=$(find "$unpack/lib/modules" -name "$m.ko" | head -1)
  [ -n "$f" ] || fail "module $m.ko not in $kernel_deb"
  cp "$f" "$root/lib/modules/"
done
sed -n 's/^known_good=//p' tests/vectors/identities.txt >"$root/etc/known_good"
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo "BOOT: /init at uptime \$(cut -d' ' -f1 /proc/uptime) s"
# Their dependency order differs between kernel updates (virtio needs virtio_ring in some,
# the reverse in others): retry until every module is in.
pending="${modules[*]}"
for pass in 1 2 3 4 5 6 7 8; do
  left=
  for m in \$pending; do insmod /lib/modules/\$m.ko 2>/dev/null || left="\$left \$m"; done
  pending=\$left
  [ -z "\$pending" ] && break
done
[ -z "\$pending" ] || echo "BOOT: could not load:\$pending"
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
ztcd --version
ztcd identity validate "\$(cat /etc/known_good)"
echo "BOOT: known-good identity check exit \$?"
# The node's identity, made before the service starts so that its public form reaches the
# console in one piece (the daemon's log lines would interleave with it).
ztcd identity new --out /var/lib/ztcd/identity.secret >/dev/null
echo "BOOT: identity.public \$(cat /var/lib/ztcd/identity.public)"
# The service: started at boot, restarted if it exits (procd respawn / Restart=always).
(
  while :; do
    ztcd run --home /var/lib/ztcd --endpoint 10.0.2.15/9993
    echo "BOOT: ztcd exited with \$?, restarting"
    sleep 1
  done
) &
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.cpio.gz"
kernel=$(ls "$unpack"/boot/vmlinuz-*)
say "kernel $(basename "$kernel"), busybox $(dpkg-deb -f "$busybox_deb" Version), initramfs $(stat -c %s "$work/initramfs.cpio.gz") bytes"


# --- boot
mkdir -p "$out"
log=$out/console.log
port=$((20000 + RANDOM % 20000))
start=$(date +%s.%N)
qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 1 -m 256 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" \
  -netdev "user,id=n0,hostfwd=udp:127.0.0.1:$port-:9993" -device virtio-net-pci,netdev=n0,romfile= \
  </dev/null >"$log" 2>&1 &
qemu_pid=$!
elapsed() { echo "$(date +%s.%N) $start" | awk '{ printf "%.1f", $1 - $2 }'; }

for _ in $(seq 600); do
  grep -q '^BOOT: identity.public' "$log" && grep -q 'listening on udp' "$log" && break
  kill -0 "$qemu_pid" 2>/dev/null || { cat "$log" >&2; fail "qemu exited"; }
  sleep 0.2
done
grep -q 'listening on udp' "$log" && grep -q '^BOOT: identity.public' "$log" ||
  { cat "$log" >&2; fail "ztcd did not start within 120 s"; }
booted=$(elapsed)
grep -q "^valid: $(cut -d: -f1 "$root/etc/known_good")" "$log" && grep -q '^BOOT: known-good identity check exit 0' "$log" ||
  { cat "$log" >&2; fail "known-good identity not valid in the guest"; }
identity=$(sed -n 's/^BOOT: identity.public \(.*\)$/\1/p' "$log" | tr -d '\r')
grep -E '^(ztcd |BOOT: /init|valid:|ztcd: info: (identity|planet|listening))' "$log" | tr -d '\r' | sed 's/^/  guest: /'
say "ztcd listening $booted s after qemu started"

# Keeps the test's verdict lines; never fails, so under pipefail the pipeline's status is cargo's.
verdict() { grep -E '^OK|panicked|FAIL|error' || true; }
if ! ZTCD_REMOTE=127.0.0.1:$port ZTCD_REMOTE_IDENTITY=$identity \
  cargo test --quiet --test remote_root -- --ignored --nocapture 2>&1 | verdict; then
  tail -20 "$log" >&2
  fail "no OK(HELLO) from the guest"
fi
say "OK(HELLO) received $(elapsed) s after qemu started"
if grep -q '^BOOT: ztcd exited' "$log"; then
  cat "$log" >&2
  fail "ztcd exited in the guest"
fi
if [ "$keep" = 1 ]; then
  say "VM left running: pid $qemu_pid, udp 127.0.0.1:$port, console $log"
fi
say "passed"
