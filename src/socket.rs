//! [`Socket`]: one connected client, as your handlers see it.
//!
//! A `Socket` lives on its client's connection thread, and every handler you
//! register with [`Socket::on`] runs there. That is why it needs no locks
//! (`Cell`/`RefCell` suffice) and why a breakpoint in a handler shows the
//! whole path: handler ← dispatch ← connection loop ← the `conn-N` thread.
//!
//! Sending to this client ([`Socket::emit`]) queues the message locally; the
//! connection loop writes it as soon as the handler returns. Sending to others
//! ([`Socket::broadcast`], [`Socket::to`]) goes through the hub.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use tungstenite::Message;

use crate::hub::{Command, Target};
use crate::io::{Io, To};
use crate::wire::{payload, Inbound, Outgoing, Payload};

/// A socket's id: unique for the life of the server, never reused.
pub type SocketId = u64;

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
type Handler = Box<dyn FnMut(&Socket, Value) -> Option<Payload>>;
type AckCallback = Box<dyn FnOnce(&Socket, Value)>;
type DisconnectHandler = Box<dyn FnOnce(&Socket, &str)>;
type MessageHandler = Box<dyn FnMut(&Socket, Message)>;

/// One connected client. See the [module docs](self).
pub struct Socket {
    info: SocketInfo,
    io: Io,
    /// Event name → handler. `Rc` so dispatch can release the map before
    /// calling, which lets a handler register more handlers.
    handlers: RefCell<HashMap<String, Rc<RefCell<Handler>>>>,
    /// Callbacks of `emit_with_ack`, waiting for the client's reply.
    pending_acks: RefCell<HashMap<u64, AckCallback>>,
    /// The next ack id this server hands out (per socket, from 0).
    next_ack: Cell<u64>,
    /// Messages for this client, written by the connection loop after each handler.
    queued: RefCell<Vec<Outgoing>>,
    /// Rooms this socket joined (the hub has the authoritative copy).
    rooms: RefCell<BTreeSet<String>>,
    on_disconnect: RefCell<Vec<DisconnectHandler>>,
    /// Set by `on_message`: data frames go to it as they came, not decoded.
    on_message: RefCell<Option<MessageHandler>>,
    /// A handler called `disconnect()`: the loop closes after the handler.
    disconnect_requested: Cell<bool>,
    /// What a socket.io client sent when it connected (`io(url, { auth })`);
    /// `null` for `/ws` clients and when it sent nothing.
    auth: Value,
}

impl Socket {
    pub(crate) fn new(info: SocketInfo, io: Io) -> Socket {
        Socket {
            info,
            io,
            handlers: RefCell::default(),
            pending_acks: RefCell::default(),
            next_ack: Cell::new(0),
            queued: RefCell::default(),
            rooms: RefCell::default(),
            on_disconnect: RefCell::default(),
            on_message: RefCell::default(),
            disconnect_requested: Cell::new(false),
            auth: Value::Null,
        }
    }

    /// A socket.io client's socket: it joined namespace `io.namespace()`
    /// with this `auth` payload.
    pub(crate) fn with_auth(mut self, auth: Value) -> Socket {
        self.auth = auth;
        self
    }

    /// The `auth` payload a socket.io client connected with (`null` if none).
    pub fn auth(&self) -> &Value {
        &self.auth
    }

    /// The namespace this socket joined: `/`, or e.g. `/admin` for socket.io.
    pub fn namespace(&self) -> &str {
        self.io.namespace()
    }

    /// This socket's id.
    pub fn id(&self) -> SocketId {
        self.info.id
    }

    /// Everything known about the client: address, path, origin, headers…
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    /// A handle to the hub, to emit to everyone or to any room.
    pub fn io(&self) -> &Io {
        &self.io
    }

    /// Sends `event` with `data` to this client.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.queue_event(event, data, None);
    }

    /// Sends `event` and calls `callback` with the client's reply, when it comes.
    pub fn emit_with_ack<T, F>(&self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(&Socket, Value) + 'static,
    {
        let id = self.next_ack.get();
        self.next_ack.set(id + 1);
        self.pending_acks.borrow_mut().insert(id, Box::new(callback));
        self.queue_event(event, data, Some(id));
    }

    fn queue_event<T: Serialize>(&self, event: &str, data: T, ack: Option<u64>) {
        match payload(&data) {
            Ok(data) => self.queued.borrow_mut().push(Outgoing::Event { name: event.to_string(), data, ack }),
            Err(e) => log::error!("socket {}: emit {event:?}: data cannot be serialized: {e}", self.id()),
        }
    }

    /// Calls `handler` with the data of every `event` this client sends.
    /// If the client asked for a reply, it gets `null` after the handler returns.
    pub fn on<F>(&self, event: &str, mut handler: F)
    where
        F: FnMut(&Socket, Value) + 'static,
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
        F: FnMut(&Socket, Value) -> R + 'static,
        R: Serialize,
    {
        let id = self.id();
        self.set_handler(event, move |socket, data| {
            let reply = handler(socket, data);
            payload(&reply).map_err(|e| log::error!("socket {id}: ack reply cannot be serialized: {e}")).ok()
        });
    }

    fn set_handler(&self, event: &str, handler: impl FnMut(&Socket, Value) -> Option<Payload> + 'static) {
        let handler: Handler = Box::new(handler);
        self.handlers.borrow_mut().insert(event.to_string(), Rc::new(RefCell::new(handler)));
    }

    /// Calls `handler` with every text or binary message this client sends,
    /// exactly as it came, *instead of* decoding it as a JSON event (`on`
    /// handlers then see nothing). For clients that do not speak the JSON
    /// envelope: an echo server, a binary protocol of your own. Pings, pongs
    /// and the close handshake are still answered by wshub.
    pub fn on_message<F>(&self, handler: F)
    where
        F: FnMut(&Socket, Message) + 'static,
    {
        *self.on_message.borrow_mut() = Some(Box::new(handler));
    }

    /// Sends a text or binary `message` to this client as it is, without the
    /// JSON envelope. The counterpart of [`on_message`](Self::on_message).
    /// Control frames are wshub's business (pings come from the heartbeat,
    /// Close from [`disconnect`](Self::disconnect)): they are not sent.
    pub fn send(&self, message: Message) {
        match message {
            Message::Text(_) | Message::Binary(_) => self.queued.borrow_mut().push(Outgoing::Raw(message)),
            other => log::warn!("socket {}: send() takes text or binary messages, not {other:?}", self.id()),
        }
    }

    /// Sends `event` to every client except this one.
    pub fn broadcast<T: Serialize>(&self, event: &str, data: T) {
        self.io.emit_to(Target::All { except: Some(self.id()), nsp: self.io.namespace().to_string() }, event, data);
    }

    /// Puts this socket in `room`.
    pub fn join(&self, room: &str) {
        if self.rooms.borrow_mut().insert(room.to_string()) {
            log::info!("socket {}: joined room {room:?}", self.id());
            self.io.send(Command::Join(self.id(), room.to_string()));
        }
    }

    /// Takes this socket out of `room`.
    pub fn leave(&self, room: &str) {
        if self.rooms.borrow_mut().remove(room) {
            log::info!("socket {}: left room {room:?}", self.id());
            self.io.send(Command::Leave(self.id(), room.to_string()));
        }
    }

    /// The rooms this socket is in.
    pub fn rooms(&self) -> Vec<String> {
        self.rooms.borrow().iter().cloned().collect()
    }

    /// Selects the other clients in `room` (this socket is left out), for
    /// [`To::emit`].
    pub fn to(&self, room: impl Into<String>) -> To<'_> {
        self.io.to(room).except(self.id())
    }

    /// Calls `handler` once when the connection ends, with the reason.
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: FnOnce(&Socket, &str) + 'static,
    {
        self.on_disconnect.borrow_mut().push(Box::new(handler));
    }

    /// Closes this connection (close code 1000) once the current handler returns.
    pub fn disconnect(&self) {
        self.disconnect_requested.set(true);
    }

    // ---- used by the connection loop ----

    /// Runs the handler for one inbound event or ack.
    pub(crate) fn dispatch(&self, inbound: Inbound) {
        match inbound {
            // ANCHOR: dispatch
            Inbound::Event { name, data, ack } => {
                let handler = self.handlers.borrow().get(&name).cloned();
                let Some(handler) = handler else {
                    log::debug!("socket {}: no handler for event {name:?}", self.id());
                    if ack.is_some() {
                        let message = format!("no handler for event {name:?}");
                        self.queued.borrow_mut().push(Outgoing::Error { message });
                    }
                    return;
                };
                let reply = (handler.borrow_mut())(self, data);
                if let (Some(id), Some(data)) = (ack, reply) {
                    self.queued.borrow_mut().push(Outgoing::Ack { id, data });
                }
            }
            // ANCHOR_END: dispatch
            Inbound::Ack { id, data } => {
                let callback = self.pending_acks.borrow_mut().remove(&id);
                match callback {
                    Some(callback) => callback(self, data),
                    None => log::debug!("socket {}: ack {id} answers nothing we asked", self.id()),
                }
            }
        }
    }

    /// True when an `on_message` handler takes the data frames.
    pub(crate) fn takes_raw_messages(&self) -> bool {
        self.on_message.borrow().is_some()
    }

    /// Hands one data frame to the `on_message` handler.
    pub(crate) fn dispatch_raw(&self, message: Message) {
        // Taken out while it runs, so the handler may call `on_message` itself.
        let handler = self.on_message.borrow_mut().take();
        if let Some(mut handler) = handler {
            handler(self, message);
            self.on_message.borrow_mut().get_or_insert(handler);
        }
    }

    /// Queues a report about a frame that could not be understood.
    pub(crate) fn report_error(&self, message: String) {
        self.queued.borrow_mut().push(Outgoing::Error { message });
    }

    /// Takes the messages handlers queued for this client.
    pub(crate) fn take_queued(&self) -> Vec<Outgoing> {
        std::mem::take(&mut *self.queued.borrow_mut())
    }

    pub(crate) fn disconnect_requested(&self) -> bool {
        self.disconnect_requested.get()
    }

    /// Runs the disconnect handlers (once).
    pub(crate) fn disconnected(&self, reason: &str) {
        let handlers = std::mem::take(&mut *self.on_disconnect.borrow_mut());
        for handler in handlers {
            handler(self, reason);
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.info.connected_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        f.debug_struct("Socket")
            .field("id", &self.info.id)
            .field("peer", &self.info.peer)
            .field("path", &self.info.path)
            .field("query", &self.info.query)
            .field("origin", &self.info.origin)
            .field("protocol", &self.info.protocol)
            .field("connected_at_unix_ms", &since.as_millis())
            .field("rooms", &*self.rooms.borrow())
            .field("handlers", &self.handlers.borrow().keys().collect::<BTreeSet<_>>())
            .field("headers", &self.info.headers)
            .finish()
    }
}
