"""Checks wshub's echo example (examples/autobahn.rs) with the Python
`websockets` client: text, binary, ping, a fragmented send and close codes.

    python tests/third_party/python_websockets.py ws://127.0.0.1:9001/

Run by tests/third_party/run.sh, which starts the server. Prints one line
per check and "python-websockets: N passed, N failed".
"""
import sys
import traceback

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

URL = sys.argv[1]
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def client():
    # max_size=None: the 1 MiB echo below is over the client's own default.
    return connect(URL, max_size=None, open_timeout=10, close_timeout=10)


@check
def text_echo():
    with client() as ws:
        ws.send("héllo ✓")
        assert ws.recv(timeout=10) == "héllo ✓"


@check
def binary_echo_of_one_mebibyte():
    data = bytes(range(256)) * 4096
    with client() as ws:
        ws.send(data)
        assert ws.recv(timeout=10) == data


@check
def ping_gets_a_pong():
    with client() as ws:
        pong = ws.ping(b"are you there")
        assert pong.wait(timeout=10), "no pong"


@check
def fragmented_send_comes_back_whole():
    with client() as ws:
        ws.send(iter(["frag", "ment", "ed"]))  # three frames, one message
        assert ws.recv(timeout=10) == "fragmented"


@check
def client_close_code_is_echoed():
    with client() as ws:
        ws.close(code=4000, reason="bye")
        assert ws.close_code == 4000, ws.close_code


def server_close_code(send):
    """Sends something bad and returns the code of the server's Close."""
    with client() as ws:
        send(ws)
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
        raise AssertionError("the server did not close")


@check
def invalid_utf8_text_gets_1007():
    code = server_close_code(lambda ws: ws.send(b"\xff\xfe", text=True))
    assert code == 1007, code


@check
def message_over_16_mib_gets_1009():
    code = server_close_code(lambda ws: ws.send(b"\0" * ((16 << 20) + 1)))
    assert code == 1009, code


passed = failed = 0
for fn in CHECKS:
    try:
        fn()
        passed += 1
        print(f"ok   {fn.__name__}")
    except Exception:
        failed += 1
        print(f"FAIL {fn.__name__}")
        traceback.print_exc()
print(f"python-websockets: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
