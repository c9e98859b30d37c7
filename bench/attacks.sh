#!/usr/bin/env bash
# Attacks on wshub and on the Node socket.io peer (same handlers), each
# beside a healthy socket.io client doing an ack round trip every 100 ms.
# Measured, not asserted: prints the healthy client's p50 / p99 / max round
# trip and the server's threads and RSS.
#
#   bench/attacks.sh                    # both attacks, both servers, 1 round
#   bench/attacks.sh --rounds 3         # alternating rounds
#   bench/attacks.sh --sessions 12000 --events 20000 --readers 100
#
# (a) polling sessions: one keep-alive connection opens N Engine.IO
#     long-polling sessions (default 12,000) and abandons every one.
# (b) flood: one client sends N `broadcast` events (default 20,000), each to
#     everybody, as fast as its socket takes them, while R healthy readers
#     (default 100; on wshub half /ws, half socket.io; the peer has no /ws)
#     read; counts lost messages and dropped readers. The attacker speaks
#     socket.io on both servers; on wshub it is run again speaking /ws.
#
# Server on CPU 0, load on CPU 1, loopback only, every loop bounded.
# Writes bench/attacks.csv (this run's rows).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=1
SESSIONS=12000
EVENTS=20000
READERS=100
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --sessions) SESSIONS="$2"; shift 2 ;;
        --events) EVENTS="$2"; shift 2 ;;
        --readers) READERS="$2"; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

CSV=bench/attacks.csv
# shellcheck source=bench/common.sh
. bench/common.sh
build_all

echo "== machine load before: $(uptime)"
rm -f "$CSV"
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="wshub peer"; else order="peer wshub"; fi
    for server in $order; do
        if [ "$server" = wshub ]; then readers=mixed; attackers="socketio ws"; else readers=socketio; attackers="socketio"; fi
        echo "== round $round/$ROUNDS: $server: $SESSIONS abandoned polling sessions"
        start_server "$server"
        load "$CSV" "$server" socketio "$round" attack-polling --pid "$SERVER_PID" --sessions "$SESSIONS" --hold-secs 5
        stop_server
        for attacker in $attackers; do
            echo "== round $round/$ROUNDS: $server: a $attacker client floods $EVENTS broadcasts, $READERS readers"
            start_server "$server"
            load "$CSV" "$server" "$attacker" "$round" attack-flood --pid "$SERVER_PID" --events "$EVENTS" \
                --readers "$READERS" --readers-proto "$readers"
            stop_server
        done
    done
done
echo "== machine load after: $(uptime)"
echo
"$LOADGEN" report --csv "$CSV" --run "$RUN"
