// Volatile emits with the real socket.io-client 4.8, against the volatile
// server of tests/socketio_api.rs:
//   node tests/socketio/volatile.mjs http://127.0.0.1:PORT FILL
// One client stops reading its TCP socket (as a stalled network or a busy
// page would) while the server sends FILL large events: its socket and
// then its outlet's backlog fill up. Then the server sends volatile events:
// the healthy client gets every one, the stalled one none; once it reads
// again it gets every non-volatile event, and volatile ones again.
import { io, url, check, next, done } from "./lib.mjs";

const FILL = Number(process.argv[4] || 40);
const VOLATILE = 50;
const transports = ["websocket"];

const healthy = io(url, { transports, forceNew: true });
const stalled = io(url, { transports, forceNew: true });
await Promise.all([next(healthy, "connect"), next(stalled, "connect")]);

const count = { healthy: { fill: 0, v: 0 }, stalled: { fill: 0, v: 0 } };
for (const [name, socket] of [["healthy", healthy], ["stalled", stalled]]) {
  socket.on("fill", () => count[name].fill++);
  socket.on("v", () => count[name].v++);
}

// engine.io-client in Node runs on the `ws` package: its TCP socket.
const tcp = stalled.io.engine.transport.ws._socket;
tcp.pause();

const filled = new Promise((resolve) => healthy.on("fill", () => count.healthy.fill === FILL && resolve()));
healthy.emit("fill", FILL);
await filled;
// The hub wrote every fill into both outlets: the stalled one has a backlog now.
let end = next(healthy, "end");
healthy.emit("volatile-burst", VOLATILE);
await end;
check(count.healthy.v === VOLATILE, `the healthy client got all ${VOLATILE} volatile events`);

end = next(stalled, "end");
tcp.resume();
await end;
check(count.stalled.fill === FILL, `once it reads again, the stalled client gets all ${FILL} fills (never dropped)`);
check(count.stalled.v === 0, `and ${count.stalled.v} of the ${VOLATILE} volatile ones: dropped while it could not take them`);

// Reading again, it can take volatile events again.
const ends = [next(healthy, "end"), next(stalled, "end")];
healthy.emit("volatile-burst", VOLATILE);
await Promise.all(ends);
check(count.stalled.v === VOLATILE && count.healthy.v === 2 * VOLATILE, "caught up, it gets volatile events again");
done();
