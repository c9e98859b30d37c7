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

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::Receiver;

pub use builder::ServerBuilder;
pub use dynamic::DynamicNamespace;

use crate::context::Context;
use crate::engine::Engine;
use crate::hub::{self, Envelope, Io, Outlet, Socket, SocketInfo, Timeouts};
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

    /// A handle for emitting from any thread.
    pub fn io(&self) -> Io {
        self.ctx.io.clone()
    }

    /// The address the server is listening on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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
        let Server { listener, local_addr, ctx, hub_rx, notices_rx, clients } = self;
        let timeouts = Timeouts { slow_client: ctx.config.slow_client_timeout, close: ctx.config.close_timeout };
        let (recovery, timers) = (ctx.config.recovery, ctx.io.timers().clone());
        let hub = thread::Builder::new()
            .name("hub".into())
            .spawn(move || hub::run(hub_rx, notices_rx, clients, timeouts, recovery, timers))?;
        let engine = Engine::start(ctx.clone())?;
        log::info!("listening on {local_addr}");
        listener::accept_loop(&listener, &ctx, &engine);
        let _ = hub.join();
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
        self.ctx.stop();
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
