// A Node socket.io 4.8 server instrumented by @socket.io/admin-ui 0.5.1 itself
// (its `instrument(io)`), with @socket.io/redis-adapter, in one cluster with a
// wshub node; the admin UI, connected to the wshub node, sees and manages the
// Node server's clients. Run by tests/admin.rs:
//
//   node tests/admin/node-interop.mjs redis://127.0.0.1:PORT http://127.0.0.1:WSHUB_PORT
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { instrument } from "@socket.io/admin-ui";
import { createClient } from "redis";
import { io, check, next, done } from "../socketio/lib.mjs";

const [redisUrl, wshub] = [process.argv[2], process.argv[3]];
const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const httpServer = createServer();
const server = new Server(httpServer, { adapter: createAdapter(pub, sub) });
instrument(server, { auth: false, mode: "development", serverId: "node-server" });
server.on("connection", (socket) => socket.join("from-node"));
await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const nodeUrl = `http://127.0.0.1:${httpServer.address().port}`;
// Until Redis counts both servers on both namespaces (the adapter subscribes
// asynchronously): a condition, asked again until it holds (bounded by lib.mjs's deadline).
for (const nsp of ["/", "/admin"]) {
  while ((await server.of(nsp).adapter.serverCount()) < 2) await new Promise((resolve) => setImmediate(resolve));
}

const client = io(nodeUrl, { forceNew: true, transports: ["websocket"] });
await next(client, "connect");
const clientId = client.id;

const ui = io(`${wshub}/admin`, { forceNew: true, reconnection: false });
const log = [];
const waiting = [];
ui.onAny((...e) => { log.push(e); waiting.splice(0).forEach((w) => w()); });
const until = (test, what) => new Promise((resolve) => {
  const look = () => { const f = log.find(test); if (f) resolve(f); else waiting.push(look); };
  look();
}).then((e) => (console.log(`ok - ${what}`), e));

const [, all] = await until((e) => e[0] === "all_sockets", "the UI on wshub: all_sockets");
const mine = all.find((s) => s.id === clientId);
check(mine && mine.nsp === "/" && mine.transport === "websocket" && mine.rooms.includes("from-node"),
  "  holds the Node server's client, with its transport (from Node's _admin) and rooms");
await until((e) => e[0] === "server_stats" && e[1].serverId === "node-server", "server_stats from the Node server (its instrument())");

const late = io(nodeUrl, { forceNew: true, transports: ["websocket"] });
await next(late, "connect");
const lateId = late.id;
await until((e) => e[0] === "socket_connected" && e[1].id === lateId, "a new client of the Node server: socket_connected");
const gone = next(late, "disconnect");
ui.emit("_disconnect", "/", false, lateId);
check((await gone)[0] === "io server disconnect", "_disconnect from the UI on wshub: the Node server's client is disconnected");
await until((e) => e[0] === "socket_disconnected" && e[2] === lateId, "  socket_disconnected, from Node's instrument()");
client.close();
ui.close();
await server.close();
await Promise.all([pub.quit(), sub.quit()]).catch(() => {});
done();
