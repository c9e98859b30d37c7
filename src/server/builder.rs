//! [`ServerBuilder`]: every setting of a server, then `bind`.

use std::net::{TcpListener, ToSocketAddrs};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};

use super::Server;
use crate::config::Config;
use crate::context::Context;
use crate::http::files::StaticDirs;
use crate::http::handshake::Pages;
use crate::http::origin::OriginPolicy;
use crate::http::Response;
use crate::hub::Io;
use crate::Result;

/// Commands that may wait for the hub before senders block: a thread
/// emitting faster than the hub can write waits here, instead of growing
/// an unbounded queue.
const HUB_QUEUE: usize = 4096;

/// Builds a [`Server`]: limits, pages, allowed origins. See [`Config`] for
/// every default and why.
#[derive(Debug, Default)]
pub struct ServerBuilder {
    config: Config,
    pages: Pages,
    files: StaticDirs,
    /// The certificate chain and the private key (PEM), checked at `bind`.
    tls: Option<TlsPem>,
    /// The socket.io admin UI's namespace, when it is on.
    admin: Option<crate::admin::AdminUi>,
}

/// PEM as given to [`ServerBuilder::tls`]; its `Debug` never shows the key.
#[derive(Default)]
struct TlsPem {
    cert_chain: Vec<u8>,
    private_key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsPem {{ cert_chain: {} bytes, private_key: (hidden) }}", self.cert_chain.len())
    }
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

    /// Serves the files of `folder` under the URL `prefix` (e.g. `/admin/`):
    /// content types, `HEAD`, `index.html` for a folder, caching headers
    /// (`ETag`, `Last-Modified`, `304`), 404, and never anything outside the
    /// folder (see [`crate::http::files`]). A folder that does not exist is
    /// an error at `bind`.
    pub fn static_dir(mut self, prefix: &str, folder: impl Into<std::path::PathBuf>) -> Self {
        self.files.add(prefix, folder);
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

    /// Frames that may wait for one client whose socket is full (default
    /// 256; over it: close 1013).
    pub fn backlog_capacity(mut self, frames: usize) -> Self {
        self.config.backlog_capacity = frames.max(1);
        self
    }

    /// Bytes that may wait for one client whose socket is full (default
    /// 1 MiB; over it: close 1013).
    pub fn backlog_bytes(mut self, bytes: usize) -> Self {
        self.config.backlog_bytes = bytes;
        self
    }

    /// How long a client's backlog may stand still (its socket taking
    /// nothing) before it is closed with 1013 (default 500 ms).
    pub fn slow_client_timeout(mut self, timeout: Duration) -> Self {
        self.config.slow_client_timeout = timeout;
        self
    }

    /// Most messages one client may send per second; a client over it is
    /// closed with 1008 (default: no limit; a flood slows itself down anyway,
    /// see `docs/12-limits.md`).
    pub fn max_message_rate(mut self, per_second: u32) -> Self {
        self.config.max_message_rate = Some(per_second);
        self
    }

    /// Most connections at once (default 10,000; over it: 503).
    pub fn max_clients(mut self, clients: usize) -> Self {
        self.config.max_clients = clients;
        self
    }

    /// How long one blocking write of an HTTP response may take (default 10 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = timeout;
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

    /// The path prefix of the Engine.IO-only endpoint (default
    /// `/engine.io/`), served once `server.on_engineio(…)` is set. It shares
    /// the heartbeat and `socketio_max_payload` with socket.io.
    pub fn engineio_path(mut self, path: &str) -> Self {
        self.config.socketio.engineio_path = path.to_string();
        self
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

    /// Turns on connection state recovery (socket.io's
    /// `connectionStateRecovery`): a client that drops for a recoverable
    /// reason is kept, with its rooms, data and the packets sent to it,
    /// for `max_disconnection_duration`; coming back within it, it gets
    /// the same id, its rooms, its data and every packet it missed, in
    /// order. With `skip_middlewares`, a recovered client skips the
    /// connect checks. See chapter 14 and [`RecoveryConfig`](crate::config::RecoveryConfig).
    pub fn connection_state_recovery(mut self, max_disconnection_duration: Duration, skip_middlewares: bool) -> Self {
        let config = self.config.recovery.get_or_insert_with(Default::default);
        config.max_disconnection_duration = max_disconnection_duration;
        config.skip_middlewares = skip_middlewares;
        self
    }

    /// The bounds of recovery's memory (defaults 10,000 sessions, 10,000
    /// packets, 16 MiB of packets): past them the oldest is forgotten, and
    /// a client that needed it gets a fresh session. Turns recovery on.
    pub fn recovery_limits(mut self, sessions: usize, packets: usize, packet_bytes: usize) -> Self {
        let config = self.config.recovery.get_or_insert_with(Default::default);
        config.max_sessions = sessions;
        config.max_packets = packets;
        config.max_packet_bytes = packet_bytes;
        self
    }

    /// Speaks TLS (https, wss) with this certificate chain and private key,
    /// both PEM (the contents of `cert.pem` and `key.pem`; the chain starts
    /// with the server's own certificate). Every page, `/ws` and socket.io
    /// (polling and WebSocket) is then served over TLS only; a plain-HTTP
    /// request gets a plain `400` that says so. The handshake timeout covers
    /// the TLS handshake. Checked at [`bind`](Self::bind): a file that is not
    /// what it should be is an `InvalidInput` error there, saying why.
    pub fn tls(mut self, cert_chain_pem: impl Into<Vec<u8>>, private_key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsPem { cert_chain: cert_chain_pem.into(), private_key: private_key_pem.into() });
        self
    }

    /// [`tls`](Self::tls) with the PEM files named by the environment
    /// variables `TLS_CERT` and `TLS_KEY`, when both are set (the examples
    /// use it); neither set: no TLS; only one, or a file that cannot be
    /// read: an error naming it.
    pub fn tls_from_env(self) -> Result<Self> {
        let (cert, key) = (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY"));
        let (cert, key) = match (cert, key) {
            (None, None) => return Ok(self),
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "TLS: set both TLS_CERT and TLS_KEY"))
            }
        };
        let read = |path: &std::ffi::OsStr, what: &str| {
            std::fs::read(path).map_err(|e| std::io::Error::new(e.kind(), format!("TLS: {what} {path:?}: {e}")))
        };
        Ok(self.tls(read(&cert, "TLS_CERT")?, read(&key, "TLS_KEY")?))
    }

    /// Joins the cluster of servers that share the Redis at `url` (e.g.
    /// `redis://127.0.0.1:6379/`), speaking the wire format of Node's
    /// `@socket.io/redis-adapter`: broadcasts, rooms and the operations on
    /// selections reach the clients of every server, wshub or Node. Redis
    /// unreachable is not an error: the server serves its own clients, and
    /// joins when Redis answers (chapter 17).
    pub fn redis(mut self, url: &str) -> Self {
        self.config.cluster = Some(crate::cluster::ClusterConfig::new(url));
        self
    }

    /// The channel prefix of the cluster (default `socket.io`, Node's `key`):
    /// only servers with the same prefix see each other. Needs [`redis`](Self::redis).
    pub fn redis_prefix(mut self, prefix: &str) -> Self {
        if let Some(cluster) = self.config.cluster.as_mut() {
            cluster.prefix = prefix.to_string();
        }
        self
    }

    /// [`redis`](Self::redis) with the URL in the environment variable
    /// `REDIS_URL`, when it is set (the examples use it).
    pub fn redis_from_env(self) -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => self.redis(&url),
            _ => self,
        }
    }

    /// Lets the official socket.io admin UI (`@socket.io/admin-ui`) watch and
    /// manage this server through its namespace (`/admin` by default): every
    /// socket and room, events in and out, stats every 2 s, and commands
    /// (emit, join, leave, disconnect) on any selection, across a cluster
    /// too. Serve the UI itself with [`static_dir`](Self::static_dir)
    /// (chapter 16). Starts a thread named `admin`.
    pub fn admin_ui(mut self, ui: crate::admin::AdminUi) -> Self {
        self.admin = Some(ui);
        self
    }

    /// Binds the listening socket. Nothing is accepted until `run` or `spawn`.
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> Result<Server> {
        self.files.resolve()?;
        let tls = match &self.tls {
            Some(pem) => Some(crate::conn::server_config(&pem.cert_chain, &pem.private_key)?),
            None => None,
        };
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let (hub_tx, hub_rx) = bounded(HUB_QUEUE);
        let (notices_tx, notices_rx) = unbounded();
        let clients = Arc::new(AtomicUsize::new(0));
        let io = Io::new(hub_tx, clients.clone(), self.config.recovery.is_some());
        let ctx = Arc::new(Context::new(self.config, tls, self.pages, self.files, io, notices_tx));
        let server = Server {
            listener,
            local_addr,
            ctx,
            hub_rx,
            notices_rx,
            clients,
            signals: Default::default(),
            engineio: Default::default(),
        };
        if let Some(ui) = self.admin {
            crate::admin::install(&server, &server.ctx, ui)?;
        }
        Ok(server)
    }
}
