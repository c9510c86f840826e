#!/usr/bin/env bash
# Prerequisites of the real-browser tests of the LAN page: Debian's chromium, and playwright-core
# (the driver only, no bundled browsers) and axe-core from npm, cached outside the repository.
# Prints the node_modules directory.
set -euo pipefail
CACHE="${ZTCD_BROWSER_CACHE:-/var/cache/ztcd-test/browser}"
VERSION=1.49.1
# Only what is missing: a machine's Node.js may come from another repository (NodeSource's
# nodejs conflicts with Debian's npm), so asking apt for all three can fail.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing ${need[*]} and this is not root: install them first" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
# axe-core: the accessibility rules the phone test checks the page against.
AXE_VERSION=4.10.3
installed() { grep -qs "\"version\": \"$2\"" "$CACHE/node_modules/$1/package.json"; }
if ! installed playwright-core "$VERSION" || ! installed axe-core "$AXE_VERSION"; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm install --silent --no-audit --no-fund "playwright-core@$VERSION" "axe-core@$AXE_VERSION" >&2)
fi
echo "$CACHE/node_modules"
