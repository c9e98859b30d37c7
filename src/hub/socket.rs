//! [`Socket`]: one connected client, as your handlers see it.
//!
//! A `Socket` is a cheap handle (an `Arc`): clone it, keep it, hand it to
//! another thread. Handlers you register with [`Socket::on`] run on the
//! thread that reads this client — `conn-N` for a WebSocket, the thread of
//! the HTTP request that brought the event for a socket.io client on
//! long-polling — one at a time per socket. A breakpoint in a handler shows
//! the whole path: handler ← dispatch ← connection loop ← `conn-N`.
//!
//! [`Socket::emit`] writes to this client **at once**, through its outlet,
//! from whichever thread calls it; so a reply written by a handler and a
//! broadcast written by the hub keep the order in which they were sent.
//! Sending to others ([`Socket::broadcast`], [`Socket::to`]) goes through
//! the hub. With connection state recovery on, a socket's own writes go
//! through the hub too, as in Node (`socket.emit` is then a broadcast to
//! the socket's own room): the hub gives each event its offset and keeps
//! it in the log in the very order the client receives it.
//!
//! Each socket has two ids: [`Socket::id`], its number in this process
//! (logs, maps), and [`Socket::sid`], the public id its client sees as
//! `socket.id`, which a recovered socket keeps and which every socket has a
//! room named after (`io.to(sid)`).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tungstenite::Message;

use super::acks::{Ack, AckError};
use super::handshake::{Data, Handshake};
use super::io::{Io, To};
use super::outlet::Outlet;
use super::recovery::Held;
use super::{Broadcast, Command, Flags, Selection, SocketId};
use crate::wire::args::args_inner;
use crate::wire::socketio::{self, Kind};
use crate::wire::{payload, Encoded, Inbound, Outgoing, Wire};

/// What is known about a client when it connects (shown by `{socket:#?}`).
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket's number in this process (also in every log line about it).
    pub id: SocketId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The path it connected to, e.g. `/ws`.
    pub path: String,
    /// The query string of the upgrade request, without `?`.
    pub query: String,
    /// The page's origin, when a browser sent one.
    pub origin: Option<String>,
    /// Every header of the upgrade request.
    pub headers: Vec<(String, String)>,
    /// The wire format this socket speaks, e.g. `wshub-json`.
    pub protocol: &'static str,
    /// When the upgrade completed.
    pub connected_at: SystemTime,
}

/// What a packet middleware ([`Socket::use_middleware`]) decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: the next middleware, then the handler.
    Pass,
    /// Drop the packet silently: no handler runs, nothing is answered.
    Ignore,
    /// Refuse it: no handler runs, and the client gets an `error` event
    /// with this message (an ack it asked for never comes).
    Refuse(String),
}

type Handler = Box<dyn FnMut(&Socket, Value, Ack) + Send>;
type AnyHandler = Box<dyn FnMut(&Socket, &str, &Value) + Send>;
type Middleware = Box<dyn FnMut(&Socket, &str, &mut Value) -> Verdict + Send>;
/// Waits for the client's answer to an `emit_with_ack` (or its timeout).
pub(crate) type AckCallback = Box<dyn FnOnce(&Socket, Result<Value, AckError>) + Send>;
type DisconnectHandler = Box<dyn FnOnce(&Socket, &str) + Send>;
type MessageHandler = Box<dyn FnMut(&Socket, Message) + Send>;

/// One connected client. See the [module docs](self).
#[derive(Clone)]
pub struct Socket {
    inner: Arc<Inner>,
}

struct Inner {
    info: SocketInfo,
    /// The public id: socket.io's `socket.id`, kept by a recovered socket.
    sid: String,
    /// The private id a client recovers its session with (recovery on only).
    pid: Option<String>,
    /// This socket took over a disconnected session.
    recovered: bool,
    handshake: Handshake,
    /// How this client's frames are encoded.
    wire: Wire,
    /// The hub, scoped to this socket's namespace.
    io: Io,
    /// This client's way out, shared with the hub and its connection thread.
    outlet: Arc<Outlet>,
    /// Recovery is on: this socket's writes go through the hub.
    through_hub: bool,
    /// Event name → handler. Each handler has its own lock, so dispatch can
    /// release the map before calling it: a handler may register more.
    handlers: Mutex<HashMap<String, Arc<Mutex<Handler>>>>,
    /// `on_any` listeners: every incoming event, before the middlewares.
    any_in: Mutex<Vec<Arc<Mutex<AnyHandler>>>>,
    /// `on_any_outgoing` listeners: every event sent to this client.
    any_out: Mutex<Vec<Arc<Mutex<AnyHandler>>>>,
    /// Set once an `on_any_outgoing` listener exists: the hub checks it
    /// for every socket of every broadcast, without a lock.
    has_any_out: AtomicBool,
    /// `use_middleware`: run on every incoming event, in order.
    middlewares: Mutex<Vec<Arc<Mutex<Middleware>>>>,
    /// Callbacks of `emit_with_ack`, waiting for the client's reply.
    pending_acks: Mutex<HashMap<u64, AckCallback>>,
    /// The next ack id this server hands out (per socket, from 0).
    next_ack: AtomicU64,
    /// Rooms this socket is in, its own id's among them (the hub has the
    /// authoritative copy and keeps this one up to date).
    rooms: Mutex<BTreeSet<String>>,
    /// `socket.data`.
    data: Data,
    on_disconnect: Mutex<Vec<DisconnectHandler>>,
    /// Set by `on_message`: data frames go to it as they came, not decoded.
    on_message: Mutex<Option<MessageHandler>>,
    /// The socket left (its client or the server disconnected it): emits
    /// are dropped, handlers no longer run.
    gone: AtomicBool,
    /// What a socket.io client sent when it connected (`io(url, { auth })`);
    /// `null` for `/ws` clients and when it sent nothing.
    auth: Value,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked poisons only its own lock: go on with the data.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a new socket is made of.
pub(crate) struct Parts {
    pub info: SocketInfo,
    pub wire: Wire,
    /// The hub, scoped to the socket's namespace.
    pub io: Io,
    pub outlet: Arc<Outlet>,
    pub auth: Value,
    /// The connection is encrypted (for `handshake().secure`).
    pub secure: bool,
    /// The session this socket takes over, if its client recovered one.
    pub restored: Option<Held>,
}

/// A random, unguessable id (20 characters, URL-safe): Engine.IO session
/// ids (which authorise polling requests on their own), and sockets' public
/// and private ids (unique across a cluster without asking anyone).
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): fall back to the clock.
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes[..15].copy_from_slice(&nanos.to_le_bytes()[..15]);
    }
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

impl Socket {
    pub(crate) fn new(parts: Parts) -> Socket {
        let Parts { info, wire, io, outlet, auth, secure, restored } = parts;
        let through_hub = io.keeps_sessions();
        let (sid, pid, rooms, data, recovered) = match restored {
            Some(held) => (held.sid, Some(held.pid), held.rooms.into_iter().collect(), held.data, true),
            None => {
                let sid = random_id();
                let pid = through_hub.then(random_id);
                let rooms = BTreeSet::from([sid.clone()]);
                (sid, pid, rooms, Data::default(), false)
            }
        };
        let handshake = Handshake::of(&info, &auth, secure);
        let inner = Inner {
            info,
            sid,
            pid,
            recovered,
            handshake,
            wire,
            io,
            outlet,
            through_hub,
            handlers: Mutex::default(),
            any_in: Mutex::default(),
            any_out: Mutex::default(),
            has_any_out: AtomicBool::new(false),
            middlewares: Mutex::default(),
            pending_acks: Mutex::default(),
            next_ack: AtomicU64::new(0),
            rooms: Mutex::new(rooms),
            data,
            on_disconnect: Mutex::default(),
            on_message: Mutex::default(),
            gone: AtomicBool::new(false),
            auth,
        };
        Socket { inner: Arc::new(inner) }
    }

    /// The `auth` payload a socket.io client connected with (`null` if none).
    pub fn auth(&self) -> &Value {
        &self.inner.auth
    }

    /// The namespace this socket joined: `/`, or e.g. `/admin` for socket.io.
    pub fn namespace(&self) -> &str {
        self.inner.io.namespace()
    }

    /// This socket's number in this process: log lines and maps.
    pub fn id(&self) -> SocketId {
        self.inner.info.id
    }

    /// The public id: what a socket.io client sees as `socket.id`, the name
    /// of the room every socket is in (`io.to(socket.sid())` reaches it),
    /// unique across servers. A recovered socket has its predecessor's.
    pub fn sid(&self) -> &str {
        &self.inner.sid
    }

    /// True when this socket is a recovered one (socket.io's
    /// `socket.recovered`): its client came back within the maximum
    /// disconnection duration and got the same id, rooms and data, and the
    /// packets it missed were replayed to it before anything newer.
    pub fn recovered(&self) -> bool {
        self.inner.recovered
    }

    /// True until the socket leaves (socket.io's `socket.connected`).
    pub fn connected(&self) -> bool {
        !self.is_gone()
    }

    /// socket.io's `socket.handshake`: headers, time, address, xdomain,
    /// secure, issued, url, query, auth.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// Everything known about the client: address, path, origin, headers…
    pub fn info(&self) -> &SocketInfo {
        &self.inner.info
    }

    /// A handle to the hub, to emit to everyone or to any room.
    pub fn io(&self) -> &Io {
        &self.inner.io
    }

    // ANCHOR: emit
    /// Sends `event` with `data` to this client, now.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.emit_event(event, data, None, false);
    }
    // ANCHOR_END: emit

    /// Sends `event` and calls `callback` with the client's reply, when it
    /// comes (on the thread that reads this client). It waits as long as
    /// the socket lives; [`timeout`](Self::timeout) bounds the wait.
    pub fn emit_with_ack<T, F>(&self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(&Socket, Value) + Send + 'static,
    {
        let id = self.expect_ack(Box::new(move |socket, answer| {
            if let Ok(answer) = answer {
                callback(socket, answer)
            }
        }));
        self.emit_event(event, data, Some(id), false);
    }

    /// Bounds the wait of the next `emit_with_ack` (socket.io's
    /// `socket.timeout(ms)`): its callback gets the answer, or
    /// `Err(AckError::Timeout)` on the `timers` thread when `timeout` passes
    /// first.
    pub fn timeout(&self, timeout: Duration) -> SocketTimeout<'_> {
        SocketTimeout { socket: self, timeout }
    }

    /// The next emit is volatile (socket.io's `socket.volatile`): dropped if
    /// this client cannot take it now, and never logged for recovery.
    pub fn volatile(&self) -> Volatile<'_> {
        Volatile { socket: self }
    }

    fn emit_event<T: Serialize>(&self, event: &str, data: T, ack: Option<u64>, volatile: bool) {
        let data = match payload(&data) {
            Ok(data) => data,
            Err(e) => return log::error!("socket {}: emit {event:?}: data cannot be serialized: {e}", self.id()),
        };
        let out = Outgoing::Event { name: event.to_string(), data, ack };
        if self.inner.through_hub && ack.is_none() {
            // As Node with recovery on: a broadcast to this socket's own
            // room, so that it gets an offset and its place in the log.
            // `local`: the socket is here, so no other server of a cluster
            // needs to hear of it.
            let select =
                Selection { nsp: self.namespace().to_string(), rooms: vec![self.sid().to_string()], except: vec![] };
            self.inner.io.send(Command::Emit(Broadcast {
                select,
                flags: Flags { volatile, local: true },
                event: out,
            }));
            return;
        }
        self.deliver_with(&out, volatile);
    }

    /// Encodes `out` for this client and writes it through its outlet (or,
    /// with recovery on, through the hub).
    pub(crate) fn deliver(&self, out: &Outgoing) {
        self.deliver_with(out, false);
    }

    fn deliver_with(&self, out: &Outgoing, volatile: bool) {
        if self.is_gone() {
            return;
        }
        self.notify_outgoing(out);
        let frames = Encoded::of(self.inner.wire, self.namespace(), out);
        if self.inner.through_hub {
            self.inner.io.send(Command::Write(self.id(), frames, volatile));
        } else if volatile {
            self.inner.outlet.push_volatile(&frames);
        } else {
            self.inner.outlet.push(&frames);
        }
    }

    /// Calls `handler` with the data of every `event` this client sends. A
    /// client that asked for an answer gets none from it: use
    /// [`on_with_ack`](Self::on_with_ack) to answer.
    pub fn on<F>(&self, event: &str, mut handler: F)
    where
        F: FnMut(&Socket, Value) + Send + 'static,
    {
        self.on_with_ack(event, move |socket, data, _ack| handler(socket, data));
    }

    // ANCHOR: on_with_ack
    /// Like [`on`](Self::on), and the handler also gets the [`Ack`] the
    /// client asked for: answer with `ack.send(reply)`, now or later, from
    /// any thread; or never, and the client is never answered (its timeout
    /// fires). When the client asked for nothing, `ack.send` does nothing.
    pub fn on_with_ack<F>(&self, event: &str, handler: F)
    where
        F: FnMut(&Socket, Value, Ack) + Send + 'static,
    {
        let handler: Handler = Box::new(handler);
        lock(&self.inner.handlers).insert(event.to_string(), Arc::new(Mutex::new(handler)));
    }
    // ANCHOR_END: on_with_ack

    /// Calls `listener` with every event this client sends, whatever its
    /// name and whether or not a handler takes it (socket.io's `onAny`),
    /// before the middlewares and the handler.
    pub fn on_any<F>(&self, listener: F)
    where
        F: FnMut(&Socket, &str, &Value) + Send + 'static,
    {
        let listener: AnyHandler = Box::new(listener);
        lock(&self.inner.any_in).push(Arc::new(Mutex::new(listener)));
    }

    /// Calls `listener` with every event sent to this client (socket.io's
    /// `onAnyOutgoing`): its own emits, on the emitting thread, and the
    /// broadcasts it is in, on the `hub` thread. Keep it short: on the hub
    /// it holds up every broadcast. (Acks are not events: not shown.)
    pub fn on_any_outgoing<F>(&self, listener: F)
    where
        F: FnMut(&Socket, &str, &Value) + Send + 'static,
    {
        let listener: AnyHandler = Box::new(listener);
        lock(&self.inner.any_out).push(Arc::new(Mutex::new(listener)));
        self.inner.has_any_out.store(true, Ordering::Release);
    }

    /// Adds a middleware for this socket's incoming events (socket.io's
    /// `socket.use`): each runs in the order added, with the event's name
    /// and data (which it may change), and says what happens next: see
    /// [`Verdict`].
    pub fn use_middleware<F>(&self, middleware: F)
    where
        F: FnMut(&Socket, &str, &mut Value) -> Verdict + Send + 'static,
    {
        let middleware: Middleware = Box::new(middleware);
        lock(&self.inner.middlewares).push(Arc::new(Mutex::new(middleware)));
    }

    /// Calls `handler` with every text or binary message this client sends,
    /// exactly as it came, *instead of* decoding it as a JSON event (`on`
    /// handlers then see nothing). For clients that do not speak the JSON
    /// envelope: an echo server, a binary protocol of your own. Pings, pongs
    /// and the close handshake are still answered by wshub.
    pub fn on_message<F>(&self, handler: F)
    where
        F: FnMut(&Socket, Message) + Send + 'static,
    {
        *lock(&self.inner.on_message) = Some(Box::new(handler));
    }

    /// Sends a text or binary `message` to this client as it is, without the
    /// JSON envelope. The counterpart of [`on_message`](Self::on_message).
    /// Control frames are wshub's business (pings come from the heartbeat,
    /// Close from [`disconnect`](Self::disconnect)): they are not sent.
    pub fn send(&self, message: Message) {
        match message {
            Message::Text(_) | Message::Binary(_) => self.deliver(&Outgoing::Raw(message)),
            other => log::warn!("socket {}: send() takes text or binary messages, not {other:?}", self.id()),
        }
    }

    /// Sends `event` to every client of this namespace except this one.
    pub fn broadcast<T: Serialize>(&self, event: &str, data: T) {
        self.inner.io.except(self.sid()).emit(event, data);
    }

    /// Puts this socket in `room`.
    pub fn join(&self, room: &str) {
        if lock(&self.inner.rooms).insert(room.to_string()) {
            log::info!("socket {}: joined room {room:?}", self.id());
            self.inner.io.send(Command::Join(self.id(), room.to_string()));
        }
    }

    /// Takes this socket out of `room`.
    pub fn leave(&self, room: &str) {
        if lock(&self.inner.rooms).remove(room) {
            log::info!("socket {}: left room {room:?}", self.id());
            self.inner.io.send(Command::Leave(self.id(), room.to_string()));
        }
    }

    /// The rooms this socket is in, sorted; its own id's room among them
    /// (as socket.io's `socket.rooms`).
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.inner.rooms).iter().cloned().collect()
    }

    /// Selects the other clients in `room` (this socket is left out), for
    /// [`To::emit`].
    pub fn to(&self, room: impl Into<String>) -> To<'_> {
        self.inner.io.to(room).except(self.sid())
    }

    /// Selects every other client of this namespace except those in `room`.
    pub fn except(&self, room: impl Into<String>) -> To<'_> {
        self.inner.io.except(room).except(self.sid())
    }

    /// Keeps `data` with this socket (socket.io's `socket.data`), replacing
    /// what was there. It must serialize: `fetch_sockets` shows it as JSON,
    /// and a recovered socket gets it back.
    pub fn set_data<T: Serialize + Send + 'static>(&self, data: T) {
        self.inner.data.set(data);
    }

    /// A copy of the data kept with [`set_data`](Self::set_data), if there
    /// is some of type `T`.
    pub fn data<T: Clone + 'static>(&self) -> Option<T> {
        self.inner.data.get()
    }

    /// Changes the data in place (if there is some of type `T`).
    pub fn with_data<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.inner.data.with(f)
    }

    /// The data as JSON (`null` when there is none).
    pub fn data_json(&self) -> Value {
        self.inner.data.to_json()
    }

    /// Calls `handler` once when the socket leaves, with the reason. The
    /// socket has left the hub by then, but [`rooms`](Self::rooms) still
    /// lists the rooms it was in (what socket.io's `disconnecting` is for).
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: FnOnce(&Socket, &str) + Send + 'static,
    {
        lock(&self.inner.on_disconnect).push(Box::new(handler));
    }

    /// Disconnects this socket, from any thread. A `/ws` client is closed
    /// with code 1000. A socket.io client leaves this namespace (it gets
    /// `41`, as from Node's `socket.disconnect()`); its connection stays
    /// for its other namespaces, and the client library closes it when it
    /// has none left. Either way the session is not kept for recovery.
    pub fn disconnect(&self) {
        if self.is_gone() {
            return;
        }
        match self.inner.wire {
            Wire::Json if self.inner.through_hub => {
                self.inner.io.send(Command::Close(self.id(), 1000, "server disconnect".into()))
            }
            Wire::Json => self.inner.outlet.close(1000, "server disconnect", false),
            Wire::SocketIo => {
                let nsp = self.namespace().to_string();
                let leave = socketio::Packet { kind: Kind::Disconnect, nsp, id: None, attachments: 0, data: None };
                let frames = Encoded::new(vec![Message::text(format!("4{}", leave.encode()))]);
                if self.inner.through_hub {
                    self.inner.io.send(Command::Write(self.id(), frames, false));
                } else {
                    self.inner.outlet.push(&frames);
                }
                self.finish("server namespace disconnect", false);
            }
        }
    }

    /// Disconnects this socket and closes its client's whole connection
    /// (socket.io's `socket.disconnect(true)`): a socket.io client's other
    /// namespaces leave too.
    pub fn close(&self) {
        self.disconnect();
        if self.inner.wire == Wire::SocketIo {
            self.inner.outlet.close(1000, "server disconnect", false);
        }
    }

    // ---- used by the connection loop, the socket.io session and the hub ----

    // ANCHOR: dispatch
    /// Runs the handler for one inbound event or ack: first the `on_any`
    /// listeners, then the middlewares, then the handler with its [`Ack`].
    pub(crate) fn dispatch(&self, inbound: Inbound) {
        if self.is_gone() {
            return;
        }
        match inbound {
            Inbound::Event { name, mut data, ack } => {
                let listeners = lock(&self.inner.any_in).clone();
                for listener in listeners {
                    (lock(&listener))(self, &name, &data);
                }
                let middlewares = lock(&self.inner.middlewares).clone();
                for middleware in middlewares {
                    match (lock(&middleware))(self, &name, &mut data) {
                        Verdict::Pass => {}
                        Verdict::Ignore => return log::debug!("socket {}: a middleware dropped {name:?}", self.id()),
                        Verdict::Refuse(why) => return self.report_error(why),
                    }
                }
                let handler = lock(&self.inner.handlers).get(&name).cloned();
                let Some(handler) = handler else {
                    log::debug!("socket {}: no handler for event {name:?}", self.id());
                    if ack.is_some() {
                        self.report_error(format!("no handler for event {name:?}"));
                    }
                    return;
                };
                let ack = Ack::new(self.clone(), ack, name);
                (lock(&handler))(self, data, ack);
            }
            Inbound::Ack { id, data } => {
                let callback = lock(&self.inner.pending_acks).remove(&id);
                match callback {
                    Some(callback) => callback(self, Ok(data)),
                    None => log::debug!("socket {}: ack {id} answers nothing we wait for", self.id()),
                }
            }
        }
    }
    // ANCHOR_END: dispatch

    /// Registers `callback` for the client's answer; returns its ack id.
    pub(crate) fn expect_ack(&self, callback: AckCallback) -> u64 {
        let id = self.inner.next_ack.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.pending_acks).insert(id, callback);
        id
    }

    /// Stops waiting for the answer `id` (its timeout passed).
    pub(crate) fn forget_ack(&self, id: u64) -> Option<AckCallback> {
        lock(&self.inner.pending_acks).remove(&id)
    }

    /// True when an `on_message` handler takes the data frames.
    pub(crate) fn takes_raw_messages(&self) -> bool {
        lock(&self.inner.on_message).is_some()
    }

    /// Hands one data frame to the `on_message` handler.
    pub(crate) fn dispatch_raw(&self, message: Message) {
        // Taken out while it runs, so the handler may call `on_message` itself.
        let handler = lock(&self.inner.on_message).take();
        if let Some(mut handler) = handler {
            handler(self, message);
            lock(&self.inner.on_message).get_or_insert(handler);
        }
    }

    /// Tells the client that its last frame could not be understood (or
    /// was refused).
    pub(crate) fn report_error(&self, message: String) {
        log::debug!("socket {}: sent error event: {message:?}", self.id());
        self.deliver(&Outgoing::Error { message });
    }

    /// True once the socket left.
    pub(crate) fn is_gone(&self) -> bool {
        self.inner.gone.load(Ordering::Relaxed)
    }

    /// The socket leaves: out of the hub first (no broadcast is written to
    /// it any more; with `keep`, and recovery on, its session is held for
    /// its client to come back to), then its `on_disconnect` handlers run,
    /// once.
    pub(crate) fn finish(&self, reason: &str, keep: bool) {
        if self.inner.gone.swap(true, Ordering::Relaxed) {
            return;
        }
        self.inner.io.send(Command::Unregister(self.id(), keep));
        let handlers = std::mem::take(&mut *lock(&self.inner.on_disconnect));
        for handler in handlers {
            handler(self, reason);
        }
    }

    pub(crate) fn outlet(&self) -> &Arc<Outlet> {
        &self.inner.outlet
    }

    pub(crate) fn wire(&self) -> Wire {
        self.inner.wire
    }

    /// The private id, when recovery is on. Never shown to anyone but the
    /// client it belongs to.
    pub(crate) fn pid(&self) -> Option<&str> {
        self.inner.pid.as_deref()
    }

    pub(crate) fn data_slot(&self) -> Data {
        self.inner.data.clone()
    }

    /// The hub put this socket in `room` (`sockets_join`).
    pub(crate) fn note_joined(&self, room: &str) {
        lock(&self.inner.rooms).insert(room.to_string());
    }

    /// The hub took this socket out of `room` (`sockets_leave`).
    pub(crate) fn note_left(&self, room: &str) {
        lock(&self.inner.rooms).remove(room);
    }

    /// Shows an outgoing event to the `on_any_outgoing` listeners. A
    /// listener that panics loses only its own call (this may be the hub).
    pub(crate) fn notify_outgoing(&self, out: &Outgoing) {
        if !self.inner.has_any_out.load(Ordering::Acquire) {
            return;
        }
        let Outgoing::Event { name, data, .. } = out else { return };
        let value = handler_value(data.get());
        let listeners = lock(&self.inner.any_out).clone();
        for listener in listeners {
            let call = AssertUnwindSafe(|| (lock(&listener))(self, name, &value));
            if panic::catch_unwind(call).is_err() {
                log::error!("socket {}: an on_any_outgoing listener panicked", self.id());
            }
        }
    }
}

/// Event data as a handler sees it: several arguments ([`Args`](crate::Args))
/// as one array, none as `null`.
fn handler_value(json: &str) -> Value {
    match args_inner(json).map(serde_json::from_str::<Vec<Value>>) {
        Some(Ok(mut items)) if items.len() == 1 => items.pop().unwrap_or(Value::Null),
        Some(Ok(items)) if items.is_empty() => Value::Null,
        Some(Ok(items)) => Value::Array(items),
        _ => serde_json::from_str(json).unwrap_or(Value::Null),
    }
}

/// `socket.timeout(d)`: see [`Socket::timeout`].
#[derive(Debug)]
pub struct SocketTimeout<'a> {
    socket: &'a Socket,
    timeout: Duration,
}

impl SocketTimeout<'_> {
    /// Sends `event` and calls `callback` with the client's answer, or with
    /// `Err(AckError::Timeout)` if it has not come within the timeout.
    pub fn emit_with_ack<T, F>(self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(&Socket, Result<Value, AckError>) + Send + 'static,
    {
        let socket = self.socket.clone();
        let id = socket.expect_ack(Box::new(callback));
        let due = Instant::now() + self.timeout;
        let timed = socket.clone();
        socket.io().timers().schedule(
            due,
            Box::new(move || {
                if let Some(callback) = timed.forget_ack(id) {
                    log::debug!("socket {}: no ack {id} within the timeout", timed.id());
                    callback(&timed, Err(AckError::Timeout));
                }
            }),
        );
        socket.emit_event(event, data, Some(id), false);
    }
}

/// `socket.volatile()`: see [`Socket::volatile`].
#[derive(Debug)]
pub struct Volatile<'a> {
    socket: &'a Socket,
}

impl Volatile<'_> {
    /// Sends `event` if the client can take it now; else it is dropped.
    pub fn emit<T: Serialize>(self, event: &str, data: T) {
        self.socket.emit_event(event, data, None, true);
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.inner.info;
        let since = info.connected_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let handlers: BTreeSet<String> = lock(&self.inner.handlers).keys().cloned().collect();
        f.debug_struct("Socket")
            .field("id", &info.id)
            .field("sid", &self.inner.sid)
            .field("recovered", &self.inner.recovered)
            .field("peer", &info.peer)
            .field("path", &info.path)
            .field("query", &info.query)
            .field("origin", &info.origin)
            .field("protocol", &info.protocol)
            .field("connected_at_unix_ms", &since.as_millis())
            .field("rooms", &*lock(&self.inner.rooms))
            .field("data", &self.inner.data)
            .field("handlers", &handlers)
            .field("headers", &info.headers)
            .finish()
    }
}
