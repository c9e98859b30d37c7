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
use crate::http::files::StaticDirs;
use crate::http::handshake::Pages;
use crate::hub::outlet::Limits;
use crate::hub::{ConnId, Io, Outlet, Socket, SocketId, SocketInfo};
use crate::Value;

/// The function called for each socket right after it joins a namespace.
pub(crate) type ConnectionHandler = Arc<dyn Fn(&Socket) + Send + Sync>;

/// The function that accepts (`Ok`) or refuses (`Err(message)`) a client's
/// connection to a namespace, from its `auth` payload and what is known of it.
pub(crate) type ConnectCheck = Arc<dyn Fn(&Value, &SocketInfo) -> Result<(), String> + Send + Sync>;

/// Decides whether a namespace name belongs to a dynamic namespace (from
/// the name and the client's `auth`).
pub(crate) type Matcher = Box<dyn Fn(&str, &Value) -> bool + Send + Sync>;

/// A dynamic namespace (socket.io's parent namespace): every name its
/// matcher accepts becomes a namespace of its own, a child, with the
/// parent's connection handler and checks.
pub(crate) struct Parent {
    pub matcher: Matcher,
    pub handler: RwLock<Option<ConnectionHandler>>,
    pub checks: RwLock<Vec<ConnectCheck>>,
    /// The children made so far, for broadcasts to all of them.
    pub children: Mutex<std::collections::BTreeSet<String>>,
}

/// See the [module docs](self).
pub(crate) struct Context {
    pub config: Config,
    /// The TLS settings (certificate and key), when the server speaks TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub pages: Pages,
    /// Folders served as static files, by URL prefix.
    pub files: StaticDirs,
    /// The hub, for registering sockets and for handlers' broadcasts.
    pub io: Io,
    /// Where outlets of WebSocket clients ask the hub for care (a backlog
    /// to drain, a close to time out).
    pub hub_notices: Sender<Arc<Outlet>>,
    /// Namespace → its connection handler; `/` is `on_connection`.
    namespaces: RwLock<HashMap<String, ConnectionHandler>>,
    /// Namespace (`/` included) → the checks a client must pass before its
    /// socket exists there, in the order they were added. Kept apart from
    /// the handlers: they may be set before or after `on_connection`.
    connect_checks: RwLock<HashMap<String, Vec<ConnectCheck>>>,
    /// Dynamic namespaces, tried in the order they were added.
    parents: RwLock<Vec<Arc<Parent>>>,
    /// A child namespace → its parent, once a client made it.
    children: RwLock<HashMap<String, Arc<Parent>>>,
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
        files: StaticDirs,
        io: Io,
        hub_notices: Sender<Arc<Outlet>>,
    ) -> Context {
        Context {
            config,
            tls,
            pages,
            files,
            io,
            hub_notices,
            namespaces: RwLock::default(),
            connect_checks: RwLock::default(),
            parents: RwLock::default(),
            children: RwLock::default(),
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

    /// Adds a check for namespace `nsp`, after those it has.
    pub fn add_check(&self, nsp: &str, check: ConnectCheck) {
        self.connect_checks.write().unwrap_or_else(|e| e.into_inner()).entry(nsp.to_string()).or_default().push(check);
    }

    /// Adds a dynamic namespace.
    pub fn add_parent(&self, parent: Arc<Parent>) {
        self.parents.write().unwrap_or_else(|e| e.into_inner()).push(parent);
    }

    /// The dynamic namespace `nsp` belongs to: the one that made it, or the
    /// first whose matcher accepts it now (which makes it a child).
    fn parent_of(&self, nsp: &str, auth: &Value) -> Option<Arc<Parent>> {
        if let Some(parent) = self.children.read().unwrap_or_else(|e| e.into_inner()).get(nsp) {
            return Some(parent.clone());
        }
        let parents = self.parents.read().unwrap_or_else(|e| e.into_inner()).clone();
        let parent = parents.into_iter().find(|p| {
            panic::catch_unwind(AssertUnwindSafe(|| (p.matcher)(nsp, auth))).unwrap_or_else(|_| {
                log::error!("the matcher of a dynamic namespace panicked on {nsp:?}");
                false
            })
        })?;
        log::info!("namespace {nsp:?} created by a dynamic namespace");
        parent.children.lock().unwrap_or_else(|e| e.into_inner()).insert(nsp.to_string());
        self.children.write().unwrap_or_else(|e| e.into_inner()).insert(nsp.to_string(), parent.clone());
        Some(parent)
    }

    /// The names of the namespaces registered so far (`/` always among them).
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.namespaces.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        if !names.iter().any(|n| n == "/") {
            names.push("/".to_string());
        }
        names
    }

    /// The connection handler of a namespace: `Some(handler)` if the
    /// namespace exists (`/` always does, even with no handler yet; a
    /// dynamic namespace's child exists once its matcher accepts the name).
    pub fn namespace_handler(&self, nsp: &str, auth: &Value) -> Option<Option<ConnectionHandler>> {
        let handler = self.namespaces.read().unwrap_or_else(|e| e.into_inner()).get(nsp).cloned();
        match (nsp, handler) {
            ("/", handler) => Some(handler),
            (_, Some(handler)) => Some(Some(handler)),
            (_, None) => {
                let parent = self.parent_of(nsp, auth)?;
                let handler = parent.handler.read().unwrap_or_else(|e| e.into_inner()).clone();
                Some(handler)
            }
        }
    }

    /// Runs the connect checks of namespace `nsp` in order (a dynamic
    /// namespace's child: its parent's): the first `Err` refuses, and holds
    /// the message the client is refused with. They run on the client's
    /// thread, as handlers do; a check that panics refuses.
    pub fn check_connect(&self, nsp: &str, auth: &Value, info: &SocketInfo) -> Result<(), String> {
        let mut checks =
            self.connect_checks.read().unwrap_or_else(|e| e.into_inner()).get(nsp).cloned().unwrap_or_default();
        if let Some(parent) = self.children.read().unwrap_or_else(|e| e.into_inner()).get(nsp) {
            checks.extend(parent.checks.read().unwrap_or_else(|e| e.into_inner()).iter().cloned());
        }
        for check in checks {
            panic::catch_unwind(AssertUnwindSafe(|| check(auth, info))).unwrap_or_else(|_| {
                log::error!("socket {}: a connect check of {nsp:?} panicked; refusing the client", info.id);
                Err("server error".into())
            })?;
        }
        Ok(())
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
