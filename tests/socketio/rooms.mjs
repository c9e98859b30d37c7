// The socket.io half of the rooms/broadcast test: prints `ready` once it is
// in room "r", then reports what reaches it. The Rust test drives a /ws client.
import { io, url, transports, check, next, done } from "./lib.mjs";

const socket = io(url, { transports });
await next(socket, "connect");
const joined = next(socket, "message-back");
socket.emit("join", "r");
socket.emit("message", "joined"); // answered after the join: the join is done
await joined;
const inRoom = next(socket, "room-message");
const broadcast = next(socket, "broadcast");
console.log("ready");
check((await inRoom)[0] === "hello room", "a /ws client's room emit reaches the socket.io client");
socket.emit("broadcast", "from socket.io");
check((await broadcast)[0] === "from socket.io", "io.emit reaches the socket.io sender too");
socket.disconnect();
done();
