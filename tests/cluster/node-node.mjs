// A Node socket.io 4.8 server with @socket.io/redis-adapter 8.x: one node of
// a cluster, for tests/cluster_wire.rs to talk to over Redis.
//
//   node tests/cluster/node-node.mjs redis://127.0.0.1:PORT [specific]
//
// ("specific": the adapter option publishOnSpecificResponseChannel)
// It listens on 127.0.0.1 (a free port), with namespaces "/" and "/admin",
// and speaks JSON lines:
//   stdout  {"ready":true,"port":..,"uids":{"/":"Ab3x_9","/admin":..}} once subscribed
//           {"id":N,"ok":result} or {"id":N,"error":"..."} for each command
//           {"client":"c1","event":"name","args":[..]} what a client of its own received
//           {"serverSideEmit":"name","nsp":"/","args":[..]} what a server-side emit delivered
//           {"adapter":"broadcast"|"request"|"response","nsp":..,"channel":..,"bytes":N} what the adapter read
//   stdin   {"id":N,"cmd":"...",...} commands (see `commands` below)
// Bytes travel as {"$binary":"<base64>"} both ways, a Date as {"$date":ms} on stdin.
// It exits when stdin closes, or after 60 s whatever happens.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { io as connectClient } from "socket.io-client";

const redisUrl = process.argv[2];
if (!redisUrl) {
  console.error("usage: node node-node.mjs redis://127.0.0.1:PORT");
  process.exit(2);
}
setTimeout(() => {
  console.error("node-node: 60 s are up");
  process.exit(1);
}, 60000).unref();

/** Buffers (which JSON.stringify turns into {type:"Buffer",data}) as $binary markers. */
function say(value) {
  const text = JSON.stringify(value, (_key, v) =>
    v && v.type === "Buffer" && Array.isArray(v.data) ? { $binary: Buffer.from(v.data).toString("base64") } : v,
  );
  process.stdout.write(text + "\n");
}

/** $binary and $date markers from the test into Buffers and Dates. */
function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$binary") return Buffer.from(value.$binary, "base64");
    if (keys.length === 1 && keys[0] === "$date") return new Date(value.$date);
    return Object.fromEntries(keys.map((k) => [k, revive(value[k])]));
  }
  return value;
}

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
pubClient.on("error", (e) => console.error("node-node: redis pub:", String(e)));
subClient.on("error", (e) => console.error("node-node: redis sub:", String(e)));
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const publishOnSpecificResponseChannel = process.argv[3] === "specific";
const io = new Server(httpServer, {
  adapter: createAdapter(pubClient, subClient, { publishOnSpecificResponseChannel }),
});
const namespaces = [io.of("/"), io.of("/admin")];

for (const nsp of namespaces) {
  // Each socket joins the rooms its client asked for, and keeps its data.
  nsp.on("connection", (socket) => {
    socket.data = socket.handshake.auth.data ?? null;
    socket.join(socket.handshake.auth.rooms ?? []);
    socket.on("whoami", (ack) => ack({ id: socket.id, rooms: [...socket.rooms] }));
  });
  // Server-side emits from other nodes; with an ack, answer "node-pong".
  for (const name of ["hello", "ping"]) {
    nsp.on(name, (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      say({ serverSideEmit: name, nsp: nsp.name, args });
      if (ack) ack("node-pong");
    });
  }
  // What the adapter reads from Redis, before it acts on it.
  const adapter = nsp.adapter;
  const onmessage = adapter.onmessage.bind(adapter);
  adapter.onmessage = (pattern, channel, msg) => {
    say({ adapter: "broadcast", nsp: nsp.name, channel: String(channel), bytes: msg.length });
    return onmessage(pattern, channel, msg);
  };
  const onrequest = adapter.onrequest.bind(adapter);
  adapter.onrequest = (channel, msg) => {
    const kind = String(channel).startsWith(adapter.responseChannel) ? "response" : "request";
    say({ adapter: kind, nsp: nsp.name, channel: String(channel), bytes: msg.length });
    return onrequest(channel, msg);
  };
}

await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const port = httpServer.address().port;

/** A broadcast operator for {nsp, rooms, except, volatile, compress, timeout}
 * (flags set in that order, which is the order of their keys on the wire). */
function operator(c) {
  let op = io.of(c.nsp ?? "/");
  for (const room of c.rooms ?? []) op = op.to(room);
  for (const room of c.except ?? []) op = op.except(room);
  if (c.volatile) op = op.volatile;
  if (c.compress !== undefined) op = op.compress(c.compress);
  if (c.timeout !== undefined) op = op.timeout(c.timeout);
  return op;
}

const clients = new Map();

const commands = {
  emit: (c) => operator(c).emit(c.event, ...revive(c.args ?? [])),
  emitWithAck: (c) => operator(c).emitWithAck(c.event, ...revive(c.args ?? [])),
  fetchSockets: async (c) =>
    (await operator(c).fetchSockets()).map((s) => ({
      id: s.id,
      rooms: [...s.rooms].sort(),
      data: s.data ?? null,
      address: s.handshake?.address ?? null,
    })),
  allRooms: async (c) => [...(await io.of(c.nsp ?? "/").adapter.allRooms())].sort(),
  serverSideEmit: (c) => io.of(c.nsp ?? "/").serverSideEmit(c.event, ...(c.args ?? [])),
  serverSideEmitWithAck: (c) => io.of(c.nsp ?? "/").serverSideEmitWithAck(c.event, ...(c.args ?? [])),
  socketsJoin: (c) => operator(c).socketsJoin(c.join),
  socketsLeave: (c) => operator(c).socketsLeave(c.leave),
  disconnectSockets: (c) => operator(c).disconnectSockets(c.close),
  serverCount: (c) => io.of(c.nsp ?? "/").adapter.serverCount(),
  // fetchSockets, then emit to each through its RemoteSocket (for a socket
  // of another node: a broadcast to its id with expectSingleResponse).
  remoteEmit: async (c) => {
    const sockets = await operator(c).fetchSockets();
    for (const s of sockets) s.emit(c.event, ...revive(c.args ?? []));
    return sockets.length;
  },
  // A socket.io client of this node's own: prints every event it gets and
  // answers "ask" with {from: name, got: args}. Resolves once its socket
  // has joined its rooms.
  client: (c) =>
    new Promise((resolve, reject) => {
      const socket = connectClient(`http://127.0.0.1:${port}${c.nsp ?? "/"}`, {
        transports: ["websocket"],
        auth: { rooms: c.rooms ?? [], data: c.data ?? null },
      });
      clients.set(c.name, socket);
      socket.onAny((event, ...args) => {
        if (typeof args[args.length - 1] === "function") args.pop();
        say({ client: c.name, event, args });
      });
      socket.on("ask", (...args) => {
        const ack = args.pop();
        ack({ from: c.name, got: args });
      });
      socket.on("disconnect", (reason) => say({ client: c.name, disconnected: reason }));
      socket.once("connect_error", (e) => reject(e));
      socket.once("connect", () => socket.emit("whoami", (me) => resolve(me)));
    }),
};

// Its own subscription, confirmed by Redis after the adapters' (one
// connection, in order): once it resolves, the adapters are subscribed.
await subClient.subscribe("node-node-ready", () => {});
say({ ready: true, port, uids: Object.fromEntries(namespaces.map((n) => [n.name, n.adapter.uid])) });

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let c;
  try {
    c = JSON.parse(line);
    const run = commands[c.cmd];
    if (!run) throw new Error(`unknown command ${c.cmd}`);
    const result = await run(c);
    say({ id: c.id, ok: result === undefined ? null : result });
  } catch (e) {
    say({ id: c?.id ?? null, error: String(e?.message ?? e), responses: e?.responses ?? null });
  }
});
lines.on("close", () => {
  for (const socket of clients.values()) socket.disconnect();
  process.exit(0);
});
