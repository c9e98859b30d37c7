#!/usr/bin/env bash
# Runs the Autobahn|Testsuite cases (with the `kosoku` runner) against
# examples/autobahn.rs and prints the counts per behavior and one line
# "autobahn: N passed, N failed". Exits non-zero on any failure.
# 12.* and 13.* (permessage-deflate) are left out: tungstenite does not
# implement the extension, and the server declines it in the handshake.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv-conf/bin/kosoku ] || { python3 -m venv .venv-conf && .venv-conf/bin/pip install -q kosoku==0.1.0; }
cargo build --release --example autobahn

# A free port, so that parallel runs on one machine do not collide.
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
log=$(mktemp)
PORT=$PORT "${CARGO_TARGET_DIR:-target}/release/examples/autobahn" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
# Wait (by reading the log, at most 30 s) until the server says it listens.
timeout 30 grep -q -m1 'listening on' <(tail -f "$log") || { cat "$log"; echo "autobahn: server did not start"; exit 1; }

rm -rf reports/servers
mkdir -p reports
# kosoku exits 1 on a failed case; the summary below decides.
.venv-conf/bin/kosoku -m fuzzingclient -x '12.*' -x '13.*' -p 4 -o reports/servers "127.0.0.1:$PORT" >reports/kosoku.log 2>&1 || true
kill -0 $server 2>/dev/null || { echo "autobahn: the server died"; cat "$log"; exit 1; }

python3 - reports/servers/index.json <<'PY'
import collections, json, sys
index = json.load(open(sys.argv[1]))
bad_behavior = {"FAILED", "NO_CLOSE", "UNIMPLEMENTED"}
bad_close = {"FAILED", "FAILED BY CLIENT", "WRONG CODE", "UNCLEAN"}
counts, close_counts, codes, failures = collections.Counter(), collections.Counter(), collections.Counter(), []
for agent, cases in index.items():
    for case, r in sorted(cases.items()):
        counts[r["behavior"]] += 1
        close_counts[r["behaviorClose"]] += 1
        codes[r.get("remoteCloseCode")] += 1
        if r["behavior"] in bad_behavior or r["behaviorClose"] in bad_close:
            failures.append(f'{case}: {r["behavior"]} / close {r["behaviorClose"]}')
        elif r["behavior"] != "OK":
            print(f'  {case}: {r["behavior"]} / close {r["behaviorClose"]}')
print("behavior:", ", ".join(f"{n} {b}" for b, n in counts.most_common()))
print("behaviorClose:", ", ".join(f"{n} {b}" for b, n in close_counts.most_common()))
print("close codes sent by the server:", ", ".join(f"{c}: {n}" for c, n in sorted(codes.items(), key=str)))
for f in failures:
    print("  FAILED", f)
total = sum(counts.values())
print(f"autobahn: {total - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures or total == 0 else 0)
PY
