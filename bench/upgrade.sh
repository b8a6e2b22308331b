#!/usr/bin/env bash
# Zero-downtime upgrade under load (issue 10): a gateway holding open live streams and
# serving a request loop is replaced by `anteroom serve --upgrade`; nothing may fail.
#
#   bench/upgrade.sh                        500 streams, 4,000 requests at 200/s
#   bench/upgrade.sh --streams 100 --requests 1000
#
# Options: --streams N    live streams held through the upgrade, SSE and WebSocket mixed (default 500)
#          --requests N   requests of the loop, one keep-alive client (default 4000)
#          --rate R       requests per second of the loop (default 200)
#          --after S      seconds into the loop the upgrade starts (default 3)
#          --grace S      [listen] shutdown_grace_seconds (default 2)
#          --ws-share F   share of WebSocket streams, 0..1 (default 0.5)
#          --out DIR      where upgrade.md and upgrade.json go (default: the current directory)
#          --keep DIR     keep configs and logs in DIR
#          --no-build     use the binaries already in CARGO_TARGET_DIR
#          --debug        debug binaries instead of release (the figures are counts, not speeds)
# Env:     CARGO_TARGET_DIR (default: <repo>/target)
#
# What it does, in order: builds `anteroom`, the `bench_origin` example and `stream-load`
# (release); starts redis-server, the origin and gateway A (`anteroom serve`, Redis store) on
# free loopback ports; opens --streams streams on a slowly admitting room (`stream-load open
# --reconnects 3`: a stream the server ends is reopened for the same visitor, and a reopened
# stream showing a later place than the ended one counts as a position violation); starts the
# request loop (curl, one process, one keep-alive connection reused, a pass for a room that
# proxies to the origin, --rate per second, --requests in all); --after seconds in, starts
# gateway B with `anteroom serve --upgrade` on the same config, waits for its upgrade socket
# and sends A SIGQUIT; waits for A to exit and for the loop to end; stops the stream client
# (its summary) and prints the results (also OUT/upgrade.md and OUT/upgrade.json). Everything
# it starts, it stops by pid; every wait is bounded. Exit status: 0 when no request failed,
# every stream was reopened and none lost its place; 3 when not; 1 on a setup failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

STREAMS=500
REQUESTS=4000
RATE=200
AFTER=3
GRACE=2
WS_SHARE=0.5
OUT="$PWD"
KEEP=""
BUILD=1
PROFILE=release

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --streams) STREAMS="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        --after) AFTER="$2"; shift 2 ;;
        --grace) GRACE="$2"; shift 2 ;;
        --ws-share) WS_SHARE="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --keep) KEEP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --debug) PROFILE=debug; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 1 ;;
    esac
done
for value in "$STREAMS" "$REQUESTS" "$RATE" "$AFTER" "$GRACE"; do
    case "$value" in ''|*[!0-9]*) echo "not a positive integer: '$value'" >&2; exit 1 ;; esac
    [ "$value" -ge 1 ] || { echo "must be >= 1: $value" >&2; exit 1; }
done
[ "$STREAMS" -le 9000 ] || { echo "--streams: at most 9000 (one client process)" >&2; exit 1; }
[ "$REQUESTS" -le 100000 ] || { echo "--requests: at most 100000" >&2; exit 1; }
[ "$GRACE" -le 60 ] || { echo "--grace: at most 60 s" >&2; exit 1; }
LOOP_SECONDS=$(( REQUESTS / RATE + 1 ))
[ "$AFTER" -lt "$LOOP_SECONDS" ] || { echo "--after must fall within the loop ($LOOP_SECONDS s)" >&2; exit 1; }
mkdir -p "$OUT"

log() { printf '[upgrade] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for tool in curl redis-server redis-cli python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
    log "building $PROFILE (CARGO_TARGET_DIR=$TARGET_DIR)"
    PROFILE_FLAG=()
    [ "$PROFILE" = release ] && PROFILE_FLAG=(--release)
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build "${PROFILE_FLAG[@]}" -p anteroom --bin anteroom \
        --example bench_origin -p anteroom-stream-load --bin stream-load) || die "cargo build"
fi
BIN="$TARGET_DIR/$PROFILE"
for exe in "$BIN/anteroom" "$BIN/examples/bench_origin" "$BIN/stream-load"; do
    [ -x "$exe" ] || die "missing $exe (run without --no-build)"
done

# ---------------------------------------------------------------- processes
WORK="$(mktemp -d /tmp/anteroom-upgrade.XXXXXX)"
PIDS=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid="${PIDS[$i]}"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && log "configs and logs kept in $KEEP"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(port); GATEWAY_PORT=$(port); ADMIN_PORT=$(port); METRICS_PORT=$(port); ORIGIN_PORT=$(port)
PUBLIC="http://127.0.0.1:$GATEWAY_PORT"

start() { # name, command...: output to WORK/name.log, pid in PID_name
    local name="$1"; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=("$!")
    eval "PID_$name=$!"
    log "started $name (pid $!)"
}

mkdir -p "$WORK/redis"
start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" \
    --save '' --appendonly no --daemonize no --protected-mode yes
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || die "redis-server did not come up"
start origin "$BIN/examples/bench_origin" --listen "127.0.0.1:$ORIGIN_PORT" --threads 1

# shellcheck source=bench/configs.sh
. "$ROOT/bench/configs.sh"
# `live`: the streams' room, admitting slowly (positions move, places are kept all run).
# `shop`: admits on first sight; the loop's pass for it is proxied to the origin.
cat >"$WORK/gateway.toml" <<EOF
[listen]
public  = "127.0.0.1:$GATEWAY_PORT"
admin   = "127.0.0.1:$ADMIN_PORT"
metrics = "127.0.0.1:$METRICS_PORT"
upgrade_socket = "$WORK/upgrade.sock"
shutdown_grace_seconds = $GRACE

[store]
backend = "redis"
url     = "redis://127.0.0.1:$REDIS_PORT"

$(gateway_keys_section)

[[room]]
id                    = "live"
origin                = "127.0.0.1:$ORIGIN_PORT"
paths                 = ["/live"]
mode                  = "queue-all"
admit_per_second      = 0.5
max_active            = 1000000
session_seconds       = 3600
abandon_after_seconds = 3600

[[room]]
id                    = "shop"
origin                = "127.0.0.1:$ORIGIN_PORT"
paths                 = ["/shop"]
mode                  = "safety-net"
admit_per_second      = 1000000.0
max_active            = 1000000
session_seconds       = 86400
abandon_after_seconds = 3600
EOF
start gateway_a "$BIN/anteroom" serve --config "$WORK/gateway.toml"
code=000
for _ in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Accept: application/json' \
        "$PUBLIC/_anteroom/status?room=live" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
done
[ "$code" = 200 ] || { tail -20 "$WORK/gateway_a.log" >&2; die "gateway A did not answer (last: $code)"; }

PASS=$(curl -s --max-time 5 -H 'Accept: application/json' "$PUBLIC/_anteroom/status?room=shop" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("pass") or "")')
[ -n "$PASS" ] || die "no pass for the loop's room"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Cookie: anteroom_pass=$PASS" "$PUBLIC/shop/x")" = 200 ] ||
    die "the loop's request is not proxied with 200"

# ---------------------------------------------------------------- streams
MAX_SECONDS=$(( LOOP_SECONDS + GRACE + 120 ))
"$BIN/stream-load" open --target "127.0.0.1:$GATEWAY_PORT" --room live --streams "$STREAMS" \
    --ws-share "$WS_SHARE" --reconnects 3 --ready-file "$WORK/ready" --max-seconds "$MAX_SECONDS" \
    >"$WORK/streams.json" 2>"$WORK/streams.log" &
PIDS+=("$!"); PID_streams=$!
for _ in $(seq 1 600); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
[ -s "$WORK/ready" ] || { tail -5 "$WORK/streams.log" >&2; die "streams not open within 60 s"; }
OPENED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connected"])' "$WORK/ready")
[ "$OPENED" = "$STREAMS" ] || die "only $OPENED of $STREAMS streams opened"
log "$OPENED streams open"

# ---------------------------------------------------------------- request loop + upgrade
# One `url` + `output` pair per request: every body is discarded, one code per line is kept.
for _ in $(seq 1 "$REQUESTS"); do printf 'url = "%s/shop/item"\noutput = "/dev/null"\n' "$PUBLIC"; done >"$WORK/urls"
curl -s --rate "$RATE/s" --max-time 10 -H "Cookie: anteroom_pass=$PASS" \
    -w '%{http_code}\n' --config "$WORK/urls" >"$WORK/codes" 2>"$WORK/loop.log" &
PIDS+=("$!"); PID_loop=$!
log "request loop: $REQUESTS requests at $RATE/s (pid $PID_loop)"
sleep "$AFTER"

start gateway_b "$BIN/anteroom" serve --upgrade --config "$WORK/gateway.toml"
for _ in $(seq 1 300); do [ -S "$WORK/upgrade.sock" ] && break; sleep 0.05; done
[ -S "$WORK/upgrade.sock" ] || { tail -20 "$WORK/gateway_b.log" >&2; die "gateway B opened no upgrade socket"; }
QUIT_AT=$(date +%s.%N)
kill -QUIT "$PID_gateway_a"
log "SIGQUIT sent to gateway A (pid $PID_gateway_a)"
EXITED=""
for _ in $(seq 1 $(( (5 + GRACE + 15) * 10 ))); do
    if ! kill -0 "$PID_gateway_a" 2>/dev/null; then EXITED=$(date +%s.%N); break; fi
    sleep 0.1
done
[ -n "$EXITED" ] || die "gateway A still running $(( 5 + GRACE + 15 )) s after SIGQUIT"
wait "$PID_gateway_a" 2>/dev/null && A_STATUS=0 || A_STATUS=$?
OLD_EXIT_SECONDS=$(python3 -c "print(f'{$EXITED - $QUIT_AT:.1f}')")
log "gateway A exited (status $A_STATUS) $OLD_EXIT_SECONDS s after SIGQUIT"

for _ in $(seq 1 $(( (LOOP_SECONDS + 30) * 10 ))); do kill -0 "$PID_loop" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_loop" 2>/dev/null && die "request loop still running"
B_ANSWERS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Cookie: anteroom_pass=$PASS" "$PUBLIC/shop/x" || true)
kill -TERM "$PID_streams"
for _ in $(seq 1 300); do kill -0 "$PID_streams" 2>/dev/null || break; sleep 0.1; done
[ -s "$WORK/streams.json" ] || { tail -5 "$WORK/streams.log" >&2; die "the stream client wrote no summary"; }

# ---------------------------------------------------------------- results
python3 - "$WORK/codes" "$WORK/streams.json" "$OUT" "$STREAMS" "$REQUESTS" "$RATE" "$GRACE" \
    "$OLD_EXIT_SECONDS" "$A_STATUS" "$B_ANSWERS" "$PROFILE" <<'PY'
import json, sys
codes_file, streams_file, out, streams, requests, rate, grace, old_exit, a_status, b_answers, profile = sys.argv[1:]
# One three-digit code per request; 000 is a transfer that failed (reset, refused, timeout).
codes = [line.strip() for line in open(codes_file) if line.strip()]
ok_count = codes.count("200")
s = json.load(open(streams_file))
result = {
    "streams": int(streams),
    "requests_sent": len(codes),
    "requests_planned": int(requests),
    "requests_failed": int(requests) - ok_count,
    "request_codes": {c: codes.count(c) for c in sorted(set(codes))},
    "rate_per_second": int(rate),
    "streams_reconnected": s.get("reconnected", 0),
    "streams_not_reopened": s.get("closed_by_server", 0),
    "position_violations": s.get("position_violations", 0),
    "stream_errors": s.get("errors", {}),
    "grace_seconds": int(grace),
    "old_process_exit_seconds": float(old_exit),
    "old_process_status": int(a_status),
    "new_process_answers": b_answers,
    "build": profile,
}
# A stream whose reopening landed on the old process just before it stopped accepting is
# ended and reopened once more: reconnections may exceed the streams, never fall short.
ok = (result["requests_failed"] == 0 and result["streams_reconnected"] >= result["streams"]
      and result["streams_not_reopened"] == 0 and result["position_violations"] == 0
      and result["old_process_status"] == 0 and b_answers == "200")
result["ok"] = ok
rows = [
    ("requests (one keep-alive client)", f'{result["requests_sent"]} at {rate}/s'),
    ("failed requests", str(result["requests_failed"])),
    ("streams held through the upgrade", streams),
    ("stream reconnections (each stream at least once)", str(result["streams_reconnected"])),
    ("streams not reopened", str(result["streams_not_reopened"])),
    ("streams that lost their place", str(result["position_violations"])),
    ("old process exit after SIGQUIT", f'{old_exit} s (5 s hand-over + {grace} s grace + runtime stop)'),
    ("new process serves afterwards", "yes" if b_answers == "200" else f"no ({b_answers})"),
    ("build", profile),
]
md = "| upgrade under load | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
md += "\n" + ("PASS" if ok else "FAIL") + "\n"
open(f"{out}/upgrade.md", "w").write(md)
json.dump(result, open(f"{out}/upgrade.json", "w"), indent=2)
print(md)
sys.exit(0 if ok else 3)
PY
