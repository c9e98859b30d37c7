// One socket.io-client on its default transports (polling, then the upgrade)
// through a proxy in front of several wshub nodes: it is welcomed by the
// node it reached, upgrades to WebSocket, and its ack round trips work; a
// polling request that reached another node would fail the session.
//   node tests/socketio/through_proxy.mjs http://127.0.0.1:PROXY_PORT
import { io, url, check, next, done, fail } from "./lib.mjs";

const socket = io(url, { reconnection: false });
socket.on("connect_error", (e) => fail(`connect_error: ${e.message}`));
const [welcome] = await next(socket, "server-message");
check(typeof welcome === "string" && welcome.startsWith("Welcome from node "), `welcomed: ${welcome}`);
if (socket.io.engine.transport.name !== "websocket") {
  await next(socket.io.engine, "upgrade");
}
check(socket.io.engine.transport.name === "websocket", "upgraded to websocket through the proxy");
for (let i = 0; i < 20; i++) {
  const answer = await socket.timeout(5000).emitWithAck("whoami", i);
  check(answer === welcome.slice("Welcome from ".length), `ack ${i} from the same node`);
}
socket.disconnect();
done();
