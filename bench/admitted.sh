#!/usr/bin/env bash
# Benchmark: an admitted request (pass verify + proxy) through Anteroom against a bare
# Pingora passthrough and nginx as a plain reverse proxy to the same origin, in the same run.
# Budgets: Anteroom >= 0.9x bare Pingora and >= 0.7x nginx.
#
#   bench/admitted.sh            full run: 12 interleaved rounds of 5 s each (~2.5 min + build)
#   bench/admitted.sh --quick    smoke run: 1 round of 3 s
#   bench/admitted.sh --tls      the same over HTTPS: Anteroom, bare Pingora and nginx all
#                                terminate TLS (one throwaway certificate, ECDSA P-256; HTTP/2
#                                offered, wrk speaks HTTP/1.1 on keep-alive connections)
#
# Options: --rounds N  --duration SECONDS  --connections N  --threads N  --no-build
#          --workers N (proxy workers, the same for all three: nginx worker_processes, bare
#          Pingora --threads, Anteroom [listen] threads; default 1 — see docs/benchmarks.md)
#          --keep DIR (keep logs, config and raw wrk output in DIR)
#          --no-wait (do not wait up to 10 min for other work on the machine to calm down)
# Env:     CARGO_TARGET_DIR (default: <repo>/target)
#
# Starts four processes on free loopback ports: bench_origin (tiny keep-alive HTTP/1.1
# origin), bare_proxy (Pingora passthrough, same ServerConf/threads as the gateway), nginx
# (reverse proxy with an upstream keep-alive pool, --workers workers, no access log) and
# `anteroom serve` (memory store, one safety-net room with a huge rate and cap). It gets a
# pass from /_anteroom/status, checks that both proxies answer with the origin's body, then
# runs wrk against the origin directly once and against bare Pingora, nginx and Anteroom in
# an order that rotates each round. Every
# request — to all three targets — carries the same X-Anteroom-Pass header.
# Prints req/s, p50 and p99 for each target (medians over rounds) and the headline ratio:
# the median over rounds of Anteroom / bare within the round (pairing neighbouring runs
# cancels slow drift of the shared machine), plus the ratio of the medians for reference.
# Many short rounds, not a few long ones: on 2 shared cores single runs of the same target
# can vary by 10% or more (3 rounds of 10 s once gave per-round ratios from 0.70 to 1.17).
# Other work on the machine skews everything: the script waits (up to 10 min) for a quiet
# machine and reports, per run, the share of the CPU other processes used; on a quiet
# machine that column reads 0-1 and the ratio repeats within a couple of percent.
# Exit status: 0 within both budgets, 3 below one, 1 on any setup or measurement failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BUDGET=0.9
NGINX_BUDGET=0.7

ROUNDS=12
DURATION=5
CONNECTIONS=32
WRK_THREADS=1
WORKERS=1
BUILD=1
KEEP=""
WAIT_QUIET=1
TLS=0

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROUNDS=1; DURATION=3; shift ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --connections) CONNECTIONS="$2"; shift 2 ;;
        --threads) WRK_THREADS="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP="$2"; shift 2 ;;
        --no-wait) WAIT_QUIET=0; shift ;;
        --tls) TLS=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 1 ;;
    esac
done
for value in "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "$WORKERS"; do
    case "$value" in ''|*[!0-9]*) echo "not a positive integer: '$value'" >&2; exit 1 ;; esac
    [ "$value" -ge 1 ] || { echo "must be >= 1: $value" >&2; exit 1 ;}
done
[ "$ROUNDS" -le 20 ] || { echo "--rounds: at most 20" >&2; exit 1; }
[ "$DURATION" -le 120 ] || { echo "--duration: at most 120 s" >&2; exit 1; }

log() { printf '[admitted] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- tools
command -v curl >/dev/null || die "curl is required"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
install_pkg() { # command, package
    command -v "$1" >/dev/null && return 0
    log "$1 not found; installing it (apt-get install -y $2)"
    $SUDO apt-get install -y "$2" >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y "$2" >/dev/null 2>&1; } \
        || die "could not install $2"
}
install_pkg wrk wrk
PATH="$PATH:/usr/sbin"
install_pkg nginx nginx-light

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
    log "building release (CARGO_TARGET_DIR=$TARGET_DIR)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -p anteroom --examples --bin anteroom) \
        || die "cargo build"
fi
BIN="$TARGET_DIR/release"
for exe in "$BIN/anteroom" "$BIN/examples/bare_proxy" "$BIN/examples/bench_origin"; do
    [ -x "$exe" ] || die "missing $exe (run without --no-build)"
done

# ---------------------------------------------------------------- processes
WORK="$(mktemp -d /tmp/anteroom-bench.XXXXXX)"
PIDS=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Pingora shuts down gracefully within grace period + shutdown timeout; then force it.
    local waited=0
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1; waited=$((waited + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && log "logs and raw output kept in $KEEP"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

USED_PORTS=" "
free_port() {
    local attempt port
    for attempt in $(seq 1 200); do
        port=$((20000 + RANDOM % 30000))
        case "$USED_PORTS" in *" $port "*) continue ;; esac
        if [ -z "$(ss -Htan "( sport = :$port or dport = :$port )" 2>/dev/null)" ]; then
            USED_PORTS="$USED_PORTS$port "
            echo "$port"
            return 0
        fi
    done
    return 1
}

ORIGIN_PORT=$(free_port) || die "no free port"
BARE_PORT=$(free_port) || die "no free port"
GATEWAY_PORT=$(free_port) || die "no free port"
NGINX_PORT=$(free_port) || die "no free port"
ADMIN_PORT=$(free_port) || die "no free port"
METRICS_PORT=$(free_port) || die "no free port"
ROOM=bench
PATH_UNDER_TEST="/bench/item"
SCHEME=http
CURL_TLS=()
TLS_DIR=""
if [ "$TLS" = 1 ]; then
    # A throwaway CA and a certificate for 127.0.0.1 (as testkit/src/tls_certs.rs makes).
    command -v openssl >/dev/null || die "openssl is required for --tls"
    TLS_DIR="$WORK/tls"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        echo "subjectAltName=IP:127.0.0.1" >server.ext
        EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        openssl req -x509 -days 2 -subj "/CN=anteroom bench CA" "${EC[@]}" -keyout ca.key -out ca.pem
        openssl req -subj "/CN=127.0.0.1" "${EC[@]}" -keyout server.key -out server.csr
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem
    ) >/dev/null 2>&1 || die "openssl could not make the benchmark certificate"
    SCHEME=https
    CURL_TLS=(--cacert "$TLS_DIR/ca.pem")
fi

# shellcheck source=bench/configs.sh
. "$ROOT/bench/configs.sh"
write_gateway_config
write_nginx_config on

start() { # name, then the command
    local name="$1"; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=("$!")
    log "started $name (pid $!)"
}

wait_http() { # name, url: up to 15 s for any HTTP answer
    local attempt
    for attempt in $(seq 1 150); do
        if curl -s "${CURL_TLS[@]}" -o /dev/null --max-time 1 "$2"; then return 0; fi
        sleep 0.1
    done
    tail -20 "$WORK/$1.log" >&2 || true
    die "$1 did not come up on $2"
}

start origin "$BIN/examples/bench_origin" --listen "127.0.0.1:$ORIGIN_PORT" --threads 1
BARE_TLS=()
[ -z "$TLS_DIR" ] || BARE_TLS=(--tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key")
start bare "$BIN/examples/bare_proxy" --listen "127.0.0.1:$BARE_PORT" --origin "127.0.0.1:$ORIGIN_PORT" --threads "$WORKERS" "${BARE_TLS[@]}"
start anteroom "$BIN/anteroom" serve --config "$WORK/gateway.toml"
start nginx nginx -c "$WORK/nginx.conf" -p "$WORK/nginx"

ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT$PATH_UNDER_TEST"
BARE_URL="$SCHEME://127.0.0.1:$BARE_PORT$PATH_UNDER_TEST"
GATEWAY_URL="$SCHEME://127.0.0.1:$GATEWAY_PORT$PATH_UNDER_TEST"
NGINX_URL="$SCHEME://127.0.0.1:$NGINX_PORT$PATH_UNDER_TEST"
wait_http origin "$ORIGIN_URL"
wait_http bare "$BARE_URL"
wait_http nginx "$NGINX_URL"
wait_http anteroom "$SCHEME://127.0.0.1:$GATEWAY_PORT/_anteroom/status?room=$ROOM"

# ---------------------------------------------------------------- pass and sanity checks
STATUS_JSON=$(curl -s "${CURL_TLS[@]}" --max-time 5 -H 'Accept: application/json' \
    "$SCHEME://127.0.0.1:$GATEWAY_PORT/_anteroom/status?room=$ROOM") || die "status request"
STATE=$(printf '%s' "$STATUS_JSON" | sed -n 's/.*"state":"\([^"]*\)".*/\1/p')
PASS=$(printf '%s' "$STATUS_JSON" | sed -n 's/.*"pass":"\(v1\.[^"]*\)".*/\1/p')
[ "$STATE" = admitted ] && [ -n "$PASS" ] || die "expected an admitted status with a pass, got: $STATUS_JSON"
log "pass: ${PASS:0:24}... (${#PASS} bytes)"

ORIGIN_MARK="anteroom-bench-origin"
check_body() { # name, url
    local body
    body=$(curl -s "${CURL_TLS[@]}" --max-time 5 -H "X-Anteroom-Pass: $PASS" -D "$WORK/$1.headers" "$2") || die "$1: request failed"
    case "$body" in
        *"$ORIGIN_MARK"*) ;;
        *) die "$1 did not answer with the origin's body: $(head -c 300 <<<"$body")" ;;
    esac
    head -1 "$WORK/$1.headers" | grep -q ' 200' || die "$1: not a 200: $(head -1 "$WORK/$1.headers")"
}
check_body origin "$ORIGIN_URL"
check_body bare "$BARE_URL"
check_body nginx "$NGINX_URL"
check_body anteroom "$GATEWAY_URL"
# The verified-pass path issues no cookie; a Set-Cookie would mean a renewal or a re-join.
if grep -qi '^set-cookie' "$WORK/anteroom.headers"; then
    die "Anteroom set a cookie on a request with a valid pass (not the admitted path)"
fi
# Without a pass the gateway must not just pass through like the bare proxy: this room
# admits on first sight, so it must hand out a pass cookie (proves the room is protected).
curl -s "${CURL_TLS[@]}" --max-time 5 -o /dev/null -D "$WORK/nopass.headers" "$GATEWAY_URL" || die "request without pass"
grep -qi '^set-cookie: anteroom_pass=' "$WORK/nopass.headers" \
    || die "Anteroom did not treat $PATH_UNDER_TEST as a protected room path"
log "checks passed: origin, bare Pingora, nginx and Anteroom (with pass) all answer with the origin's body"

metric() { # metric line prefix -> value (0 if absent)
    curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" \
        | awk -v prefix="$1" 'index($0, prefix) == 1 { value = $NF } END { print value + 0 }'
}
JOINS_BEFORE=$(metric "anteroom_joins_total{room=\"$ROOM\"}")

# ---------------------------------------------------------------- measurement
# Other work on these 2 cores (a build, a test suite, a database) skews a run. Measure it:
# machine-wide busy CPU (/proc/stat) minus what our three servers and wrk used.
NCPU=$(nproc)
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
server_ticks() {
    local pid total=0 ticks
    for pid in "${PIDS[@]}" $(nginx_pids | sort -u); do
        ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + ticks))
    done
    echo "$total"
}
TICK_HZ=$(getconf CLK_TCK)
# nginx runs a master and --workers workers: count them all.
nginx_pids() { pgrep -f "nginx -c $WORK/nginx.conf" 2>/dev/null; pgrep -f "nginx: worker" 2>/dev/null; }
# Busy share of the machine (%) over 3 s while our servers are idle.
idle_check() {
    local before after
    before=$(machine_ticks); sleep 3; after=$(machine_ticks)
    awk -v d=$((after - before)) -v hz="$TICK_HZ" -v n="$NCPU" 'BEGIN { printf "%.0f", 100 * d / hz / 3 / n }'
}
QUIET_MAX=15
BUSY_NOW=$(idle_check)
if [ "$WAIT_QUIET" = 1 ] && [ "$BUSY_NOW" -gt "$QUIET_MAX" ]; then
    log "the machine is ${BUSY_NOW}% busy with other work: waiting up to 10 min for it to calm down"
    for attempt in $(seq 1 100); do
        BUSY_NOW=$(idle_check)
        [ "$BUSY_NOW" -gt "$QUIET_MAX" ] || break
        sleep 3
    done
fi
[ "$BUSY_NOW" -le "$QUIET_MAX" ] || log "WARNING: the machine is ${BUSY_NOW}% busy with other work; figures will be noisy"

to_ms() { # wrk latency ("812.00us", "1.23ms", "1.01s") -> milliseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

# run_wrk NAME URL SECONDS -> prints "rps p50_ms p99_ms foreign_cpu_%" and keeps the raw
# output. foreign_cpu_%: the machine's busy CPU during the run not used by wrk or our servers.
run_wrk() {
    local name="$1" url="$2" seconds="$3" out
    out="$WORK/wrk-$name.txt"
    local m0 s0 t0 m1 s1 t1 wrk_cpu foreign
    m0=$(machine_ticks); s0=$(server_ticks); t0=$(date +%s.%N)
    wrk_cpu=$( { TIMEFORMAT='%U %S'; time timeout $((seconds + 30)) wrk -t"$WRK_THREADS" \
        -c"$CONNECTIONS" -d"${seconds}s" --latency -H "X-Anteroom-Pass: $PASS" "$url" >"$out" 2>&1; } 2>&1 ) \
        || { cat "$out" >&2; die "wrk against $name"; }
    m1=$(machine_ticks); s1=$(server_ticks); t1=$(date +%s.%N)
    foreign=$(awk -v m=$((m1 - m0)) -v s=$((s1 - s0)) -v hz="$TICK_HZ" -v w="$wrk_cpu" \
        -v t0="$t0" -v t1="$t1" -v n="$NCPU" 'BEGIN {
            split(w, c, " "); f = (m - s) / hz - c[1] - c[2]; if (f < 0) f = 0
            printf "%.0f", 100 * f / ((t1 - t0) * n) }')
    if grep -q 'Non-2xx or 3xx responses' "$out"; then cat "$out" >&2; die "$name answered non-2xx responses"; fi
    if grep -q 'Socket errors' "$out"; then log "WARNING: $name: $(grep 'Socket errors' "$out")"; fi
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50=$(awk '$1 == "50%" { print $2 }' "$out")
    p99=$(awk '$1 == "99%" { print $2 }' "$out")
    [ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] || { cat "$out" >&2; die "could not read wrk output for $name"; }
    echo "$rps $(to_ms "$p50") $(to_ms "$p99") $foreign"
}

WARMUP=$(( DURATION < 3 ? DURATION : 3 ))
log "warm-up: ${WARMUP} s each (wrk -t$WRK_THREADS -c$CONNECTIONS)"
for warm in origin:"$ORIGIN_URL" bare:"$BARE_URL" nginx:"$NGINX_URL" anteroom:"$GATEWAY_URL"; do
    line="$(run_wrk "warmup-${warm%%:*}" "${warm#*:}" "$WARMUP")"
done

RESULTS="$WORK/results.txt" # target round rps p50 p99 foreign-cpu-%
: >"$RESULTS"
log "origin direct: ${DURATION} s"
line="$(run_wrk origin "$ORIGIN_URL" "$DURATION")"
echo "origin 0 $line" >>"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
    case $((round % 3)) in
        1) order="bare nginx anteroom" ;;
        2) order="anteroom bare nginx" ;;
        *) order="nginx anteroom bare" ;;
    esac
    for target in $order; do
        case "$target" in bare) url="$BARE_URL" ;; nginx) url="$NGINX_URL" ;; *) url="$GATEWAY_URL" ;; esac
        line="$(run_wrk "$target-round$round" "$url" "$DURATION")"
        echo "$target $round $line" >>"$RESULTS"
        log "round $round/$ROUNDS $target: $(awk '{ printf "%.0f req/s, p50 %.3f ms, p99 %.3f ms", $1, $2, $3 }' <<<"$line")"
    done
done

JOINS_AFTER=$(metric "anteroom_joins_total{room=\"$ROOM\"}")
REJECTED=$(curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk -v prefix="anteroom_pass_rejected_total{room=\"$ROOM\"" 'index($0, prefix) == 1 { sum += $NF } END { print sum + 0 }')
[ "$JOINS_AFTER" = "$JOINS_BEFORE" ] || die "the store was used during the run (joins $JOINS_BEFORE -> $JOINS_AFTER)"
[ "$REJECTED" = 0 ] || die "$REJECTED passes were rejected during the run"

# ---------------------------------------------------------------- report
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_of() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$RESULTS" | median; }

declare -A RPS P50 P99
for target in origin bare nginx anteroom; do
    RPS[$target]=$(column_of "$target" 3)
    P50[$target]=$(column_of "$target" 4)
    P99[$target]=$(column_of "$target" 5)
done
RATIO_OF_MEDIANS=$(awk -v a="${RPS[anteroom]}" -v b="${RPS[bare]}" 'BEGIN { printf "%.3f", a / b }')
ROUND_RATIOS=$(awk '$1 == "bare" { b[$2] = $3 } $1 == "anteroom" { a[$2] = $3 }
    END { for (r = 1; r in b; r++) printf "%s%.3f", (r > 1 ? ", " : ""), a[r] / b[r] }' "$RESULTS")
RATIO=$(tr ',' '\n' <<<"$ROUND_RATIOS" | median | awk '{ printf "%.3f", $1 }')
NGINX_ROUND_RATIOS=$(awk '$1 == "nginx" { b[$2] = $3 } $1 == "anteroom" { a[$2] = $3 }
    END { for (r = 1; r in b; r++) printf "%s%.3f", (r > 1 ? ", " : ""), a[r] / b[r] }' "$RESULTS")
NGINX_RATIO=$(tr ',' '\n' <<<"$NGINX_ROUND_RATIOS" | median | awk '{ printf "%.3f", $1 }')
BARE_VS_NGINX=$(awk -v a="${RPS[bare]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.3f", a / b }')
FOREIGN_MAX=10
BUSY_RUNS=$(awk -v max="$FOREIGN_MAX" '$6 > max { n++ } END { print n + 0 }' "$RESULTS")
VERDICT=$(awk -v r="$RATIO" -v b="$BUDGET" 'BEGIN { print (r >= b) ? "PASS" : "FAIL" }')
NGINX_VERDICT=$(awk -v r="$NGINX_RATIO" -v b="$NGINX_BUDGET" 'BEGIN { print (r >= b) ? "PASS" : "FAIL" }')

CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then REV="$REV (with local changes)"; fi
cat <<EOF

## Admitted request vs bare Pingora and nginx$( [ "$TLS" = 0 ] || echo " over TLS") — $(date -u +%Y-%m-%d) $(date -u +%H:%M) UTC

- machine: $(nproc) cores, ${CPU:-unknown CPU}, $(uname -sr), wrk + proxy + origin on one host
- commit: $REV
- proxies: $WORKERS worker(s) each (nginx worker_processes, bare Pingora --threads, Anteroom [listen] threads)
- transport: $( [ "$TLS" = 0 ] && echo "plain HTTP/1.1" || echo "HTTPS (TLS 1.3, ECDSA P-256, HTTP/1.1 keep-alive) to all three proxies; origin plain HTTP")
- load: \`wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency -H 'X-Anteroom-Pass: <pass>'\`, $ROUNDS round(s), bare/Anteroom order alternating; figures are medians over rounds

| target | req/s | p50 (ms) | p99 (ms) |
|---|---:|---:|---:|
$(for target in origin bare nginx anteroom; do
    case $target in origin) label="origin direct" ;; bare) label="bare Pingora" ;; nginx) label="nginx reverse proxy" ;; anteroom) label="Anteroom, valid pass" ;; esac
    awk -v l="$label" -v r="${RPS[$target]}" -v p="${P50[$target]}" -v q="${P99[$target]}" \
        'BEGIN { printf "| %s | %.0f | %.3f | %.3f |\n", l, r, p, q }'
done)

Anteroom / bare Pingora: **$RATIO** (median of per-round ratios: $ROUND_RATIOS; ratio of the medians: $RATIO_OF_MEDIANS) — budget >= $BUDGET: **$VERDICT**

Anteroom / nginx: **$NGINX_RATIO** (per round: $NGINX_ROUND_RATIOS) — budget >= $NGINX_BUDGET: **$NGINX_VERDICT**; bare Pingora / nginx: $BARE_VS_NGINX
$( [ "$BUSY_RUNS" = 0 ] || echo "
WARNING: in $BUSY_RUNS run(s) other processes used more than $FOREIGN_MAX% of the machine (last column); rerun on a quiet machine.")

Per run (target, round, req/s, p50 ms, p99 ms, % of the machine used by other processes):
\`\`\`
$(cat "$RESULTS")
\`\`\`
EOF

[ "$VERDICT" = PASS ] && [ "$NGINX_VERDICT" = PASS ] || exit 3
