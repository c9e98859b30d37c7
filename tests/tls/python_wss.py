"""Python `websockets` over wss:// for tests/tls.rs.

    .venv-clients/bin/python tests/tls/python_wss.py wss://127.0.0.1:PORT/ws ca.pem

The test's self-signed certificate is trusted through an SSL context made
from `ca.pem`. Text and binary messages must come back unchanged (the
server echoes with `on_message`). Prints "N passed, N failed"."""

import asyncio
import ssl
import sys

from websockets.asyncio.client import connect


async def main(url: str, ca: str) -> int:
    context = ssl.create_default_context(cafile=ca)
    passed = failed = 0
    async with connect(url, ssl=context, open_timeout=10) as ws:
        for message in ["hello over TLS", b"\x00\x01\xfe\xff", "é" * 50_000]:
            await ws.send(message)
            back = await asyncio.wait_for(ws.recv(), 10)
            if back == message:
                passed += 1
            else:
                failed += 1
                print(f"FAIL: sent {message[:20]!r}, got {back[:20]!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
