#!/usr/bin/env bash
# Self-test of the libzt harness without ztcd (needs root for netns).
#
# Two network namespaces joined by a veth pair; node A (10.77.0.1) is the
# only root of a planet signed by libzt itself, node B (10.77.0.2) uses that
# planet.  Both join a controller-less ad-hoc network (ff0000ffff000000), so
# no controller is needed, and B sends a message over TCP to A's 6plane
# address and expects it echoed back.  Nothing leaves the namespaces.
#
#   tests/libzt/selftest.sh     (run tests/libzt/setup.sh first)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
Z="$HERE/zt.py"
# libzt never binds interfaces named lo*, zt*, tun*, tap*: keep veth names clear of those.
TAG="vzh$$"
A="${TAG}a"; B="${TAG}b"
WORK="$(mktemp -d /tmp/ztselftest.XXXXXX)"
NW=ff0000ffff000000

cleanup() {
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

python3 "$Z" id-new >"$WORK/idA.json"
python3 "$Z" mkplanet --out "$WORK/planet" --id 4242 --ts 1 \
  --root "$(jget "$WORK/idA.json" public)@10.77.0.1/9993" >/dev/null
python3 "$Z" planet-info "$WORK/planet" >/dev/null
AIP="$(python3 "$Z" addr "$NW" "$(jget "$WORK/idA.json" address)" >"$WORK/addr.json" && jget "$WORK/addr.json" 6plane)"

ip netns add "$A"; ip netns add "$B"
ip link add "${TAG}va" type veth peer name "${TAG}vb"
ip link set "${TAG}va" netns "$A"; ip link set "${TAG}vb" netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev "${TAG}va"
ip -n "$B" addr add 10.77.0.2/24 dev "${TAG}vb"
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set "${TAG}va" up; ip -n "$B" link set "${TAG}vb" up

# A node started before its interface is really up binds nothing and only
# rescans interfaces every 30 s: wait for both ends to be UP first.
for i in $(seq 50); do
  if grep -q ' UP ' <<<"$(ip -n "$A" -br link show "${TAG}va")" &&
     grep -q ' UP ' <<<"$(ip -n "$B" -br link show "${TAG}vb")"; then break; fi
  sleep 0.1
done
sleep 1

ip netns exec "$A" python3 "$Z" client --planet "$WORK/planet" --storage "$WORK/a" --port 9993 \
  --identity "$(jget "$WORK/idA.json" identity)" --online-timeout 15 --join "$NW" \
  --tcp-listen 7777 --deadline 90 >"$WORK/a.json" &
APID=$!
# Start B once A listens on its UDP port.
for i in $(seq 100); do
  grep -q ':9993 ' <<<"$(ip netns exec "$A" ss -uln)" && break
  sleep 0.1
done
set +e
ip netns exec "$B" python3 "$Z" client --planet "$WORK/planet" --storage "$WORK/b" \
  --online-timeout 30 --join "$NW" --tcp-connect "[$AIP]:7777" --tcp-message "ping over zt" \
  --deadline 90 >"$WORK/b.json"
BRC=$?
wait "$APID"; ARC=$?
set -e
echo "A (root, listener): rc=$ARC $(cat "$WORK/a.json")"
echo "B (client, sender): rc=$BRC $(cat "$WORK/b.json")"
if [ "$ARC" = 0 ] && [ "$BRC" = 0 ]; then echo "selftest: PASS"; else echo "selftest: FAIL"; exit 1; fi
