//! [`Server`]: configure, bind, run; [`ServerHandle`]: stop.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let server = wshub::Server::builder().bind(("127.0.0.1", 0))?;
//! server.on_connection(|socket| socket.emit("server-message", "Welcome to WebSocket"));
//! let handle = server.spawn()?;          // listener, hub and clients run on their own threads
//! println!("listening on {}", handle.local_addr);
//! handle.shutdown()?;                    // every client gets Close 1001; every thread is joined
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};

use crate::config::Config;
use crate::engine::Sessions;
use crate::http::handshake::Pages;
use crate::http::origin::OriginPolicy;
use crate::http::Response;
use crate::hub::{self, Command};
use crate::io::Io;
use crate::listener;
use crate::socket::{Socket, SocketId, SocketInfo};
use crate::{Result, Value};

/// Commands that may wait for the hub before senders block.
const HUB_QUEUE: usize = 4096;

/// The function called on each client's thread right after its upgrade.
type ConnectionHandler = Arc<dyn Fn(&Socket) + Send + Sync>;

/// The function that accepts (`Ok`) or refuses (`Err(message)`) a client's
/// connection to a namespace, from its `auth` payload and what is known of it.
type ConnectCheck = Arc<dyn Fn(&Value, &SocketInfo) -> std::result::Result<(), String> + Send + Sync>;

/// Builds a [`Server`]: limits, pages, allowed origins. See [`Config`] for
/// every default and why.
#[derive(Debug, Default)]
pub struct ServerBuilder {
    config: Config,
    pages: Pages,
}

impl ServerBuilder {
    /// Lets pages from `origin` (e.g. `http://127.0.0.1:5500`) open a WebSocket.
    /// Same-origin pages and non-browser clients are always allowed.
    pub fn allow_origin(mut self, origin: &str) -> Self {
        self.config.origins.allowed.push(OriginPolicy::normalise(origin));
        self
    }

    /// Lets any page on any site open a WebSocket. Only for public data.
    pub fn allow_any_origin(mut self) -> Self {
        self.config.origins.any = true;
        self
    }

    /// Serves `html` at `path` (answering plain `GET` requests).
    pub fn page(self, path: &str, html: impl Into<String>) -> Self {
        self.asset(path, "text/html; charset=utf-8", html.into().into_bytes())
    }

    /// Serves `body` at `path` with a given content type (scripts, styles).
    pub fn asset(mut self, path: &str, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        let response = Response { status: 200, headers: Vec::new(), content_type, body: body.into() };
        self.pages.insert(path.to_string(), response);
        self
    }

    /// The path for WebSocket upgrades (default `/ws`).
    pub fn ws_path(mut self, path: &str) -> Self {
        self.config.ws_path = path.to_string();
        self
    }

    /// Largest message a client may send (default 1 MiB; over it: close 1009).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// How long a client may take to send its request head (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Ping every `interval`; close a client not heard from for `timeout`
    /// (defaults 25 s and 45 s).
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.ping_interval = interval;
        self.config.idle_timeout = timeout;
        self
    }

    /// How long to wait for the client's Close after ours (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// Messages that may wait for one client (default 256; full: close 1013).
    pub fn outbox_capacity(mut self, messages: usize) -> Self {
        self.config.outbox_capacity = messages.max(1);
        self
    }

    /// How long a stuck client may hold up a broadcast before it is dropped
    /// with 1013 (default 500 ms).
    pub fn slow_client_timeout(mut self, timeout: Duration) -> Self {
        self.config.slow_client_timeout = timeout;
        self
    }

    /// Most connections at once (default 10,000; over it: 503).
    pub fn max_clients(mut self, clients: usize) -> Self {
        self.config.max_clients = clients;
        self
    }

    /// How long one write may block (default 10 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = timeout;
        self
    }

    /// Read buffer size per connection (default 4 KiB).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.read_buffer_size = bytes.max(256);
        self
    }

    /// Stack size of each connection thread (default 256 KiB).
    pub fn connection_stack_size(mut self, bytes: usize) -> Self {
        self.config.connection_stack_size = bytes;
        self
    }

    /// socket.io heartbeat: ping every `interval`, drop a client that has not
    /// answered within `timeout` (defaults 25 s and 20 s, as Node's).
    pub fn socketio_ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.socketio.ping_interval = interval;
        self.config.socketio.ping_timeout = timeout;
        self
    }

    /// How long a socket.io client may take to join a namespace (default 45 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.socketio.connect_timeout = timeout;
        self
    }

    /// Largest socket.io message or polling body (default 1,000,000 bytes).
    pub fn socketio_max_payload(mut self, bytes: usize) -> Self {
        self.config.socketio.max_payload = bytes;
        self
    }

    /// The socket.io path prefix (default `/socket.io/`).
    pub fn socketio_path(mut self, path: &str) -> Self {
        self.config.socketio.path = path.to_string();
        self
    }

    /// Binds the listening socket. Nothing is accepted until `run` or `spawn`.
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let (hub_tx, hub_rx) = bounded(HUB_QUEUE);
        let clients = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            config: self.config,
            pages: self.pages,
            io: Io::new(hub_tx, clients.clone()),
            on_connection: RwLock::new(None),
            namespaces: RwLock::new(HashMap::new()),
            connect_checks: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            sessions: Sessions::default(),
            handshaking: Mutex::new(HashMap::new()),
            stopping: Arc::new(AtomicBool::new(false)),
        });
        Ok(Server { listener, local_addr, shared, hub_rx, clients })
    }

    /// Lets pages from allowed origins send cookies with their socket.io
    /// long-polling requests and read the answers
    /// (`Access-Control-Allow-Credentials: true`). Off by default. Only with
    /// origins you trust: after `allow_any_origin()` it lets every site read
    /// what this server answers your logged-in users.
    pub fn allow_credentials(mut self) -> Self {
        self.config.origins.credentials = true;
        self
    }

    /// Answers only requests whose `Host` names `host` (a name or address,
    /// without a port; call once per name). Every other name gets `421`:
    /// against DNS rebinding (chapter 07). Default: every host name.
    pub fn allow_host(mut self, host: &str) -> Self {
        self.config.allowed_hosts.allowed.push(crate::http::host::HostPolicy::normalise(host));
        self
    }

    /// Most binary attachments one socket.io packet may announce (default 10).
    pub fn socketio_max_attachments(mut self, attachments: usize) -> Self {
        self.config.socketio.max_attachments = attachments;
        self
    }
}

/// A bound server. Register `on_connection`, then `run()` or `spawn()`.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    /// Handed to the hub thread when the server starts.
    hub_rx: Receiver<Command>,
    clients: Arc<AtomicUsize>,
}

/// What the listener, the connection threads and the server handle share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) pages: Pages,
    /// The hub, for registering sockets and for handlers' broadcasts.
    pub(crate) io: Io,
    on_connection: RwLock<Option<ConnectionHandler>>,
    /// socket.io namespaces other than `/`, with their connection handlers.
    namespaces: RwLock<HashMap<String, ConnectionHandler>>,
    /// Namespace (`/` included) → the check a client must pass before its
    /// socket exists there. Kept apart from the handlers: it may be set
    /// before or after `on_connection`.
    connect_checks: RwLock<HashMap<String, ConnectCheck>>,
    /// The last socket id handed out (ids are never reused).
    next_id: AtomicU64,
    /// Open socket.io sessions, by Engine.IO session id.
    pub(crate) sessions: Sessions,
    /// Sockets still in their handshake, so shutdown can wake them.
    handshaking: Mutex<HashMap<SocketId, TcpStream>>,
    stopping: Arc<AtomicBool>,
}

impl Shared {
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn connection_handler(&self) -> Option<ConnectionHandler> {
        self.on_connection.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A fresh socket id: for each connection, and for each namespace a
    /// socket.io client joins.
    pub(crate) fn next_socket_id(&self) -> SocketId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The connection handler of a socket.io namespace: `Some(handler)` if
    /// the namespace exists (`/` always does, even with no handler yet).
    pub(crate) fn namespace_handler(&self, nsp: &str) -> Option<Option<ConnectionHandler>> {
        if nsp == "/" {
            return Some(self.connection_handler());
        }
        self.namespaces.read().unwrap_or_else(|e| e.into_inner()).get(nsp).cloned().map(Some)
    }

    /// Runs the connect check of namespace `nsp`, if it has one: `Err` holds
    /// the message the client is refused with. It runs on the client's
    /// thread, as handlers do; a check that panics refuses.
    pub(crate) fn check_connect(&self, nsp: &str, auth: &Value, info: &SocketInfo) -> std::result::Result<(), String> {
        let check = self.connect_checks.read().unwrap_or_else(|e| e.into_inner()).get(nsp).cloned();
        let Some(check) = check else { return Ok(()) };
        panic::catch_unwind(AssertUnwindSafe(|| check(auth, info))).unwrap_or_else(|_| {
            log::error!("socket {}: the connect check of {nsp} panicked; refusing the client", info.id);
            Err("server error".into())
        })
    }

    pub(crate) fn handshake_started(&self, id: SocketId, stream: TcpStream) {
        self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).insert(id, stream);
    }

    pub(crate) fn handshake_done(&self, id: SocketId) -> Option<TcpStream> {
        self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
    }

    pub(crate) fn wake_handshakes(&self) {
        for (_, stream) in self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Calls `handler` on each client's own thread right after its upgrade.
    /// Register the client's event handlers here (`socket.on(...)`).
    pub fn on_connection<F>(&self, handler: F)
    where
        F: Fn(&Socket) + Send + Sync + 'static,
    {
        *self.shared.on_connection.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(handler));
    }

    /// Checks every client connecting to `/` before its socket exists, the
    /// same as `server.of("/").check_connect(check)`: see
    /// [`Namespace::check_connect`]. A `/ws` client refused here gets `403`
    /// with the message instead of the upgrade.
    pub fn check_connect<F>(&self, check: F)
    where
        F: Fn(&Value, &SocketInfo) -> std::result::Result<(), String> + Send + Sync + 'static,
    {
        self.of("/").check_connect(check)
    }

    /// A socket.io namespace, e.g. `server.of("/admin")`: register its
    /// `on_connection` handler, get its [`Io`]. `server.of("/")` is the
    /// default namespace, the same as `server.on_connection`.
    pub fn of(&self, nsp: &str) -> Namespace<'_> {
        let nsp = if nsp.starts_with('/') { nsp.to_string() } else { format!("/{nsp}") };
        Namespace { server: self, nsp }
    }

    /// A handle for emitting from any thread.
    pub fn io(&self) -> Io {
        self.shared.io.clone()
    }

    /// The address the server is listening on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves on this thread until [`ServerHandle::shutdown`] (from `spawn`)
    /// stops it. Starts the `hub` thread, then blocks in `accept`.
    pub fn run(self) -> Result<()> {
        // The receiver is moved into the hub thread, not cloned: when the hub
        // stops, the channel must have no receiver left, so that commands sent
        // during shutdown (each closing connection's Unregister, what its
        // on_disconnect handler emits) fail at once. A receiver kept here would
        // let them pile up unread until the bounded queue is full, and then
        // block those connection threads, and the listener joining them, forever.
        let Server { listener, local_addr, shared, hub_rx, clients } = self;
        let slow = shared.config.slow_client_timeout;
        let hub = thread::Builder::new().name("hub".into()).spawn(move || hub::run(hub_rx, clients, slow))?;
        log::info!("listening on {local_addr}");
        listener::accept_loop(&listener, &shared);
        let _ = hub.join();
        log::info!("server stopped");
        Ok(())
    }

    /// Runs the server on a thread named `listener` and returns a handle
    /// to stop it.
    pub fn spawn(self) -> Result<ServerHandle> {
        let local_addr = self.local_addr;
        let io = self.io();
        let stopping = self.shared.stopping.clone();
        let thread = thread::Builder::new().name("listener".into()).spawn(move || self.run())?;
        Ok(ServerHandle { local_addr, io, stopping, thread: Some(thread) })
    }
}

/// A socket.io namespace of a [`Server`] (from [`Server::of`]).
pub struct Namespace<'a> {
    server: &'a Server,
    nsp: String,
}

impl Namespace<'_> {
    /// Calls `handler` for each socket.io client joining this namespace
    /// (`io("http://host/admin")`), on that client's thread. A client asking
    /// for a namespace that has no handler is refused ("Invalid namespace").
    pub fn on_connection<F>(&self, handler: F)
    where
        F: Fn(&Socket) + Send + Sync + 'static,
    {
        if self.nsp == "/" {
            return self.server.on_connection(handler);
        }
        let mut namespaces = self.server.shared.namespaces.write().unwrap_or_else(|e| e.into_inner());
        namespaces.insert(self.nsp.clone(), Arc::new(handler));
    }

    /// Calls `check` with each client's `auth` payload (`io(url, { auth })`;
    /// `{}` when it sent none, `null` for `/ws` clients) and its
    /// [`SocketInfo`] before it joins this namespace, on that client's thread.
    /// `Err(message)` refuses it: a socket.io client gets CONNECT_ERROR
    /// (`44/admin,{"message":"<message>"}`: its `connect_error` event) and
    /// keeps its connection for other namespaces; a `/ws` client (namespace
    /// `/`) gets `403` with the message instead of the upgrade. A refused
    /// client gets no [`Socket`], joins nothing in the hub, and
    /// `on_connection` does not run. The check does not create the
    /// namespace: that is still `on_connection`'s job.
    pub fn check_connect<F>(&self, check: F)
    where
        F: Fn(&Value, &SocketInfo) -> std::result::Result<(), String> + Send + Sync + 'static,
    {
        let mut checks = self.server.shared.connect_checks.write().unwrap_or_else(|e| e.into_inner());
        checks.insert(self.nsp.clone(), Arc::new(check));
    }

    /// A handle for emitting to this namespace from any thread.
    pub fn io(&self) -> Io {
        self.server.shared.io.of(&self.nsp)
    }
}

/// A running server (from [`Server::spawn`]). Dropping it shuts the server down.
pub struct ServerHandle {
    /// Where the server listens.
    pub local_addr: SocketAddr,
    /// A handle to the hub.
    pub io: Io,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl ServerHandle {
    /// Stops accepting, closes every client with 1001, joins every thread.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.stopping.store(true, Ordering::SeqCst);
        // `accept` cannot be interrupted: connect to ourselves to wake it.
        let _ = TcpStream::connect_timeout(&wake_address(self.local_addr), Duration::from_secs(1));
        thread.join().unwrap_or_else(|_| Err(std::io::Error::other("the listener thread panicked")))
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A wildcard address (0.0.0.0) cannot be connected to: use loopback instead.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
