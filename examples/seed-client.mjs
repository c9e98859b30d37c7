// The seed tutorial's client code, run by Node against `cargo run --example seed`.
//
//   cargo run --example seed                 # terminal 1
//   node examples/seed-client.mjs            # terminal 2 (after `npm ci`)
//
// Unchanged but for three things: the import (a browser gets `io` from the
// <script> tag), SERVER_URL (so tests can use another port), and the last
// line: `socket.io("client-message", ...)` throws "socket.io is not a
// function" (`socket.io` is the Manager), so it is `socket.emit(...)`.
// The handlers keep the seed's `(err, data)` shape: socket.io passes only the
// data, so it arrives as `err` and is printed by `console.log(err)`.
import { io } from "socket.io-client";

//Address of the server
const socket = io(process.env.SERVER_URL || "http://localhost:3000");

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
