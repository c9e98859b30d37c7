#!/usr/bin/env bash
# Runs one third-party client suite against the echo example:
#   tests/third_party/run.sh python    # Python `websockets`, in .venv-clients
#   tests/third_party/run.sh node      # Node `ws`, from package-lock.json
# Installs what the suite needs, starts the server on a free port, runs the
# suite (which prints "N passed, N failed") and stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
  python)
    [ -x .venv-clients/bin/python ] || python3 -m venv .venv-clients
    .venv-clients/bin/pip install -q websockets==17.4
    run=(.venv-clients/bin/python tests/third_party/python_websockets.py) ;;
  node)
    [ -d node_modules/ws ] || npm ci --no-audit --no-fund --silent
    run=(node tests/third_party/node_ws.js) ;;
  *) echo "usage: $0 python|node" >&2; exit 2 ;;
esac

cargo build -q --example autobahn
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
PORT=$PORT "${CARGO_TARGET_DIR:-target}/debug/examples/autobahn" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
timeout 30 grep -q -m1 'listening on' <(tail -f "$log") || { cat "$log"; echo "$1: server did not start"; exit 1; }

# The suite's own timeouts bound each check; this bounds the whole run.
timeout 120 "${run[@]}" "ws://127.0.0.1:$PORT/"
