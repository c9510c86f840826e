#!/usr/bin/env bash
# Prepare the libzt 1.8.4 real-client harness used by ztcd's integration tests.
#
#   tests/libzt/setup.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $LIBZT_CACHE, else /var/cache/ztcd-test/libzt.
# Idempotent: downloads the libzt wheel with pip only when it is missing
# (pinned by sha256), extracts the shared object, and (re)builds the stub
# from tests/libzt/stub.c when the stub is missing or was built from other source.
# Nothing is ever written inside the repository.
#
# On success prints two lines:
#   LIBZT_SO=<path to _libzt.cpython-39-x86_64-linux-gnu.so>
#   LIBZT_STUB=<path to libztstub.so>
# so callers can `eval "$(tests/libzt/setup.sh)"` or parse them.
set -euo pipefail

die() { echo "libzt setup: error: $*" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${1:-${LIBZT_CACHE:-/var/cache/ztcd-test/libzt}}"

VERSION="1.8.4"
WHEEL="libzt-${VERSION}-cp39-cp39-manylinux2010_x86_64.whl"
WHEEL_SHA256="e66e1482940118ae172d7356d2c5d2d5c561831c94d595a850704f9923054756"
SO_IN_WHEEL="libzt/_libzt.cpython-39-x86_64-linux-gnu.so"
SO_NAME="_libzt.cpython-39-x86_64-linux-gnu.so"
STUB_SRC="$HERE/stub.c"

[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] || die "only Linux x86_64 is supported (the wheel is manylinux x86_64)"
[ -f "$STUB_SRC" ] || die "stub source not found: $STUB_SRC"

# Refuse a cache inside the repository (downloads must stay out of the tree).
REPO_ROOT="$(realpath "$HERE/../..")"
CACHE="$(realpath -m "$CACHE")"
case "$CACHE/" in
  "$REPO_ROOT"/*) die "cache dir $CACHE is inside the repository $REPO_ROOT; choose another";;
esac
mkdir -p "$CACHE" || die "cannot create cache dir $CACHE"

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip is not available for $PYTHON"
CC="${CC:-cc}"
command -v "$CC" >/dev/null || die "C compiler '$CC' not found"

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$WHEEL_SHA256" ]; }

# 1. Wheel (pinned by hash; pip verifies it too via --require-hashes).
WHEEL_DIR="$CACHE/wheel"
if ! sha_ok "$WHEEL_DIR/$WHEEL"; then
  rm -rf "$WHEEL_DIR"
  mkdir -p "$WHEEL_DIR"
  REQ="$CACHE/requirements.txt"
  printf 'libzt==%s --hash=sha256:%s\n' "$VERSION" "$WHEEL_SHA256" >"$REQ"
  echo "libzt setup: downloading $WHEEL into $WHEEL_DIR" >&2
  if ! "$PYTHON" -m pip download --quiet --no-deps --require-hashes -r "$REQ" \
        --python-version 3.9 --implementation cp --only-binary=:all: \
        --platform manylinux2010_x86_64 -d "$WHEEL_DIR" >&2; then
    die "pip download of libzt==$VERSION failed (network or index problem?)"
  fi
  sha_ok "$WHEEL_DIR/$WHEEL" || die "downloaded wheel $WHEEL_DIR/$WHEEL is missing or has the wrong sha256"
fi

# 2. Shared object from the wheel (re-extracted if missing or older than the wheel).
SO="$CACHE/$SO_NAME"
if [ ! -s "$SO" ] || [ "$WHEEL_DIR/$WHEEL" -nt "$SO" ]; then
  TMP="$(mktemp -d "$CACHE/extract.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  "$PYTHON" - "$WHEEL_DIR/$WHEEL" "$SO_IN_WHEEL" "$TMP/$SO_NAME" <<'PY' || die "could not extract $SO_IN_WHEEL from the wheel"
import sys, zipfile, shutil
whl, member, dst = sys.argv[1:4]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dst, "wb") as out:
    shutil.copyfileobj(src, out)
PY
  mv -f "$TMP/$SO_NAME" "$SO"
  rm -rf "$TMP"
  trap - EXIT
fi

# 3. Stub (rebuilt when missing or built from a different stub.c: checkouts that share the
#    cache may hold different versions of it).
STUB="$CACHE/libztstub.so"
SRC_SUM="$(sha256sum "$STUB_SRC" | cut -d' ' -f1)"
if [ ! -s "$STUB" ] || [ "$(cat "$STUB.src-sha256" 2>/dev/null)" != "$SRC_SUM" ]; then
  "$CC" -shared -fPIC -O2 -Wall -o "$STUB.tmp" "$STUB_SRC" >&2 || die "compiling $STUB_SRC failed"
  mv -f "$STUB.tmp" "$STUB"
  echo "$SRC_SUM" >"$STUB.src-sha256"
fi

echo "LIBZT_SO=$SO"
echo "LIBZT_STUB=$STUB"
