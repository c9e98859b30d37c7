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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use serde_json::Value;

use super::handshake::{Data, Handshake, SocketInfo};
use super::ids::random_id;
use super::io::Io;
use super::outlet::Outlet;
use super::recovery::Held;
use super::Command;
use super::SocketId;
use crate::wire::{Encoded, Wire};

mod ack;
mod disconnect;
mod emit;
mod handlers;
mod rooms;

pub use ack::Ack;
pub use emit::{SocketTimeout, Volatile};
pub(crate) use handlers::AckCallback;
pub use handlers::Verdict;
use handlers::{AnyHandler, DisconnectHandler, Handler, MessageHandler, Middleware};

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
    /// socket.io's `socket.handshake`, made from `info` the first time it
    /// is asked for: most sockets never are, and it copies every header.
    handshake: OnceLock<Handshake>,
    /// The connection is encrypted (for `handshake().secure`).
    secure: bool,
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
        let inner = Inner {
            info,
            sid,
            pid,
            recovered,
            handshake: OnceLock::new(),
            secure,
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
        let inner = &*self.inner;
        inner.handshake.get_or_init(|| Handshake::of(&inner.info, &inner.auth, inner.secure))
    }

    /// Everything known about the client: address, path, origin, headers…
    pub fn info(&self) -> &SocketInfo {
        &self.inner.info
    }

    /// A handle to the hub, to emit to everyone or to any room.
    pub fn io(&self) -> &Io {
        &self.inner.io
    }
    /// True once the socket left.
    /// Registers this socket with the hub, which writes `greeting` to it
    /// first (and what recovery replays), and waits until that is done.
    pub(crate) fn register(&self, replay: Option<u64>, greeting: Option<Encoded>) {
        let _ = self.inner.io.ask(|done| Command::Register(self.clone(), replay, greeting, done));
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.inner.gone.load(Ordering::Relaxed)
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
