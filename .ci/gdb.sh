#!/usr/bin/env bash
# Proof that every chapter's "Step through it" works as written: runs each
# chapter's debugger session (its ```text,gdb-session block) the way a learner
# would, with .ci/gdb_sessions.py: the chapter's example under rust-gdb, the
# chapter's client in a "second terminal", every gdb command in order, and
# what gdb prints compared with the chapter line for line (every stop, in the
# order given, and every `print`); then `continue` to the end, and a check
# that the example still serves (or exited normally, for the examples that
# are their own client). It also checks that every function a chapter's
# "Step through it" names resolves as a breakpoint in gdb.
#
#   .ci/gdb.sh                     # ends with "gdb: N passed, N failed"
#   .ci/gdb.sh docs/05-events.md   # one chapter
#   KEEP=1 .ci/gdb.sh              # keep the logs in $TMPDIR/wshub-gdb/ (kept anyway on failure)
#   GDB_SHOW=1 .ci/gdb.sh docs/05-events.md   # print what gdb says now, to paste into the chapter
#   GDB_BLESS=1 .ci/gdb.sh         # the code moved: rewrite the line numbers in the chapters
#
# Chapter 10 (docs/10-debugging.md) explains the session format.
set -uo pipefail
cd "$(dirname "$0")/.."
fail() {
  echo "gdb: $1"
  echo "gdb: 0 passed, 1 failed"
  exit 1
}

if ! command -v gdb >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gdb >/dev/null 2>&1 ||
      fail "cannot install gdb"
  else
    fail "gdb is not installed"
  fi
fi
command -v rust-gdb >/dev/null || [ -x "$HOME/.cargo/bin/rust-gdb" ] ||
  fail "rust-gdb not found (it comes with rustup's toolchain)"
command -v python3 >/dev/null || fail "python3 is needed to run the sessions"
# The chapters' clients: Node with socket.io-client and ws (package.json), curl.
for tool in node curl; do
  command -v "$tool" >/dev/null || echo "gdb: warning: $tool is missing; the sessions that use it will fail"
done
if [ ! -d node_modules ] && command -v npm >/dev/null; then
  npm ci --silent >/dev/null 2>&1 || echo "gdb: warning: npm ci failed; the sessions with a Node client will fail"
fi

timeout 900 cargo build --quiet --examples || fail "cargo build --examples failed"
ulimit -c 0 # a debugger that crashes leaves no core file behind
exec python3 .ci/gdb_sessions.py "$@"
