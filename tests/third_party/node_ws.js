// Checks wshub's echo example (examples/autobahn.rs) with the Node `ws`
// client: text, binary, ping, a fragmented send and close codes.
//
//   node tests/third_party/node_ws.js ws://127.0.0.1:9001/
//
// Run by tests/third_party/run.sh, which starts the server. Prints one line
// per check and "node-ws: N passed, N failed".
"use strict";
const WebSocket = require("ws");

const url = process.argv[2];
const checks = [];
const check = (name, fn) => checks.push({ name, fn });

// Opens a client and resolves once it is open; every check has 10 s.
function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 0 });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}
const next = (ws, event) => new Promise((resolve) => ws.once(event, (...args) => resolve(args)));

check("text echo", async () => {
  const ws = await open();
  ws.send("héllo ✓");
  const [data, isBinary] = await next(ws, "message");
  if (isBinary || data.toString() !== "héllo ✓") throw new Error(`got ${data}`);
  ws.close();
});

check("binary echo of one mebibyte", async () => {
  const ws = await open();
  const sent = Buffer.alloc(1 << 20, 7);
  ws.send(sent);
  const [data, isBinary] = await next(ws, "message");
  if (!isBinary || !sent.equals(data)) throw new Error("binary echo differs");
  ws.close();
});

check("ping gets a pong", async () => {
  const ws = await open();
  ws.ping("are you there");
  const [data] = await next(ws, "pong");
  if (data.toString() !== "are you there") throw new Error(`pong carried ${data}`);
  ws.close();
});

check("fragmented send comes back whole", async () => {
  const ws = await open();
  ws.send("frag", { fin: false });
  ws.send("ment", { fin: false });
  ws.send("ed", { fin: true });
  const [data] = await next(ws, "message");
  if (data.toString() !== "fragmented") throw new Error(`got ${data}`);
  ws.close();
});

check("client close code is echoed", async () => {
  const ws = await open();
  ws.close(4000, "bye");
  const [code] = await next(ws, "close");
  if (code !== 4000) throw new Error(`close code ${code}`);
});

check("invalid UTF-8 text gets 1007", async () => {
  const ws = await open();
  ws.send(Buffer.from([0xff, 0xfe]), { binary: false });
  const [code] = await next(ws, "close");
  if (code !== 1007) throw new Error(`close code ${code}`);
});

check("message over 16 MiB gets 1009", async () => {
  const ws = await open();
  ws.on("error", () => {}); // the server may reset after its Close
  ws.send(Buffer.alloc((16 << 20) + 1));
  const [code] = await next(ws, "close");
  if (code !== 1009) throw new Error(`close code ${code}`);
});

(async () => {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of checks) {
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("timed out after 10 s")), 10000));
    try {
      await Promise.race([fn(), timeout]);
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }
  console.log(`node-ws: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
