# Shared by bench/compare.sh and bench/attacks.sh (sourced, not run).
#
# Builds wshub's bench server and the load generator in release mode,
# installs the peer's npm packages, and starts and stops one server at a
# time on CPU 0 (the load generator runs on CPU 1). Loopback only.

# File descriptors: each client costs the load generator one and the server
# one. Raise the soft limit to the hard limit (as root, the hard limit may be
# raised too where the process has CAP_SYS_RESOURCE; in a container it may
# not, then the hard limit stays).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "fd limit: $(ulimit -n) (soft), $(ulimit -Hn) (hard)"

# Where cargo puts the binaries: CARGO_TARGET_DIR when set (both builds
# then share it), else each crate's own target/.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    SERVER_BIN=$CARGO_TARGET_DIR/release/examples/bench_server
    LOADGEN=$CARGO_TARGET_DIR/release/loadgen
else
    SERVER_BIN=target/release/examples/bench_server
    LOADGEN=bench/loadgen/target/release/loadgen
fi
# Below the ephemeral range (32768+), where thousands of client sockets live.
BASE_PORT=${BENCH_PORT:-21000}
RUN=$(date -u +%Y%m%dT%H%M%SZ)

build_all() {
    echo "== building (release)"
    cargo build --release --quiet --example bench_server
    cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
    echo "== installing the peer's npm packages"
    npm ci --prefix bench/peer --no-audit --no-fund --loglevel=error >/dev/null
}

SERVER_PID=
PORT=
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
# Other processes the bench started and must stop (a cluster's first node,
# redis-server), by pid.
OTHER_PIDS=()
stop_others() {
    for pid in "${OTHER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    OTHER_PIDS=()
}
trap 'stop_server; stop_others' EXIT

# free_port: a loopback port nobody listens on, below the ephemeral range.
free_port() {
    local port
    for _ in $(seq 50); do
        port=$((BASE_PORT + RANDOM % 2000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    echo "$port"
}

# start_redis: Debian's redis-server on a free loopback port, persistence off,
# on CPU 0 with the servers; sets REDIS_URL and adds its pid to OTHER_PIDS.
start_redis() {
    local port
    port=$(free_port)
    taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --loglevel warning >/dev/null &
    OTHER_PIDS+=($!)
    for _ in $(seq 100); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
            REDIS_URL=redis://127.0.0.1:$port
            return 0
        fi
        sleep 0.1
    done
    echo "redis-server did not answer on $port" >&2
    exit 1
}

# start_server NAME [ENV=VALUE...]: starts it on CPU 0 and waits for its port.
#   wshub        examples/bench_server
#   peer         bench/peer/server.js (Node socket.io)
#   echo-floor   loadgen tcp-echo-server (raw TCP echo, thread per connection)
#   write-floor  loadgen write-floor-server (one thread, non-blocking sends)
start_server() {
    local name=$1; shift
    PORT=$(free_port)
    case "$name" in
        wshub) env PORT="$PORT" "$@" taskset -c 0 "$SERVER_BIN" & ;;
        peer) env PORT="$PORT" "$@" taskset -c 0 node --expose-gc bench/peer/server.js & ;;
        echo-floor) taskset -c 0 "$LOADGEN" tcp-echo-server --port "$PORT" 2>/dev/null & ;;
        write-floor) taskset -c 0 "$LOADGEN" write-floor-server --port "$PORT" 2>/dev/null & ;;
        *) echo "start_server: unknown server $name" >&2; exit 2 ;;
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

# load CSV SERVER PROTO ROUND COMMAND [ARGS...]: one loadgen command on CPU 1
# against the running server, bounded by `timeout`; rows go to CSV, labelled
# SERVER (wshub, peer or floor).
load() {
    local csv=$1 server=$2 proto=$3 round=$4 command=$5; shift 5
    timeout 900 taskset -c 1 "$LOADGEN" "$command" --addr "127.0.0.1:$PORT" --proto "$proto" \
        --server "$server" --csv "$csv" --run "$RUN" --round "$round" "$@"
}
