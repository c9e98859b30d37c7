// Connection state recovery with the real socket.io-client 4.8, against
// examples/recovery.rs (driven by tests/recovery.rs):
//
//   node tests/socketio/recovery.mjs http://127.0.0.1:PORT [websocket|polling|default] recover
//     A joins room r1; B broadcasts 40 packets (to everyone, to r1, to A's own id)
//     and A's transport drops in the middle of them: A comes back recovered, with
//     the same id, and gets all 40, in order, none twice; none meant for a room it
//     is not in; and it is still in r1 afterwards.
//   node tests/socketio/recovery.mjs http://127.0.0.1:PORT websocket expire WAIT_MS
//     A drops and stays away WAIT_MS (longer than RECOVERY_MS): a fresh session.
import { io, url, transports, check, next, done, fail } from "./lib.mjs";

const mode = process.argv[4] || "recover";
const COUNT = 40;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Connects, waits for the welcome (it carries A's first offset) and joins `room`. */
async function joined(name, room, options) {
  const socket = io(url, { transports, forceNew: true, ...options });
  const welcome = next(socket, "server-message");
  await next(socket, "connect");
  await welcome;
  if (room) {
    // The join and the marker go through the hub in this order: once the
    // marker is back, the hub has the join.
    const marker = next(socket, "to-room");
    socket.emit("join", room);
    socket.emit("to-room", { room, data: `${name} joined` });
    check(same((await marker)[0], `${name} joined`), `${name} is in ${room}`);
  }
  return socket;
}

if (mode === "expire") {
  const wait = Number(process.argv[5] || 1000);
  const a = await joined("a", "r1", { reconnection: false });
  check(a.recovered === false, "a first connection is a fresh session");
  const firstId = a.id;
  a.io.engine.close(); // the transport drops: the server keeps the session for RECOVERY_MS
  await new Promise((resolve) => setTimeout(resolve, wait));
  a.connect();
  await next(a, "connect");
  check(a.recovered === false, `after ${wait} ms away (over the maximum duration), a fresh session`);
  check(a.id !== firstId, "with a new id");
  a.disconnect();
  done();
}

const a = await joined("a", "r1", { reconnectionDelay: 300, reconnectionDelayMax: 300, randomizationFactor: 0 });
const b = await joined("b", "r1");
check(a.recovered === false, "A's first connection is a fresh session");
const firstId = a.id;

// What A receives, whatever the event: [kind, n] in arrival order.
const got = [];
const stray = [];
for (const event of ["broadcast", "to-room"]) {
  a.on(event, (data) => {
    if (data && typeof data === "object" && "n" in data) got.push(data.n);
    else if (data && typeof data === "object" && "stray" in data) stray.push(data);
  });
}

// Packet n goes to everyone (n % 3 == 0), to r1 (1), or to A's own id (2);
// between them, packets for a room A is not in, which it must never get.
function send(n) {
  const data = { n };
  if (n % 3 === 0) b.emit("broadcast", data);
  else if (n % 3 === 1) b.emit("to-room", { room: "r1", data });
  else b.emit("to-room", { room: firstId, data });
  b.emit("to-room", { room: "elsewhere", data: { stray: n } });
}

const dropped = next(a, "disconnect");
let closedAt = -1;
a.on("broadcast", (data) => {
  // The connection drops right after packet 9 (once what this read brought
  // is handled): the rest of 10..19 is in flight, written to a connection
  // that is going away, and never read. Over WebSocket the TCP socket
  // itself is destroyed, as a network would; over polling the transport
  // is closed (a long-poll has no socket of its own to lose).
  if (data?.n === 9 && closedAt < 0) {
    closedAt = 9;
    setImmediate(() => {
      const ws = a.io.engine.transport.ws;
      if (ws?._socket) ws._socket.destroy();
      else a.io.engine.close();
    });
  }
});
for (let n = 0; n < 20; n++) send(n);
const [reason] = await dropped;
check(reason !== "io client disconnect", `A's transport dropped (${reason}) after packet ${closedAt}`);
// While A is away: the other 20.
const back = next(a, "connect");
for (let n = 20; n < COUNT; n++) send(n);
await back;
check(a.recovered === true, "A came back recovered (socket.recovered)");
check(a.id === firstId, "with the same id");

// Everything B sent has gone through the hub once B's own marker is back.
const marker = next(b, "to-room");
b.emit("to-room", { room: "r1", data: "b is done" });
await marker;
// ... and A has it too once A's marker is back (A's replay came before it).
const after = new Promise((resolve) => a.on("to-room", (data) => data === "still in r1" && resolve()));
b.emit("to-room", { room: "r1", data: "still in r1" });
await after;
const expected = [...Array(COUNT).keys()];
if (!same(got, expected)) fail(`A got ${JSON.stringify(got)}`);
check(true, `A got all ${COUNT} packets, in order, none twice`);
check(stray.length === 0, "and none meant for a room it is not in");
check(true, "its rooms came back: a room broadcast after the recovery reaches it");
a.disconnect();
b.disconnect();
done();
