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
const { createServer } = require("http");
const { Server } = require("socket.io");

const PORT = Number(process.env.PORT || 3000);

const httpServer = createServer();
const io = new Server(httpServer, {
  cors: { origin: "http://127.0.0.1:5500" },
});

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

httpServer.listen(PORT, "127.0.0.1");
