// The admin UI's protocol (@socket.io/admin-ui 0.5), spoken by the real
// socket.io-client as the UI speaks it, against the server of tests/admin.rs:
//
//   node tests/admin/protocol.mjs http://127.0.0.1:PORT PASSWORD development|production
//
// Clients of both protocols come and go meanwhile: a `/ws` client (npm's ws)
// and socket.io clients. Every wait is for an event, bounded by one deadline.
import WebSocket from "ws";
import { io, url, check, fail, next, done } from "../socketio/lib.mjs";
import { record } from "./record.mjs";

const [password, mode = "development"] = process.argv.slice(3);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);


const admin = (auth) => io(`${url}/admin`, { forceNew: true, reconnection: false, auth });
const named = (name, test) => (e) => e[0] === name && test(e);
const total = (log, type) =>
  log.filter((e) => e[0] === "server_stats").flatMap((e) => e[1].aggregatedEvents).filter((a) => a.type === type)
    .reduce((sum, a) => sum + a.count, 0);

// ---- auth ----
for (const auth of [{ username: "admin", password: "wrong" }, { username: "root", password }, {}]) {
  const refused = admin(auth);
  const [error] = await next(refused, "connect_error");
  check(error.message === "invalid credentials", `refused ${JSON.stringify(auth)}: connect_error "${error.message}"`);
  refused.close();
}
const ui = admin({ username: "admin", password });
const log = record(ui);
await next(ui, "connect");
const [, sessionId] = await log.until((e) => e[0] === "session", "the right password: in, with a session id");
check(/^[0-9a-f]{16}$/.test(sessionId), `the session id is 16 hex digits (${sessionId})`);
const [, config] = await log.until((e) => e[0] === "config", "config");
const features = mode === "development"
  ? ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"]
  : ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS"];
check(same(config.supportedFeatures, features), `supportedFeatures ${config.supportedFeatures}`);
const [, stats] = await log.until((e) => e[0] === "server_stats", "server_stats");
check(typeof stats.serverId === "string" && typeof stats.hostname === "string" && Number.isInteger(stats.pid),
  `server_stats: serverId ${stats.serverId}, hostname, pid`);
check(typeof stats.uptime === "number" && stats.clientsCount >= 1 && stats.pollingClientsCount >= 0 &&
  Array.isArray(stats.aggregatedEvents), "server_stats: uptime, clientsCount, pollingClientsCount, aggregatedEvents");
check(stats.namespaces.some((n) => n.name === "/admin" && n.socketsCount === 1) &&
  stats.namespaces.some((n) => n.name === "/"), `server_stats: namespaces ${JSON.stringify(stats.namespaces)}`);

// A second UI with the session id instead of the password (what the UI does on reconnect).
const again = admin({ sessionId });
const againLog = record(again);
await next(again, "connect");
await againLog.until((e) => e[0] === "config");
check(!againLog.some((e) => e[0] === "session"), "the session id is accepted on reconnect (no new session)");
// Its id as the server knows it (a socket.io client's `socket.id`), for its socket_disconnected below.
const againId = again.id;
again.close();

if (mode === "production") {
  // Production: only the dashboard. Clients come and go, and are only counted.
  const ws = new WebSocket(url.replace("http", "ws") + "/ws");
  await next(ws, "open");
  ws.close();
  await next(ws, "close");
  const c = io(url, { forceNew: true });
  await next(c, "connect");
  c.close();
  // ui, again, ws, c: four connections, three gone.
  while (total(log, "rawConnection") < 4 || total(log, "rawDisconnection") < 3) await next(ui, "server_stats");
  check(total(log, "rawConnection") === 4 && total(log, "rawDisconnection") === 3,
    "production: aggregatedEvents count 4 connections and 3 disconnections");
  check(!log.some((e) => ["all_sockets", "socket_connected", "socket_disconnected", "event_received"].includes(e[0])),
    "production: no all_sockets, no socket events");
  done();
}

// ---- development: every socket, as it comes and goes ----
const [, all] = await log.until((e) => e[0] === "all_sockets", "all_sockets");
const me = all.find((s) => s.id === ui.id);
check(me && me.nsp === "/admin" && same(me.rooms, [ui.id]) && me.handshake.address === "127.0.0.1",
  "all_sockets holds the admin socket itself, with its rooms and handshake");
const [, , , why] = await log.until(named("socket_disconnected", (e) => e[1] === "/admin" && e[2] === againId),
  "the second UI: socket_disconnected");
check(why === "client namespace disconnect", `  reason: ${why}`);

// A /ws client: a socket of `/`, over WebSocket.
const ws = new WebSocket(url.replace("http", "ws") + "/ws");
const wsEvents = [];
ws.on("message", (m) => wsEvents.push(JSON.parse(m.toString())));
const wsEvent = (name) => new Promise((resolve) => {
  const poll = () => { const i = wsEvents.findIndex((e) => e.event === name); if (i >= 0) resolve(wsEvents.splice(i, 1)[0]); else setTimeout(poll, 5); };
  poll();
});
const [, wsSocket] = await log.until(named("socket_connected", (e) => e[1].nsp === "/" && e[1].handshake.url.startsWith("/ws")),
  "a /ws client: socket_connected in namespace /");
const wsId = wsSocket.id;
check(wsSocket.transport === "websocket" && same(wsSocket.rooms, [wsId]) && typeof wsSocket.clientId === "string" &&
  typeof wsEvent === "function" && typeof wsSocket.handshake.headers === "object", "  transport websocket, its own room, a client id");

// A socket.io client on polling, then its upgrade.
const c = io(url, { forceNew: true });
await next(c, "connect");
const cId = c.id; // socket.io-client forgets it on disconnect
const [, cSocket] = await log.until(named("socket_connected", (e) => e[1].id === c.id), "a socket.io client: socket_connected");
check(cSocket.nsp === "/" && cSocket.transport === "polling", `  on ${cSocket.transport} first`);
const [, update] = await log.until(named("socket_updated", (e) => e[1].id === c.id), "socket_updated after its upgrade");
check(update.transport === "websocket" && update.nsp === "/", "  transport websocket");
await log.until(named("server_stats", (e) => e[1].namespaces.some((n) => n.name === "/" && n.socketsCount === 2)),
  "server_stats: / has 2 sockets");

// Events in and out.
c.emit("hello", "there");
await next(c, "hi");
await log.until(named("event_received", (e) => e[1] === "/" && e[2] === c.id && same(e[3], ["hello", "there"])),
  "event_received [hello, there]");
await log.until(named("event_sent", (e) => e[1] === "/" && e[2] === c.id && e[3][0] === "hi"), "event_sent [hi, …]");

// ---- the UI's commands ----
let cNews = 0;
c.on("news", () => (cNews += 1));
ui.emit("join", "/", "vip", wsId);
await log.until(named("room_joined", (e) => same(e.slice(1, 4), ["/", "vip", wsId])), "join with a socket id as filter: room_joined");
ui.emit("emit", "/", "vip", "news", 1);
check(same(await wsEvent("news"), { event: "news", data: 1 }), "emit to room vip: the /ws client gets it");
ui.emit("emit", "/", c.id, "direct", "a", "b");
check(same(await next(c, "direct"), ["a", "b"]), "emit to a socket id, two arguments: that client gets both");
check(cNews === 0, "  and the socket.io client, not in vip, got no news before it");
ui.emit("leave", "/", "vip", wsId);
await log.until(named("room_left", (e) => same(e.slice(1, 4), ["/", "vip", wsId])), "leave: room_left");
ui.emit("join", "/", "everyone");
await log.until(named("room_joined", (e) => same(e.slice(1, 4), ["/", "everyone", c.id])), "join without a filter: every socket of / (the socket.io client)");
await log.until(named("room_joined", (e) => same(e.slice(1, 4), ["/", "everyone", wsId])), "  and the /ws client");
const cGetsNews = next(c, "news");
ui.emit("emit", "/", "everyone", "news", 2);
check(same(await wsEvent("news"), { event: "news", data: 2 }) && same(await cGetsNews, [2]), "emit to everyone: both get it");

const gone = next(c, "disconnect");
ui.emit("_disconnect", "/", false, c.id);
check((await gone)[0] === "io server disconnect", "_disconnect(close: false) of the socket.io client: it hears io server disconnect");
await log.until(named("socket_disconnected", (e) => e[1] === "/" && e[2] === cId && e[3] === "server namespace disconnect"),
  "  socket_disconnected (server namespace disconnect)");
const closed = next(ws, "close");
ui.emit("_disconnect", "/", true, wsId);
check((await closed)[0] === 1000, "_disconnect(close: true) of the /ws client: closed with 1000");
await log.until(named("socket_disconnected", (e) => e[2] === wsId), "  socket_disconnected");
await log.until(named("room_left", (e) => same(e.slice(1, 4), ["/", "everyone", wsId])), "  and it left its rooms: room_left");

// ---- the counts ----
// ui, again, ws, c: four sockets connected; again, c, ws: three gone.
while (total(log, "rawConnection") < 4 || total(log, "rawDisconnection") < 3) await next(ui, "server_stats");
check(total(log, "rawConnection") === 4 && total(log, "rawDisconnection") === 3,
  "aggregatedEvents: 4 connections and 3 disconnections, as they came and went");
const reasons = log.filter((e) => e[0] === "server_stats").flatMap((e) => e[1].aggregatedEvents)
  .filter((a) => a.type === "rawDisconnection").map((a) => a.subType).sort();
check(reasons.includes("client namespace disconnect") && reasons.includes("server namespace disconnect"), `  by reason: ${reasons}`);
check(total(log, "packetsIn") >= 1 && total(log, "bytesOut") > 0, "  packets in, bytes out");
await log.until(named("server_stats", (e) => e[1].namespaces.some((n) => n.name === "/" && n.socketsCount === 0)),
  "server_stats: / has 0 sockets again");
done();
