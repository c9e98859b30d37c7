// The seed tutorial's client code, run by Node against `cargo run --example seed`.
//
//   cargo run --example seed                 # terminal 1
//   node examples/seed-client.mjs            # terminal 2 (after `npm ci`)
//   PORT=8080 node examples/seed-client.mjs  # a server started with PORT=8080
//   SERVER_URL=http://127.0.0.1:8080 node examples/seed-client.mjs   # any address
//
// It prints the welcome, sends its client-message, and exits.
//
// Unchanged but for four things: the import (a browser gets `io` from the
// <script> tag); the address, from SERVER_URL, else PORT, else the seed's
// http://localhost:3000; the last line: `socket.io("client-message", ...)`
// throws "socket.io is not a function" (`socket.io` is the Manager), so it is
// `socket.emit(...)`; and the very end: the seed's client never exits (a
// browser page has no end), this one disconnects once it has been welcomed.
// The handlers keep the seed's `(err, data)` shape: socket.io passes only the
// data, so it arrives as `err` and is printed by `console.log(err)`.
import { io } from "socket.io-client";

//Address of the server
const socket = io(process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`);

// socket.on("connect", (response) => {
//   console.log("Response : ", response);
// });

socket.on("connect", () => {});

//Receving the server message
socket.on("message", (err, data) => {
  if (err) {
    console.log(err);
  } else {
    console.log("Message from the server : ", data);
  }
});

//Reveving the server message
//Here, "server-message" is an event-key which should be equal as server event-key.
socket.on("server-message", (err, data) => {
  if (err) {
    console.log(err);
  } else {
    console.log("Message from the server : ", data);
  }
});

//Emiting message from client to the server
socket.emit("client-message", "Hello there! My name is Laxman");

// Not in the seed: leave once welcomed. The client-message went out when the
// connection opened, before the welcome came; disconnect() sends what is
// still queued, then closes, and Node exits with nothing left to wait for.
socket.on("server-message", () => socket.disconnect());
socket.on("connect_error", (e) => {
  console.error(`cannot connect to the server: ${e.message}`);
  process.exit(1);
});
