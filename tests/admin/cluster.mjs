// The admin UI's view of a cluster: two wshub nodes on one Redis, the UI
// connected to node A only. Run by tests/admin.rs:
//
//   node tests/admin/cluster.mjs http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B
//
// Node B's sockets show up in A's all_sockets (with the transport B knows),
// B's socket events and server_stats reach A's UI, and the UI's commands
// reach B's clients.
import WebSocket from "ws";
import { io, check, next, done } from "../socketio/lib.mjs";
import { record } from "./record.mjs";

const [a, b] = process.argv.slice(2);
const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
const portOf = (url) => new URL(url).port;

const named = (name, test) => (e) => e[0] === name && test(e);

// Clients of node B, before the UI comes: one of each protocol.
const early = io(b, { forceNew: true, transports: ["websocket"] });
await next(early, "connect");
const ws = new WebSocket(b.replace("http", "ws") + "/ws");
await next(ws, "open");

const ui = io(`${a}/admin`, { forceNew: true, reconnection: false });
const log = record(ui);
await next(ui, "connect");
const [, all] = await log.until((e) => e[0] === "all_sockets", "the UI on node A: all_sockets");
const early_ = all.find((s) => s.id === early.id);
check(early_ && early_.nsp === "/" && early_.transport === "websocket" && early_.clientId,
  "  holds node B's socket.io client, with the transport and client node B knows");
check(all.filter((s) => s.nsp === "/").length === 2, "  and node B's /ws client: 2 sockets of / in all");
check(!("_admin" in early_.data), "  (without the _admin it travelled in)");

const ids = new Set();
while (ids.size < 2) ids.add((await log.until(named("server_stats", (e) => !ids.has(e[1].serverId))))[1].serverId);
check([...ids].some((id) => id.endsWith(`:${portOf(a)}`)) && [...ids].some((id) => id.endsWith(`:${portOf(b)}`)),
  `server_stats from both nodes: ${[...ids]}`);
await log.until(named("server_stats", (e) => e[1].serverId.endsWith(`:${portOf(b)}`) &&
  e[1].namespaces.some((n) => n.name === "/" && n.socketsCount === 2)), "  node B's counts its 2 sockets of /");

// A client that comes to node B now: its socket_connected reaches A's UI.
const late = io(b, { forceNew: true });
await next(late, "connect");
const lateId = late.id;
await log.until(named("socket_connected", (e) => e[1].id === lateId), "a new client of node B: socket_connected on A's UI");

// The UI's commands reach node B's clients.
ui.emit("join", "/", "vip", lateId);
await log.until(named("room_joined", (e) => same(e.slice(1, 4), ["/", "vip", lateId])), "join (on B): room_joined from B");
const news = next(late, "news");
ui.emit("emit", "/", "vip", "news", "from A's UI");
check((await news)[0] === "from A's UI", "emit to room vip: node B's client gets it");
const gone = next(late, "disconnect");
ui.emit("_disconnect", "/", false, lateId);
check((await gone)[0] === "io server disconnect", "_disconnect: node B's client is disconnected");
await log.until(named("socket_disconnected", (e) => e[2] === lateId), "  and A's UI hears of it from B");
early.close();
ws.close();
done();
