//! The official socket.io admin UI (`@socket.io/admin-ui`, protocol 0.5)
//! watching and managing this server (chapter 16).
//!
//! The UI is a static web app that connects with socket.io-client to a
//! namespace of the server, `/admin` by default. Everything it shows comes
//! from that namespace, as Node's `instrument(io, options)` sends it:
//!
//! ```text
//! UI connects (auth: {username, password} or {sessionId})   → auth.rs: bcrypt, sessions
//! ← config {supportedFeatures}, all_sockets [...]           → commands.rs, events.rs
//! ← server_stats every 2 s                                  → stats.rs, on the `admin` thread
//! ← socket_connected / socket_updated / socket_disconnected,
//!   room_joined / room_left, event_received / event_sent   → events.rs: the hub's observer
//! → emit / join / leave / _disconnect (nsp, …, filter)      → commands.rs: Io selections
//! ```
//!
//! The hub tells an observer (`hub::observe`) on its own thread what
//! changes; the observer turns that into admin events and hands them to
//! the `admin` thread, which emits them to the admin namespace and, every
//! 2 s, the server's stats. Those are ordinary broadcasts: in a cluster
//! they are published like any other, so the UI connected to one node
//! hears every node, and its commands, which are `Io` selections, reach
//! every node's sockets.

mod auth;
mod commands;
mod events;
mod stats;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use serde_json::Value;

use crate::context::Context;
use crate::hub::Io;
use crate::{Args, Result, Server};

/// How often every node sends its `server_stats` (the UI's own rhythm).
const STATS_EVERY: Duration = Duration::from_secs(2);

/// Admin events that may wait for the `admin` thread. Bounded: the hub
/// never waits for it; past this, events are dropped (and counted in the log).
const QUEUE: usize = 8192;

/// How the admin UI sees the server ([`ServerBuilder::admin_ui`](crate::ServerBuilder::admin_ui)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Everything: every socket, every room change, every event in and out
    /// (`event_received`, `event_sent`). The UI's Sockets, Rooms, Clients
    /// and Events pages. Node's default too (`NODE_ENV` unset).
    #[default]
    Development,
    /// Only the dashboard: `server_stats` with its aggregated counts.
    /// Nothing per socket is sent, and nothing per event is done beyond
    /// counting.
    Production,
}

/// The admin UI's settings, as Node's `instrument(io, options)` takes them.
///
/// ```no_run
/// use wshub::admin::{AdminUi, Mode};
/// # fn main() -> std::io::Result<()> {
/// let hash = std::env::var("ADMIN_HASH").unwrap_or_default(); // from `bcrypt::hash`
/// let server = wshub::Server::builder()
///     .static_dir("/admin/", "node_modules/@socket.io/admin-ui/ui/dist")
///     .admin_ui(AdminUi::new().basic_auth("admin", &hash).mode(Mode::Production))
///     .bind(("127.0.0.1", 3000))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdminUi {
    /// User name and bcrypt hash of the password; `None`: no auth at all.
    auth: Option<(String, String)>,
    mode: Mode,
    /// The namespace the UI connects to.
    namespace: String,
    /// No commands: the UI can look, not touch.
    readonly: bool,
    /// How this server is named in the UI's list of servers.
    server_id: Option<String>,
}

/// Never shows the hash: it can be attacked offline, like the password.
impl std::fmt::Debug for AdminUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminUi")
            .field("auth", &self.auth.as_ref().map(|(user, _)| (user, "(bcrypt hash hidden)")))
            .field("mode", &self.mode)
            .field("namespace", &self.namespace)
            .field("readonly", &self.readonly)
            .field("server_id", &self.server_id)
            .finish()
    }
}

impl Default for AdminUi {
    fn default() -> Self {
        AdminUi { auth: None, mode: Mode::default(), namespace: "/admin".into(), readonly: false, server_id: None }
    }
}

impl AdminUi {
    /// No auth, development mode, namespace `/admin`, commands allowed.
    pub fn new() -> AdminUi {
        AdminUi::default()
    }

    /// Basic auth: the UI must log in as `user` with the password whose
    /// bcrypt hash is `bcrypt_hash` (`$2b$…`, e.g. from `bcrypt::hash` or
    /// `htpasswd -nbBC 10`). A hash that is not one is an error at `bind`.
    pub fn basic_auth(mut self, user: &str, bcrypt_hash: &str) -> AdminUi {
        self.auth = Some((user.to_string(), bcrypt_hash.to_string()));
        self
    }

    /// Development (every socket and event) or production (stats only).
    pub fn mode(mut self, mode: Mode) -> AdminUi {
        self.mode = mode;
        self
    }

    /// The namespace the UI connects to (default `/admin`). It is the UI's:
    /// an application handler set on it (`server.of("/admin")`) would take
    /// the admin's place; give the UI another one if the application has
    /// an `/admin` of its own.
    pub fn namespace(mut self, nsp: &str) -> AdminUi {
        self.namespace = if nsp.starts_with('/') { nsp.to_string() } else { format!("/{nsp}") };
        self
    }

    /// With `true`, the UI's buttons (emit, join, leave, disconnect) are
    /// off: no command is announced or taken.
    pub fn readonly(mut self, readonly: bool) -> AdminUi {
        self.readonly = readonly;
        self
    }

    /// This server's name in the UI (default `hostname:port`, unique on one
    /// machine, where Node's default, the host name, is not).
    pub fn server_id(mut self, id: &str) -> AdminUi {
        self.server_id = Some(id.to_string());
        self
    }
}

/// One admin event for the `admin` thread to emit: its name and arguments.
pub(crate) type Note = (&'static str, Vec<Value>);

/// Sets the admin namespace up on `server`, registers the hub observer and
/// starts the `admin` thread. Called by `bind`.
pub(crate) fn install(server: &Server, ctx: &Arc<Context>, ui: AdminUi) -> Result<()> {
    let auth = match &ui.auth {
        Some((user, hash)) => Some(Arc::new(auth::Basic::new(user, hash)?)),
        None => {
            log::warn!(
                "admin UI on {:?} without authentication: anyone who reaches it can manage this server",
                ui.namespace
            );
            None
        }
    };
    let io = server.io();
    let admin_io = io.of(&ui.namespace);
    let (notes, queue) = bounded::<Note>(QUEUE);
    let counters = Arc::new(stats::Counters::default());
    let development = ui.mode == Mode::Development;
    // Its events describe the moment: not for the recovery log, where they
    // would push out what the application's clients may need.
    io.unlogged(&ui.namespace);
    io.observe(events::observer(&ui.namespace, development, notes, counters.clone()));

    let namespace = server.of(&ui.namespace);
    if let Some(auth) = &auth {
        let auth = auth.clone();
        namespace.check_connect(move |given, _info| auth.check(given));
    }
    let features = commands::features(ui.readonly, development);
    // Weak: the handler lives in the context; a strong reference would keep it alive forever.
    let (commands_io, ctx_names) = (io.clone(), Arc::downgrade(ctx));
    namespace.on_connection(move |socket| {
        if let Some(auth) = &auth {
            auth.welcome(socket);
        }
        if !ui.readonly {
            commands::register(socket, &commands_io);
        }
        socket.emit("config", serde_json::json!({ "supportedFeatures": features }));
        if let (true, Some(ctx)) = (development, ctx_names.upgrade()) {
            let sockets = events::all_sockets(&commands_io, &ctx.namespace_names());
            socket.emit("all_sockets", sockets);
        }
    });

    let server_id =
        ui.server_id.clone().unwrap_or_else(|| format!("{}:{}", stats::hostname(), server.local_addr().port()));
    let stats = stats::Stats::new(server_id, counters);
    let names = ctx.clone();
    thread::Builder::new().name("admin".into()).spawn(move || run(&admin_io, &queue, stats, &names))?;
    Ok(())
}

/// The `admin` thread: emits what the observer handed over, as it comes,
/// and the stats every [`STATS_EVERY`]; ends when the hub has stopped.
fn run(admin: &Io, queue: &Receiver<Note>, mut stats: stats::Stats, ctx: &Context) {
    let mut next = Instant::now();
    loop {
        match queue.recv_deadline(next) {
            Ok((event, args)) => admin.emit(event, Args(args)),
            Err(RecvTimeoutError::Timeout) => {
                // The hub's counts; none: it has stopped, and so do we.
                let Some(counts) = admin.counts() else { break };
                admin.emit("server_stats", stats.report(&counts, &ctx.namespace_names()));
                next += STATS_EVERY;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    log::debug!("admin: the hub has stopped; the admin thread ends");
}
