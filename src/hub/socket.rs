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
//! the hub.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use tungstenite::Message;

use super::io::{Io, To};
use super::outlet::Outlet;
use super::{Command, SocketId, Target};
use crate::wire::socketio::{self, Kind};
use crate::wire::{payload, Encoded, Inbound, Outgoing, Payload, Wire};

/// What is known about a client when it connects (shown by `{socket:#?}`).
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket's id (also in every log line about it).
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

/// A handler's reply to a client that asked for one (`None`: no reply).
type Handler = Box<dyn FnMut(&Socket, Value) -> Option<Payload> + Send>;
type AckCallback = Box<dyn FnOnce(&Socket, Value) + Send>;
type DisconnectHandler = Box<dyn FnOnce(&Socket, &str) + Send>;
type MessageHandler = Box<dyn FnMut(&Socket, Message) + Send>;

/// One connected client. See the [module docs](self).
#[derive(Clone)]
pub struct Socket {
    inner: Arc<Inner>,
}

struct Inner {
    info: SocketInfo,
    /// How this client's frames are encoded.
    wire: Wire,
    /// The hub, scoped to this socket's namespace.
    io: Io,
    /// This client's way out, shared with the hub and its connection thread.
    outlet: Arc<Outlet>,
    /// Event name → handler. Each handler has its own lock, so dispatch can
    /// release the map before calling it: a handler may register more.
    handlers: Mutex<HashMap<String, Arc<Mutex<Handler>>>>,
    /// Callbacks of `emit_with_ack`, waiting for the client's reply.
    pending_acks: Mutex<HashMap<u64, AckCallback>>,
    /// The next ack id this server hands out (per socket, from 0).
    next_ack: AtomicU64,
    /// Rooms this socket joined (the hub has the authoritative copy).
    rooms: Mutex<BTreeSet<String>>,
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

impl Socket {
    pub(crate) fn new(info: SocketInfo, wire: Wire, io: Io, outlet: Arc<Outlet>, auth: Value) -> Socket {
        let inner = Inner {
            info,
            wire,
            io,
            outlet,
            handlers: Mutex::default(),
            pending_acks: Mutex::default(),
            next_ack: AtomicU64::new(0),
            rooms: Mutex::default(),
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

    /// This socket's id.
    pub fn id(&self) -> SocketId {
        self.inner.info.id
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
        self.emit_event(event, data, None);
    }
    // ANCHOR_END: emit

    /// Sends `event` and calls `callback` with the client's reply, when it
    /// comes (on the thread that reads this client).
    pub fn emit_with_ack<T, F>(&self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(&Socket, Value) + Send + 'static,
    {
        let id = self.inner.next_ack.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.pending_acks).insert(id, Box::new(callback));
        self.emit_event(event, data, Some(id));
    }

    fn emit_event<T: Serialize>(&self, event: &str, data: T, ack: Option<u64>) {
        match payload(&data) {
            Ok(data) => self.deliver(&Outgoing::Event { name: event.to_string(), data, ack }),
            Err(e) => log::error!("socket {}: emit {event:?}: data cannot be serialized: {e}", self.id()),
        }
    }

    /// Encodes `out` for this client and writes it through its outlet.
    fn deliver(&self, out: &Outgoing) {
        if self.is_gone() {
            return;
        }
        self.inner.outlet.push(&Encoded::of(self.inner.wire, self.namespace(), out));
    }

    /// Calls `handler` with the data of every `event` this client sends.
    /// If the client asked for a reply, it gets `null` after the handler returns.
    pub fn on<F>(&self, event: &str, mut handler: F)
    where
        F: FnMut(&Socket, Value) + Send + 'static,
    {
        self.set_handler(event, move |socket, data| {
            handler(socket, data);
            Some(payload(&()).expect("null is JSON"))
        });
    }

    /// Like [`on`](Self::on), and the handler's return value is the reply
    /// (the ack) sent to a client that asked for one.
    pub fn on_with_ack<F, R>(&self, event: &str, mut handler: F)
    where
        F: FnMut(&Socket, Value) -> R + Send + 'static,
        R: Serialize,
    {
        let id = self.id();
        self.set_handler(event, move |socket, data| {
            let reply = handler(socket, data);
            payload(&reply).map_err(|e| log::error!("socket {id}: ack reply cannot be serialized: {e}")).ok()
        });
    }

    fn set_handler(&self, event: &str, handler: impl FnMut(&Socket, Value) -> Option<Payload> + Send + 'static) {
        let handler: Handler = Box::new(handler);
        lock(&self.inner.handlers).insert(event.to_string(), Arc::new(Mutex::new(handler)));
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

    /// Sends `event` to every client except this one.
    pub fn broadcast<T: Serialize>(&self, event: &str, data: T) {
        let nsp = self.namespace().to_string();
        self.inner.io.emit_to(Target::All { except: Some(self.id()), nsp }, event, data);
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

    /// The rooms this socket is in.
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.inner.rooms).iter().cloned().collect()
    }

    /// Selects the other clients in `room` (this socket is left out), for
    /// [`To::emit`].
    pub fn to(&self, room: impl Into<String>) -> To<'_> {
        self.inner.io.to(room).except(self.id())
    }

    /// Calls `handler` once when the socket leaves, with the reason.
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
    /// has none left.
    pub fn disconnect(&self) {
        if self.is_gone() {
            return;
        }
        match self.inner.wire {
            Wire::Json => self.inner.outlet.close(1000, "server disconnect", false),
            Wire::SocketIo => {
                let nsp = self.namespace().to_string();
                let leave = socketio::Packet { kind: Kind::Disconnect, nsp, id: None, attachments: 0, data: None };
                self.inner.outlet.push(&Encoded::new(vec![Message::text(format!("4{}", leave.encode()))]));
                self.finish("server namespace disconnect");
            }
        }
    }

    // ---- used by the connection loop and the socket.io session ----

    // ANCHOR: dispatch
    /// Runs the handler for one inbound event or ack.
    pub(crate) fn dispatch(&self, inbound: Inbound) {
        if self.is_gone() {
            return;
        }
        match inbound {
            Inbound::Event { name, data, ack } => {
                let handler = lock(&self.inner.handlers).get(&name).cloned();
                let Some(handler) = handler else {
                    log::debug!("socket {}: no handler for event {name:?}", self.id());
                    if ack.is_some() {
                        self.report_error(format!("no handler for event {name:?}"));
                    }
                    return;
                };
                let reply = (lock(&handler))(self, data);
                if let (Some(id), Some(data)) = (ack, reply) {
                    self.deliver(&Outgoing::Ack { id, data });
                }
            }
            Inbound::Ack { id, data } => {
                let callback = lock(&self.inner.pending_acks).remove(&id);
                match callback {
                    Some(callback) => callback(self, data),
                    None => log::debug!("socket {}: ack {id} answers nothing we asked", self.id()),
                }
            }
        }
    }
    // ANCHOR_END: dispatch

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

    /// Tells the client that its last frame could not be understood.
    pub(crate) fn report_error(&self, message: String) {
        log::debug!("socket {}: sent error event: {message:?}", self.id());
        self.deliver(&Outgoing::Error { message });
    }

    /// True once the socket left.
    pub(crate) fn is_gone(&self) -> bool {
        self.inner.gone.load(Ordering::Relaxed)
    }

    /// The socket leaves: out of the hub first (no broadcast is written to
    /// it any more), then its `on_disconnect` handlers run, once.
    pub(crate) fn finish(&self, reason: &str) {
        if self.inner.gone.swap(true, Ordering::Relaxed) {
            return;
        }
        self.inner.io.send(Command::Unregister(self.id()));
        let handlers = std::mem::take(&mut *lock(&self.inner.on_disconnect));
        for handler in handlers {
            handler(self, reason);
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.inner.info;
        let since = info.connected_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let handlers: BTreeSet<String> = lock(&self.inner.handlers).keys().cloned().collect();
        f.debug_struct("Socket")
            .field("id", &info.id)
            .field("peer", &info.peer)
            .field("path", &info.path)
            .field("query", &info.query)
            .field("origin", &info.origin)
            .field("protocol", &info.protocol)
            .field("connected_at_unix_ms", &since.as_millis())
            .field("rooms", &*lock(&self.inner.rooms))
            .field("handlers", &handlers)
            .field("headers", &info.headers)
            .finish()
    }
}
