#!/usr/bin/env bash
# Scale benchmark of the live streams (issue 7): one gateway process holding thousands of SSE
# and WebSocket streams while admission moves a queue of a million visitors.
#
#   bench/streams.sh                                  full run: 15,000 streams, 1,000,000 queued
#   bench/streams.sh --streams 2000 --queued 100000   reduced run
#
# Options: --streams N      streams in all, SSE and WebSocket mixed (default 15000)
#          --queued N       visitors queued besides the streams (default 1000000)
#          --ahead N        how many of them queue ahead of the streams, the rest behind
#                           (default rate x (baseline + duration / 2): positions move for half
#                           the window, then the first streams see their own admission)
#          --duration S     seconds admission runs with every stream open (default 30)
#          --baseline S     seconds of the no-stream window the store cost is compared with (default 5)
#          --rate R         admit_per_second: every 100 ms tick moves every position (default 20)
#          --ws-share F     share of WebSocket streams, 0..1 (default 0.5)
#          --per-client N   streams per client process, at most 9000 (default 7500)
#          --connect-concurrency N  connections each client sets up at once (default 200)
#          --threads N      gateway [listen] threads (default: one per core)
#          --out DIR        where streams.json and streams.md go (default: the current directory)
#          --keep DIR       keep configs, logs and raw readings in DIR
#          --no-build       use the release binaries already in CARGO_TARGET_DIR
# Env:     CARGO_TARGET_DIR (default: <repo>/target)
#
# What it does, in order: builds `anteroom` and `stream-load` (release); starts redis-server
# on a free port in its own directory; starts ONE gateway (`anteroom serve`, Redis store, a
# queue-all room); queues --queued visitors through the store's own join script
# (`stream-load fill`, the Lua a gateway runs); starts ceil(streams / per-client) client
# processes (`stream-load open`), each from its own source address 127.0.0.2, 127.0.0.3, ...
# (20,000 files per process here), which first get one visitor id per stream from
# /_anteroom/status (places behind the fill) and wait; reads the gateway's RSS (VmRSS) and a
# no-stream window of --baseline seconds (Redis INFO commandstats, the gateway's tick count);
# lets the clients open their streams and waits until every stream is open; reads RSS
# again, then --duration seconds of admission with every stream open (metrics,
# commandstats, RSS); stops the clients (each writes its summary) and prints the results
# table (also written to OUT/streams.md and OUT/streams.json). Admission runs only in the
# two windows: the room is paused (admin API) while places are taken and streams open.
# Everything it starts, it stops by pid. Exit status: 0 when every budget of issue 7 is met,
# 3 when one is not, 1 on a setup or measurement failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

STREAMS=15000
QUEUED=1000000
AHEAD=""
DURATION=30
BASELINE=5
RATE=20
WS_SHARE=0.5
PER_CLIENT=7500
CONNECT_CONCURRENCY=200
THREADS=""
OUT="$PWD"
KEEP=""
BUILD=1

usage() { sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --streams) STREAMS="$2"; shift 2 ;;
        --queued) QUEUED="$2"; shift 2 ;;
        --ahead) AHEAD="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --baseline) BASELINE="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        --ws-share) WS_SHARE="$2"; shift 2 ;;
        --per-client) PER_CLIENT="$2"; shift 2 ;;
        --connect-concurrency) CONNECT_CONCURRENCY="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --keep) KEEP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 1 ;;
    esac
done
for value in "$STREAMS" "$QUEUED" "$DURATION" "$BASELINE" "$RATE" "$PER_CLIENT" "$CONNECT_CONCURRENCY" ${THREADS:+"$THREADS"}; do
    case "$value" in ''|*[!0-9]*) echo "not a positive integer: '$value'" >&2; exit 1 ;; esac
    [ "$value" -ge 1 ] || { echo "must be >= 1: $value" >&2; exit 1; }
done
[ "$STREAMS" -le 60000 ] || { echo "--streams: at most 60000" >&2; exit 1; }
[ "$QUEUED" -le 5000000 ] || { echo "--queued: at most 5000000" >&2; exit 1; }
[ -n "$AHEAD" ] || AHEAD=$(( RATE * (BASELINE + DURATION / 2) ))
case "$AHEAD" in ''|*[!0-9]*) echo "--ahead: a number" >&2; exit 1 ;; esac
[ "$AHEAD" -le "$QUEUED" ] || AHEAD=$QUEUED
BEHIND=$(( QUEUED - AHEAD ))
[ "$DURATION" -le 300 ] || { echo "--duration: at most 300 s" >&2; exit 1; }
[ "$BASELINE" -le 60 ] || { echo "--baseline: at most 60 s" >&2; exit 1; }
[ "$PER_CLIENT" -le 9000 ] || { echo "--per-client: at most 9000 (20,000 files per process)" >&2; exit 1; }
mkdir -p "$OUT"

log() { printf '[streams] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for tool in curl redis-server redis-cli; do command -v "$tool" >/dev/null || die "$tool is required"; done

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
    log "building release (CARGO_TARGET_DIR=$TARGET_DIR)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -p anteroom --bin anteroom \
        -p anteroom-stream-load --bin stream-load) || die "cargo build"
fi
BIN="$TARGET_DIR/release"
for exe in "$BIN/anteroom" "$BIN/stream-load"; do
    [ -x "$exe" ] || die "missing $exe (run without --no-build)"
done

# ---------------------------------------------------------------- processes
WORK="$(mktemp -d /tmp/anteroom-streams.XXXXXX)"
PIDS=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    # Newest first: clients, then the gateway, then Redis.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid="${PIDS[$i]}"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && log "configs, logs and readings kept in $KEEP"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(port); GATEWAY_PORT=$(port); ADMIN_PORT=$(port); METRICS_PORT=$(port); ORIGIN_PORT=$(port)
ROOM=bench
METRICS_URL="http://127.0.0.1:$METRICS_PORT/metrics"
ADMIN_TOKEN="bench-admin-token-$RANDOM$RANDOM"

start() { # name, command...: output to WORK/name.log
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

# shellcheck source=bench/configs.sh
. "$ROOT/bench/configs.sh"
# The room never admits anyone straight through (queue-all), keeps places of the filled
# visitors for the whole run (abandon_after_seconds) and moves every position at every tick.
cat >"$WORK/gateway.toml" <<EOF
[listen]
public  = "127.0.0.1:$GATEWAY_PORT"
admin   = "127.0.0.1:$ADMIN_PORT"
metrics = "127.0.0.1:$METRICS_PORT"
${THREADS:+threads = $THREADS}

[store]
backend = "redis"
url     = "redis://127.0.0.1:$REDIS_PORT"

[admin]
token = "$ADMIN_TOKEN"

$(gateway_keys_section)

[[room]]
id                    = "$ROOM"
origin                = "127.0.0.1:$ORIGIN_PORT"
paths                 = ["/"]
mode                  = "queue-all"
admit_per_second      = $RATE.0
max_active            = 10000000
session_seconds       = 3600
abandon_after_seconds = 3600
EOF
start gateway "$BIN/anteroom" serve --config "$WORK/gateway.toml"
for _ in $(seq 1 150); do curl -s -o /dev/null --max-time 1 "$METRICS_URL" && break; sleep 0.1; done
# Ready once the store owner has seeded the room: a status request gets a place.
for _ in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Accept: application/json' \
        "http://127.0.0.1:$GATEWAY_PORT/_anteroom/status?room=$ROOM" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
done
[ "$code" = 200 ] || { tail -20 "$WORK/gateway.log" >&2; die "the gateway did not answer /_anteroom/status (last: $code)"; }

# Admission is held (the room paused) while places are taken and streams open, so that it
# runs exactly in the two measured windows and --ahead means what it says.
admission() { # pause | resume
    local paused=true
    [ "$1" = resume ] && paused=false
    local code
    code=$(curl -s -o "$WORK/admin.out" -w '%{http_code}' --max-time 5 -X PATCH \
        -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        -d "{\"paused\": $paused}" "http://127.0.0.1:$ADMIN_PORT/v1/rooms/$ROOM" || true)
    [ "$code" = 200 ] || { cat "$WORK/admin.out" >&2; die "admin: $1 the room (HTTP $code)"; }
}
admission pause

# ---------------------------------------------------------------- fill
fill() { # count, tag
    [ "$1" -gt 0 ] || { echo '{"joined":0}' >"$WORK/fill.$2.json"; return 0; }
    log "queueing $1 visitors ($2 the streams) through the store's join script"
    "$BIN/stream-load" fill --redis "redis://127.0.0.1:$REDIS_PORT" --room "$ROOM" --count "$1" \
        >"$WORK/fill.$2.json" 2>"$WORK/fill.$2.log" || { cat "$WORK/fill.$2.log" >&2; die "fill"; }
    log "filled: $(cat "$WORK/fill.$2.json")"
}
fill "$AHEAD" ahead
fill_rate() { # tag -> "N joins in S s"
    sed -n 's/.*"joined":\([0-9]*\).*"seconds":\([0-9.]*\).*/\1 joins in \2 s/p' "$WORK/fill.$1.json" \
        | awk '{ printf "%s joins in %.1f s, %.0f/s", $1, $4, ($4 > 0 ? $1 / $4 : 0) }'
}

metric() { # prefix -> value (0 if absent)
    curl -s --max-time 5 "$METRICS_URL" | awk -v p="$1" 'index($0, p) == 1 { v = $NF } END { print v + 0 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID_gateway/status"; }
scrape() { # tag: the gateway's metrics and Redis' command counts at this moment
    curl -s --max-time 10 "$METRICS_URL" >"$WORK/metrics.$1" || die "scrape metrics ($1)"
    redis-cli -p "$REDIS_PORT" info commandstats >"$WORK/redis.$1" || die "read commandstats ($1)"
}
# Let the gateway's live figures catch up with the fill (they refresh every 500 ms).
sleep 1
WAITING=$(metric "anteroom_queue_waiting{room=\"$ROOM\"}")
log "the gateway sees $WAITING waiting"

# ---------------------------------------------------------------- clients, phase one: visitor ids
# Each client first gets one visitor id per stream (its place in the line, behind the fill)
# on connections it closes, then waits for WORK/go before opening any stream: the gateway's
# RSS and the no-stream store window are read in between, after the same joins.
CLIENTS=$(( (STREAMS + PER_CLIENT - 1) / PER_CLIENT ))
[ "$CLIENTS" -le 250 ] || die "too many client processes"
CLIENT_FILES=()
remaining=$STREAMS
for ((c = 0; c < CLIENTS; c++)); do
    share=$(( remaining / (CLIENTS - c) ))
    remaining=$(( remaining - share ))
    source_ip="127.0.0.$((c + 2))"
    "$BIN/stream-load" open --target "127.0.0.1:$GATEWAY_PORT" --source "$source_ip" --room "$ROOM" \
        --streams "$share" --ws-share "$WS_SHARE" --connect-concurrency "$CONNECT_CONCURRENCY" --ids-file "$WORK/ids.$c" --go-file "$WORK/go" \
        --ready-file "$WORK/ready.$c" --max-seconds $(( DURATION + BASELINE + 900 )) \
        >"$WORK/client.$c.json" 2>"$WORK/client.$c.log" &
    PIDS+=("$!")
    eval "PID_client$c=$!"
    CLIENT_FILES+=(--client "$WORK/client.$c.json")
    log "client $c: $share streams from $source_ip (pid $!)"
done
wait_clients() { # file prefix, what: until every client wrote WORK/prefix.N (at most 5 min)
    local ready c pid_var
    for _ in $(seq 1 3000); do
        ready=0
        for ((c = 0; c < CLIENTS; c++)); do [ -s "$WORK/$1.$c" ] && ready=$((ready + 1)); done
        [ "$ready" = "$CLIENTS" ] && return 0
        for ((c = 0; c < CLIENTS; c++)); do
            pid_var="PID_client$c"
            kill -0 "${!pid_var}" 2>/dev/null || [ -s "$WORK/$1.$c" ] \
                || { cat "$WORK/client.$c.log" >&2; die "client $c ended before $2"; }
        done
        sleep 0.1
    done
    die "$2: not within 5 min"
}
sum_field() { # file prefix, field
    cat "$WORK"/"$1".* | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}
log "getting $STREAMS visitor ids"
wait_clients ids "every stream had its visitor id"
log "$(sum_field ids visitors) of $STREAMS visitor ids"
fill "$BEHIND" behind
sleep 1 # the gateway's live figures refresh every 500 ms

# ---------------------------------------------------------------- baseline: no streams
RSS_BEFORE=$(rss_kib)
log "gateway RSS before streams: $RSS_BEFORE KiB; no-stream window of $BASELINE s"
admission resume
scrape base0; sleep "$BASELINE"; scrape base1
admission pause

# ---------------------------------------------------------------- clients, phase two: streams
touch "$WORK/go"
log "opening $STREAMS streams"
wait_clients ready "its streams were open"
OPENED=$(sum_field ready connected)
log "$OPENED of $STREAMS streams open; gateway: $(curl -s --max-time 5 "$METRICS_URL" | grep '^anteroom_streams_open' | tr '\n' ' ')"

# ---------------------------------------------------------------- window: streams open, admission running
RSS_OPEN=$(rss_kib)
log "gateway RSS with streams: $RSS_OPEN KiB; admission runs for $DURATION s"
admission resume
scrape win0
sleep "$DURATION"
scrape win1
RSS_END=$(rss_kib)
RSS_WITH=$(( RSS_OPEN > RSS_END ? RSS_OPEN : RSS_END ))

for ((c = 0; c < CLIENTS; c++)); do
    pid_var="PID_client$c"
    kill -TERM "${!pid_var}" 2>/dev/null || true
done
for ((c = 0; c < CLIENTS; c++)); do
    pid_var="PID_client$c"
    for _ in $(seq 1 300); do kill -0 "${!pid_var}" 2>/dev/null || break; sleep 0.1; done
    wait "${!pid_var}" 2>/dev/null || true
    [ -s "$WORK/client.$c.json" ] || { cat "$WORK/client.$c.log" >&2; die "client $c wrote no summary"; }
done

# ---------------------------------------------------------------- report
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
    echo "## Live streams at scale — $(date -u +%Y-%m-%d) $(date -u +%H:%M) UTC"
    echo
    echo "- machine: $(nproc) cores, ${CPU:-unknown CPU}, $(uname -sr); gateway, Redis and $CLIENTS client process(es) on one host"
    echo "- commit: $REV; \`bench/streams.sh --streams $STREAMS --queued $QUEUED --ahead $AHEAD --duration $DURATION --rate $RATE --ws-share $WS_SHARE\`"
    echo "- queued through the join script: $AHEAD ahead of the streams, $BEHIND behind ($(fill_rate behind))"
    echo
    "$BIN/stream-load" report "${CLIENT_FILES[@]}" \
        --metrics "$WORK/metrics.base0" "$WORK/metrics.base1" "$WORK/metrics.win0" "$WORK/metrics.win1" \
        --redis "$WORK/redis.base0" "$WORK/redis.base1" "$WORK/redis.win0" "$WORK/redis.win1" \
        --rss-before-kib "$RSS_BEFORE" --rss-with-kib "$RSS_WITH" --queued "$QUEUED" \
        --baseline-seconds "$BASELINE" --window-seconds "$DURATION" --json-out "$OUT/streams.json"
} >"$OUT/streams.md" || die "report"
cat "$OUT/streams.md"
log "written: $OUT/streams.md, $OUT/streams.json"
grep -q '| \*\*no\*\* |' "$OUT/streams.md" && exit 3
exit 0
