#!/usr/bin/env bash
# wshub against the Node socket.io peer and the floors (a raw TCP echo; the
# write floor: one thread writing each frame to every socket), in one run.
#
#   bench/compare.sh                          # 3 alternating rounds, tables + ratios
#   bench/compare.sh --rounds 5               # more rounds
#   bench/compare.sh --wshub-protocol ws      # wshub on its /ws JSON protocol instead
#   bench/compare.sh --scale                  # also: 10,000 idle clients + broadcast
#   bench/compare.sh --scale-only             # only the scale run
#   bench/compare.sh --cluster                # also: broadcasts across 2 nodes over Redis
#   bench/compare.sh --cluster-only           # only the cluster rows
#   bench/compare.sh --tls                    # also: echo and broadcast over wss against ws
#   bench/compare.sh --tls-only               # only the TLS rows
#
# Each round, per server: idle cost (RSS, threads, kernel stack; wshub on
# /ws and on socket.io, each on a fresh process), echo, broadcast to 100 and
# to 1000, a burst (100 broadcasts back to back to 1000), and 1000 receivers
# beside a client that stopped reading. Then the floors. --cluster: a
# redis-server, and broadcasts on one node, on one node with the adapter, and
# across two nodes (wshub's and Node's). --tls: echo and broadcast, plain and
# over TLS, per server.
#
# Builds everything in release mode, installs the peer's npm packages
# (`npm ci`), pins every server to CPU 0 and the load generator to CPU 1, and
# alternates the servers round by round so that a noisy neighbour hurts both.
# Writes bench/results.csv (this run's rows) and docs/bench.svg, and prints
# the tables and every target with ✓ / ✗.
# Loopback only; every load loop in bench/loadgen is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
WSHUB_PROTO=socketio # protocol for protocol; `ws` measures wshub's /ws JSON instead
SCALE=0
CLUSTER=0
TLS=0
COMPARE=1
SCALE_CLIENTS=10000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --wshub-protocol) WSHUB_PROTO="$2"; shift 2 ;;
        --scale) SCALE=1; shift ;;
        --scale-only) SCALE=1; COMPARE=0; shift ;;
        --cluster) CLUSTER=1; shift ;;
        --cluster-only) CLUSTER=1; COMPARE=0; shift ;;
        --tls) TLS=1; shift ;;
        --tls-only) TLS=1; COMPARE=0; shift ;;
        --scale-clients) SCALE_CLIENTS="$2"; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$WSHUB_PROTO" in ws|socketio) ;; *) echo "--wshub-protocol: ws or socketio" >&2; exit 2 ;; esac

CSV=bench/results.csv
SVG=docs/bench.svg
# shellcheck source=bench/common.sh
. bench/common.sh
build_all

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
            if [ "$server" = wshub ]; then
                proto=$WSHUB_PROTO; idle_protos="ws socketio"; gc=""
            else
                proto=socketio; idle_protos="socketio"; gc="--gc"
            fi
            # Idle cost on a fresh process per protocol: nothing cached from
            # other measures. wshub is measured on both of its protocols.
            for p in $idle_protos; do
                start_server "$server"
                load "$CSV" "$server" "$p" "$round" idle --pid "$SERVER_PID" --step 1000 --total 3000 $gc
                stop_server
            done
            start_server "$server"
            load "$CSV" "$server" "$proto" "$round" echo --n 10000 --warmup 1000
            load "$CSV" "$server" "$proto" "$round" broadcast --receivers 100 --rounds 100 --warmup 5
            load "$CSV" "$server" "$proto" "$round" broadcast --receivers 1000 --rounds 100 --warmup 5
            load "$CSV" "$server" "$proto" "$round" broadcast --receivers 1000 --rounds 10 --warmup 2 --burst 100
            load "$CSV" "$server" "$proto" "$round" broadcast --receivers 1000 --rounds 100 --warmup 5 --stall
            stop_server
        done
        echo "== round $round/$ROUNDS: floors (raw TCP echo; the write floor)"
        start_server echo-floor
        load "$CSV" floor tcp "$round" echo --n 10000 --warmup 1000
        stop_server
        start_server write-floor
        load "$CSV" floor "$WSHUB_PROTO" "$round" broadcast --receivers 100 --rounds 100 --warmup 5
        load "$CSV" floor "$WSHUB_PROTO" "$round" broadcast --receivers 1000 --rounds 100 --warmup 5
        load "$CSV" floor "$WSHUB_PROTO" "$round" broadcast --receivers 1000 --rounds 10 --warmup 2 --burst 100
        stop_server
        # For reference (labelled in the report, not a floor): waking threads.
        for n in 100 1000; do
            timeout 300 taskset -c 0 "$LOADGEN" thread-floor --receivers "$n" --rounds 30 --warmup 5 \
                --server wake --csv "$CSV" --run "$RUN" --round "$round"
        done
    done
fi

if [ "$CLUSTER" = 1 ]; then
    # The adapter's cost (issue 10): a broadcast to 1000 receivers on node B,
    # emitted by a client of node A, over a real redis-server (Debian's, on a
    # free loopback port, persistence off, stopped by pid); against the same
    # broadcast on one node without Redis, and on one node with the adapter
    # (a local broadcast, which is also published). wshub's pair against a
    # pair of Node socket.io servers with @socket.io/redis-adapter, same Redis.
    # Every server process and Redis on CPU 0, the load on CPU 1.
    if ! command -v redis-server >/dev/null; then
        echo "SKIPPED --cluster: redis-server is not installed (apt-get install redis-server)" >&2
    else
        [ -d node_modules/@socket.io/redis-adapter ] || npm ci --no-audit --no-fund --loglevel=error >/dev/null
        start_redis
        echo "== cluster: redis-server at $REDIS_URL"
        for round in $(seq "$ROUNDS"); do
            if [ $((round % 2)) = 1 ]; then order="wshub peer"; else order="peer wshub"; fi
            for server in $order; do
                if [ "$server" = wshub ]; then proto=$WSHUB_PROTO; else proto=socketio; fi
                echo "== cluster round $round/$ROUNDS: $server"
                bcast=(broadcast --receivers 1000 --rounds 100 --warmup 5)
                start_server "$server"
                load "$CSV" "$server" "$proto" "$round" "${bcast[@]}" --prefix c1
                stop_server
                start_server "$server" REDIS_URL="$REDIS_URL"
                load "$CSV" "$server" "$proto" "$round" "${bcast[@]}" --prefix c1r
                # Node A keeps running beside B: out of SERVER_PID's hands.
                a_pid=$SERVER_PID a_port=$PORT
                SERVER_PID=
                OTHER_PIDS+=("$a_pid")
                start_server "$server" REDIS_URL="$REDIS_URL"
                load "$CSV" "$server" "$proto" "$round" "${bcast[@]}" --prefix c2 --sender-addr "127.0.0.1:$a_port"
                stop_server
                kill "$a_pid" 2>/dev/null || true
                wait "$a_pid" 2>/dev/null || true
            done
        done
        stop_others
    fi
fi

if [ "$TLS" = 1 ]; then
    # wss against ws (issue 12): echo and broadcast to 1000, each server once
    # without TLS and once with a certificate made here (openssl, P-256, in a
    # temporary directory removed at the end: a throwaway CA, which the load
    # generator trusts, and the server's certificate for localhost signed by
    # it); wshub against Node socket.io over https. The load generator
    # speaks TLS with rustls.
    tls_dir=$(mktemp -d)
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 2 -subj /CN=bench-ca \
        -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.pem" 2>/dev/null
    openssl req "${ec[@]}" -subj /CN=localhost -keyout "$tls_dir/key.pem" -out "$tls_dir/req.pem" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tls_dir/ext.cnf"
    openssl x509 -req -in "$tls_dir/req.pem" -CA "$tls_dir/ca.pem" -CAkey "$tls_dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$tls_dir/ext.cnf" -out "$tls_dir/cert.pem" 2>/dev/null
    tls_env=(TLS_CERT="$tls_dir/cert.pem" TLS_KEY="$tls_dir/key.pem")
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order="wshub peer"; else order="peer wshub"; fi
        for server in $order; do
            if [ "$server" = wshub ]; then proto=$WSHUB_PROTO; else proto=socketio; fi
            echo "== tls round $round/$ROUNDS: $server"
            start_server "$server"
            load "$CSV" "$server" "$proto" "$round" echo --n 10000 --warmup 1000 --prefix plain
            load "$CSV" "$server" "$proto" "$round" broadcast --receivers 1000 --rounds 100 --warmup 5 --prefix plain
            stop_server
            start_server "$server" "${tls_env[@]}"
            load "$CSV" "$server" "$proto" "$round" echo --n 10000 --warmup 1000 --prefix tls --tls "$tls_dir/ca.pem"
            load "$CSV" "$server" "$proto" "$round" broadcast --receivers 1000 --rounds 100 --warmup 5 \
                --prefix tls --tls "$tls_dir/ca.pem"
            stop_server
        done
    done
    rm -rf "$tls_dir"
fi

if [ "$SCALE" = 1 ]; then
    # Each wshub client has one thread, and each thread four memory mappings
    # (its stack and guard page, and the signal stack Rust's runtime gives every
    # thread, with its guard). The kernel's per-process cap, vm.max_map_count
    # (65,530 by default), thus stops wshub near 16,000 clients. Raise it when
    # we may (root) and must: it is only a limit. Otherwise say so and go on.
    maps_needed=$((SCALE_CLIENTS * 4 + 10000))
    maps_now=$(cat /proc/sys/vm/max_map_count)
    if [ "$maps_now" -lt "$maps_needed" ]; then
        if (echo "$maps_needed" > /proc/sys/vm/max_map_count) 2>/dev/null; then
            echo "vm.max_map_count raised from $maps_now to $maps_needed for $SCALE_CLIENTS clients"
        else
            echo "WARNING: vm.max_map_count is $maps_now; wshub needs about $maps_needed for" \
                "$SCALE_CLIENTS clients (run: sysctl -w vm.max_map_count=$maps_needed)" >&2
        fi
    fi
    echo "== scale: $SCALE_CLIENTS idle clients (wshub: 1 thread each; pid_max $(cat /proc/sys/kernel/pid_max))"
    # Each client costs the server one descriptor on either protocol, so
    # 10,000 fit a 20,000-descriptor limit. Heartbeat every 10 s, so that each
    # client is pinged while held.
    start_server wshub PING_MS=10000 MAX_CLIENTS=$((SCALE_CLIENTS * 2))
    load "$CSV" wshub "$WSHUB_PROTO" scale scale --pid "$SERVER_PID" --clients "$SCALE_CLIENTS" --hold-secs 30 --rounds 5
    stop_server
    # The peer pings every 25 s (socket.io's default), also within the hold.
    start_server peer
    load "$CSV" peer socketio scale scale --pid "$SERVER_PID" --clients "$SCALE_CLIENTS" --hold-secs 30 --rounds 5
    stop_server
fi

echo "== machine load after: $(uptime)"
echo
"$LOADGEN" report --csv "$CSV" --svg "$SVG" --run "$RUN"
