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

let ws = null;
let nextAck = 1;
const pendingAcks = new Map(); // ack id -> function(reply)
let retries = 0;

// What the server told us, and what to ask for again after a reconnect.
const me = { nick: null, room: null };
const wanted = { nick: null, room: null };
const onlineByRoom = new Map(); // room -> [nick]; `online` may arrive before `room-joined`

// ---- the connection ----

function connect() {
  setStatus("connecting", "connecting…");
  ws = new WebSocket(WS_URL);
  ws.onopen = () => {
    retries = 0;
    setStatus("open", "connected");
    // Back after a reconnect: ask for the nickname and room we had.
    if (wanted.nick) setNick(wanted.nick);
    if (wanted.room && wanted.room !== "lobby") emit("join-room", wanted.room);
  };
  ws.onmessage = (e) => receive(e.data);
  ws.onclose = (e) => {
    pendingAcks.clear();
    const delay = Math.min(1000 * 2 ** retries, 10000);
    retries += 1;
    setStatus("closed", `disconnected (code ${e.code}); retrying in ${delay / 1000} s`);
    setTimeout(connect, delay);
  };
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

// One text frame from the server: an event, or the reply to one of our acks.
function receive(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    systemLine("the server sent something that is not JSON", "error");
    return;
  }
  if (msg.event === undefined && msg.ack !== undefined) {
    const callback = pendingAcks.get(msg.ack);
    pendingAcks.delete(msg.ack);
    if (callback) callback(msg.data);
    return;
  }
  const handler = handlers[msg.event];
  if (handler) handler(msg.data);
  else systemLine(`unknown event ${JSON.stringify(msg.event)}`);
}

// ---- server → client events ----

const handlers = {
  "server-message": (text) => systemLine(String(text), "server"),

  "room-joined": ({ room, nick }) => {
    const moved = me.room !== null && me.room !== room;
    me.room = wanted.room = room;
    me.nick = nick;
    $("room-title").textContent = "#" + room;
    $("online-room").textContent = "#" + room;
    document.title = `#${room} · wshub chat`;
    if (moved) systemLine(`you are now in #${room}`, "divider");
    showNick();
    renderOnline();
  },

  online: ({ room, users }) => {
    onlineByRoom.set(room, users);
    renderOnline();
  },

  "chat-message": ({ from, text, room, at }) => {
    const li = document.createElement("li");
    li.className = "message" + (from === me.nick ? " mine" : "");
    li.dataset.from = from;
    li.dataset.room = room;
    const time = document.createElement("time");
    time.dateTime = new Date(at).toISOString();
    time.textContent = new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const who = document.createElement("b");
    who.textContent = from;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text; // textContent, never innerHTML: messages are not trusted
    li.append(time, who, body);
    append(li);
  },

  error: ({ message, event }) => {
    // A refused nickname is shown beside the nickname box (from the ack).
    if (event !== "set-nick") systemLine(message, "error");
  },
};

// ---- the page ----

function setNick(nick) {
  emit("set-nick", nick, (reply) => {
    if (reply && reply.ok) {
      me.nick = wanted.nick = reply.nick;
      showNick();
      renderOnline();
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

function systemLine(text, kind) {
  const li = document.createElement("li");
  li.className = "system " + (kind || "");
  li.textContent = text;
  append(li);
}

function append(li) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
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

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (text.trim() && emit("chat-message", text)) $("text").value = "";
});

connect();
