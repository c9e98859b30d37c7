// Runs socket.io-client 4.8 against the reference server (examples/socketio_reference.rs):
//   node tests/socketio/features.mjs http://127.0.0.1:PORT [websocket|polling|default]
import { io, url, transports, defaultTransports, check, next, done } from "./lib.mjs";

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const socket = io(url, { transports, auth: { token: "abc" } });
// Registered before connecting: the server emits `auth` right after CONNECT.
const auth = next(socket, "auth");
await next(socket, "connect");
check(true, `connected over ${socket.io.engine.transport.name}`);
check(same((await auth)[0], { token: "abc" }), "the auth payload reaches the handler (socket.auth())");

if (defaultTransports) {
  // Default transports: polling first, then the upgrade to WebSocket.
  if (socket.io.engine.transport.name !== "websocket") await next(socket.io.engine, "upgrade");
  check(socket.io.engine.transport.name === "websocket", "upgraded from polling to websocket");
}

let back = next(socket, "message-back");
socket.emit("message", 1, "2", { 3: [true] });
check(same(await back, [1, "2", { 3: [true] }]), "client emit reaches its handler; several arguments round-trip");

const ack = await socket.timeout(5000).emitWithAck("message-with-ack", "x", 2);
check(same(ack, "x"), "client emit with ack gets the server's ack");
const acks = await new Promise((resolve) => socket.emit("message-with-ack", "x", 2, (...a) => resolve(a)));
check(same(acks, ["x", 2]), "an ack can carry several arguments");

socket.once("question", (data, reply) => reply(`answer to ${data}`));
const answer = next(socket, "answer-was");
socket.emit("ask-client", "name?");
check(same((await answer)[0], "answer to name?"), "server emit_with_ack gets the client's ack");

back = next(socket, "message-back");
socket.emit("message", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) });
const [bin, nested] = await back;
check(Buffer.isBuffer(bin) && same([...bin], [1, 2, 3]), "a binary attachment goes both ways");
check(Buffer.isBuffer(nested.nested) && nested.nested[0] === 4, "a nested binary attachment goes both ways");

const custom = io(`${url}/custom`, { transports, auth: { ns: "custom" } });
const customAuth = next(custom, "auth");
await next(custom, "connect");
check(custom.io === socket.io, "/custom shares the connection of /");
check(same((await customAuth)[0], { ns: "custom" }), "namespace /custom connects with its own auth");
back = next(custom, "message-back");
custom.emit("message", "in custom");
check(same(await back, ["in custom"]), "events in /custom reach /custom's handler");

const random = io(`${url}/random`, { transports });
const [err] = await next(random, "connect_error");
check(err.message === "Invalid namespace", "an unknown namespace is refused: Invalid namespace");

// The application refuses a connect (`check_connect` on /private): connect_error
// with its message, no socket; the connection stays up for the other namespaces.
const intruder = io(`${url}/private`, { transports, auth: { token: "wrong" } });
const [refused] = await next(intruder, "connect_error");
check(refused.message === "not authorized", "a wrong auth.token is refused by check_connect: not authorized");
check(!intruder.connected && socket.connected && custom.connected, "the refused socket is not connected; / and /custom are");
back = next(socket, "message-back");
socket.emit("message", "after the refusal");
check(same(await back, ["after the refusal"]), "the shared connection still carries events after the refusal");
// The same socket tries again, on the same connection, with the right token.
intruder.auth = { token: "secret" };
const privateAuth = next(intruder, "auth");
intruder.connect();
await next(intruder, "connect");
check(intruder.io === socket.io, "the retry goes over the same connection");
check(same((await privateAuth)[0], { token: "secret" }), "the right auth.token is accepted by check_connect");
intruder.disconnect();

// Heartbeat: with pingInterval 300 ms, several pings pass and we stay connected.
let pings = 0;
await new Promise((resolve) => socket.io.engine.on("ping", () => ++pings >= 3 && resolve()));
check(socket.connected && custom.connected, "stays connected across 3 server pings");

custom.disconnect();
check(!custom.connected && socket.connected, "leaving /custom keeps / connected");

if (transports?.[0] === "websocket") {
  // A message over maxPayload (1,000,000 bytes): the server closes with 1009.
  const big = io(url, { transports, forceNew: true });
  await next(big, "connect");
  const gone = next(big, "disconnect");
  big.emit("message", "x".repeat(1_000_001));
  const [why, details] = await gone;
  check(details?.context?.code === 1009, `an oversize message gets close 1009 (${why})`);
}

const reason = next(socket, "disconnect");
socket.emit("disconnect-me");
check((await reason)[0] === "io server disconnect", "server-side disconnect() reaches the client");
done();
