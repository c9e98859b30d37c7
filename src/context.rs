//! [`Context`]: what every connection thread can see.
//!
//! The listener hands each `conn-N` thread an `Arc<Context>`: the settings,
//! the pages, the hub, the application's connection handlers and connect
//! checks. Everything in it is read-mostly; the few things that change
//! (handlers registered after `bind`, the shutdown flag) are behind a lock
//! or an atomic.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crossbeam_channel::Sender;

use crate::config::Config;
use crate::http::handshake::Pages;
use crate::hub::outlet::Limits;
use crate::hub::{ConnId, Io, Outlet, Socket, SocketId, SocketInfo};
use crate::Value;

/// The function called for each socket right after it joins a namespace.
pub(crate) type ConnectionHandler = Arc<dyn Fn(&Socket) + Send + Sync>;

/// The function called for each session of the Engine.IO-only endpoint.
pub(crate) type EngineHandler = Arc<dyn Fn(&crate::engine::EngineSocket) + Send + Sync>;

/// The function that accepts (`Ok`) or refuses (`Err(message)`) a client's
/// connection to a namespace, from its `auth` payload and what is known of it.
pub(crate) type ConnectCheck = Arc<dyn Fn(&Value, &SocketInfo) -> Result<(), String> + Send + Sync>;

/// See the [module docs](self).
pub(crate) struct Context {
    pub config: Config,
    /// The TLS settings (certificate and key), when the server speaks TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub pages: Pages,
    /// The hub, for registering sockets and for handlers' broadcasts.
    pub io: Io,
    /// Where outlets of WebSocket clients ask the hub for care (a backlog
    /// to drain, a close to time out).
    pub hub_notices: Sender<Arc<Outlet>>,
    /// Namespace → its connection handler; `/` is `on_connection`.
    namespaces: RwLock<HashMap<String, ConnectionHandler>>,
    /// Namespace (`/` included) → the check a client must pass before its
    /// socket exists there. Kept apart from the handlers: it may be set
    /// before or after `on_connection`.
    connect_checks: RwLock<HashMap<String, ConnectCheck>>,
    /// The application's handler of Engine.IO-only sessions: without one,
    /// the Engine.IO endpoint does not exist (its path is a 404).
    engineio: RwLock<Option<EngineHandler>>,
    /// The last id handed out (ids are never reused).
    next_id: AtomicU64,
    /// Connections still reading a request head, so shutdown can wake them.
    handshaking: Mutex<HashMap<ConnId, TcpStream>>,
    stopping: AtomicBool,
}

impl Context {
    pub fn new(
        config: Config,
        tls: Option<Arc<rustls::ServerConfig>>,
        pages: Pages,
        io: Io,
        hub_notices: Sender<Arc<Outlet>>,
    ) -> Context {
        Context {
            config,
            tls,
            pages,
            io,
            hub_notices,
            namespaces: RwLock::default(),
            connect_checks: RwLock::default(),
            engineio: RwLock::default(),
            next_id: AtomicU64::new(0),
            handshaking: Mutex::default(),
            stopping: AtomicBool::new(false),
        }
    }

    /// How much may wait for one client (see [`Limits`]).
    pub fn limits(&self) -> Limits {
        Limits { frames: self.config.backlog_capacity, bytes: self.config.backlog_bytes }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// A fresh id: for each connection, and for each namespace a socket.io
    /// client joins.
    pub fn next_id(&self) -> SocketId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn set_handler(&self, nsp: &str, handler: ConnectionHandler) {
        self.namespaces.write().unwrap_or_else(|e| e.into_inner()).insert(nsp.to_string(), handler);
    }

    pub fn set_check(&self, nsp: &str, check: ConnectCheck) {
        self.connect_checks.write().unwrap_or_else(|e| e.into_inner()).insert(nsp.to_string(), check);
    }

    pub fn set_engineio_handler(&self, handler: EngineHandler) {
        *self.engineio.write().unwrap_or_else(|e| e.into_inner()) = Some(handler);
    }

    /// The handler of Engine.IO-only sessions, if the application set one.
    pub fn engineio_handler(&self) -> Option<EngineHandler> {
        self.engineio.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The connection handler of a namespace: `Some(handler)` if the
    /// namespace exists (`/` always does, even with no handler yet).
    pub fn namespace_handler(&self, nsp: &str) -> Option<Option<ConnectionHandler>> {
        let handler = self.namespaces.read().unwrap_or_else(|e| e.into_inner()).get(nsp).cloned();
        match (nsp, handler) {
            ("/", handler) => Some(handler),
            (_, Some(handler)) => Some(Some(handler)),
            (_, None) => None,
        }
    }

    /// Runs the connect check of namespace `nsp`, if it has one: `Err` holds
    /// the message the client is refused with. It runs on the client's
    /// thread, as handlers do; a check that panics refuses.
    pub fn check_connect(&self, nsp: &str, auth: &Value, info: &SocketInfo) -> Result<(), String> {
        let check = self.connect_checks.read().unwrap_or_else(|e| e.into_inner()).get(nsp).cloned();
        let Some(check) = check else { return Ok(()) };
        panic::catch_unwind(AssertUnwindSafe(|| check(auth, info))).unwrap_or_else(|_| {
            log::error!("socket {}: the connect check of {nsp} panicked; refusing the client", info.id);
            Err("server error".into())
        })
    }

    /// Runs application code (a handler) for `socket`: a panic is caught
    /// and reported as `Err`, so it ends only this client.
    pub fn guard(socket: &Socket, f: impl FnOnce(&Socket)) -> Result<(), ()> {
        panic::catch_unwind(AssertUnwindSafe(|| f(socket))).map_err(|_| {
            log::error!("socket {}: a handler panicked", socket.id());
        })
    }

    pub fn handshake_started(&self, id: ConnId, stream: TcpStream) {
        self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).insert(id, stream);
    }

    pub fn handshake_done(&self, id: ConnId) -> Option<TcpStream> {
        self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
    }

    /// Shutdown: wakes every thread still waiting for a request head.
    pub fn wake_handshakes(&self) {
        for (_, stream) in self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}
