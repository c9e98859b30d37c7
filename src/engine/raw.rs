//! The Engine.IO-only layer: raw messages between the application and an
//! `engine.io-client`, with no Socket.IO on top.
//!
//! Node's `engine.io` package is the transport alone: a session over HTTP
//! long-polling or WebSocket, the upgrade from one to the other, the
//! heartbeat, and messages that are plain text or plain bytes. wshub's
//! engine is that layer already; under `/engine.io/` (the path is
//! [`ServerBuilder::engineio_path`](crate::ServerBuilder::engineio_path))
//! a session carries this layer instead of Socket.IO's namespaces:
//!
//! ```text
//! client                              server
//! 4hello            (text message)  → on_message(Message::Text("hello"))
//! <bytes>  (binary frame, or b<base64> in a polling body) → on_message(Message::Binary(bytes))
//! send(Message::text("hi"))         → 4hi
//! ```
//!
//! The application gets an [`EngineSocket`] per session, in
//! [`Server::on_engineio`](crate::Server::on_engineio). Like [`Socket`](crate::Socket)
//! it is a cheap handle that any thread may keep and `send` through: a
//! message goes straight into the session's outlet, whichever transport
//! carries the session now. There are no events, acks, rooms or broadcasts
//! here: those are Socket.IO's.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tungstenite::Message;

use super::client::{send, Client, SessionEnd};
use crate::context::Context;
use crate::hub::{Outlet, SocketId, SocketInfo};
use crate::wire::engineio::Packet;

/// What the protocol name of an Engine.IO-only socket is in its [`SocketInfo`].
pub const PROTOCOL: &str = "engine.io";

/// The application's function called for each new session
/// ([`Server::on_engineio`](crate::Server::on_engineio)); the engine keeps it.
pub(crate) type EngineHandler = Arc<dyn Fn(&EngineSocket) + Send + Sync>;

type MessageHandler = Box<dyn FnMut(&EngineSocket, Message) + Send>;
type CloseHandler = Box<dyn FnOnce(&EngineSocket, &str) + Send>;

/// One Engine.IO session (an `engine.io-client` on `/engine.io/`), as the
/// application sees it: from [`Server::on_engineio`](crate::Server::on_engineio).
///
/// Messages are raw: text arrives as `Message::Text`, bytes as
/// `Message::Binary`, whichever transport carries the session (long-polling,
/// WebSocket, or polling and then the upgrade). There are no events, acks or
/// rooms: those are Socket.IO's. It is a cheap handle: clone it, keep it,
/// [`send`](Self::send) from any thread.
#[derive(Clone)]
pub struct EngineSocket {
    inner: Arc<Inner>,
}

struct Inner {
    info: SocketInfo,
    /// The Engine.IO session id (what the client calls `socket.id`).
    sid: String,
    /// The session's way out, whichever transport carries it.
    outlet: Arc<Outlet>,
    on_message: Mutex<Option<MessageHandler>>,
    on_close: Mutex<Vec<CloseHandler>>,
    /// The session ended: sends are dropped, handlers no longer run.
    gone: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl EngineSocket {
    /// This socket's id (in every log line about it; ids are never reused).
    pub fn id(&self) -> SocketId {
        self.inner.info.id
    }

    /// The Engine.IO session id, as the client knows it.
    pub fn sid(&self) -> &str {
        &self.inner.sid
    }

    /// Everything known about the client: address, path, origin, headers…
    pub fn info(&self) -> &SocketInfo {
        &self.inner.info
    }

    /// Calls `handler` with every message the client sends: text as
    /// `Message::Text`, binary as `Message::Binary`. It runs on the thread
    /// that read the message (`conn-N`), one message at a time.
    pub fn on_message<F>(&self, handler: F)
    where
        F: FnMut(&EngineSocket, Message) + Send + 'static,
    {
        *lock(&self.inner.on_message) = Some(Box::new(handler));
    }

    /// Calls `handler` once when the session ends, with the reason.
    pub fn on_close<F>(&self, handler: F)
    where
        F: FnOnce(&EngineSocket, &str) + Send + 'static,
    {
        lock(&self.inner.on_close).push(Box::new(handler));
    }

    /// Sends a text or binary message to the client, now, from any thread.
    /// Over polling it waits for the client's next GET. Other messages
    /// (pings, Close) are the engine's business and are not sent.
    pub fn send(&self, message: Message) {
        if self.is_gone() {
            return;
        }
        let packet = match message {
            Message::Text(text) => Packet::Message(text.to_string()),
            Message::Binary(bytes) => Packet::Binary(bytes.to_vec()),
            other => return log::warn!("socket {}: send() takes text or binary, not {other:?}", self.id()),
        };
        send(&self.inner.outlet, packet.to_message());
    }

    /// Ends the session from the server's side (Node's `socket.close()`):
    /// what was sent before goes first, then the close (over polling, the
    /// close packet on the client's next GET); the client's library reports
    /// "transport close", and `on_close` handlers get "forced close".
    pub fn close(&self) {
        self.inner.outlet.close(1000, "forced close", false);
    }

    /// True once the session has ended.
    pub fn is_gone(&self) -> bool {
        self.inner.gone.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for EngineSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineSocket").field("sid", &self.inner.sid).field("info", &self.inner.info).finish()
    }
}

/// The layer a session holds in Engine.IO-only mode: the application's socket.
pub(crate) struct RawMessages {
    socket: EngineSocket,
}

impl RawMessages {
    /// A new session's socket: the application's connection handler runs
    /// now, on this thread. A handler that panics closes the session (1011).
    pub fn open(
        sid: &str,
        ctx: &Context,
        outlet: &Arc<Outlet>,
        client: &Client,
        handler: Option<&EngineHandler>,
    ) -> RawMessages {
        let info = SocketInfo {
            id: ctx.next_id(),
            peer: client.peer,
            path: client.path.clone(),
            query: client.query.clone(),
            origin: client.origin.clone(),
            headers: client.headers.clone(),
            protocol: PROTOCOL,
            connected_at: SystemTime::now(),
        };
        let inner = Inner {
            info,
            sid: sid.to_string(),
            outlet: outlet.clone(),
            on_message: Mutex::default(),
            on_close: Mutex::default(),
            gone: AtomicBool::new(false),
        };
        let socket = EngineSocket { inner: Arc::new(inner) };
        log::info!("socket {}: Engine.IO session (conn {})", socket.id(), outlet.id);
        if let Some(handler) = handler {
            if guard(&socket, |socket| handler(socket)).is_err() {
                outlet.close(1011, "handler panicked", false);
            }
        }
        RawMessages { socket }
    }

    /// One message from the client, to the application's handler.
    pub fn on_message(&mut self, message: Message) -> Result<(), SessionEnd> {
        let socket = &self.socket;
        // Taken out while it runs, so the handler may call `on_message` itself.
        let Some(mut handler) = lock(&socket.inner.on_message).take() else { return Ok(()) };
        let result = guard(socket, |socket| handler(socket, message));
        lock(&socket.inner.on_message).get_or_insert(handler);
        result.map_err(|()| SessionEnd::HandlerPanicked)
    }

    /// The session ended: the application's close handlers run, once.
    pub fn finish(&mut self, reason: &str) {
        let socket = &self.socket;
        if socket.inner.gone.swap(true, Ordering::SeqCst) {
            return;
        }
        let handlers = std::mem::take(&mut *lock(&socket.inner.on_close));
        for handler in handlers {
            if guard(socket, |socket| handler(socket, reason)).is_err() {
                log::error!("socket {}: an on_close handler panicked", socket.id());
            }
        }
    }
}

/// Runs application code; a panic is caught and logged.
fn guard(socket: &EngineSocket, f: impl FnOnce(&EngineSocket)) -> Result<(), ()> {
    panic::catch_unwind(AssertUnwindSafe(|| f(socket))).map_err(|_| {
        log::error!("socket {}: a handler panicked", socket.id());
    })
}
