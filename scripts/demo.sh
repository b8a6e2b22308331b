#!/usr/bin/env bash
# Runs the Anteroom demo (gateway + demo shop on the embedded store) at
# http://127.0.0.1:8080/ (pass --port N to change). Installs cmake first if missing:
# Pingora's build needs it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cmake >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends cmake || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends cmake; }
fi
exec cargo run --release -p anteroom -- demo "$@"
