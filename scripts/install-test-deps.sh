#!/usr/bin/env bash
# Installs what Anteroom's build and tests need, when missing: cmake (Pingora's zlib-ng),
# redis-server and redis-benchmark (Redis tests and benchmarks), PostgreSQL server binaries
# (ledger tests), openssl (certificates for the TLS tests), chromium + Node.js with the
# playwright-core pinned in scripts/package-lock.json (the waiting page's browser test, which
# uses Debian's chromium: no browser is downloaded). Idempotent: safe to run every time.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)   # throwaway CA for the rediss:// tests
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v cc >/dev/null 2>&1 || need+=(build-essential)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ ${#need[@]} -eq 0 ]; then
  echo "install-test-deps: system packages already installed"
else
  echo "install-test-deps: installing ${need[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y --no-install-recommends "${need[@]}"; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${need[@]}"
  fi
fi

# playwright-core at the locked version, next to this script (proxy/tests/browser.rs finds it
# there). Its own browser download is skipped: the test drives /usr/bin/chromium.
scripts_dir="$(cd "$(dirname "$0")" && pwd)"
locked="$(node -p "require('$scripts_dir/package-lock.json').packages['node_modules/playwright-core'].version")"
installed="$(node -p "try { require('$scripts_dir/node_modules/playwright-core/package.json').version } catch (e) { '' }")"
if [ "$installed" != "$locked" ]; then
  echo "install-test-deps: npm ci (playwright-core $locked)"
  (cd "$scripts_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
else
  echo "install-test-deps: playwright-core $locked already installed"
fi
# The Debian package starts system-wide servers; the tests start their own on free ports.
