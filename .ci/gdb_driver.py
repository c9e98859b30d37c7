# Runs one chapter's gdb session inside rust-gdb: `rust-gdb -nx -batch -x .ci/gdb_driver.py BINARY`.
#
# .ci/gdb_sessions.py writes the session (parsed from the chapter's ```text,gdb-session block) to the
# JSON file named by $GDB_SESSION and reads back what this prints: a marker line `@@step N` before the
# output of each command, so that it can compare every command's output with the chapter's text.
#
# What it does for a learner's second terminal: a client (`$ cargo run --example client`) is started
# when the gdb command it follows resumes the program, once the server listens; the lines typed into
# it (`> hello`) are written to its stdin, which stays open until the session ends. Several clients of
# one command start one after another, each once the one before has printed something (connected).
# A client given the chapters' address (`http://127.0.0.1:3000`, `ws://127.0.0.1:3000/ws`) is
# pointed at the session's own free port instead, as `PORT` points the examples.
#
# Nothing here waits by the clock for the program: a command that resumes it returns when gdb stops
# it. Two bounded waits guard against a session that drifted: a resuming command that does not come
# back within $GDB_STEP_TIMEOUT seconds is interrupted (SIGINT, reported as a timeout), and at the end
# of a session whose example keeps serving, a probe (a WebSocket upgrade on /ws and its first frame)
# must succeed before the program is interrupted and killed.

import base64
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time

import gdb

spec = json.load(open(os.environ["GDB_SESSION"]))
PORT = spec["port"]
STEP_TIMEOUT = float(os.environ.get("GDB_STEP_TIMEOUT", "30"))
RESUMING = {"run", "r", "start", "continue", "c", "next", "n", "step", "s", "finish", "fin", "until", "u", "advance", "signal"}


def say(line):
    gdb.write(line + "\n")
    gdb.flush()


def inferior_pids():
    """The program's pid: gdb's children (the shell gdb starts it with execs the program)."""
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            pids += [int(p) for p in open(f"/proc/self/task/{task}/children").read().split()]
        except OSError:
            pass
    return pids


def interrupt():
    for pid in inferior_pids():
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass


def listening(port):
    """True when something listens on `port` (from /proc/net/tcp: no connection is made)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[1].rsplit(":", 1)[1] == f"{port:04X}" and fields[3] == "0A":
                return True
    return False


clients = []


def start_clients(wanted):
    """Starts a command's clients in order, each once the server listens and the one before spoke."""
    for n, client in enumerate(wanted):
        for _ in range(600):  # 60 s, 100 ms apart, for the server to listen
            if listening(PORT):
                break
            time.sleep(0.1)
        log = open(spec["client_log"], "ab")
        log.write(f"=== client: {client['command']}\n".encode())
        log.flush()
        before = log.tell()
        command = client["command"].replace("127.0.0.1:3000", f"127.0.0.1:{PORT}")
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=spec["root"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PORT": str(PORT)},
            start_new_session=True,  # its own process group: ended as a whole below
        )
        for line in client["input"]:
            process.stdin.write((line + "\n").encode())
        process.stdin.flush()
        clients.append(process)
        if n + 1 < len(wanted):
            for _ in range(300):  # until it printed something (it is connected), at most 30 s
                if os.path.getsize(spec["client_log"]) > before:
                    break
                time.sleep(0.1)


def probe():
    """The example still serves: a WebSocket upgrade on /ws is answered and a first frame arrives."""
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "closed during the handshake"
            data += chunk
        if not data.startswith(b"HTTP/1.1 101"):
            return "no 101: " + data.split(b"\r\n")[0].decode(errors="replace")
        rest = data.split(b"\r\n\r\n", 1)[1]
        while len(rest) < 2:
            chunk = s.recv(4096)
            if not chunk:
                return "closed before its first frame"
            rest += chunk
        return None if rest[0] == 0x81 else f"the first frame is not text ({rest[0]:#x})"
    except OSError as e:
        return f"{e}"


for setting in ("pagination off", "confirm off", "print thread-events off", "width 0", "height 0"):
    gdb.execute("set " + setting)
try:
    gdb.execute("set debuginfod enabled off")
except gdb.error:
    pass
# The program's own output goes to a file, so that gdb's output can be compared line for line.
gdb.execute("set args " + " ".join(shlex.quote(a) for a in spec["args"]) + f" > {spec['program_log']} 2>&1")

steps = spec["steps"]
for i, step in enumerate(steps):
    command = step["command"]
    say(f"\n@@step {i}")
    resumes = command.split()[0] in RESUMING
    if command.split()[0] in ("run", "r") and len(command.split()) > 1:
        say("@@error: give the program's arguments on the `$ rust-gdb --args …` line, not to `run`")
        break
    helpers = []
    if step["clients"]:
        helpers.append(threading.Thread(target=start_clients, args=(step["clients"],), daemon=True))
    result = {}
    if step.get("probe"):

        def probing():
            result["probe"] = probe()
            interrupt()

        helpers.append(threading.Thread(target=probing, daemon=True))
    done = threading.Event()
    timed_out = []
    if resumes:

        def watchdog():
            if not done.wait(STEP_TIMEOUT):
                timed_out.append(True)
                interrupt()

        helpers.append(threading.Thread(target=watchdog, daemon=True))
    for helper in helpers:
        helper.start()
    try:
        gdb.execute(command, from_tty=True)
    except gdb.error as e:
        say(str(e))
    done.set()
    if timed_out:
        say(f"@@timeout: `{command}` did not come back within {STEP_TIMEOUT:.0f} s")
        break  # the session drifted: what follows would only wait again
    if step.get("probe"):
        for helper in helpers:
            helper.join(30)
        say("@@probe " + ("ok" if result.get("probe", "no answer") is None else f"failed: {result.get('probe')}"))

say("\n@@end")
for process in clients:
    try:
        process.stdin.close()
    except OSError:
        pass
try:
    gdb.execute("kill", to_string=True)
except gdb.error:
    pass
for process in clients:
    try:
        process.wait(2)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(2)
                break
            except (OSError, subprocess.TimeoutExpired):
                pass
