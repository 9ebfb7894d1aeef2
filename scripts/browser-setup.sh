#!/usr/bin/env bash
# Installs what the browser tests (tests/web_browser.rs) need, idempotently:
# Debian's headless Chromium and playwright-core (npm) in tests/browser/.
# playwright-core drives the system browser; it never downloads one of its own.
# Nothing here is needed to build or run pitchgrade itself.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_pkgs=()
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
# The rep test uploads speech generated at test time.
command -v espeak-ng >/dev/null 2>&1 || need_pkgs+=(espeak-ng)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "browser-setup: installing ${need_pkgs[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

cd tests/browser
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core has no install hook today,
# but this keeps any future one from fetching a browser build we cannot reach.
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "browser-setup: npm ci in tests/browser" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
