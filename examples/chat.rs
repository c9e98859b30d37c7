//! A chat server: nicknames, rooms, who is online, who is typing, and each room's
//! last messages for whoever joins it, with its own page.
//!
//! ```sh
//! cargo run --example chat                 # open http://127.0.0.1:3000 in two browser windows
//! PORT=8080 cargo run --example chat       # another port
//! RUST_LOG=debug cargo run --example chat  # more detail
//! TLS_CERT=cert.pem TLS_KEY=key.pem cargo run --example chat   # https://127.0.0.1:3000, wss
//! ```
//! Without a browser, in a second terminal:
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:3000/ws
//! /ack set-nick "ana"
//! /emit chat-message "hello"
//! /emit join-room "rust"
//! ```
//! Pages served: `/` the chat (`examples/chat/index.html`, `chat.js`, `chat.css`, embedded with
//! `include_str!`: no build step, no CDN, works offline) and `/client`, the seed tutorial's test
//! page (`examples/client/index.html`). The WebSocket is on `/ws`, same origin as the pages.
//!
//! # The chat's events
//!
//! Every frame is wshub's JSON envelope `{"event": name, "data": ...}` (see `src/wire/mod.rs`).
//!
//! ```text
//! client → server
//!   set-nick      "ana"         1–20 letters, digits, - _ . ; unique (ignoring case); not "guest-…".
//!                               Ask for an ack ("ack": n) to get {"ok":true,"nick":"ana"}
//!                               or {"ok":false,"error":"..."}.
//!                               A taken name's reply also has "taken":true (a page restoring
//!                               its name after a reload tries again: its old socket may not
//!                               have been closed yet).
//!   chat-message  "hello"       1–500 characters, to everyone in your room (you included).
//!   join-room     "rust"        1–24 of a-z 0-9 - _ (upper case is lowered); leaves your old room.
//!   typing        true | false  you started or stopped typing: told to the others in your room.
//!   client-message  any         the seed tutorial's event: logged, and answered with a server-message.
//!
//! server → client
//!   server-message  "text"      "Welcome to WebSocket" on connect; the answer to client-message.
//!   room-joined   {room, nick}  you are in `room` as `nick`: on connect (lobby, guest-N) and after join-room.
//!   history       {room, messages}   right after room-joined: the room's last 50 chat-messages, oldest first.
//!   notice        {room, text, at}   something happened in `room`: joined, left, renamed.
//!   online        {room, users} the nicknames in `room`, sorted; sent to the room whenever it changes.
//!   chat-message  {id, from, text, room, at}   `at`: milliseconds since the Unix epoch; `id`
//!                               counts up in this server's run (with `at`, it names a message).
//!   typing        {room, nick, typing}   someone else in your room started (true) or stopped typing.
//!   error         {message, event}         your `event` was refused; the connection stays open.
//! ```
//! Everyone starts in room `lobby` as `guest-<socket id>`. Bad input never closes the connection:
//! it is answered with `error` (and, for `set-nick`, the ack says why too).
//!
//! Every event about a room names the room, so a page that switches rooms files each line under
//! the room it belongs to, whatever order the events arrive in: `room-joined` and `history` are
//! queued on the client's own thread, notices and messages travel through the hub.
//!
//! # A network blip loses nothing
//!
//! Connection state recovery is on (chapter 14): the first frame a page gets is
//! `{"session":{"sid":…,"pid":…,"recovered":false}}`, and every event carries an `"offset"`. A
//! page whose connection breaks reconnects to `/ws?pid=…&offset=<the last one it saw>` within
//! two minutes and is the same person again: same nickname and room (kept in `socket.data`),
//! and every message it missed is replayed to it, in order, before anything newer. The others
//! see "ana left" and "ana is back". A page that closes on purpose (reload, tab closed: close
//! code 1000 or 1001) is not kept.
//!
//! # Step through it
//! Break on `chat::on_chat_message` (this file), send a message from the page, and look at the
//! backtrace: the handler runs on the sender's own thread `conn-N`, called by `Socket::dispatch`
//! from `Connection::on_message` (`src/socket.rs`, `src/connection.rs`).
//! The other handlers are `chat::on_connection`, `chat::on_set_nick`, `chat::on_join_room`,
//! `chat::on_typing` and `chat::on_disconnect`. The shared state is [`Chat`]: who is where,
//! and each room's last messages, each map behind its own `Mutex`.
//!
//! `tests/browser.rs` drives this server with a real Chromium; `tests/chat.rs` checks the events
//! with a plain WebSocket client. Both reach [`bind`] through `#[path = "../examples/chat.rs"]`.

use std::collections::{HashMap, VecDeque};
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;
use wshub::{Io, Server, ServerBuilder, Socket, SocketId, Value};

/// The room everyone starts in.
pub const LOBBY: &str = "lobby";
/// Longest nickname, in characters.
pub const MAX_NICK: usize = 20;
/// Longest room name, in characters.
pub const MAX_ROOM: usize = 24;
/// Longest chat message, in characters.
pub const MAX_MESSAGE: usize = 500;
/// Messages a room remembers for whoever joins it.
pub const HISTORY: usize = 50;
/// Rooms whose history is kept; past this, the room that has been quiet the
/// longest forgets its history (any client can name new rooms, so the count
/// must be bounded: at most 100 × 50 messages of 500 characters, about 10 MB).
pub const HISTORY_ROOMS: usize = 100;
/// New arrivals are called `guest-<id>`; nobody may pick such a name.
const GUEST_PREFIX: &str = "guest-";
/// How long a page whose connection broke may take to come back as itself.
pub const RECOVERY: Duration = Duration::from_secs(120);

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Info)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");

    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let server = bind(("127.0.0.1", port))?;
    log::info!("chat: open http://127.0.0.1:{port} in two browser windows (the seed's page: /client)");
    server.stop_on_signals()?; // Ctrl+C: every page gets Close 1001 ("server stopped, reconnecting")
    server.run()
}

/// Binds the chat server on `addr`, with its pages and its handlers installed.
/// `run()` it (as `main` does) or `spawn()` it (as the tests do).
pub fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
    let server = builder()?.bind(addr)?;
    install(&server);
    Ok(server)
}

/// The chat's settings and pages, before `bind` (examples/admin.rs adds the
/// admin UI to them).
pub fn builder() -> std::io::Result<ServerBuilder> {
    Ok(Server::builder()
        .page("/", include_str!("chat/index.html"))
        .asset("/chat.js", "text/javascript; charset=utf-8", include_str!("chat/chat.js"))
        .asset("/chat.css", "text/css; charset=utf-8", include_str!("chat/chat.css"))
        .page("/client", include_str!("client/index.html"))
        .connection_state_recovery(RECOVERY, true)
        .tls_from_env()? // TLS_CERT and TLS_KEY (PEM files): https and wss
        .redis_from_env()) // REDIS_URL: chat across servers (chapter 17)
}

/// The chat's handlers, on a bound server.
pub fn install(server: &Server) {
    let chat = Chat::default();
    server.on_connection(move |socket| on_connection(&chat, socket));
}

/// The chat's shared state: who is connected, under which nickname, in which
/// room; and each room's last messages.
///
/// Handlers run on each client's own thread, so the maps are shared between
/// threads: an `Arc` to share them, a std `Mutex` to change them. Nothing blocks
/// for long while holding one (no I/O: emitting only queues a command for the
/// hub). When both are needed, `users` is locked first, then `history`.
///
/// Every handler closure captures a clone of `Chat` and nothing else, so the
/// closures are `Send + 'static`: they would run unchanged on any thread.
#[derive(Clone, Default)]
pub struct Chat {
    users: Arc<Mutex<HashMap<SocketId, User>>>,
    history: Arc<Mutex<History>>,
}

/// One connected client, as the chat knows it; also kept in its socket's
/// data, so that a recovered socket knows who it was.
#[derive(Debug, Clone, Serialize)]
struct User {
    nick: String,
    room: String,
}

/// What `chat-message` carries from the server to the room.
#[derive(Debug, Clone, Serialize)]
struct ChatMessage {
    /// Counts up from 1 in this server's run.
    id: u64,
    from: String,
    text: String,
    room: String,
    /// Milliseconds since the Unix epoch.
    at: u64,
}

/// The last [`HISTORY`] messages of at most [`HISTORY_ROOMS`] rooms.
#[derive(Default)]
struct History {
    rooms: HashMap<String, VecDeque<ChatMessage>>,
    last_id: u64,
}

impl History {
    /// Keeps `message` as its room's newest, forgetting the oldest past [`HISTORY`].
    fn remember(&mut self, message: ChatMessage) {
        if !self.rooms.contains_key(&message.room) && self.rooms.len() >= HISTORY_ROOMS {
            let quietest = self.rooms.iter().min_by_key(|(_, m)| m.back().map_or(0, |m| m.id)).map(|(r, _)| r.clone());
            if let Some(room) = quietest {
                self.rooms.remove(&room);
            }
        }
        let messages = self.rooms.entry(message.room.clone()).or_default();
        if messages.len() == HISTORY {
            messages.pop_front();
        }
        messages.push_back(message);
    }

    /// The room's kept messages, oldest first.
    fn of(&self, room: &str) -> Vec<ChatMessage> {
        self.rooms.get(room).map(|m| m.iter().cloned().collect()).unwrap_or_default()
    }
}

impl Chat {
    /// Locks the map. A handler that panicked while holding the lock poisons
    /// it, but every change below leaves the map whole, so the chat goes on.
    fn users(&self) -> MutexGuard<'_, HashMap<SocketId, User>> {
        self.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks the history (poisoning ignored, as for [`Chat::users`]).
    fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A client arrived: greet it, put it in the lobby, register its handlers.
/// A client back from a blip is who it was, where it was.
fn on_connection(chat: &Chat, socket: &Socket) {
    log::info!("chat: socket {} connected from {}", socket.id(), socket.info().peer);
    if let Some(user) = socket.data::<User>().filter(|_| socket.recovered()) {
        on_back(chat, socket, user);
    } else {
        on_arrival(chat, socket);
    }

    // Each closure only hands its own copy of `chat` to a named function, so
    // that a breakpoint can be put on the function.
    let c = chat.clone();
    socket.on_with_ack("set-nick", move |socket, data, ack| ack.send(on_set_nick(&c, socket, data)));
    let c = chat.clone();
    socket.on("chat-message", move |socket, data| on_chat_message(&c, socket, data));
    let c = chat.clone();
    socket.on("join-room", move |socket, data| on_join_room(&c, socket, data));
    let c = chat.clone();
    socket.on("typing", move |socket, data| on_typing(&c, socket, data));
    socket.on("client-message", on_client_message);
    let c = chat.clone();
    socket.on_disconnect(move |socket, reason| on_disconnect(&c, socket, reason));
}

/// A new client: the welcome, the lobby, a guest's name.
fn on_arrival(chat: &Chat, socket: &Socket) {
    socket.emit("server-message", "Welcome to WebSocket");
    let nick = format!("{GUEST_PREFIX}{}", socket.id());
    {
        // Why the broadcasts happen while the lock is held: the hub then
        // receives the `online` lists in the order the map changed, so a
        // slower thread can never overwrite a newer list with an older one.
        let mut users = chat.users();
        let user = User { nick: nick.clone(), room: LOBBY.to_string() };
        socket.set_data(user.clone());
        users.insert(socket.id(), user);
        enter_room(chat, socket, LOBBY, &nick);
        notice(socket.io(), LOBBY, format!("{nick} joined #{LOBBY}"));
        send_online(&users, socket.io(), LOBBY);
    }
}

/// A recovered client: its socket is in its room again and what it missed
/// is on its way; the chat takes it back under its name (unless someone took
/// the name meanwhile: then it is a guest again).
fn on_back(chat: &Chat, socket: &Socket, mut user: User) {
    let mut users = chat.users();
    let taken = users.values().any(|u| u.nick.to_lowercase() == user.nick.to_lowercase());
    if taken {
        user.nick = format!("{GUEST_PREFIX}{}", socket.id());
        socket.set_data(user.clone());
        socket.emit("room-joined", json!({ "room": user.room, "nick": user.nick }));
    }
    log::info!("chat: {} is back in #{} (socket {})", user.nick, user.room, socket.id());
    notice(socket.io(), &user.room, format!("{} is back", user.nick));
    users.insert(socket.id(), user.clone());
    send_online(&users, socket.io(), &user.room);
}

/// `set-nick "ana"`: rename this client. The return value is the ack reply.
fn on_set_nick(chat: &Chat, socket: &Socket, data: Value) -> Value {
    let wanted = match valid_nick(&data) {
        Ok(nick) => nick,
        Err(why) => return refuse(socket, "set-nick", why),
    };
    let mut users = chat.users();
    let taken = users.iter().any(|(id, user)| *id != socket.id() && user.nick.to_lowercase() == wanted.to_lowercase());
    if taken {
        drop(users);
        let mut reply = refuse(socket, "set-nick", format!("the nickname {wanted:?} is taken"));
        reply["taken"] = json!(true);
        return reply;
    }
    let Some(me) = users.get_mut(&socket.id()) else {
        drop(users);
        return refuse(socket, "set-nick", "you are not in the chat any more".into());
    };
    let old = std::mem::replace(&mut me.nick, wanted.clone());
    let room = me.room.clone();
    socket.set_data(me.clone());
    if old != wanted {
        log::info!("chat: socket {}: {old:?} is now {wanted:?}", socket.id());
        notice(socket.io(), &room, format!("{old} is now known as {wanted}"));
        send_online(&users, socket.io(), &room);
    }
    json!({ "ok": true, "nick": wanted })
}

/// `chat-message "hello"`: send it to everyone in this client's room, the
/// sender included (the sender's page shows it when the server has it).
fn on_chat_message(chat: &Chat, socket: &Socket, data: Value) {
    let text = match valid_message(&data) {
        Ok(text) => text,
        Err(why) => {
            refuse(socket, "chat-message", why);
            return;
        }
    };
    let Some(user) = chat.users().get(&socket.id()).cloned() else {
        return; // already gone: nothing to say it to
    };
    // Kept and sent under one lock: a client joining the room at the same
    // moment (`enter_room`, under the same lock) either finds the message in
    // the history or receives it from the hub, never both and never neither.
    let mut history = chat.history();
    history.last_id += 1;
    let message = ChatMessage { id: history.last_id, from: user.nick, text, room: user.room, at: now_ms() };
    log::debug!("chat: #{:?} <{:?}> {:?}", message.room, message.from, message.text);
    socket.io().to(message.room.as_str()).emit("chat-message", &message);
    history.remember(message);
}

/// `join-room "rust"`: leave the current room for another one.
fn on_join_room(chat: &Chat, socket: &Socket, data: Value) {
    let room = match valid_room(&data) {
        Ok(room) => room,
        Err(why) => {
            refuse(socket, "join-room", why);
            return;
        }
    };
    let mut users = chat.users();
    let Some(me) = users.get_mut(&socket.id()) else {
        return;
    };
    let old = std::mem::replace(&mut me.room, room.clone());
    let nick = me.nick.clone();
    socket.set_data(me.clone());
    if old == room {
        enter_room(chat, socket, &room, &nick); // asked again (a page after a reconnect): say so again
        return;
    }
    socket.leave(&old);
    let io = socket.io();
    stopped_typing(socket, &old, &nick);
    notice(io, &old, format!("{nick} left #{old} for #{room}"));
    enter_room(chat, socket, &room, &nick);
    notice(io, &room, format!("{nick} joined #{room}"));
    send_online(&users, io, &old);
    send_online(&users, io, &room);
}

/// Puts the socket in `room` and tells it so: `room-joined`, then the room's
/// `history`. The join and the history are taken under the history's lock
/// (see `on_chat_message`).
fn enter_room(chat: &Chat, socket: &Socket, room: &str, nick: &str) {
    let history = chat.history();
    socket.join(room);
    socket.emit("room-joined", json!({ "room": room, "nick": nick }));
    socket.emit("history", json!({ "room": room, "messages": history.of(room) }));
}

/// `typing true` / `typing false`: tell the others in this client's room.
fn on_typing(chat: &Chat, socket: &Socket, data: Value) {
    let Some(typing) = data.as_bool() else {
        refuse(socket, "typing", format!("typing expects true or false, not {}", kind_of(&data)));
        return;
    };
    let Some(user) = chat.users().get(&socket.id()).cloned() else {
        return;
    };
    socket.to(user.room.as_str()).emit("typing", json!({ "room": user.room, "nick": user.nick, "typing": typing }));
}

/// Tells the others in `room` that `nick` is not typing there any more (it
/// left), so that no page keeps showing "… is typing" for someone gone.
fn stopped_typing(socket: &Socket, room: &str, nick: &str) {
    socket.to(room).emit("typing", json!({ "room": room, "nick": nick, "typing": false }));
}

/// Sends a `notice` about `room` to everyone in it.
fn notice(io: &Io, room: &str, text: String) {
    io.to(room).emit("notice", json!({ "room": room, "text": text, "at": now_ms() }));
}

/// The seed tutorial's `client-message`: logged, and answered so that the
/// seed's page (`/client`) and the terminal client see a reply.
fn on_client_message(socket: &Socket, data: Value) {
    log::info!("Client message : {data}");
    socket.emit("server-message", format!("The server got your client-message: {data}"));
}

/// The connection ended (for any reason): forget the client, tell its room.
fn on_disconnect(chat: &Chat, socket: &Socket, reason: &str) {
    let mut users = chat.users();
    if let Some(user) = users.remove(&socket.id()) {
        log::info!("chat: {:?} left ({reason:?})", user.nick);
        stopped_typing(socket, &user.room, &user.nick);
        notice(socket.io(), &user.room, format!("{} left", user.nick));
        send_online(&users, socket.io(), &user.room);
    }
}

/// Sends `online` {room, users} to everyone in `room`.
fn send_online(users: &HashMap<SocketId, User>, io: &Io, room: &str) {
    let mut nicks: Vec<&str> = users.values().filter(|u| u.room == room).map(|u| u.nick.as_str()).collect();
    nicks.sort_by_key(|nick| nick.to_lowercase());
    io.to(room).emit("online", json!({ "room": room, "users": nicks }));
}

/// Answers bad input with an `error` event, and returns the ack reply saying the same.
fn refuse(socket: &Socket, event: &str, message: String) -> Value {
    log::info!("chat: socket {}: {event} refused: {message:?}", socket.id());
    socket.emit("error", json!({ "message": message, "event": event }));
    json!({ "ok": false, "error": message })
}

// ---- input checks: each returns the cleaned value or a reason for the user ----

/// A nickname: 1–20 letters, digits, `-`, `_` or `.`, not starting with `guest-`.
fn valid_nick(data: &Value) -> Result<String, String> {
    let nick = expect_string(data, "set-nick", "\"ana\"")?.trim();
    let len = nick.chars().count();
    if len == 0 || len > MAX_NICK {
        return Err(format!("a nickname has 1 to {MAX_NICK} characters (got {len})"));
    }
    if let Some(c) = nick.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("{c:?} is not allowed in a nickname: use letters, digits, '-', '_' or '.'"));
    }
    if nick.to_lowercase().starts_with(GUEST_PREFIX) {
        return Err(format!("nicknames starting with {GUEST_PREFIX:?} are kept for new arrivals"));
    }
    Ok(nick.to_string())
}

/// A message: 1–500 characters once the surrounding blanks are trimmed.
fn valid_message(data: &Value) -> Result<String, String> {
    let text = expect_string(data, "chat-message", "\"hello\"")?.trim();
    let len = text.chars().count();
    if len == 0 {
        return Err("an empty message was not sent".into());
    }
    if len > MAX_MESSAGE {
        return Err(format!("a message has at most {MAX_MESSAGE} characters (got {len})"));
    }
    Ok(text.to_string())
}

/// A room name: 1–24 of `a-z`, `0-9`, `-`, `_` (upper case is lowered).
fn valid_room(data: &Value) -> Result<String, String> {
    let room = expect_string(data, "join-room", "\"rust\"")?.trim().to_lowercase();
    let len = room.chars().count();
    if len == 0 || len > MAX_ROOM {
        return Err(format!("a room name has 1 to {MAX_ROOM} characters (got {len})"));
    }
    if let Some(c) = room.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))) {
        return Err(format!("{c:?} is not allowed in a room name: use a-z, 0-9, '-' or '_'"));
    }
    Ok(room)
}

/// The data as a string, or a reason naming what came instead (never the
/// data itself: it may be a megabyte long).
fn expect_string<'a>(data: &'a Value, event: &str, example: &str) -> Result<&'a str, String> {
    data.as_str().ok_or_else(|| format!("{event} expects a string, like {example}, not {}", kind_of(data)))
}

/// What kind of JSON value `data` is, in words.
fn kind_of(data: &Value) -> &'static str {
    match data {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
