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

mod builder;
mod dynamic;
mod listener;
mod signals;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crossbeam_channel::Receiver;

pub use builder::ServerBuilder;
pub use dynamic::DynamicNamespace;

use crate::context::Context;
use crate::engine::{Engine, EngineHandler, EngineSocket};
use crate::hub::{self, Command, Envelope, Io, Outlet, Socket, SocketInfo, Timeouts};
use crate::{Result, Value};

/// A bound server. Register `on_connection`, then `run()` or `spawn()`.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    ctx: Arc<Context>,
    /// Handed to the hub thread when the server starts.
    hub_rx: Receiver<Envelope>,
    /// Outlets asking the hub for care; handed to the hub thread too.
    notices_rx: Receiver<Arc<Outlet>>,
    clients: Arc<AtomicUsize>,
    /// The `signals` thread, after [`Server::stop_on_signals`].
    signals: Mutex<Option<signals::SignalWatch>>,
    /// [`Server::on_engineio`]'s handler, for the engine when it starts.
    engineio: Mutex<Option<EngineHandler>>,
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
        self.ctx.set_handler("/", Arc::new(handler));
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

    /// A dynamic namespace (socket.io's `io.of(regex)` / `io.of(function)`):
    /// every namespace name `matcher` accepts (from the name and the
    /// client's `auth`) becomes a namespace of its own, with the handler and
    /// checks registered on the returned [`DynamicNamespace`]. Bring your
    /// own pattern: `move |name, _| regex.is_match(name)`; or see
    /// [`of_pattern`](Self::of_pattern).
    pub fn of_matching<F>(&self, matcher: F) -> DynamicNamespace
    where
        F: Fn(&str, &Value) -> bool + Send + Sync + 'static,
    {
        DynamicNamespace::new(&self.ctx, Box::new(matcher))
    }

    /// A dynamic namespace of the names that match `pattern`, where `*`
    /// stands for any run of characters: `server.of_pattern("/room-*")`
    /// takes `/room-1` and `/room-rust`.
    pub fn of_pattern(&self, pattern: &str) -> DynamicNamespace {
        let pattern = pattern.to_string();
        self.of_matching(move |name, _| dynamic::glob_match(&pattern, name))
    }

    /// Serves Engine.IO without socket.io on `/engine.io/` (see
    /// [`ServerBuilder::engineio_path`]), for `engine.io-client`: `handler`
    /// gets each new session's [`EngineSocket`], on the thread that opened
    /// it; register its `on_message` there. Messages are raw text or bytes;
    /// the upgrade and the heartbeat are the engine's, as for socket.io.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let server = wshub::Server::builder().bind(("127.0.0.1", 3000))?;
    /// server.on_engineio(|socket| {
    ///     socket.on_message(|socket, message| socket.send(message)); // echo
    /// });
    /// server.run()
    /// # }
    /// ```
    pub fn on_engineio<F>(&self, handler: F)
    where
        F: Fn(&EngineSocket) + Send + Sync + 'static,
    {
        *self.engineio.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(handler));
    }

    /// A handle for emitting from any thread.
    pub fn io(&self) -> Io {
        self.ctx.io.clone()
    }

    /// The address the server is listening on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Ctrl+C (SIGINT) and `kill` (SIGTERM) stop this server gracefully,
    /// as [`ServerHandle::shutdown`] does: every `/ws` client gets Close
    /// 1001 after what it was already sent, socket.io clients are
    /// disconnected as Node's `io.close()` does it, every thread is joined
    /// and [`run`](Self::run) returns `Ok`. A second signal ends the
    /// process at once. Starts a thread named `signals`; call it once,
    /// before `run` or `spawn`. Unix only.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let server = wshub::Server::builder().bind(("127.0.0.1", 3000))?;
    /// server.stop_on_signals()?;
    /// server.run() // returns Ok(()) after Ctrl+C
    /// # }
    /// ```
    pub fn stop_on_signals(&self) -> Result<()> {
        let watch = signals::watch(self.ctx.clone(), self.local_addr)?;
        if let Some(old) = self.signals.lock().unwrap_or_else(|e| e.into_inner()).replace(watch) {
            old.finish();
        }
        Ok(())
    }

    // ANCHOR: run
    /// Serves on this thread until [`ServerHandle::shutdown`] (from `spawn`)
    /// stops it. Starts the `hub` and `engine-timers` threads, then blocks
    /// in `accept`.
    pub fn run(self) -> Result<()> {
        // The receivers are moved into the hub thread, not cloned: when the
        // hub stops, its channel must have no receiver left, so that
        // commands sent after it (a late connection's Open) fail at once
        // instead of piling up until the bounded queue blocks their senders.
        let Server { listener, local_addr, ctx, hub_rx, notices_rx, clients, signals, engineio } = self;
        let timeouts = Timeouts { slow_client: ctx.config.slow_client_timeout, close: ctx.config.close_timeout };
        let cluster = match &ctx.config.cluster {
            Some(config) => Some(join_cluster(config, &ctx)?),
            None => None,
        };
        let setup = hub::Setup {
            clients,
            timeouts,
            recovery: ctx.config.recovery,
            timers: ctx.io.timers().clone(),
            cluster: cluster.clone().map(|cluster| (cluster, ctx.namespace_names())),
            server_side: ctx.io.server_side().clone(),
        };
        let hub = thread::Builder::new().name("hub".into()).spawn(move || hub::run(hub_rx, notices_rx, setup))?;
        let engine = Engine::start(ctx.clone(), engineio.into_inner().unwrap_or_else(|e| e.into_inner()))?;
        log::info!("listening on {local_addr}");
        listener::accept_loop(&listener, &ctx, &engine);
        let _ = hub.join();
        if let Some(cluster) = cluster {
            // After the hub: what it published is sent, and the `redis-sub`
            // thread, which may wait for room in the hub's queue, is woken
            // by that queue's end.
            cluster.shutdown();
        }
        if let Some(watch) = signals.into_inner().unwrap_or_else(|e| e.into_inner()) {
            watch.finish();
        }
        log::info!("server stopped");
        Ok(())
    }
    // ANCHOR_END: run

    /// Runs the server on a thread named `listener` and returns a handle
    /// to stop it.
    pub fn spawn(self) -> Result<ServerHandle> {
        let local_addr = self.local_addr;
        let io = self.io();
        let ctx = self.ctx.clone();
        let thread = thread::Builder::new().name("listener".into()).spawn(move || self.run())?;
        Ok(ServerHandle { local_addr, io, ctx, thread: Some(thread) })
    }
}

// ANCHOR: join_cluster
/// Starts the `redis-sub` and `redis-pub` threads: what the other servers
/// publish comes to the hub as commands, like everything else.
fn join_cluster(config: &crate::cluster::ClusterConfig, ctx: &Arc<Context>) -> Result<Arc<crate::cluster::Cluster>> {
    let io = ctx.io.clone();
    // The namespaces known now; the hub subscribes to others as sockets join them.
    let names = ctx.namespace_names();
    let namespaces: Vec<&str> = names.iter().map(String::as_str).collect();
    let cluster =
        crate::cluster::Cluster::start(config.clone(), &namespaces, move |event| io.send(Command::Cluster(event)))?;
    let cluster = Arc::new(cluster);
    ctx.io.set_cluster(cluster.clone());
    Ok(cluster)
}
// ANCHOR_END: join_cluster

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
        self.server.ctx.set_handler(&self.nsp, Arc::new(handler));
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
    ///
    /// Each call adds a check (socket.io's `io.use` middlewares): they run
    /// in the order they were added, and the first `Err` refuses. A client
    /// that recovers its session skips them when recovery was set up with
    /// `skip_middlewares` (chapter 14).
    pub fn check_connect<F>(&self, check: F)
    where
        F: Fn(&Value, &SocketInfo) -> std::result::Result<(), String> + Send + Sync + 'static,
    {
        self.server.ctx.add_check(&self.nsp, Arc::new(check));
    }

    /// A handle for emitting to this namespace from any thread.
    pub fn io(&self) -> Io {
        self.server.ctx.io.of(&self.nsp)
    }
}

/// A running server (from [`Server::spawn`]). Dropping it shuts the server down.
pub struct ServerHandle {
    /// Where the server listens.
    pub local_addr: SocketAddr,
    /// A handle to the hub.
    pub io: Io,
    ctx: Arc<Context>,
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
        stop(&self.ctx, self.local_addr);
        thread.join().unwrap_or_else(|_| Err(std::io::Error::other("the listener thread panicked")))
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Starts the graceful shutdown of the server listening on `addr`: the
/// listener, blocked in `accept`, is woken by a connection to itself.
pub(crate) fn stop(ctx: &Context, addr: SocketAddr) {
    ctx.stop();
    listener::wake(addr);
}
