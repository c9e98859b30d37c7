#!/usr/bin/env bash
# wshub against the Node socket.io peer and a raw TCP echo floor, in one run.
#
#   bench/compare.sh                          # 3 alternating rounds, tables + ratios
#   bench/compare.sh --rounds 5               # more rounds
#   bench/compare.sh --wshub-protocol ws      # wshub on its /ws JSON protocol instead
#   bench/compare.sh --scale                  # also: 10,000 idle clients + broadcast
#   bench/compare.sh --scale-only             # only the scale run
#
# Builds everything in release mode, installs the peer's npm packages
# (`npm ci`), pins every server to CPU 0 and the load generator to CPU 1, and
# alternates the servers round by round so that a noisy neighbour hurts both.
# Writes bench/results.csv (this run's rows) and docs/bench.svg.
# Loopback only; every load loop in bench/loadgen is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
WSHUB_PROTO=socketio # protocol for protocol; `ws` measures wshub's /ws JSON instead
SCALE=0
COMPARE=1
SCALE_CLIENTS=10000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --wshub-protocol) WSHUB_PROTO="$2"; shift 2 ;;
        --scale) SCALE=1; shift ;;
        --scale-only) SCALE=1; COMPARE=0; shift ;;
        --scale-clients) SCALE_CLIENTS="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$WSHUB_PROTO" in ws|socketio) ;; *) echo "--wshub-protocol: ws or socketio" >&2; exit 2 ;; esac

# File descriptors: each client costs the load generator one and the server
# one (wshub's two threads share one socket). Raise the soft limit to the hard
# limit; as root, try to raise the hard limit too (works where the process has
# CAP_SYS_RESOURCE; in a container it may not, then the hard limit stays).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "fd limit: $(ulimit -n) (soft), $(ulimit -Hn) (hard)"

CSV=bench/results.csv
SVG=docs/bench.svg
LOADGEN=bench/loadgen/target/release/loadgen
# Below the ephemeral range (32768+), where thousands of client sockets live.
BASE_PORT=${BENCH_PORT:-21000}
RUN=$(date -u +%Y%m%dT%H%M%SZ)

echo "== building (release)"
cargo build --release --quiet --example bench_server
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
echo "== installing the peer's npm packages"
npm ci --prefix bench/peer --no-audit --no-fund --loglevel=error >/dev/null

SERVER_PID=
PORT=
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

# start_server NAME [ENV=VALUE...]: starts it on CPU 0 and waits for its port.
start_server() {
    local name=$1; shift
    for _ in $(seq 50); do # a port nobody listens on
        PORT=$((BASE_PORT + RANDOM % 2000))
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
    done
    case "$name" in
        wshub) env PORT="$PORT" "$@" taskset -c 0 target/release/examples/bench_server & ;;
        peer) env PORT="$PORT" "$@" taskset -c 0 node --expose-gc bench/peer/server.js & ;;
        floor) taskset -c 0 "$LOADGEN" tcp-echo-server --port "$PORT" 2>/dev/null & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name exited at start (port $PORT)" >&2; exit 1; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            sleep 0.2 # let the probe connection go
            return 0
        fi
        sleep 0.1
    done
    echo "$name did not start listening on $PORT" >&2
    exit 1
}

proto_of() {
    case "$1" in wshub) echo "$WSHUB_PROTO" ;; peer) echo socketio ;; floor) echo tcp ;; esac
}

# load SERVER ROUND MEASURE [ARGS...]: one measure on CPU 1, bounded by `timeout`.
load() {
    local server=$1 round=$2 measure=$3; shift 3
    timeout 600 taskset -c 1 "$LOADGEN" "$measure" --addr "127.0.0.1:$PORT" --proto "$(proto_of "$server")" \
        --server "$server" --csv "$CSV" --run "$RUN" --round "$round" "$@"
}

echo "== machine load before: $(uptime)"
rm -f "$CSV"

if [ "$COMPARE" = 1 ]; then
    if [ "$WSHUB_PROTO" = ws ]; then
        echo "NOTE: wshub speaks its /ws JSON protocol here, the peer socket.io."
    fi
    for round in $(seq "$ROUNDS"); do
        # Alternate who goes first, so drift in the machine's load is shared.
        if [ $((round % 2)) = 1 ]; then order="wshub peer"; else order="peer wshub"; fi
        for server in $order; do
            echo "== round $round/$ROUNDS: $server"
            gc=""
            [ "$server" = peer ] && gc="--gc"
            # Idle memory on a fresh process: nothing cached from other measures.
            start_server "$server"
            load "$server" "$round" idle --pid "$SERVER_PID" --step 1000 --total 3000 $gc
            stop_server
            start_server "$server"
            load "$server" "$round" echo --n 10000 --warmup 1000
            load "$server" "$round" broadcast --receivers 100 --rounds 30 --warmup 5
            load "$server" "$round" broadcast --receivers 1000 --rounds 30 --warmup 5
            stop_server
        done
        echo "== round $round/$ROUNDS: floors (raw TCP echo; waking threads without I/O)"
        start_server floor
        load floor "$round" echo --n 10000 --warmup 1000
        stop_server
        for n in 100 1000; do
            timeout 300 taskset -c 0 "$LOADGEN" thread-floor --receivers "$n" --rounds 30 --warmup 5 \
                --server floor --csv "$CSV" --run "$RUN" --round "$round"
        done
    done
fi

if [ "$SCALE" = 1 ]; then
    # Each wshub client has two threads, and each thread four memory mappings
    # (its stack and guard page, and the signal stack Rust's runtime gives every
    # thread, with its guard). The kernel's per-process cap, vm.max_map_count
    # (65,530 by default), thus stops wshub near 8,000 clients. Raise it when
    # we may (root): it is only a limit. Otherwise say so and go on.
    maps_needed=$((SCALE_CLIENTS * 2 * 4 + 10000))
    maps_now=$(cat /proc/sys/vm/max_map_count)
    if [ "$maps_now" -lt "$maps_needed" ]; then
        if (echo "$maps_needed" > /proc/sys/vm/max_map_count) 2>/dev/null; then
            echo "vm.max_map_count raised from $maps_now to $maps_needed for $SCALE_CLIENTS clients"
        else
            echo "WARNING: vm.max_map_count is $maps_now; wshub needs about $maps_needed for" \
                "$SCALE_CLIENTS clients (run: sysctl -w vm.max_map_count=$maps_needed)" >&2
        fi
    fi
    echo "== scale: $SCALE_CLIENTS idle clients (wshub: 2 threads each; pid_max $(cat /proc/sys/kernel/pid_max))"
    # Each client costs the server one descriptor on either protocol, so
    # 10,000 fit a 20,000-descriptor limit. Heartbeat every 10 s, so that each
    # client is pinged while held.
    start_server wshub PING_MS=10000 MAX_CLIENTS=$((SCALE_CLIENTS * 2))
    load wshub scale scale --pid "$SERVER_PID" --clients "$SCALE_CLIENTS" --hold-secs 30 --rounds 5
    stop_server
    # The peer pings every 25 s (socket.io's default), also within the hold.
    start_server peer
    load peer scale scale --pid "$SERVER_PID" --clients "$SCALE_CLIENTS" --hold-secs 30 --rounds 5
    stop_server
fi

echo "== machine load after: $(uptime)"
echo
"$LOADGEN" report --csv "$CSV" --svg "$SVG" --run "$RUN"
