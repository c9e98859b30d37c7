// Measures emit-with-ack round trips (not a test: numbers for the docs).
//   node tests/socketio/roundtrip.mjs http://127.0.0.1:3000 [websocket|polling|default] [count]
import { io, url, transports, done } from "./lib.mjs";

const count = Number(process.argv[4] || 500);
const socket = io(url, { transports });
await new Promise((resolve) => socket.once("connect", resolve));
if (!transports && socket.io.engine.transport.name !== "websocket") {
  await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
}
const times = [];
for (let i = 0; i < count; i++) {
  const start = process.hrtime.bigint();
  await socket.emitWithAck("message-with-ack", i);
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(3);
console.log(`${socket.io.engine.transport.name}: ${count} acks, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
socket.disconnect();
done();
