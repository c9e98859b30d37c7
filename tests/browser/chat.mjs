// A real browser against examples/chat.rs. Run by tests/browser.rs:
//
//   node tests/browser/chat.mjs http://127.0.0.1:PORT/
//
// Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) is driven by npm's
// playwright-core (`npm ci`); playwright's own browser download is never used.
// Two pages chat with each other; every wait is a page condition
// (waitForFunction / waitForSelector) with a timeout, never a sleep.
// WSHUB_SCREENSHOT=/tmp/chat.png saves a picture of the first page at the end.
import { chromium } from "playwright-core";

const base = process.argv[2];
if (!base) {
  console.error("usage: node tests/browser/chat.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}
const WAIT = { timeout: 10_000 };
// The whole run is bounded, even if the browser hangs.
const deadline = setTimeout(() => {
  console.error("chat.mjs: not done after 90 s; giving up");
  process.exit(1);
}, 90_000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  timeout: 30_000,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

const problems = [];
let step = 0;
async function check(name, body) {
  step += 1;
  const started = Date.now();
  await body();
  console.log(`ok ${step} - ${name} (${Date.now() - started} ms)`);
}

async function open(context, path) {
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${path}: page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`${path}: console error: ${m.text()}`));
  await page.goto(new URL(path, base).href);
  return page;
}

// True once the page's chat log holds a message from `from` with `text`.
const hasMessage = ({ from, text, room }) =>
  [...document.querySelectorAll("#messages li.message")].some(
    (li) => li.dataset.from === from && li.dataset.room === room && li.querySelector(".text").textContent === text,
  );
const hasSystemLine = (text) => [...document.querySelectorAll("#messages li.system")].some((li) => li.textContent === text);
const onlineIs = (nicks) => JSON.stringify([...document.querySelectorAll("#online li")].map((li) => li.textContent)) === JSON.stringify(nicks);

async function setNick(page, nick) {
  await page.fill("#nick", nick);
  await page.press("#nick", "Enter");
}
async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}
async function joinRoom(page, room) {
  await page.fill("#room", room);
  await page.press("#room", "Enter");
}

try {
  // One browser context (window) per user: two tabs of one window would put
  // one in the background, where Chromium throttles its frames and timers
  // (measured here: each wait took about a second longer).
  const viewport = { width: 1024, height: 640 };
  const ana = await open(await browser.newContext({ viewport }), "/");
  const bob = await open(await browser.newContext({ viewport }), "/");

  await check("both pages connect and get the welcome server-message", async () => {
    for (const page of [ana, bob]) {
      await page.waitForFunction(() => document.getElementById("status").classList.contains("open"), null, WAIT);
      await page.waitForFunction(hasSystemLine, "Welcome to WebSocket", WAIT);
    }
  });

  await check("nicknames are set (acked) and both see each other online in #lobby", async () => {
    await setNick(ana, "ana");
    await setNick(bob, "bob");
    await ana.waitForFunction(() => document.getElementById("nick-note").textContent === "You are ana.", null, WAIT);
    await bob.waitForFunction(() => document.getElementById("nick-note").textContent === "You are bob.", null, WAIT);
    for (const page of [ana, bob]) await page.waitForFunction(onlineIs, ["ana", "bob"], WAIT);
  });

  await check("a bad nickname is refused with a reason and changes nothing", async () => {
    await setNick(bob, "bob smith");
    await bob.waitForFunction(
      () => {
        const note = document.getElementById("nick-note");
        return note.classList.contains("error") && note.textContent.includes("not allowed in a nickname");
      },
      null,
      WAIT,
    );
    await ana.waitForFunction(onlineIs, ["ana", "bob"], WAIT);
  });

  await check("a message sent by ana appears on bob's page (and on hers)", async () => {
    await say(ana, "hello from ana <b>not bold</b>");
    const message = { from: "ana", text: "hello from ana <b>not bold</b>", room: "lobby" };
    await bob.waitForFunction(hasMessage, message, WAIT);
    await ana.waitForFunction(hasMessage, message, WAIT);
    await say(bob, "hi ana!");
    await ana.waitForFunction(hasMessage, { from: "bob", text: "hi ana!", room: "lobby" }, WAIT);
  });

  await check("rooms: bob moves to #rust, the online lists follow, ana joins and they talk there", async () => {
    await joinRoom(bob, "Rust");
    await bob.waitForFunction(() => document.getElementById("room-title").textContent === "#rust", null, WAIT);
    await bob.waitForFunction(onlineIs, ["bob"], WAIT);
    await ana.waitForFunction(onlineIs, ["ana"], WAIT);
    await ana.click('button[data-room="rust"]');
    await ana.waitForFunction(onlineIs, ["ana", "bob"], WAIT);
    await bob.waitForFunction(onlineIs, ["ana", "bob"], WAIT);
    await say(ana, "anyone here into borrow checking?");
    await bob.waitForFunction(hasMessage, { from: "ana", text: "anyone here into borrow checking?", room: "rust" }, WAIT);
    await say(bob, "always 🦀");
    await ana.waitForFunction(hasMessage, { from: "bob", text: "always 🦀", room: "rust" }, WAIT);
  });

  await check("an over-long message is answered with an error event", async () => {
    await bob.evaluate(() => {
      document.getElementById("text").removeAttribute("maxlength");
    });
    await say(bob, "x".repeat(501));
    await bob.waitForFunction(
      () => [...document.querySelectorAll("#messages li.system.error")].some((li) => li.textContent.includes("at most 500")),
      null,
      WAIT,
    );
  });

  if (process.env.WSHUB_SCREENSHOT) {
    await ana.screenshot({ path: process.env.WSHUB_SCREENSHOT });
    await bob.screenshot({ path: process.env.WSHUB_SCREENSHOT.replace(/(\.png)?$/, "-bob.png") });
    console.log(`# screenshots: ${process.env.WSHUB_SCREENSHOT} (and -bob)`);
  }

  await check("the seed's client page (/client) connects, is welcomed and emits client-message", async () => {
    const client = await open(await browser.newContext({ viewport }), "/client");
    await client.waitForFunction(() => document.getElementById("state").textContent === "open", null, WAIT);
    const logHas = (text) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes(text));
    await client.waitForFunction(logHas, '<- server-message: "Welcome to WebSocket"', WAIT);
    await client.fill("#data", "Hello there! My name is Laxman");
    await client.press("#data", "Enter");
    await client.waitForFunction(
      logHas,
      '<- server-message: "The server got your client-message: \\"Hello there! My name is Laxman\\""',
      WAIT,
    );
  });

  if (problems.length) throw new Error("the pages reported errors:\n  " + problems.join("\n  "));
  console.log(`chat.mjs: all ${step} checks ok`);
} catch (e) {
  console.error(`not ok ${step + 1} - ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  clearTimeout(deadline);
}
