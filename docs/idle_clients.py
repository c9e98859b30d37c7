#!/usr/bin/env python3
"""Measures what idle clients cost a wshub server (chapter 12).

Usage: cargo build --release --example seed
       python3 docs/idle_clients.py target/release/examples/seed 100 500 1000

Starts the example on a free port (PORT), opens idle WebSocket clients in
steps, and prints the server's threads, resident memory and open file
descriptors (from /proc/PID/status, so Linux only), and the kernel stacks its
threads cost (KernelStack in /proc/meminfo: machine-wide, so other programs
starting threads meanwhile add noise; RSS does not count them), then its CPU
time over 10 idle seconds.
"""

import base64, os, socket, subprocess, sys, time
binary, steps = sys.argv[1], [int(x) for x in sys.argv[2:]]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
server = subprocess.Popen([binary], env={**os.environ, "PORT": str(port), "RUST_LOG": "warn"},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def status():
    fields = {}
    for line in open(f"/proc/{server.pid}/status"):
        k, v = line.split(":", 1); fields[k] = v.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]), len(os.listdir(f"/proc/{server.pid}/fd"))
def kernel_stack():
    for line in open("/proc/meminfo"):
        if line.startswith("KernelStack:"):
            return int(line.split()[1])
def connect():
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    c.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return c
for _ in range(100):
    try: socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.05)
time.sleep(0.5)
clients = []
base_threads, base_rss, base_fds = status()
base_kstack = kernel_stack()
print(f"clients=0 threads={base_threads} rss_kib={base_rss} fds={base_fds}")
for n in steps:
    while len(clients) < n:
        clients.append(connect())
    time.sleep(1.0)
    t, r, fds = status()
    k = kernel_stack()
    print(f"clients={n} threads={t} rss_kib={r} fds={fds} per_client: {(r-base_rss)/n:.1f} KiB,"
          f" {(t-base_threads)/n:.2f} threads, {(fds-base_fds)/n:.2f} fds,"
          f" {(k-base_kstack)/n:.1f} KiB kernel stack")
def cpu():
    f = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c0 = cpu(); time.sleep(10); c1 = cpu()
print(f"idle for 10 s with {len(clients)} clients: server CPU time {c1 - c0:.2f} s")
server.kill()
