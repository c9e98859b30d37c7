// The chat page's client: the browser's own WebSocket speaking wshub's JSON
// envelope, {"event": name, "data": ...}. No library, no build step.
// The events are listed at the top of examples/chat.rs.
"use strict";

const $ = (id) => document.getElementById(id);

// Same host as the page (`?ws=ws://host:port/ws` to point elsewhere). Opened
// from a file (no host), fall back to the example's default address.
const WS_URL =
  new URLSearchParams(location.search).get("ws") ||
  (location.protocol === "https:" ? "wss://" : "ws://") + (location.host || "127.0.0.1:3000") + "/ws";

// How long the page waits before reconnecting: 1 s, 2 s, 4 s … at most 10 s.
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;
// A typing page says so again this often while keys are pressed, and says it
// stopped after this long without a key; a "… is typing" line the server
// stops refreshing disappears after TYPING_SHOWN_MS.
const TYPING_REPEAT_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_SHOWN_MS = 5000;

let ws = null;
let nextAck = 1;
// Connection state recovery: the server names our session in the first
// frame, {"session":{"sid","pid","recovered"}}, and every event carries its
// "offset". After a break we reconnect with both (?pid=…&offset=…) and,
// within the server's two minutes, are the same socket again: same name,
// same room, and the messages we missed are replayed to us in order.
let session = null; // { sid, pid } of our last connection
let lastOffset = null; // the offset of the last event we handled
let firstFrame = true; // the next frame is the first of this connection
const pendingAcks = new Map(); // ack id -> function(reply)
let retries = 0; // reconnect attempts since the connection was last open
let lostBecause = ""; // why it was lost, in words

// What the server told us, and what to ask for again after a reconnect or a
// reload. sessionStorage keeps the nickname and room across reloads of this
// tab, and only this tab: two tabs of one browser are two people.
const me = { nick: null, room: null };
const wanted = { nick: remembered("nick"), room: remembered("room") };
const onlineByRoom = new Map(); // room -> [nick]; `online` may arrive before `room-joined`

// Each room's own lines (messages and notices), kept while the page is open,
// so switching rooms shows the room you switch to and nothing else.
const logs = new Map(); // room -> { items: [li], seen: Set of message keys }
let unfiled = []; // lines that came before we knew our room (the welcome)
const typingByRoom = new Map(); // room -> Map(nick -> timer that hides it)

function remembered(key) {
  try {
    return sessionStorage.getItem("wshub-chat." + key);
  } catch {
    return null; // storage disabled: nothing is remembered
  }
}

function remember(key, value) {
  try {
    sessionStorage.setItem("wshub-chat." + key, value);
  } catch {
    // storage disabled or full: the page works, it just forgets on reload
  }
}

// ---- the connection ----

function connect() {
  setStatus("connecting", "connecting…");
  const url = new URL(WS_URL);
  if (session && lastOffset !== null) {
    url.searchParams.set("pid", session.pid);
    url.searchParams.set("offset", lastOffset);
  }
  ws = new WebSocket(url.href);
  firstFrame = true;
  ws.onopen = () => {
    retries = 0;
    setStatus("open", "connected");
  };
  ws.onmessage = (e) => receive(e.data);
  ws.onclose = (e) => {
    pendingAcks.clear();
    stopTyping(false);
    typingByRoom.clear(); // nobody is typing on a server we cannot hear
    renderTyping();
    // A reconnect attempt that fails (the server is still down) has code
    // 1006; the reason shown stays the one the open connection ended with.
    if (retries === 0) lostBecause = whyClosed(e);
    const delay = Math.min(RETRY_FIRST_MS * 2 ** retries, RETRY_MAX_MS);
    retries += 1;
    const attempt = retries > 1 ? ` (attempt ${retries})` : "";
    setStatus("closed", `${lostBecause}, reconnecting in ${delay / 1000} s${attempt}`);
    setTimeout(connect, delay);
  };
}

// The close code, in words. 1001 is "going away": the server sends it when it
// shuts down (and when it stopped hearing from us). A browser reports 1006
// when the connection ended without any Close frame: a killed server, a
// failed reconnect attempt, a network gone.
function whyClosed(e) {
  if (e.code === 1001 && e.reason === "heartbeat timeout") return "the server stopped hearing from us";
  if (e.code === 1001) return "server stopped";
  if (e.code === 1006) return `connection lost (code 1006)`;
  return `disconnected (code ${e.code}${e.reason ? ": " + e.reason : ""})`;
}

// Sends one event. With `onAck`, the server's reply is passed to it.
function emit(event, data, onAck) {
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    systemLine("not connected: nothing was sent", "error");
    return false;
  }
  const envelope = { event, data };
  if (onAck) {
    envelope.ack = nextAck++;
    pendingAcks.set(envelope.ack, onAck);
  }
  ws.send(JSON.stringify(envelope));
  return true;
}

// Back after a reconnect or a reload, as somebody new: ask for the nickname
// and room we had. (A recovered session has them already.)
function askAgain() {
  if (wanted.nick) setNick(wanted.nick, 3);
  if (wanted.room && wanted.room !== "lobby") emit("join-room", wanted.room);
}

// One text frame from the server: an event, or the reply to one of our acks.
function receive(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    systemLine("the server sent something that is not JSON", "error");
    return;
  }
  const first = firstFrame;
  firstFrame = false;
  if (msg.session !== undefined) {
    const recovered = Boolean(msg.session.recovered);
    document.body.dataset.session = recovered ? "recovered" : "fresh";
    if (recovered) setStatus("open", "connected: nothing was lost");
    else askAgain();
    session = msg.session;
    return;
  }
  if (first) askAgain(); // a server without recovery
  if (msg.event === undefined && msg.ack !== undefined) {
    const callback = pendingAcks.get(msg.ack);
    pendingAcks.delete(msg.ack);
    if (callback) callback(msg.data);
    return;
  }
  const handler = handlers[msg.event];
  if (handler) handler(msg.data);
  else systemLine(`unknown event ${JSON.stringify(msg.event)}`);
  if (typeof msg.offset === "string") lastOffset = msg.offset;
}

// ---- server → client events ----

const handlers = {
  "server-message": (text) => systemLine(String(text), "server"),

  "room-joined": ({ room, nick }) => {
    const moved = me.room !== room;
    me.room = wanted.room = room;
    me.nick = nick;
    remember("room", room);
    $("room-title").textContent = "#" + room;
    $("online-room").textContent = "#" + room;
    document.title = `#${room} · wshub chat`;
    if (moved) showRoom(room);
    showNick();
    renderOnline();
    renderTyping();
  },

  // The room's last messages, oldest first: the ones this page has not shown
  // yet are added (after a reconnect, most of them it has).
  history: ({ room, messages }) => {
    for (const message of messages) addMessage(message);
    if (room === me.room) scrollToEnd();
  },

  notice: ({ room, text }) => addLine(room, systemItem(text, "server")),

  online: ({ room, users }) => {
    onlineByRoom.set(room, users);
    // Whoever left the room is not typing in it any more.
    const typing = typingByRoom.get(room);
    if (typing) for (const nick of typing.keys()) if (!users.includes(nick)) hideTyping(room, nick);
    renderOnline();
  },

  "chat-message": (message) => {
    addMessage(message);
    hideTyping(message.room, message.from); // they sent it: done typing
  },

  typing: ({ room, nick, typing }) => (typing ? showTyping(room, nick) : hideTyping(room, nick)),

  error: ({ message, event }) => {
    // A refused nickname is shown beside the nickname box (from the ack).
    if (event !== "set-nick") systemLine(message, "error");
  },
};

// ---- each room's log ----

function logOf(room) {
  if (!logs.has(room)) logs.set(room, { items: [], seen: new Set() });
  return logs.get(room);
}

// Files a line under its room; shows it if that is the room on screen.
function addLine(room, li) {
  li.dataset.room = room;
  logOf(room).items.push(li);
  if (room === me.room) append(li);
}

function addMessage({ id, from, text, room, at }) {
  // `id` counts up in one server run; with `at` it names a message across
  // server restarts, so a message shown before a reconnect is not shown twice.
  const key = `${at}:${id}`;
  const log = logOf(room);
  if (log.seen.has(key)) return;
  log.seen.add(key);
  const li = document.createElement("li");
  li.className = "message" + (from === me.nick ? " mine" : "");
  li.dataset.from = from;
  const time = document.createElement("time");
  time.dateTime = new Date(at).toISOString();
  time.textContent = new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const who = document.createElement("b");
  who.textContent = from;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text; // textContent, never innerHTML: messages are not trusted
  li.append(time, who, body);
  addLine(room, li);
}

// Puts the room's own lines on screen, and nothing else.
function showRoom(room) {
  const log = logOf(room);
  if (unfiled.length) {
    for (const li of unfiled) li.dataset.room = room;
    log.items.unshift(...unfiled);
    unfiled = [];
  }
  $("messages").replaceChildren(...log.items);
  scrollToEnd();
}

// ---- who is typing ----

function showTyping(room, nick) {
  if (!typingByRoom.has(room)) typingByRoom.set(room, new Map());
  const typing = typingByRoom.get(room);
  clearTimeout(typing.get(nick));
  // If the "stopped" never comes (a lost page), the line goes away by itself.
  typing.set(nick, setTimeout(() => hideTyping(room, nick), TYPING_SHOWN_MS));
  renderTyping();
}

function hideTyping(room, nick) {
  const typing = typingByRoom.get(room);
  if (!typing || !typing.has(nick)) return;
  clearTimeout(typing.get(nick));
  typing.delete(nick);
  renderTyping();
}

function renderTyping() {
  const nicks = [...(typingByRoom.get(me.room) || new Map()).keys()].sort();
  let text = "";
  if (nicks.length === 1) text = `${nicks[0]} is typing…`;
  else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
  else if (nicks.length > 2) text = `${nicks.length} people are typing…`;
  $("typing").textContent = text;
}

// Our own typing: "true" when a key is pressed (again every TYPING_REPEAT_MS
// while typing goes on), "false" after TYPING_IDLE_MS without a key, on send,
// and when the box is emptied.
let typingSince = 0; // when we last said "true"; 0: we are not typing
let typingIdle = null;

function onInput() {
  if (!$("text").value.trim()) return stopTyping(true);
  const now = Date.now();
  if (now - typingSince >= TYPING_REPEAT_MS && ws && ws.readyState === WebSocket.OPEN) {
    typingSince = now;
    emit("typing", true);
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(() => stopTyping(true), TYPING_IDLE_MS);
}

function stopTyping(tell) {
  clearTimeout(typingIdle);
  if (typingSince && tell && ws && ws.readyState === WebSocket.OPEN) emit("typing", false);
  typingSince = 0;
}

// ---- the page ----

// `tries`: how often to ask again when the name is taken. A reloaded page asks
// for its name while the server may not yet have closed the page it replaces.
function setNick(nick, tries = 1) {
  emit("set-nick", nick, (reply) => {
    if (reply && reply.ok) {
      me.nick = wanted.nick = reply.nick;
      remember("nick", reply.nick);
      showNick();
      renderOnline();
    } else if (reply && reply.taken && tries > 1) {
      setTimeout(() => setNick(nick, tries - 1), 500);
    } else {
      showNick(reply ? reply.error : "no reply");
    }
  });
}

function showNick(error) {
  const note = $("nick-note");
  note.classList.toggle("error", Boolean(error));
  note.textContent = error ? error : me.nick ? `You are ${me.nick}.` : "";
}

function renderOnline() {
  const users = onlineByRoom.get(me.room) || [];
  const list = $("online");
  list.replaceChildren(
    ...users.map((nick) => {
      const li = document.createElement("li");
      li.textContent = nick;
      if (nick === me.nick) li.className = "me";
      return li;
    }),
  );
  $("online-count").textContent = users.length;
}

function systemItem(text, kind) {
  const li = document.createElement("li");
  li.className = "system " + (kind || "");
  li.textContent = text;
  return li;
}

// A line from the page itself or the server's welcome: in the room on screen.
function systemLine(text, kind) {
  const li = systemItem(text, kind);
  if (me.room === null) {
    unfiled.push(li);
    append(li);
  } else addLine(me.room, li);
}

function append(li) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function scrollToEnd() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

function setStatus(state, text) {
  const status = $("status");
  status.className = "status " + state;
  status.textContent = text;
}

$("nick-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const nick = $("nick").value.trim();
  if (nick) setNick(nick);
});

$("room-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = $("room").value.trim();
  if (room && emit("join-room", room)) $("room").value = "";
});

for (const button of document.querySelectorAll("[data-room]")) {
  button.addEventListener("click", () => emit("join-room", button.dataset.room));
}

$("text").addEventListener("input", onInput);
$("text").addEventListener("blur", () => stopTyping(true));

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text.trim()) return;
  // "Stopped typing" first: the message itself would say so, but not if the
  // server refuses it (too long).
  stopTyping(true);
  if (emit("chat-message", text)) $("text").value = "";
});

// Leaving or reloading: close with 1000 at once, so the server lets go of our
// nickname before the reloaded page asks for it.
addEventListener("pagehide", () => ws && ws.close(1000, "page closed"));

connect();
