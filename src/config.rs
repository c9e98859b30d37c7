//! Every limit and timeout of the server, with its default and why.
//!
//! [`Config`] is filled in by [`ServerBuilder`](crate::ServerBuilder) and then
//! shared, read-only, by the listener, every connection thread and the hub.

use std::time::Duration;

use crate::http::host::HostPolicy;
use crate::http::origin::OriginPolicy;
pub use crate::hub::RecoveryConfig;

/// The server's settings. Build them with [`Server::builder()`](crate::Server::builder).
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest message a client may send, in bytes (default 1 MiB). A frame or a
    /// fragmented message over it is refused from its header with close code
    /// **1009**, so memory stays flat even when a header announces 1 TiB.
    pub max_message_size: usize,
    /// How long a new connection may take to send its whole request head
    /// (default 10 s). Slow or silent clients are dropped after it, so they
    /// cannot hold a thread forever.
    pub handshake_timeout: Duration,
    /// Largest request head in bytes (default 8 KiB). Over it: `431`.
    pub max_request_head: usize,
    /// Most header lines in a request head (default 64). Over it: `431`.
    pub max_headers: usize,
    /// How often the server pings an idle client (default 25 s).
    pub ping_interval: Duration,
    /// A client not heard from for this long is closed (default 45 s). Catches
    /// half-open connections: a peer that vanished without a FIN.
    pub idle_timeout: Duration,
    /// How long to wait for the client's Close after sending ours (default 5 s).
    pub close_timeout: Duration,
    /// Frames that may wait in one client's backlog (default 256): what the
    /// socket could not take at once, kept in order until it can. Bounded so
    /// that one slow client costs bounded memory; a client whose backlog is
    /// full is closed with **1013** and nobody waits for it.
    pub backlog_capacity: usize,
    /// Bytes that may wait in one client's backlog (default 1 MiB), with the
    /// same rule. A frame always fits an empty backlog, so a message of
    /// `max_message_size` can always be sent.
    pub backlog_bytes: usize,
    /// A client whose backlog has not moved for this long (not one byte
    /// taken by its socket) has stopped reading: it is closed with **1013**
    /// (default 500 ms). A healthy client's backlog moves as soon as its
    /// reader catches up, so a burst never costs it a message.
    pub slow_client_timeout: Duration,
    /// Most messages one client may send per second (default: no limit).
    /// Over it: close **1008**. Over polling, each packet of a POST counts.
    pub max_message_rate: Option<u32>,
    /// Most connections at once, counting those still in the handshake
    /// (default 10,000). Over it: `503 Service Unavailable`.
    pub max_clients: usize,
    /// How long one blocking write of an HTTP response may take (default
    /// 10 s): a client that stopped reading cannot hold its thread longer.
    /// (WebSocket frames are never written blocking: see `backlog_capacity`.)
    pub write_timeout: Duration,
    /// Stack size of each connection thread (default 256 KiB). Handlers run on
    /// this thread, so it must hold them; untouched stack costs no memory.
    pub connection_stack_size: usize,
    /// Path that accepts WebSocket upgrades for the JSON protocol (default `/ws`).
    pub ws_path: String,
    /// Which `Origin` headers may open a WebSocket (and, for socket.io's
    /// long-polling, which pages get CORS headers instead of a 403, and
    /// whether those say `Access-Control-Allow-Credentials`; default: no).
    pub origins: OriginPolicy,
    /// Which host names (the `Host` header) the server answers for (default:
    /// any). When some are listed, every other name gets `421`: a page that
    /// rebinds its own DNS name to this server's address sends its own name,
    /// and would otherwise pass the same-origin check.
    pub allowed_hosts: HostPolicy,
    /// The cluster over Redis this server joins, when it joins one
    /// (`ServerBuilder::redis`; chapter 17).
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// The socket.io endpoint's own settings.
    pub socketio: SocketIoConfig,
    /// Connection state recovery (off by default): a client whose
    /// connection broke comes back as the same socket, with its rooms and
    /// data, and gets what it missed. See [`RecoveryConfig`] for its bounds.
    pub recovery: Option<RecoveryConfig>,
}

/// Settings of the socket.io endpoint. The defaults are Node socket.io's, so
/// a client tuned for Node behaves the same here.
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// Path prefix of the endpoint (default `/socket.io/`, the client's default).
    pub path: String,
    /// Path prefix of the Engine.IO-only endpoint (default `/engine.io/`,
    /// engine.io-client's default), served once the application handles it
    /// with `Server::on_engineio`. Every other setting here (heartbeat,
    /// `max_payload`) applies to it too; `connect_timeout` and
    /// `max_attachments` are Socket.IO's alone.
    pub engineio_path: String,
    /// The server sends an Engine.IO ping this often (default 25 s). It is
    /// also told to the client, which gives up after pingInterval + pingTimeout
    /// without a ping.
    pub ping_interval: Duration,
    /// How long the client has to answer a ping with a pong (default 20 s).
    pub ping_timeout: Duration,
    /// How long a new connection may take to join a namespace (send `40`)
    /// before it is closed (default 45 s).
    pub connect_timeout: Duration,
    /// Largest Engine.IO message or polling body, in bytes (default 1,000,000,
    /// sent to the client as `maxPayload`). Over it: close 1009 / HTTP 413.
    /// It also bounds the binary attachments of one packet together: they
    /// are held until the last one arrives, so without a bound a client could
    /// pin `max_attachments` × `max_payload` bytes for as long as it answers
    /// pings. Over it: close 1009 (polling: 400), the session ends.
    pub max_payload: usize,
    /// Most binary attachments one packet may announce (default 10, Node
    /// socket.io-parser's `maxAttachments`). Over it: close 1009 (polling:
    /// 400), before any attachment is held.
    pub max_attachments: usize,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            path: "/socket.io/".to_string(),
            engineio_path: "/engine.io/".to_string(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(45),
            max_payload: 1_000_000,
            max_attachments: 10,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            max_request_head: 8 * 1024,
            max_headers: 64,
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(45),
            close_timeout: Duration::from_secs(5),
            backlog_capacity: 256,
            backlog_bytes: 1 << 20,
            slow_client_timeout: Duration::from_millis(500),
            max_message_rate: None,
            max_clients: 10_000,
            write_timeout: Duration::from_secs(10),
            connection_stack_size: 256 * 1024,
            ws_path: "/ws".to_string(),
            origins: OriginPolicy::default(),
            allowed_hosts: HostPolicy::default(),
            socketio: SocketIoConfig::default(),
            cluster: None,
            recovery: None,
        }
    }
}

/// tungstenite's in-memory read buffer per connection (see [`Config::websocket`]).
const TUNGSTENITE_BUFFER: usize = 512;

impl Config {
    /// The tungstenite settings that follow from ours.
    pub(crate) fn websocket(&self) -> tungstenite::protocol::WebSocketConfig {
        tungstenite::protocol::WebSocketConfig::default()
            // tungstenite reads the socket into this buffer, which is
            // allocated and zero-filled per connection: small saves RSS on
            // thousands of idle clients, and a message larger than it is
            // reserved at its full length anyway (from its frame header).
            .read_buffer_size(TUNGSTENITE_BUFFER)
            // tungstenite writes only pongs and Close replies, straight
            // into the outlet: nothing to gather.
            .write_buffer_size(0)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}
