// engine.io-client (npm) against an echo server such as
// examples/engineio_reference.rs, over each transport and the upgrade:
//   node tests/engineio/echo.mjs http://127.0.0.1:3000 [polling|websocket|default]
// (no transport: all three, one after another). Text and binary messages
// must come back unchanged; a message over 100 KiB too. Prints one `ok -`
// line per check, exits non-zero on the first failure, and bounds itself
// to 20 s.
import { Socket } from "engine.io-client";
import { check, done, fail } from "../socketio/lib.mjs"; // the checks and the 20 s deadline

const url = process.argv[2];
const runs = process.argv[3] ? [process.argv[3]] : ["polling", "websocket", "default"];
// A self-signed test certificate (tests/tls.rs) is trusted through `ca`.
const ca = process.env.TLS_CA_PEM;

function next(socket, event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

/** Sends `message` and resolves with what comes back. */
async function echo(socket, message) {
  const back = next(socket, "message");
  socket.send(message);
  return back;
}

function same(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

for (const run of runs) {
  const transports = run === "default" ? undefined : [run];
  const socket = new Socket(url, { transports, ca });
  socket.on("error", (e) => fail(`${run}: ${e.message || e}`));
  await next(socket, "open");
  check(socket.transport.name === (run === "websocket" ? "websocket" : "polling"), `${run}: open over ${socket.transport.name}`);
  if (run === "default") {
    await next(socket, "upgrade");
    check(socket.transport.name === "websocket", `${run}: upgraded to websocket`);
  }
  check((await echo(socket, "hello")) === "hello", `${run}: text comes back`);
  const bytes = Uint8Array.from([0, 1, 2, 253, 254, 255]);
  check(same(await echo(socket, bytes), bytes), `${run}: binary comes back`);
  const big = "é".repeat(60000);
  check((await echo(socket, big)) === big, `${run}: 120 KB of text comes back`);
  const closed = next(socket, "close");
  socket.close();
  await closed;
}
done();
