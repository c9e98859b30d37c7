#!/usr/bin/env bash
# Proof that "Step through it" works: runs `examples/seed.rs` under rust-gdb
# in batch mode with a breakpoint on its documented handler
# `seed::on_client_message`, connects a client that sends a `client-message`,
# and checks that the breakpoint is hit on a connection thread and that the
# backtrace runs from the handler through wshub's connection loop.
#
# Then it checks that every breakpoint the chapters name resolves in gdb.
#
#   .ci/gdb.sh            # prints "gdb: 2 passed, 0 failed" or fails
#   KEEP=1 .ci/gdb.sh     # also keeps the session's output in /tmp/wshub-gdb.log
#
# Chapter 10 (docs/10-debugging.md) shows a session made the same way.
set -uo pipefail
cd "$(dirname "$0")/.."
log=/tmp/wshub-gdb.log
fail() {
  echo "gdb: $1"
  [ -f "$log" ] && tail -n 60 "$log"
  echo "gdb: 0 passed, 2 failed"
  exit 1
}

if ! command -v gdb >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y --no-install-recommends gdb >/dev/null 2>&1 || fail "cannot install gdb"
  else
    fail "gdb is not installed"
  fi
fi
rust_gdb=$(command -v rust-gdb || echo "$HOME/.cargo/bin/rust-gdb")
[ -x "$rust_gdb" ] || fail "rust-gdb not found (it comes with rustup's toolchain)"
command -v python3 >/dev/null || fail "python3 is needed for the test client"

timeout 600 cargo build --quiet --example seed || fail "cargo build --example seed failed"
binary=target/debug/examples/seed

# A free port for the server.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# The client: waits for the server, upgrades, sends one masked text frame
# {"event":"client-message",...}, then stays connected while gdb looks.
python3 - "$port" >/tmp/wshub-gdb-client.log 2>&1 <<'EOF' &
import base64, os, socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 90
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("the server never came up")
        time.sleep(0.2)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(1024)
    if not chunk:
        sys.exit("closed during the handshake")
    head += chunk
assert head.startswith(b"HTTP/1.1 101"), head
payload = b'{"event":"client-message","data":"hello from .ci/gdb.sh"}'
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
print("sent client-message")
time.sleep(60)
EOF
client=$!

PORT=$port RUST_LOG=info timeout 180 "$rust_gdb" -nx -batch \
  -ex 'set pagination off' -ex 'set confirm off' -ex 'set print thread-events off' \
  -ex 'break seed::on_client_message' \
  -ex 'run' \
  -ex 'info threads' \
  -ex 'bt' \
  -ex 'kill' \
  "$binary" >"$log" 2>&1
gdb_rc=$?
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null
[ "$gdb_rc" -eq 124 ] && fail "timed out: the breakpoint was never hit"

grep -q '^Breakpoint 1 at' "$log" || fail "gdb could not set a breakpoint on seed::on_client_message"
grep -Eq 'Thread .* "conn-[0-9]+" hit Breakpoint 1, seed::on_client_message' "$log" ||
  fail "the breakpoint was not hit on a conn-N thread"
for name in '"hub"' '"conn-1-rx"'; do
  grep -q "$name" "$log" || fail "info threads does not list $name"
done
for frame in seed::on_client_message wshub::socket::Socket::dispatch \
  wshub::connection::Connection::run wshub::connection::serve start_thread; do
  grep -q " in $frame\| $frame " "$log" || fail "the backtrace has no $frame"
done
[ -n "${KEEP:-}" ] || rm -f /tmp/wshub-gdb-client.log

# Check 2: every breakpoint a chapter names ("Step through it") resolves in
# the chapter's first example (from the table in docs/README.md), so that
# `break <name>` works for a reader. A function that was renamed, made
# generic or inlined away fails here.
pairs=$(python3 - <<'EOF'
import re
rows = {}
for line in open("docs/README.md"):
    m = re.match(r"\| \d\d \| \[.*?\]\((.*?)\) \| (.*?) \|", line)
    examples = re.findall(r"`examples/(\w+)\.rs`", m.group(2)) if m else []
    if examples:
        rows[m.group(1)] = examples[0]
for chapter, example in sorted(rows.items()):
    try:
        text = open("docs/" + chapter).read()
    except OSError:
        continue  # a chapter from another branch, not merged yet
    step = text.split("## Step through it", 1)[-1].split("\n## ", 1)[0]
    for span in sorted(set(re.findall(r"`([^` <]+)`", step))):
        if "::" in span:
            print(chapter, example, span)
EOF
)
[ -n "$pairs" ] || fail "no breakpoints found in docs/"
for example in $(echo "$pairs" | awk '{print $2}' | sort -u); do
  timeout 600 cargo build --quiet --example "$example" || fail "cargo build --example $example failed"
done
unresolved=0
while read -r chapter example symbol; do
  if ! timeout 60 gdb -nx -batch -ex "break $symbol" "target/debug/examples/$example" 2>&1 | grep -q '^Breakpoint 1 at'; then
    echo "gdb: $chapter: 'break $symbol' does not resolve in examples/$example.rs"
    unresolved=$((unresolved + 1))
  fi
done <<<"$pairs"
if [ "$unresolved" -ne 0 ]; then
  echo "gdb: 1 passed, 1 failed"
  exit 1
fi
echo "$(echo "$pairs" | wc -l) documented breakpoints resolve"
echo "gdb: 2 passed, 0 failed"
