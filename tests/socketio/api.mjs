// The socket.io 4.8 server API, as socket.io-client sees it, against the
// server of tests/socketio_api.rs:
//   node tests/socketio/api.mjs http://127.0.0.1:PORT [websocket|polling|default]
import { io, url, transports, check, next, done } from "./lib.mjs";

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (a) => [...a].sort();

async function connected(path = "", options = {}) {
  const socket = io(`${url}${path}`, { transports, forceNew: true, ...options });
  const hello = path === "" ? next(socket, "hello") : null;
  await next(socket, "connect");
  return [socket, hello && (await hello)[0]];
}

// ---- the handshake, the rooms, io.to(socket.id) ----
const [main, hello] = await connected("", { auth: { user: "main" }, query: { team: "blue" } });
check(hello.sid === main.id, "socket.sid() is the client's socket.id");
check(same(hello.rooms, [main.id]), "socket.rooms() holds the socket's own room");
const hs = hello.handshake;
check(hs.address === "127.0.0.1" && typeof hs.headers.host === "string", "handshake: address and headers");
check(/^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT\+0000/.test(hs.time) && typeof hs.issued === "number", "handshake: time and issued");
check(hs.url.startsWith("/socket.io/?") && hs.query.EIO === "4" && hs.query.team === "blue", "handshake: url and query");
check(same(hs.auth, { user: "main" }) && hs.secure === false && typeof hs.xdomain === "boolean", "handshake: auth, secure, xdomain");

const [other] = await connected("", { auth: { user: "other" } });
const direct = next(other, "direct");
const mine = next(main, "direct");
main.emit("to-id", { id: other.id, data: "psst" });
main.emit("to-id", { id: main.id, data: "to myself" });
check((await direct)[0] === "psst", "io.to(socket.id) reaches that socket");
check((await mine)[0] === "to myself", "and no other: the sender's first `direct` is its own");

// ---- on_any, on_any_outgoing ----
main.emit("a", 1);
main.emit("b", 2); // no handler: on_any sees it anyway
const seen = await main.emitWithAck("seen");
check(same(seen.incoming.slice(-3), ["a", "b", "seen"]), `on_any sees every event, handled or not (${seen.incoming})`);
check(seen.outgoing.includes("hello") && seen.outgoing.includes("direct"), `on_any_outgoing sees emits and broadcasts (${seen.outgoing})`);

// ---- socket.use middlewares ----
const refused = next(main, "error");
main.emit("forbidden", "x");
check((await refused)[0].message === "forbidden event", "a middleware refuses a packet: the client gets an error event");
await main.timeout(300).emitWithAck("ignored").then(
  () => check(false, "an ignored packet is answered"),
  () => check(true, "a middleware drops a packet silently: its ack never comes"),
);

// ---- acks ----
await main.timeout(300).emitWithAck("no-answer").then(
  () => check(false, "an unanswered ack was answered"),
  (e) => check(e.message === "operation has timed out", "an event whose handler does not answer times out, as against Node"),
);
check((await main.timeout(5000).emitWithAck("later", "x")) === "x from another thread", "an answer given later, from another thread");

const [silent] = await connected("", { auth: { user: "silent" } });
silent.on("question", () => {}); // never answers
for (const s of [main, other]) s.on("question", (reply) => reply(`${s.id} says yes`));
const acks = await main.emitWithAck("ask-all", 500);
check(same(sorted(acks.replies.map(([sid]) => sid)), sorted([main.id, other.id])), "io.timeout().emit_with_ack collects one answer per client");
check(same(acks.replies.map(([sid, answer]) => answer).sort(), [`${main.id} says yes`, `${other.id} says yes`].sort()), "with what each said");
check(same(acks.missing, [silent.id]), "and reports the one that did not answer");

// ---- fetch_sockets, sockets_join, sockets_leave, disconnect_sockets ----
await other.emitWithAck("join", "r1");
let found = await main.emitWithAck("fetch", "r1");
check(found.length === 1 && found[0].id === other.id && same(sorted(found[0].rooms), sorted([other.id, "r1"])), "io.in_(room).fetch_sockets()");
check(same(found[0].data.incoming.slice(0, 1), ["join"]) && found[0].handshake.auth.user === "other", "a fetched socket shows its data and handshake");
await main.emitWithAck("sockets-join", { room: "r1", join: "r2" });
found = await main.emitWithAck("fetch", "r2");
check(found.length === 1 && found[0].id === other.id, "io.in_(room).sockets_join(other)");
await main.emitWithAck("fetched-join", { id: other.id, join: "r3" });
found = await main.emitWithAck("fetch", "r3");
check(found.length === 1 && found[0].id === other.id, "a fetched socket's join()");
await main.emitWithAck("sockets-leave", { room: "r1", leave: ["r2", "r3"] });
check(same(await main.emitWithAck("fetch", "r2"), []) && same(await main.emitWithAck("fetch", "r3"), []), "io.in_(room).sockets_leave(rooms)");
const all = await main.emitWithAck("fetch", null);
check(same(sorted(all.map((s) => s.id)), sorted([main.id, other.id, silent.id])), "io.fetch_sockets(): every socket of the namespace");
const gone = next(other, "disconnect");
await main.emitWithAck("disconnect-room", "r1");
check((await gone)[0] === "io server disconnect", "io.in_(room).disconnect_sockets() disconnects exactly them");
check(main.connected && silent.connected, "the others stay");
check((await main.emitWithAck("server-side")) === 0, "server_side_emit: no other server answers, alone");

// ---- dynamic namespaces ----
const [d1, d2] = ["/dyn-1", "/dyn-2"].map((nsp) => io(`${url}${nsp}`, { transports, forceNew: true }));
const [w1, w2] = [next(d1, "where"), next(d2, "where")];
check((await w1)[0] === "/dyn-1" && (await w2)[0] === "/dyn-2", "a dynamic namespace makes /dyn-1 and /dyn-2 (socket.namespace())");
const [p1, p2] = [next(d1, "parent"), next(d2, "parent")];
main.emit("parent-emit", "to every /dyn-*");
check((await p1)[0] === "to every /dyn-*" && (await p2)[0] === "to every /dyn-*", "and reaches every one it made");
const nope = io(`${url}/nope`, { transports, forceNew: true });
check((await next(nope, "connect_error"))[0].message === "Invalid namespace", "a name no pattern matches is refused");

// ---- connection middlewares (check_connect), in order ----
const anonymous = io(`${url}/admin`, { transports, forceNew: true });
check((await next(anonymous, "connect_error"))[0].message === "no token", "the first check refuses with its message (connect_error)");
const mallory = io(`${url}/admin`, { transports, forceNew: true, auth: { token: "t", user: "mallory" } });
check((await next(mallory, "connect_error"))[0].message === "banned", "then the second, in registration order");
const [admin] = await connected("/admin", { auth: { token: "t", user: "ana" } });
check(admin.connected, "a client both checks accept connects");
done();
