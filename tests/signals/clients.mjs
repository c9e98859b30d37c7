// Two socket.io-client 4.8 clients, one over WebSocket and one over HTTP
// long-polling, for tests/signals.rs. It prints `ready` once both are
// connected and `<transport> first` when a client has its first broadcast,
// then collects the `broadcast` events each gets (their data is a count:
// 0, 1, 2 …) until the server goes away, and prints one line per client:
// `<transport> <events in order> <disconnect reason>`, e.g.
// `websocket 0..57 transport close`. The test compares these with what a
// `/ws` client saw.
import { io, url, fail } from "../socketio/lib.mjs";

const transports = ["websocket", "polling"];
let connected = 0;
let ended = 0;
for (const transport of transports) {
  const socket = io(url, { transports: [transport], reconnection: false, forceNew: true });
  const got = [];
  socket.on("auth", () => {
    if (++connected === transports.length) console.log("ready");
  });
  socket.on("broadcast", (n) => {
    if (n !== got.length) fail(`${transport}: broadcast ${n} after ${got.length} (lost or out of order)`);
    got.push(n);
    if (n === 0) console.log(`${transport} first`);
  });
  socket.on("connect_error", (e) => fail(`${transport}: connect_error ${e.message}`));
  socket.on("disconnect", (reason) => {
    const range = got.length ? `0..${got.length - 1}` : "none";
    console.log(`${transport} ${range} ${reason}`);
    if (++ended === transports.length) process.exit(0);
  });
}
