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
# them round by round. Prints joins/s of each (median over rounds) and their ratio, and the
# CPU each join cost the gateway and Redis (from /proc, so less at the mercy of a busy
# machine than the rates), and the machine's CPU used by other processes during the run.
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
REDIS_PID=$!

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
    GATEWAY_PID=$!
    for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$metrics/healthz" && break; sleep 0.1; done
    PUBLIC_PORT=$public
}
start_gateway on true; ON_PORT=$PUBLIC_PORT; ON_PID=$GATEWAY_PID
start_gateway off false; OFF_PORT=$PUBLIC_PORT; OFF_PID=$GATEWAY_PID

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

HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
run() { # port, gateway pid -> "joins/s gateway_us_per_join redis_us_per_join foreign_cpu_pct"
    local g0 r0 m0 g1 r1 m1 out
    g0=$(ticks "$2"); r0=$(ticks "$REDIS_PID"); m0=$(machine_ticks)
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/join.lua" "http://127.0.0.1:$1/sale/tickets")
    g1=$(ticks "$2"); r1=$(ticks "$REDIS_PID"); m1=$(machine_ticks)
    # Foreign: machine CPU minus this gateway, Redis and wrk's share (wrk is not measured:
    # its ~13% of a core stays in the figure), over the cores' capacity.
    awk -v out="$out" -v g=$((g1 - g0)) -v r=$((r1 - r0)) -v m=$((m1 - m0)) -v hz="$HZ" \
        -v d="$DURATION" -v cores="$(nproc)" 'BEGIN {
            n = split(out, lines, "\n"); rps = 0; reqs = 0
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /Requests\/sec/) { split(lines[i], f, " "); rps = f[2] }
                if (lines[i] ~ /requests in/) { split(lines[i], f, " "); reqs = f[1] }
            }
            printf "%s %.1f %.1f %.0f", rps, g / hz * 1e6 / reqs, r / hz * 1e6 / reqs,
                100 * (m - g - r) / (d * hz * cores) }'
}
ON=(); OFF=(); RATIOS=(); ON_GW=(); OFF_GW=(); ON_RD=(); OFF_RD=(); FOREIGN=()
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then on=$(run "$ON_PORT" "$ON_PID"); off=$(run "$OFF_PORT" "$OFF_PID")
    else off=$(run "$OFF_PORT" "$OFF_PID"); on=$(run "$ON_PORT" "$ON_PID"); fi
    read -r on on_gw on_rd on_foreign <<<"$on"
    read -r off off_gw off_rd off_foreign <<<"$off"
    ON+=("$on"); OFF+=("$off"); ON_GW+=("$on_gw"); OFF_GW+=("$off_gw"); ON_RD+=("$on_rd"); OFF_RD+=("$off_rd")
    FOREIGN+=("$on_foreign" "$off_foreign")
    RATIOS+=("$(python3 -c "print(round($on / $off, 3))")")
    log "round $round: guard on $on joins/s (gateway ${on_gw} µs, Redis ${on_rd} µs per join), off $off joins/s (${off_gw} µs, ${off_rd} µs), ratio ${RATIOS[-1]}, other processes ${on_foreign}% / ${off_foreign}% of the machine"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '| joins/s, guard on (median) | %s |\n| joins/s, guard off (median) | %s |\n| on / off, median of per-round ratios | %s |\n' \
    "$(median "${ON[@]}")" "$(median "${OFF[@]}")" "$(median "${RATIOS[@]}")"
printf '| gateway CPU µs per join, on / off (median) | %s / %s |\n| Redis CPU µs per join, on / off (median) | %s / %s |\n| other processes, %% of the machine (median, max) | %s, %s |\n' \
    "$(median "${ON_GW[@]}")" "$(median "${OFF_GW[@]}")" "$(median "${ON_RD[@]}")" "$(median "${OFF_RD[@]}")" \
    "$(median "${FOREIGN[@]}")" "$(printf '%s\n' "${FOREIGN[@]}" | sort -g | tail -1)"
# The same CPU as capacities: what one gateway core, and one Redis core, would serve with the
# guard on as a share of what they serve with it off (when each has cores of its own, the
# join rate is bound by the dearer of the two; on this shared machine, by their sum).
python3 -c "
on_gw, off_gw, on_rd, off_rd = $(median "${ON_GW[@]}"), $(median "${OFF_GW[@]}"), $(median "${ON_RD[@]}"), $(median "${OFF_RD[@]}")
print('| gateway CPU per join, off / on | %.2f |' % (off_gw / on_gw))
print('| Redis CPU per join, off / on | %.2f |' % (off_rd / on_rd))
print('| gateway + Redis CPU per join, off / on | %.2f |' % ((off_gw + off_rd) / (on_gw + on_rd)))
"
