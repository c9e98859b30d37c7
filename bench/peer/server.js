// The peer: the seed tutorial's Node socket.io server plus the bench contract.
//   on connect       -> emit "server-message" "Welcome to WebSocket"
//   "client-message" -> emit it back to the sender (echo)
//   "broadcast"      -> emit it to every client, the sender included
//   "ack"            -> answer the client's ack with the data (the healthy
//                       client's round trip in bench/attacks.sh)
// Console logging is off (the seed logged every socket; that would measure
// the terminal). PORT from the environment. Run: `node bench/peer/server.js`.
// With `node --expose-gc`, SIGUSR2 forces a garbage collection, so the bench
// reads a resident size without garbage in it.
// REDIS_URL: one node of a cluster, with @socket.io/redis-adapter (from the
// repository's own node_modules: `npm ci` at the top; bench/compare.sh
// --cluster). TLS_CERT and TLS_KEY (PEM files): https and wss instead.
const fs = require("fs");
const { Server } = require("socket.io");

const PORT = Number(process.env.PORT || 3000);

const httpServer =
  process.env.TLS_CERT && process.env.TLS_KEY
    ? require("https").createServer({
        cert: fs.readFileSync(process.env.TLS_CERT),
        key: fs.readFileSync(process.env.TLS_KEY),
      })
    : require("http").createServer();
const io = new Server(httpServer, {
  cors: { origin: "http://127.0.0.1:5500" },
});

async function joinCluster(url) {
  const { createAdapter } = require("@socket.io/redis-adapter");
  const { createClient } = require("redis");
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

io.on("connection", (socket) => {
  socket.emit("server-message", "Welcome to WebSocket");
  socket.on("client-message", (data) => socket.emit("client-message", data));
  socket.on("broadcast", (data) => io.emit("broadcast", data));
  socket.on("ack", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
});

if (global.gc) {
  process.on("SIGUSR2", () => global.gc());
}

// Listen only once in the cluster: the bench waits for the port.
(process.env.REDIS_URL ? joinCluster(process.env.REDIS_URL) : Promise.resolve()).then(
  () => httpServer.listen(PORT, "127.0.0.1"),
  (e) => {
    console.error(`cannot join the cluster at ${process.env.REDIS_URL}: ${e}`);
    process.exit(1);
  },
);
