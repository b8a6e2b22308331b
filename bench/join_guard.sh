#!/usr/bin/env bash
# Benchmark: joins through the gateway with the bot guard on against the same gateway with
# it off, in the same run, on one Redis. Budget (issue 8): guard on >= 0.8x guard off.
#
#   bench/join_guard.sh                 6 interleaved rounds of 5 s each
#   bench/join_guard.sh --rounds 2 --duration 3 --no-build
#
# Every request is a new visitor joining (no cookie, `Accept: application/json` -> 429 and
# a status object): the guard screens each one (velocity per IP, subnet, fingerprint and
# visitor, places per IP and per fingerprint, all in one store round trip, plus whether it
# is shadowed) before the join. The visitors come through a trusted proxy (the load
# generator's address) with a random X-Forwarded-For each, so the guard sees many clients,
# not one farm; `challenge = "off"` so no request is asked for a proof of work.
# Two gateways run side by side on one Redis (rooms `on` and `off`); wrk alternates between
# them round by round. Prints joins/s of each (median over rounds) and their ratio.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ROUNDS=6
DURATION=5
CONNECTIONS=32
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --connections) CONNECTIONS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 1 ;;
    esac
done
for value in "$ROUNDS" "$DURATION" "$CONNECTIONS"; do
    case "$value" in ''|*[!0-9]*) echo "not a positive integer: '$value'" >&2; exit 1 ;; esac
done
[ "$ROUNDS" -le 30 ] && [ "$DURATION" -le 60 ] || { echo "at most 30 rounds of 60 s" >&2; exit 1; }
log() { printf '[join_guard] %s\n' "$*" >&2; }
for tool in wrk redis-server curl; do command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }; done

if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -p anteroom --bin anteroom)
fi
BIN="$TARGET_DIR/release/anteroom"
[ -x "$BIN" ] || { log "missing $BIN (run without --no-build)"; exit 1; }

WORK="$(mktemp -d /tmp/anteroom-join-guard.XXXXXX)"
PIDS=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
PIDS+=($!)

start_gateway() { # room, guard on|off -> sets PUBLIC_PORT (not a subshell: its pid must reach PIDS)
    local room=$1 enabled=$2 public admin metrics
    public=$(free_port); admin=$(free_port); metrics=$(free_port)
    cat >"$WORK/$room.toml" <<EOF
[listen]
public  = "127.0.0.1:$public"
admin   = "127.0.0.1:$admin"
metrics = "127.0.0.1:$metrics"
trusted_proxies = ["127.0.0.1/32"]

[store]
backend = "redis"
url     = "redis://127.0.0.1:$REDIS_PORT"

[keys]
signing = "k1"
secrets = { k1 = "0123456789abcdef0123456789abcdef-bench" }

[bot_guard]
enabled = $enabled
challenge = "off"

[[room]]
id                    = "$room"
origin                = "127.0.0.1:9"
paths                 = ["/sale"]
mode                  = "queue-all"
admit_per_second      = 1.0
max_active            = 1000
abandon_after_seconds = 3600
EOF
    "$BIN" serve --config "$WORK/$room.toml" >"$WORK/$room.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$metrics/healthz" && break; sleep 0.1; done
    PUBLIC_PORT=$public
}
start_gateway on true; ON_PORT=$PUBLIC_PORT
start_gateway off false; OFF_PORT=$PUBLIC_PORT

cat >"$WORK/join.lua" <<'EOF'
-- A new visitor on every request, from a random client address behind the trusted proxy.
math.randomseed(os.time())
request = function()
  local ip = string.format("%d.%d.%d.%d", math.random(11, 223), math.random(0, 255),
    math.random(0, 255), math.random(1, 254))
  return wrk.format("GET", "/sale/tickets", {
    ["Accept"] = "application/json",
    ["Accept-Language"] = "en-GB,en;q=0.9",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["X-Forwarded-For"] = ip,
  })
end
EOF

run() { # port -> requests per second
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/join.lua" "http://127.0.0.1:$1/sale/tickets" \
        | awk '/Requests\/sec/ {print $2}'
}
ON=(); OFF=(); RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then on=$(run "$ON_PORT"); off=$(run "$OFF_PORT")
    else off=$(run "$OFF_PORT"); on=$(run "$ON_PORT"); fi
    ON+=("$on"); OFF+=("$off")
    RATIOS+=("$(python3 -c "print(round($on / $off, 3))")")
    log "round $round: guard on $on joins/s, off $off joins/s, ratio ${RATIOS[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '| joins/s, guard on (median) | %s |\n| joins/s, guard off (median) | %s |\n| on / off, median of per-round ratios | %s |\n' \
    "$(median "${ON[@]}")" "$(median "${OFF[@]}")" "$(median "${RATIOS[@]}")"
