// socket.io-client 4.8 over TLS (https and wss) for tests/tls.rs:
//   node tests/tls/socketio.mjs https://127.0.0.1:PORT ca.pem
// The test's self-signed certificate is trusted through `ca`. Over
// polling, over WebSocket, and polling then the upgrade, `message` comes back
// as `message-back` (examples/socketio_reference.rs). One `ok -` line per
// check; non-zero on the first failure; bounded to 20 s (tests/socketio/lib.mjs).
import { readFileSync } from "node:fs";
import { io, check, done } from "../socketio/lib.mjs";

const caFile = process.argv[3];
if (!caFile) {
  console.error("usage: node socketio.mjs https://127.0.0.1:PORT ca.pem");
  process.exit(2);
}
const url = process.argv[2];
const ca = readFileSync(caFile);
const fail = (why) => check(false, why);

for (const run of ["polling", "websocket", "default"]) {
  const transports = run === "default" ? undefined : [run];
  const socket = io(url, { transports, ca, forceNew: true, reconnection: false });
  await new Promise((resolve) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (e) => fail(`${run}: connect_error ${e.message}`));
  });
  if (run === "default" && socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  const back = new Promise((resolve) => socket.once("message-back", resolve));
  socket.emit("message", `over ${run}`);
  check((await back) === `over ${run}`, `${run}: an event and its answer over TLS (${socket.io.engine.transport.name})`);
  socket.close();
}
done();
