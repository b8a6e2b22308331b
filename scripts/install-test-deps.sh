#!/usr/bin/env bash
# Installs what Anteroom's build and tests need, when missing: cmake (Pingora's zlib-ng),
# redis-server and redis-benchmark (Redis tests and benchmarks), PostgreSQL server binaries
# (ledger tests), openssl (certificates for the TLS tests). Idempotent: safe to run every time.
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

if [ ${#need[@]} -eq 0 ]; then
  echo "install-test-deps: everything is already installed"
  exit 0
fi

echo "install-test-deps: installing ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${need[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi
# The Debian package starts system-wide servers; the tests start their own on free ports.
