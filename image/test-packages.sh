#!/usr/bin/env bash
# Builds the board packages and checks them without a board:
#   .deb (arm64, armhf): metadata, conffiles, an install into a scratch root with dpkg --root
#     (maintainer scripts run against that root: ztcd user, enabled unit), file modes,
#     `systemd-analyze verify` of the unit, the packaged binary under qemu with the unit's
#     command line, then remove and purge.
#   .ipk (aarch64, armv7, armv6, mipsel): the opkg layout (gzipped tar of debian-binary,
#     data.tar.gz, control.tar.gz), control fields, file modes and owners, the packaged binary
#     under qemu, and the procd init script run against stand-ins for OpenWrt's shell
#     libraries: the command it gives procd for several /etc/config/ztcd variants, which is
#     then run (under qemu) to prove the daemon accepts every flag the script passes; its
#     reload (SIGHUP only to a daemon that catches it) and the iface hotplug hook.
#   image/test-packages.sh [--no-build]   (--no-build: package the binaries already built)
set -euo pipefail
cd "$(dirname "$0")/.."
source cross/targets.sh

build_flag=()
[ "${1:-}" = --no-build ] && build_flag=(--no-build)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

tmp=$(mktemp -d)
daemon_pid=
helper_pids=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  for p in $helper_pids; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "image/test-packages.sh: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }
runner_of() {
  awk -v sect="[target.$1]" '
    /^\[/ { in_sect = ($0 == sect) }
    in_sect && /^runner *=/ { sub(/^runner *= *"/, ""); sub(/".*$/, ""); print; exit }
  ' .cargo/config.toml
}
# mode_owner PATH: "0755 0:0"
mode_owner() { stat -c '%04a %u:%g' "$1"; }
expect_mode() { # PATH MODE [OWNER]
  local got
  got=$(mode_owner "$1")
  [ "$got" = "$2 ${3:-0:0}" ] || fail "$1: mode/owner $got, expected $2 ${3:-0:0}"
}

# Starts `RUNNER BIN ARGS...` (a `ztcd run`), waits for "listening on udp", stops it with SIGTERM.
run_daemon() {
  local log=$tmp/daemon.log rc=0
  daemon_smoke "$log" "$@" || rc=$?
  if [ "$rc" = 1 ]; then cat "$log" >&2; fail "daemon did not start: $*"; fi
  if [ "$rc" != 0 ]; then cat "$log" >&2; fail "daemon did not stop cleanly: $*"; fi
}

echo "==> .deb"
for arch in arm64 armhf; do
  deb=$(image/build-deb.sh "$arch" "${build_flag[@]}")
  echo "$deb"
  case "$arch" in
    arm64) triple=aarch64-unknown-linux-musl; machine="ARM aarch64" ;;
    armhf) triple=arm-unknown-linux-musleabihf; machine="ARM, EABI5" ;;
  esac
  field() { dpkg-deb -f "$deb" "$1"; }
  [ "$(field Package)" = ztcd ] || fail "$deb: Package"
  [ "$(field Version)" = "$version-1" ] || fail "$deb: Version $(field Version)"
  [ "$(field Architecture)" = "$arch" ] || fail "$deb: Architecture"
  [ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] || fail "$deb: Maintainer/Description"
  [[ "$(field Installed-Size)" =~ ^[0-9]+$ ]] || fail "$deb: Installed-Size"
  [ -z "$(field Depends)" ] || fail "$deb: a static binary should depend on nothing"
  ok "control: ztcd $version-1 $arch"

  root=$tmp/deb-$arch
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
  dpkg_root() { dpkg --root="$root" --force-script-chrootless --force-architecture --log=/dev/null "$@"; }
  dpkg_root -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "$deb: dpkg -i"; }
  dpkg_root -s ztcd | grep -qx 'Status: install ok installed' || fail "$deb: not installed"
  [ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}' ztcd | awk 'NF {print $1}')" = /etc/default/ztcd ] ||
    fail "$deb: conffiles"
  ok "installed into a scratch root; conffile /etc/default/ztcd"
  expect_mode "$root/usr/bin/ztcd" 0755
  expect_mode "$root/lib/systemd/system/ztcd.service" 0644
  expect_mode "$root/usr/lib/sysusers.d/ztcd.conf" 0644
  expect_mode "$root/etc/default/ztcd" 0644
  expect_mode "$root/lib/systemd/system/ztcd-backup.service" 0644
  expect_mode "$root/lib/systemd/system/ztcd-backup.timer" 0644
  file "$root/usr/bin/ztcd" | grep -q "$machine.*statically linked" || fail "$deb: binary: $(file "$root/usr/bin/ztcd")"
  ok "files and modes; $(file -b "$root/usr/bin/ztcd" | cut -d, -f1-2), static"
  grep -q '^ztcd:x:[0-9]*:[0-9]*:.*:/var/lib/ztcd:/usr/sbin/nologin$' "$root/etc/passwd" || fail "$deb: no ztcd user"
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/ztcd.service")" = /lib/systemd/system/ztcd.service ] ||
    fail "$deb: unit not enabled"
  ok "postinst: ztcd system user, unit enabled"

  unit=$root/lib/systemd/system/ztcd.service
  # shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
  for key in Restart=always User=ztcd ProtectSystem=strict ReadWritePaths=/var/lib/ztcd \
    NoNewPrivileges=yes StateDirectory=ztcd 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qx "$key" "$unit" || fail "unit lacks $key"
  done
  if command -v systemd-analyze >/dev/null; then
    # verify resolves the unit's dependencies (multi-user.target, ...) inside --root.
    cp -an /lib/systemd/system/. "$root/lib/systemd/system/" 2>/dev/null || true
    # ... and the commands it runs: ExecReload's /bin/kill (procps, on every Raspberry Pi OS).
    [ -e "$root/bin/kill" ] || install -D -m 0755 /bin/kill "$root/bin/kill"
    systemd-analyze verify --root="$root" ztcd.service || fail "systemd-analyze verify"
    systemd-analyze verify --root="$root" ztcd-backup.service ztcd-backup.timer ||
      fail "systemd-analyze verify (backup units)"
    exposure=$(systemd-analyze security --offline=yes --root="$root" ztcd.service 2>/dev/null |
      sed -n 's/.*Overall exposure level for ztcd.service: \([0-9.]*\).*/\1/p')
    ok "systemd-analyze verify passed; security exposure $exposure"
  fi

  # The unit's command line with the default /etc/default/ztcd, plus an endpoint.
  runner=$(runner_of "$triple")
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  # shellcheck disable=SC1090
  ZTCD_ARGS=$(. "$root/etc/default/ztcd"; echo "$ZTCD_ARGS")
  read -r -a argv <<<"${exec_start//\$ZTCD_ARGS/$ZTCD_ARGS}"
  [ "${argv[0]}" = /usr/bin/ztcd ] || fail "ExecStart: ${argv[0]}"
  home=$tmp/home-$arch
  argv=("${argv[@]/\/var\/lib\/ztcd/$home}")
  port=$((20000 + RANDOM % 20000))
  argv=("${argv[@]/9993/$port}")
  # shellcheck disable=SC2086
  run_daemon $runner "$root/usr/bin/ztcd" "${argv[@]:1}" --bind 127.0.0.1 --endpoint 192.0.2.1/9993
  ok "packaged binary runs the unit's command line under $runner"

  dpkg_root -r ztcd >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "$deb: dpkg -r"; }
  [ ! -e "$root/usr/bin/ztcd" ] && [ -e "$root/etc/default/ztcd" ] || fail "$deb: remove"
  [ ! -e "$root/etc/systemd/system/multi-user.target.wants/ztcd.service" ] || fail "$deb: still enabled after remove"
  dpkg_root -P ztcd >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "$deb: dpkg -P"; }
  [ ! -e "$root/etc/default/ztcd" ] || fail "$deb: conffile left after purge"
  ok "remove (conffile kept), purge (conffile gone)"
done

# --- OpenWrt --------------------------------------------------------------------------------

# Stand-ins for the parts of OpenWrt's /lib/functions.sh, procd.sh and network.sh that
# ztcd.init uses, with a tiny reader for /etc/config/ztcd's 'main' section.
cat >"$tmp/openwrt-stubs.sh" <<'STUBS'
UCI_FILE=${UCI_FILE:?}
PROCD_OUT=${PROCD_OUT:?}
config_load() { :; } # config_get reads $UCI_FILE directly
# config_get VAR SECTION OPTION [DEFAULT]: lists come back space-separated, like OpenWrt's.
config_get() {
  local v
  v=$(awk -v opt="$3" '
    $1 == "config" { sect = $3; gsub(/\047/, "", sect); next }
    sect == "main" && ($1 == "option" || $1 == "list") && $2 == opt {
      $1 = ""; $2 = ""; v = $0; sub(/^ +/, "", v); gsub(/\047/, "", v); out = out (out == "" ? "" : " ") v
    }
    END { print out }' "$UCI_FILE")
  [ -n "$v" ] || v=${4:-}
  eval "$1=\$v"
}
config_get_bool() {
  local _b
  config_get _b "$2" "$3" "$4"
  case "$_b" in 1|on|true|yes|enabled) _b=1 ;; *) _b=0 ;; esac
  eval "$1=\$_b"
}
config_list_foreach() {
  local sect=$1 opt=$2 fn=$3 v
  shift 3
  awk -v opt="$opt" '
    $1 == "config" { sect = $3; gsub(/\047/, "", sect); next }
    sect == "main" && $1 == "list" && $2 == opt { $1 = ""; $2 = ""; v = $0; sub(/^ +/, "", v); gsub(/\047/, "", v); print v }
  ' "$UCI_FILE" >"$PROCD_OUT.list"
  while IFS= read -r v; do "$fn" "$v" "$@"; done <"$PROCD_OUT.list"
}
procd_open_instance() { : >"$PROCD_OUT"; }
procd_set_param() {
  local p=$1; shift
  [ "$p" = command ] && printf '%s\n' "$@" >"$PROCD_OUT" || printf '%s %s\n' "$p" "$*" >>"$PROCD_OUT.params"
}
procd_append_param() { shift; printf '%s\n' "$@" >>"$PROCD_OUT"; }
procd_close_instance() { echo closed >>"$PROCD_OUT.params"; }
logger() { echo "logger: $*" >>"$PROCD_OUT.log"; }
network_flush_cache() { :; }
network_get_ipaddr() { [ -n "${STUB_WAN_IP:-}" ] && eval "$1=\$STUB_WAN_IP"; }
network_get_device() { [ -n "${STUB_WAN_DEV:-}" ] && eval "$1=\$STUB_WAN_DEV"; }
STUBS
# `. /lib/functions/network.sh` in the init script: point it at nothing; procd's pid file in
# scratch space.
sed -e 's|^\t\t\. /lib/functions/network.sh$|\t\t:|' -e "s|^PIDFILE=.*|PIDFILE=$tmp/ztcd.pid|" \
  board/openwrt/ztcd.init >"$tmp/ztcd.init"
grep -qx "PIDFILE=$tmp/ztcd.pid" "$tmp/ztcd.init" || fail "ztcd.init: no PIDFILE"
grep -q '^USE_PROCD=1$' board/openwrt/ztcd.init && head -1 board/openwrt/ztcd.init | grep -qx '#!/bin/sh /etc/rc.common' ||
  fail "ztcd.init: not an rc.common procd script"

# init_command UCI_FILE [WAN_IP [WAN_DEVICE]]: the argv (one per line) ztcd.init gives procd;
# empty if it declines to start.
init_command() {
  local out=$tmp/procd
  rm -f "$out" "$out.params" "$out.log" "$out.list"
  UCI_FILE=$1 PROCD_OUT=$out STUB_WAN_IP=${2:-} STUB_WAN_DEV=${3:-} sh -c '
    . "$0"; . "$1"; start_service' "$tmp/openwrt-stubs.sh" "$tmp/ztcd.init" >/dev/null
  [ -f "$out" ] && cat "$out"
  return 0
}

echo "==> .ipk"
for target in aarch64 armv7 armv6 mipsel; do
  ipk=$(image/build-ipk.sh "$target" "${build_flag[@]}")
  echo "$ipk"
  triple=$(board_triple "$target")
  arch=$(basename "$ipk" .ipk)
  arch=${arch#ztcd_"$version"-r1_}
  x=$tmp/ipk-$target
  mkdir -p "$x/outer" "$x/control" "$x/data"
  gzip -t "$ipk" || fail "$ipk: not gzip"
  [ "$(tar -tzf "$ipk" | tr '\n' ' ')" = "./debian-binary ./data.tar.gz ./control.tar.gz " ] ||
    fail "$ipk: members $(tar -tzf "$ipk" | tr '\n' ' ')"
  tar -xzf "$ipk" -C "$x/outer"
  [ "$(cat "$x/outer/debian-binary")" = 2.0 ] || fail "$ipk: debian-binary"
  tar -xzf "$x/outer/control.tar.gz" -C "$x/control"
  tar --same-owner -xzpf "$x/outer/data.tar.gz" -C "$x/data"
  ok "layout: gzipped tar of debian-binary 2.0, data.tar.gz, control.tar.gz"
  c=$x/control/control
  [ "$(sed -n 's/^Package: //p' "$c")" = ztcd ] || fail "$ipk: Package"
  [ "$(sed -n 's/^Version: //p' "$c")" = "$version-r1" ] || fail "$ipk: Version"
  [ "$(sed -n 's/^Architecture: //p' "$c")" = "$arch" ] || fail "$ipk: Architecture"
  [ "$(sed -n 's/^Installed-Size: //p' "$c")" -gt 100000 ] || fail "$ipk: Installed-Size"
  grep -q '^Description: .' "$c" || fail "$ipk: Description"
  [ "$(cat "$x/control/conffiles")" = /etc/config/ztcd ] || fail "$ipk: conffiles"
  expect_mode "$x/control/postinst" 0755
  expect_mode "$x/control/prerm" 0755
  grep -q 'default_postinst' "$x/control/postinst" && grep -q 'default_prerm' "$x/control/prerm" ||
    fail "$ipk: maintainer scripts"
  ok "control: ztcd $version-r1 $arch, conffile /etc/config/ztcd, postinst/prerm"
  tar -tvzf "$x/outer/data.tar.gz" | awk '$2 != "0/0" { exit 1 }' || fail "$ipk: files not owned by 0/0"
  expect_mode "$x/data" 0755
  expect_mode "$x/data/usr/bin/ztcd" 0755
  expect_mode "$x/data/etc/init.d/ztcd" 0755
  expect_mode "$x/data/etc/config/ztcd" 0600
  expect_mode "$x/data/lib/upgrade/keep.d/ztcd" 0644
  expect_mode "$x/data/usr/sbin/ztcd-backup" 0755
  expect_mode "$x/data/etc/hotplug.d/block/90-ztcd-backup" 0644
  expect_mode "$x/data/etc/hotplug.d/iface/90-ztcd" 0644
  expect_mode "$x/data/usr/share/ztcd/ztcd.cron" 0644
  [ "$(find "$x/data" -type f | sed "s|^$x/data||" | sort | tr '\n' ' ')" = \
    "/etc/config/ztcd /etc/hotplug.d/block/90-ztcd-backup /etc/hotplug.d/iface/90-ztcd /etc/init.d/ztcd /lib/upgrade/keep.d/ztcd /usr/bin/ztcd /usr/sbin/ztcd-backup /usr/share/ztcd/ztcd.cron " ] ||
    fail "$ipk: file list"
  cmp -s "$x/data/etc/init.d/ztcd" board/openwrt/ztcd.init || fail "$ipk: init script differs"
  cmp -s "$x/data/etc/hotplug.d/iface/90-ztcd" board/openwrt/ztcd.iface-hotplug || fail "$ipk: iface hotplug hook differs"
  runner=$(runner_of "$triple")
  # shellcheck disable=SC2086
  [ "$($runner "$x/data/usr/bin/ztcd" --version)" = "ztcd $version" ] || fail "$ipk: binary does not run under $runner"
  ok "data: /usr/bin/ztcd (runs under $runner), init script, UCI config, sysupgrade keep, hotplug hooks; root-owned"
done

echo "==> OpenWrt init script (ztcd.init) against the UCI config"
# Every variant keeps its home in scratch space: start_service creates it.
sed "s|option home '/etc/ztcd'|option home '$tmp/owrt-home'|" board/openwrt/ztcd.config >"$tmp/uci"
grep -q "option home '$tmp/owrt-home'" "$tmp/uci" || fail "ztcd.config: no home option"
cmd=$(init_command "$tmp/uci")
[ -z "$cmd" ] || fail "ztcd.init started ztcd without an endpoint"
grep -q "not started: set" "$tmp/procd.log" || fail "ztcd.init: no hint when not started"
ok "shipped config (no endpoint yet): not started, hint logged"

sed -e "s|#list endpoint '203.0.113.7/9993'|list endpoint '203.0.113.7/9993'\n\tlist endpoint 'router.example.net/9993'|" \
  -e "s|#list bind '0.0.0.0'|list bind '127.0.0.1'|" -e "s|option log_level 'info'|option log_level 'debug'|" \
  "$tmp/uci" >"$tmp/uci-endpoints"
expected="/usr/bin/ztcd run --home $tmp/owrt-home --port 9993 --log-level debug --bind 127.0.0.1 --endpoint 203.0.113.7/9993 --endpoint router.example.net/9993 --admin-port 9993 --memory-budget 128 --admin-allow 192.168.1.0/24 --admin-host openwrt.lan"
cmd=$(init_command "$tmp/uci-endpoints" | tr '\n' ' ')
[ "$cmd" = "$expected " ] || fail "ztcd.init command: $cmd"
grep -qx 'respawn 3600 5 0' "$tmp/procd.params" || fail "ztcd.init: no respawn"
[ "$(stat -c %a "$tmp/owrt-home")" = 700 ] || fail "ztcd.init: home not 0700"
ok "endpoints, bind, log level, respawn, home 0700: ${cmd/$tmp/...}"

sed -e "s|#option endpoint_interface 'wan'|option endpoint_interface 'wan'|" -e "s|option port '9993'|option port '9994'|" \
  "$tmp/uci" >"$tmp/uci-wan"
cmd=$(init_command "$tmp/uci-wan" 198.51.100.4 pppoe-wan | tr '\n' ' ')
# (The stub gives every interface that address, so the admin page binds it too.)
[ "$cmd" = "/usr/bin/ztcd run --home $tmp/owrt-home --port 9994 --log-level info --endpoint-from-interface pppoe-wan --admin-port 9993 --memory-budget 128 --admin-bind 198.51.100.4 --admin-allow 192.168.1.0/24 --admin-host openwrt.lan " ] ||
  fail "ztcd.init command (endpoint_interface): $cmd"
ok "endpoints from the WAN interface's device: ${cmd/$tmp/...}"
rm -f "$tmp/owrt-home/planet"
[ -z "$(init_command "$tmp/uci-wan")" ] || fail "ztcd.init started ztcd with neither an endpoint, a planet nor the WAN's device"
grep -q "not started: no planet yet and interface wan is not up" "$tmp/procd.log" || fail "ztcd.init: no hint when the WAN is down"
echo planet >"$tmp/owrt-home/planet"
cmd=$(init_command "$tmp/uci-wan" | tr '\n' ' ')
rm -f "$tmp/owrt-home/planet"
[ -n "$cmd" ] && [[ "$cmd" != *--endpoint-from-interface* ]] || fail "ztcd.init, WAN down, planet present: $cmd"
grep -q "interface wan is not up yet" "$tmp/procd.log" || fail "ztcd.init: WAN down not logged"
ok "WAN not up: not started without a planet, started on the planet's endpoints with one"
sed -e "s|#option resolve_interval '60'|option resolve_interval '30'|" \
  -e "s|#list root '0123456789:0:PUBLICKEYHEX@198.51.100.20/9993'|list root 'aaaaaaaaaa:0:ab@198.51.100.20/9993'\n\tlist root 'bbbbbbbbbb:0:cd@198.51.100.21/9993,2001:db8::21/9993'|" \
  "$tmp/uci-endpoints" >"$tmp/uci-roots"
init_command "$tmp/uci-roots" | tr '\n' ' ' |
  grep -qF -- "--endpoint router.example.net/9993 --resolve-interval 30 --root aaaaaaaaaa:0:ab@198.51.100.20/9993 --root bbbbbbbbbb:0:cd@198.51.100.21/9993,2001:db8::21/9993 --admin-port" ||
  fail "ztcd.init: resolve_interval / list root not passed: $(init_command "$tmp/uci-roots" | tr '\n' ' ')"
ok "resolve_interval as --resolve-interval, each 'list root' as --root"

# reload: start (procd restarts ztcd only if its command line changed), then SIGHUP only to a
# daemon that catches it (one still starting would be ended by it).
reload_run() {
  local out=$tmp/procd
  rm -f "$out.reload"
  UCI_FILE=$tmp/uci-endpoints PROCD_OUT=$out sh -c '
    . "$0"; . "$1"
    start() { echo start >>"$PROCD_OUT.reload"; }
    procd_send_signal() { echo "signal $*" >>"$PROCD_OUT.reload"; }
    reload_service' "$tmp/openwrt-stubs.sh" "$tmp/ztcd.init" >/dev/null
  tr '\n' ' ' <"$out.reload"
}
# A process with a SIGHUP handler. (A shell's `trap` cannot catch a signal that was ignored
# when it started, as under nohup; a handler installed by sigaction can.)
python3 -c 'import pathlib, signal, sys, time
signal.signal(signal.SIGHUP, lambda *_: None)
pathlib.Path(sys.argv[1]).touch()
time.sleep(600)' "$tmp/catcher-up" &
catcher=$!
sleep 600 &
starting=$!
helper_pids="$catcher $starting"
for _ in $(seq 200); do [ -e "$tmp/catcher-up" ] && break; sleep 0.1; done
rm -f "$tmp/ztcd.pid"
[ "$(reload_run)" = "start " ] || fail "ztcd.init reload without a pid file: $(reload_run)"
echo "$starting" >"$tmp/ztcd.pid"
[ "$(reload_run)" = "start " ] || fail "ztcd.init reload signalled a process without a SIGHUP handler"
echo "$catcher" >"$tmp/ztcd.pid"
[ "$(reload_run)" = "start signal ztcd * HUP " ] || fail "ztcd.init reload: $(reload_run)"
kill "$catcher" "$starting" 2>/dev/null || true
helper_pids=
ok "reload: start, then SIGHUP only to a running ztcd that catches it"

# The iface hotplug hook: reload on ifup/ifupdate of the endpoint interface or another on its
# device (wan6), only when the init script is enabled.
sed -e 's|^\t\. /lib/functions/network.sh$|\t:|' -e "s|/etc/init.d/ztcd|$tmp/initd-ztcd|g" \
  board/openwrt/ztcd.iface-hotplug >"$tmp/iface-hook"
cat >"$tmp/initd-ztcd" <<'INITD'
#!/bin/sh
[ "$1" = enabled ] && { [ -n "${STUB_ENABLED:-}" ]; exit; }
echo "$1" >>"${PROCD_OUT:?}.hook"
INITD
chmod 0755 "$tmp/initd-ztcd"
hook_run() { # ACTION INTERFACE DEVICE ENDPOINT_INTERFACE ENABLED
  rm -f "$tmp/procd.hook"
  ACTION=$1 INTERFACE=$2 DEVICE=$3 STUB_UCI=$4 STUB_ENABLED=$5 STUB_WAN_DEV=eth1 UCI_FILE=/dev/null \
    PROCD_OUT=$tmp/procd sh -c '
    uci() { [ "$*" = "-q get ztcd.main.endpoint_interface" ] && [ -n "$STUB_UCI" ] && echo "$STUB_UCI"; }
    . "$0"; . "$1"' "$tmp/openwrt-stubs.sh" "$tmp/iface-hook" >/dev/null 2>&1 || true
  cat "$tmp/procd.hook" 2>/dev/null || true
}
[ "$(hook_run ifup wan eth1 wan 1)" = reload ] || fail "iface hook: no reload on ifup of the endpoint interface"
[ "$(hook_run ifupdate wan eth1 wan 1)" = reload ] || fail "iface hook: no reload on ifupdate"
[ "$(hook_run ifup wan6 eth1 wan 1)" = reload ] || fail "iface hook: no reload for wan6 on the WAN's device"
[ -z "$(hook_run ifdown wan eth1 wan 1)" ] || fail "iface hook: reload on ifdown"
[ -z "$(hook_run ifup lan br-lan wan 1)" ] || fail "iface hook: reload for another interface"
[ -z "$(hook_run ifup wan eth1 '' 1)" ] || fail "iface hook: reload without endpoint_interface"
[ -z "$(hook_run ifup wan eth1 wan '')" ] || fail "iface hook: reload while the service is disabled"
ok "iface hotplug hook: reload on ifup/ifupdate of the endpoint interface's device, only when enabled"
sed "s|option enabled '1'|option enabled '0'|" "$tmp/uci-endpoints" >"$tmp/uci-off"
[ -z "$(init_command "$tmp/uci-off")" ] || fail "ztcd.init: started while disabled"
ok "enabled '0': not started"
sed -e "s|#option backup_target '/mnt/sda1/ztcd-backups'|option backup_target '/mnt/sda1/ztcd-backups'|" "$tmp/uci-endpoints" >"$tmp/uci-backup"
init_command "$tmp/uci-backup" | tr '\n' ' ' | grep -q -- "--backup-to /mnt/sda1/ztcd-backups --backup-keep 7 $" ||
  fail "ztcd.init: backup_target not passed as --backup-to"
ok "backup_target: the page's backup button writes there"

# The daemon accepts exactly what the init script passes (port moved to a free one).
port=$((20000 + RANDOM % 20000))
sed -e "s|option port '9993'|option port '$port'|" -e "s|option admin_port '9993'|option admin_port '$port'|" \
  -e "s|list endpoint 'router.example.net/9993'|list endpoint '192.0.2.7/9993'|" \
  -e "s|#option resolve_interval '60'|option resolve_interval '30'|" "$tmp/uci-endpoints" >"$tmp/uci-run"
mapfile -t argv < <(init_command "$tmp/uci-run")
[ "${#argv[@]}" -gt 2 ] || fail "ztcd.init gave no command"
runner=$(runner_of mipsel-unknown-linux-musl)
# shellcheck disable=SC2086
run_daemon $runner "$tmp/ipk-mipsel/data/usr/bin/ztcd" "${argv[@]:1}"
ok "the mipsel package's ztcd runs the init script's command line under $runner"
echo "==> packages OK"
