#!/usr/bin/env bash
# Cost per proxied request, counted rather than timed (throughput on a shared machine is
# noise; counts are not): for nginx, bare Pingora and Anteroom (admitted request) in front of
# the same origin, send exactly N keep-alive requests with h2load (HTTP/1.1, 32 connections)
# and report
#   - CPU µs per request of the proxy process (user + system, from /proc/PID/stat), and
#   - with --callgrind: user-space instructions per request (valgrind callgrind, counters
#     zeroed after a warm-up, dumped after the N requests; kernel work is not counted).
#
#   bench/cost_per_request.sh [--requests N] [--callgrind] [--workers N] [--bare-args "ARGS"]
#                             [--access-log on|off] [--keep DIR]
#
# --access-log sets the gateway's `[log] access` (default: the config's default, on); run
# the script once with each to price the access log.
#
# Uses release binaries from CARGO_TARGET_DIR (build them first: bench/admitted.sh builds
# them, or `cargo build --release -p anteroom --examples --bin anteroom`). nginx runs one
# worker (master_process off) so that one process holds all of its work; bare Pingora and
# Anteroom run --workers threads (default 1: bare_proxy --threads, Anteroom [listen] threads),
# with the runtime flavour the gateway picks for that count.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
REQUESTS=50000
CALLGRIND=0
BARE_ARGS=""
KEEP=""
WORKERS=1
ACCESS_LOG=""
while [ $# -gt 0 ]; do
    case "$1" in
        --requests) REQUESTS="$2"; shift 2 ;;
        --callgrind) CALLGRIND=1; shift ;;
        --bare-args) BARE_ARGS="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --keep) KEEP="$2"; shift 2 ;;
        --access-log) ACCESS_LOG="$2"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 1 ;;
    esac
done
case "$REQUESTS" in ''|*[!0-9]*) echo "--requests: a positive integer" >&2; exit 1 ;; esac
PATH="$PATH:/usr/sbin"
for tool in h2load nginx curl; do command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }; done
[ "$CALLGRIND" = 0 ] || command -v callgrind_control >/dev/null || { echo "valgrind is required" >&2; exit 1; }

WORK="$(mktemp -d /tmp/anteroom-cost.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN_PORT=$(port); BARE_PORT=$(port); NGINX_PORT=$(port); GATEWAY_PORT=$(port)
ADMIN_PORT=$(port); METRICS_PORT=$(port)

ROOM=bench
# shellcheck source=bench/configs.sh
. "$ROOT/bench/configs.sh"
write_gateway_config
case "$ACCESS_LOG" in
    "") ;;
    on) printf '\n[log]\naccess = true\n' >>"$WORK/gateway.toml" ;;
    off) printf '\n[log]\naccess = false\n' >>"$WORK/gateway.toml" ;;
    *) echo "--access-log: on or off" >&2; exit 1 ;;
esac
# nginx in one process (all its work under one PID): master_process off runs one worker.
write_nginx_config off

WRAP=()
[ "$CALLGRIND" = 0 ] || WRAP=(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" --dump-instr=no --collect-jumps=no)
start() { # name, command...
    local name="$1"; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=("$!")
    eval "PID_$name=$!"
}
wait_up() { # url
    for _ in $(seq 1 600); do curl -s -o /dev/null --max-time 2 "$1" && return 0; sleep 0.1; done
    echo "not up: $1" >&2; exit 1
}

start origin "$BIN/examples/bench_origin" --listen "127.0.0.1:$ORIGIN_PORT" --threads 1
# shellcheck disable=SC2086
start bare "${WRAP[@]}" "$BIN/examples/bare_proxy" --listen "127.0.0.1:$BARE_PORT" --origin "127.0.0.1:$ORIGIN_PORT" --threads "$WORKERS" $BARE_ARGS
start nginx "${WRAP[@]}" nginx -c "$WORK/nginx.conf" -p "$WORK/nginx"
start anteroom "${WRAP[@]}" "$BIN/anteroom" serve --config "$WORK/gateway.toml"
wait_up "http://127.0.0.1:$ORIGIN_PORT/bench/item"
wait_up "http://127.0.0.1:$BARE_PORT/bench/item"
wait_up "http://127.0.0.1:$NGINX_PORT/bench/item"
wait_up "http://127.0.0.1:$GATEWAY_PORT/_anteroom/status?room=bench"
PASS=$(curl -s -H 'Accept: application/json' "http://127.0.0.1:$GATEWAY_PORT/_anteroom/status?room=bench" \
    | sed -n 's/.*"pass":"\(v1\.[^"]*\)".*/\1/p')
[ -n "$PASS" ] || { echo "no pass" >&2; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
load() { # url, n
    h2load --h1 -n "$2" -c 32 -t 1 -H "X-Anteroom-Pass: $PASS" "$1" >"$WORK/h2load.out" 2>&1
    grep -q "status codes: $2 2xx," "$WORK/h2load.out" \
        || { echo "not all $2 requests answered 2xx:" >&2; cat "$WORK/h2load.out" >&2; exit 1; }
}
HZ=$(getconf CLK_TCK)
printf '%-10s %12s %14s\n' target "CPU µs/req" "instr/req"
for target in nginx bare anteroom; do
    case $target in
        nginx) url="http://127.0.0.1:$NGINX_PORT/bench/item" ;;
        bare) url="http://127.0.0.1:$BARE_PORT/bench/item" ;;
        *) url="http://127.0.0.1:$GATEWAY_PORT/bench/item" ;;
    esac
    pid_var="PID_$target"; pid="${!pid_var}"
    load "$url" $(( REQUESTS / 5 + 1000 )) # warm-up: pools, allocator, caches
    instr="-"
    if [ "$CALLGRIND" = 1 ]; then callgrind_control -z "$pid" >/dev/null 2>&1; fi
    before=$(ticks "$pid")
    load "$url" "$REQUESTS"
    after=$(ticks "$pid")
    if [ "$CALLGRIND" = 1 ]; then
        rm -f "$WORK"/cg."$pid".*
        callgrind_control -d "$pid" >/dev/null 2>&1
        for _ in $(seq 1 50); do ls "$WORK"/cg."$pid".* >/dev/null 2>&1 && break; sleep 0.1; done
        total=$(awk '/^totals:/ { print $2 }' "$WORK"/cg."$pid".* | head -1)
        instr=$(awk -v t="$total" -v n="$REQUESTS" 'BEGIN { printf "%.0f", t / n }')
    fi
    us=$(awk -v d=$((after - before)) -v hz="$HZ" -v n="$REQUESTS" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
    printf '%-10s %12s %14s\n' "$target" "$us" "$instr"
done
