// A real browser against examples/chat.rs. Run by tests/browser.rs:
//
//   node tests/browser/chat.mjs http://127.0.0.1:PORT/ WIDTH HEIGHT LABEL SCREENSHOT_DIR
//
// Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) is driven by npm's
// playwright-core (`npm ci`); playwright's own browser download is never used.
// Three people (ana, bob, cat), each in a browser window of WIDTH × HEIGHT,
// chat with each other; every wait is a page condition (waitForFunction)
// with a timeout, never a sleep. Screenshots go to SCREENSHOT_DIR, and each
// path is printed as "screenshot: PATH".
//
// The server belongs to tests/browser.rs. To stop it and start it again on the
// same address, this script prints "CONTROL stop-server" or "CONTROL
// start-server" and waits for a line "ok" on its standard input.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [base, width = "1024", height = "640", label = "desktop", shots = "target/screenshots"] = process.argv.slice(2);
if (!base) {
  console.error("usage: node tests/browser/chat.mjs http://127.0.0.1:PORT/ [WIDTH HEIGHT LABEL SCREENSHOT_DIR]");
  process.exit(2);
}
const viewport = { width: Number(width), height: Number(height) };
const WAIT = { timeout: 15_000 };
// The whole run is bounded, even if the browser hangs.
const deadline = setTimeout(() => {
  console.error("chat.mjs: not done after 150 s; giving up");
  process.exit(1);
}, 150_000);

// The lines tests/browser.rs writes to our standard input, one promise each.
const input = createInterface({ input: process.stdin });
const replies = [];
const waiting = [];
input.on("line", (line) => (waiting.length ? waiting.shift()(line) : replies.push(line)));
input.on("close", () => waiting.splice(0).forEach((resolve) => resolve("stdin closed")));
async function control(command) {
  console.log(`CONTROL ${command}`);
  const reply = replies.length ? replies.shift() : await new Promise((resolve) => waiting.push(resolve));
  if (reply !== "ok") throw new Error(`tests/browser.rs answered ${JSON.stringify(reply)} to ${command}`);
}

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
  console.log(`ok ${step} - ${name} [${label}] (${Date.now() - started} ms)`);
}

// Console errors that are the expected consequence of stopping the server:
// the browser logs each failed reconnect attempt.
const expectedWhileStopped = /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/;
let serverDown = false;

async function open(context, path, who) {
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (serverDown && expectedWhileStopped.test(m.text())) return;
    problems.push(`${who}: console error: ${m.text()}`);
  });
  await page.goto(new URL(path, base).href);
  return page;
}

mkdirSync(shots, { recursive: true });
async function screenshot(page, name) {
  const path = join(shots, `chat-${label}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

// ---- conditions, evaluated inside a page ----

// The chat messages on screen, as [from, text].
const shown = () =>
  [...document.querySelectorAll("#messages li.message")].map((li) => [li.dataset.from, li.querySelector(".text").textContent]);
const showsMessage = ([from, text]) =>
  [...document.querySelectorAll("#messages li.message")].some(
    (li) => li.dataset.from === from && li.querySelector(".text").textContent === text,
  );
// Every line on screen belongs to `room`, and the title says so.
const showsOnlyRoom = (room) =>
  document.getElementById("room-title").textContent === "#" + room &&
  [...document.querySelectorAll("#messages li")].every((li) => li.dataset.room === room);
const hasSystemLine = (text) => [...document.querySelectorAll("#messages li.system")].some((li) => li.textContent === text);
const onlineIs = (nicks) =>
  JSON.stringify([...document.querySelectorAll("#online li")].map((li) => li.textContent)) === JSON.stringify(nicks);
const typingIs = (text) => document.getElementById("typing").textContent === text;
const statusIs = ([state, text]) => {
  const status = document.getElementById("status");
  return status.classList.contains(state) && status.textContent.includes(text);
};
const nickIs = (nick) => document.getElementById("nick-note").textContent === `You are ${nick}.`;
const roomIs = (room) => document.getElementById("room-title").textContent === "#" + room;
// Where the online list is and whether a person sees it: each name's middle
// must be inside the window, and the topmost thing drawn there must be that
// name (not clipped by a scrolling box, not covered by another element).
const onlineGeometry = () => {
  const items = [...document.querySelectorAll("#online li")];
  return {
    items: items.map((li) => {
      const r = li.getBoundingClientRect();
      const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
      const visible = li.checkVisibility() && hit !== null && li.contains(hit);
      return { text: li.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom, visible };
    }),
    innerWidth,
    innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
  };
};

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
async function waitAll(pages, condition, arg) {
  for (const page of pages) await page.waitForFunction(condition, arg, WAIT);
}

try {
  // One browser context (window) per person: two tabs of one window would put
  // one in the background, where Chromium throttles its frames and timers.
  const ana = await open(await browser.newContext({ viewport }), "/", "ana");
  const bob = await open(await browser.newContext({ viewport }), "/", "bob");

  await check("both pages connect and get the welcome server-message", async () => {
    await waitAll([ana, bob], statusIs, ["open", "connected"]);
    await waitAll([ana, bob], hasSystemLine, "Welcome to WebSocket");
  });

  await check("nicknames are set (acked) and both see each other online in #lobby", async () => {
    await setNick(ana, "ana");
    await setNick(bob, "bob");
    await ana.waitForFunction(nickIs, "ana", WAIT);
    await bob.waitForFunction(nickIs, "bob", WAIT);
    await waitAll([ana, bob], onlineIs, ["ana", "bob"]);
  });

  await check("the online list is on screen, whole, without scrolling, and the page is no wider than the window", async () => {
    for (const [who, page] of [["ana", ana], ["bob", bob]]) {
      const g = await page.evaluate(onlineGeometry);
      const bad = g.items.filter((i) => !i.visible || i.left < 0 || i.right > g.innerWidth || i.top < 0 || i.bottom > g.innerHeight);
      if (g.items.length !== 2 || bad.length || g.scrollWidth > g.innerWidth) {
        throw new Error(`${who}'s online list does not fit a ${g.innerWidth}×${g.innerHeight} window: ${JSON.stringify(g)}`);
      }
    }
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
    await waitAll([ana, bob], showsMessage, ["ana", "hello from ana <b>not bold</b>"]);
    await say(bob, "hi ana!");
    await ana.waitForFunction(showsMessage, ["bob", "hi ana!"], WAIT);
  });

  await check("typing: bob sees 'ana is typing…' while she types, and it goes when she sends or clears", async () => {
    await ana.fill("#text", "are you");
    await bob.waitForFunction(typingIs, "ana is typing…", WAIT);
    await ana.press("#text", "Enter");
    await bob.waitForFunction(showsMessage, ["ana", "are you"], WAIT);
    await bob.waitForFunction(typingIs, "", WAIT);
    await bob.fill("#text", "hm");
    await ana.waitForFunction(typingIs, "bob is typing…", WAIT);
    await screenshot(ana, "typing");
    await bob.fill("#text", "");
    await ana.waitForFunction(typingIs, "", WAIT);
  });

  await check("rooms: bob moves to #rust and sees only #rust's lines; the online lists follow; they talk there", async () => {
    await joinRoom(bob, "Rust");
    await bob.waitForFunction(showsOnlyRoom, "rust", WAIT);
    const onScreen = await bob.evaluate(shown);
    if (onScreen.length) throw new Error(`bob's new, empty room shows messages: ${JSON.stringify(onScreen)}`);
    await bob.waitForFunction(onlineIs, ["bob"], WAIT);
    await ana.waitForFunction(onlineIs, ["ana"], WAIT);
    await ana.click('button[data-room="rust"]');
    await ana.waitForFunction(showsOnlyRoom, "rust", WAIT);
    await waitAll([ana, bob], onlineIs, ["ana", "bob"]);
    await say(ana, "anyone here into borrow checking?");
    await bob.waitForFunction(showsMessage, ["ana", "anyone here into borrow checking?"], WAIT);
    await say(bob, "always 🦀");
    await ana.waitForFunction(showsMessage, ["bob", "always 🦀"], WAIT);
    if (await ana.evaluate(showsMessage, ["ana", "hello from ana <b>not bold</b>"])) {
      throw new Error("ana's #rust shows a #lobby message");
    }
  });

  await check("back in #lobby, ana sees #lobby's messages again and none of #rust's", async () => {
    await ana.click('button[data-room="lobby"]');
    await ana.waitForFunction(showsOnlyRoom, "lobby", WAIT);
    await ana.waitForFunction(showsMessage, ["bob", "hi ana!"], WAIT);
    if (await ana.evaluate(showsMessage, ["bob", "always 🦀"])) throw new Error("ana's #lobby shows a #rust message");
    await ana.click('button[data-room="rust"]');
    await ana.waitForFunction(showsOnlyRoom, "rust", WAIT);
  });

  const cat = await open(await browser.newContext({ viewport }), "/", "cat");
  await check("history: cat, arriving late, is shown #lobby's last messages, then #rust's when she joins it", async () => {
    await cat.waitForFunction(showsMessage, ["ana", "hello from ana <b>not bold</b>"], WAIT);
    await cat.waitForFunction(showsMessage, ["bob", "hi ana!"], WAIT);
    await cat.waitForFunction(showsOnlyRoom, "lobby", WAIT);
    await setNick(cat, "cat");
    await cat.waitForFunction(nickIs, "cat", WAIT);
    await cat.click('button[data-room="rust"]');
    await cat.waitForFunction(showsOnlyRoom, "rust", WAIT);
    await cat.waitForFunction(showsMessage, ["ana", "anyone here into borrow checking?"], WAIT);
    await cat.waitForFunction(showsMessage, ["bob", "always 🦀"], WAIT);
    await screenshot(cat, "history");
  });

  await check("a reload keeps bob's nickname and room, and shows #rust's messages again", async () => {
    await bob.reload();
    await bob.waitForFunction(nickIs, "bob", WAIT);
    await bob.waitForFunction(showsOnlyRoom, "rust", WAIT);
    await bob.waitForFunction(showsMessage, ["ana", "anyone here into borrow checking?"], WAIT);
    await waitAll([ana, bob, cat], onlineIs, ["ana", "bob", "cat"]);
  });

  await check("an over-long message is answered with an error event", async () => {
    await bob.evaluate(() => document.getElementById("text").removeAttribute("maxlength"));
    await say(bob, "x".repeat(501));
    await bob.waitForFunction(
      () => [...document.querySelectorAll("#messages li.system.error")].some((li) => li.textContent.includes("at most 500")),
      null,
      WAIT,
    );
  });

  await check("a network blip loses no message: bob's connection breaks while ana talks, and comes back recovered with all of it", async () => {
    // The page's WebSocket ends with a code that is not a goodbye, as a
    // broken network would end it (Chromium's offline mode leaves open
    // WebSockets alone, so the test breaks it from the page).
    await bob.evaluate(() => ws.close(4000, "the network blipped"));
    await bob.waitForFunction(statusIs, ["closed", "reconnecting"], WAIT);
    const missed = ["did you see that?", "bob is gone", "he'll be back"];
    for (const text of missed) await say(ana, text);
    await ana.waitForFunction(showsMessage, ["ana", missed[2]], WAIT);
    await bob.waitForFunction(statusIs, ["open", "nothing was lost"], WAIT);
    if ((await bob.evaluate(() => document.body.dataset.session)) !== "recovered") throw new Error("bob's session was not recovered");
    for (const text of missed) await bob.waitForFunction(showsMessage, ["ana", text], WAIT);
    const counts = await bob.evaluate((texts) => texts.map((t) => [...document.querySelectorAll("#messages li.message .text")].filter((e) => e.textContent === t).length), missed);
    if (counts.some((n) => n !== 1)) throw new Error(`bob shows the missed messages ${JSON.stringify(counts)} times`);
    await bob.waitForFunction(nickIs, "bob", WAIT);
    await bob.waitForFunction(showsOnlyRoom, "rust", WAIT);
    await ana.waitForFunction(hasSystemLine, "bob is back", WAIT);
    await waitAll([ana, bob, cat], onlineIs, ["ana", "bob", "cat"]);
    await screenshot(bob, "recovered");
  });

  await screenshot(ana, "ana");
  await screenshot(bob, "bob");

  await check("the seed's client page (/client) connects, is welcomed and emits client-message", async () => {
    const context = await browser.newContext({ viewport });
    const client = await open(context, "/client", "client");
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
    await context.close();
  });

  await check("the server shuts down (close 1001): the pages say 'server stopped, reconnecting'", async () => {
    serverDown = true;
    await control("stop-server");
    await waitAll([ana, bob, cat], statusIs, ["closed", "server stopped, reconnecting in 1 s"]);
    // The first attempt fails (nothing listens): the page still says why, and waits longer.
    await ana.waitForFunction(statusIs, ["closed", "server stopped, reconnecting in 2 s (attempt 2)"], WAIT);
    await screenshot(ana, "server-stopped");
  });

  await check("the server is back: the pages reconnect with their nicknames and rooms, and keep what they showed", async () => {
    await control("start-server");
    await waitAll([ana, bob, cat], statusIs, ["open", "connected"]);
    serverDown = false;
    for (const [page, nick] of [[ana, "ana"], [bob, "bob"], [cat, "cat"]]) await page.waitForFunction(nickIs, nick, WAIT);
    await waitAll([ana, bob, cat], showsOnlyRoom, "rust");
    await waitAll([ana, bob, cat], showsMessage, ["bob", "always 🦀"]);
    await waitAll([ana, bob, cat], onlineIs, ["ana", "bob", "cat"]);
    await say(ana, "we're back");
    await waitAll([bob, cat], showsMessage, ["ana", "we're back"]);
  });

  if (problems.length) throw new Error("the pages reported errors:\n  " + problems.join("\n  "));
  console.log(`chat.mjs: all ${step} checks ok [${label}]`);
} catch (e) {
  console.error(`not ok ${step + 1} - ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  input.close();
  clearTimeout(deadline);
}
