// The admin UI itself (@socket.io/admin-ui 0.5.1's ui/dist, served by wshub
// at /admin/) in Debian's Chromium, driven by npm's playwright-core, against
// examples/admin.rs (the chat plus the admin namespace). Run by tests/admin.rs:
//
//   node tests/admin/ui.mjs http://127.0.0.1:PORT SCREENSHOT_DIR
//
// A /ws chat client in room `rust` and a socket.io client are connected; the
// UI must list both on its Sockets page and the room on its Rooms page; its
// disconnect button must disconnect the /ws client. Every wait is a page
// condition or an event, with a timeout; screenshots are printed as
// "screenshot: PATH".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { io } from "socket.io-client";

const [base, shots = "target/screenshots"] = process.argv.slice(2);
const WAIT = { timeout: 15_000 };
const deadline = setTimeout(() => (console.error("ui.mjs: not done after 90 s"), process.exit(1)), 90_000);
mkdirSync(shots, { recursive: true });
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
let step = 0;
async function check(name, body) {
  const started = Date.now();
  await body();
  console.log(`ok ${++step} - ${name} (${Date.now() - started} ms)`);
}

// A chat client on /ws: its first frame names its socket; then it joins `rust`.
const ws = new WebSocket(base.replace("http", "ws") + "/ws");
const frames = [];
const waiters = [];
ws.on("message", (m) => { frames.push(JSON.parse(m.toString())); waiters.splice(0).forEach((w) => w()); });
const frame = (test) => new Promise((resolve) => {
  const look = () => { const f = frames.find(test); if (f) resolve(f); else waiters.push(look); };
  look();
});
const wsSid = (await frame((f) => f.session)).session.sid;
ws.send(JSON.stringify({ event: "join-room", data: "rust" }));
await frame((f) => f.event === "room-joined" && f.data.room === "rust");
const sio = io(base, { forceNew: true });
await new Promise((resolve) => sio.once("connect", resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  timeout: 30_000,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
// The page's only outside links are its fonts and icons (Google Fonts, jsDelivr):
// offline they fail, and nothing else may.
const cdn = /^https:\/\/(fonts\.googleapis\.com|cdn\.jsdelivr\.net)\//;
const problems = [];
page.on("requestfailed", (r) => cdn.test(r.url()) || problems.push(`request failed: ${r.url()}`));
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => {
  if (m.type() === "error" && !/ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION/.test(m.text())) {
    problems.push(`console error: ${m.text()}`);
  }
});
// What the UI's connection dialog would save: the server's URL (namespace /admin, no auth).
await page.addInitScript((url) => localStorage.setItem("server_url", url), base);
const text = () => page.innerText("body");
const shoot = async (name) => {
  const path = join(shots, `admin-${name}.png`);
  await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
};

await check("the UI loads from wshub's /admin/ and connects", async () => {
  await page.goto(`${base}/admin/#/sockets/`);
  await page.waitForFunction(() => document.body.innerText.includes("CONNECTED") && !document.body.innerText.includes("DISCONNECTED"), null, WAIT);
});
await check("the Sockets page lists the /ws client and the socket.io client", async () => {
  await page.waitForFunction((ids) => ids.every((id) => document.body.innerText.includes(id)), [wsSid, sio.id], WAIT);
  if (!(await text()).includes("WebSocket")) fail("no transport shown");
  await shoot("sockets");
});
await check("the Rooms page shows the room `rust` with its socket", async () => {
  await page.click("text=Rooms");
  await page.waitForFunction(() => /rust\s+PUBLIC\s+1/.test(document.body.innerText), null, WAIT);
  await shoot("rooms");
});
await check("the Servers page lists this server (its id: hostname:port), and the Dashboard its charts", async () => {
  await page.click("text=Servers");
  const port = new URL(base).port;
  await page.waitForFunction((port) => document.body.innerText.includes(`:${port}`), port, WAIT);
  await shoot("servers");
  await page.click("text=Dashboard");
  await page.waitForFunction(() => document.querySelectorAll("canvas").length > 0, null, WAIT);
  await shoot("dashboard");
});
await check("its disconnect button disconnects the /ws client", async () => {
  const closed = new Promise((resolve) => ws.once("close", resolve));
  await page.click("text=Sockets");
  await page.locator("tr", { hasText: wsSid }).locator("button").click();
  const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r("no close"), 10_000))]);
  if (code !== 1000) fail(`the /ws client was not closed with 1000 (${code})`);
  await page.click("text=Sockets");
  await page.waitForFunction((id) => !document.body.innerText.includes(id), wsSid, WAIT);
  if (!sio.connected || !(await text()).includes(sio.id)) fail("the socket.io client went too");
});
if (problems.length) fail(problems.join("\n"));
console.log("checks ok");
await browser.close();
sio.close();
clearTimeout(deadline);
process.exit(0);
