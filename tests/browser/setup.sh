#!/usr/bin/env bash
# Prerequisites of the real-browser test of the LAN page: Debian's chromium and playwright-core
# (the driver only, no bundled browsers) from npm, cached outside the repository.
# Prints the node_modules directory.
set -euo pipefail
CACHE="${ZTCD_BROWSER_CACHE:-/var/cache/ztcd-test/browser}"
VERSION=1.49.1
if ! command -v chromium >/dev/null || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium, node and npm are missing and this is not root: install them first" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium nodejs npm >&2
fi
if [ ! -f "$CACHE/node_modules/playwright-core/package.json" ] ||
   ! grep -q "\"version\": \"$VERSION\"" "$CACHE/node_modules/playwright-core/package.json"; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm install --silent --no-audit --no-fund "playwright-core@$VERSION" >&2)
fi
echo "$CACHE/node_modules"
