//! # wshub — a WebSocket server you can read in order
//!
//! wshub is a synchronous, thread-per-connection WebSocket server with named
//! events, rooms and a broadcasting hub. It is small enough to read from top to
//! bottom and to stop at in a debugger, and it is built to be used.
//!
//! ```no_run
//! use wshub::Server;
//!
//! fn main() -> std::io::Result<()> {
//!     let server = Server::builder()
//!         .allow_origin("http://127.0.0.1:5500")
//!         .page("/", "<h1>hello</h1>")
//!         .bind(("127.0.0.1", 3000))?;
//!     server.on_connection(|socket| {
//!         socket.emit("server-message", "Welcome to WebSocket");
//!         socket.on("client-message", |_socket, data| log::info!("Client message: {data}"));
//!     });
//!     server.run()
//! }
//! ```
//!
//! # Layout
//!
//! The modules follow the path a client's bytes take, in this order:
//!
//! 1. [`server`] — `Server::builder()`, `bind`, `run` / `spawn`, shutdown. Its
//!    **listener** blocks in `accept` and spawns one named thread `conn-N` per
//!    client. That thread is the client's for its whole life: its setup
//!    returns before its loop runs, and the setup's stack pages go back to
//!    the kernel, so an idle client keeps two pages of stack (`stack`).
//!    Each client's bytes are a [`conn::Conn`]: the TCP socket, and the TLS
//!    session over it when the server speaks TLS (`ServerBuilder::tls`).
//! 2. `front` — the front door: `conn-N` reads the request head ([`http`])
//!    and routes it: a page, a refusal with its status and reason
//!    ([`http::handshake`], [`http::origin`]), a `/ws` upgrade, or socket.io.
//! 3. [`connection`] — a `/ws` client after its 101: `conn-N` reads its
//!    WebSocket ([`websocket`]: tungstenite reading the socket directly, up
//!    to the thread's next deadline) and runs its handlers.
//! 4. `engine` — socket.io's endpoint (`/socket.io/`): HTTP long-polling,
//!    the upgrade, and each client's session, which is state driven by
//!    whichever thread has something for it, not a thread of its own. The
//!    same engine serves Engine.IO alone on `/engine.io/` ([`EngineSocket`],
//!    after `Server::on_engineio`): raw messages instead of Socket.IO.
//! 5. [`hub`] — the `hub` thread: the registry of sockets and rooms. It
//!    encodes each broadcast once per wire format and **writes it into every
//!    client's [`hub::Outlet`] itself**, without blocking and without waking
//!    anybody; what a socket cannot take waits in that client's backlog. The
//!    handles that talk to it: [`Socket`] (one client, as handlers see it)
//!    and [`Io`] (any thread). With connection state recovery on, it keeps
//!    what a client that dropped needs to come back (`hub::recovery`).
//! 6. [`wire`] — the wire formats, pure codecs: the `/ws` JSON envelope,
//!    Engine.IO and Socket.IO packets, WebSocket frames as bytes.
//!
//! [`cluster`] stands beside all of this: several servers as one over Redis,
//! in the wire format of Node's `@socket.io/redis-adapter`, so wshub and Node
//! socket.io nodes can share rooms and broadcasts. It knows Redis and the
//! adapter's bytes, not the hub; the hub's side of it, what is published and
//! what comes back, is `hub::node` (chapter 17).
//!
//! [`admin`] watches from outside: the official socket.io admin UI manages
//! the server through a namespace of its own, told what changes by the
//! hub's observers (`hub::observe`; chapter 16).
//!
//! [`config`] holds every limit and timeout with its default and the reason
//! for it. Threads: `listener`, `hub`, `engine-timers`, one `conn-N` per
//! connection, `timers` once an ack is given a timeout, `signals` after
//! `stop_on_signals()`, `admin` with the admin UI, and `redis-sub` and
//! `redis-pub` in a cluster; nothing else.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod connection;
mod context;
mod engine;
mod front;
pub mod http;
pub mod hub;
pub mod server;
mod stack;
pub mod websocket;
pub mod wire;

pub use config::Config;
pub use engine::EngineSocket;
pub use hub::{Ack, AckError, BroadcastAcks, FetchedSocket, Handshake, Io, Socket, SocketId, SocketInfo, To, Verdict};
pub use server::{DynamicNamespace, Namespace, Server, ServerBuilder, ServerHandle};
pub use wire::args::{as_binary, binary, Args};

/// A WebSocket message as [`Socket::on_message`] receives it and
/// [`Socket::send`] sends it (`tungstenite::Message`).
pub use tungstenite::Message;

/// JSON values as handlers receive them (`serde_json::Value`).
pub use serde_json::Value;

/// Every fallible call in wshub's public API returns an `std::io::Error`:
/// binding, accepting and spawning threads are the only things that can fail
/// for the caller. Errors of one connection stop at that connection's thread.
pub type Result<T> = std::io::Result<T>;

/// The tutorial in `docs/`, compiled by `cargo test --doc`: every Rust block of
/// a chapter is a doctest, so a chapter whose code stops compiling fails the
/// build. `tests/docs.rs` checks that every file with Rust blocks is listed.
#[cfg(doctest)]
mod doc_chapters {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/README.md")]
    struct Contents;
    #[doc = include_str!("../docs/01-http-vs-websocket.md")]
    struct Ch01;
    #[doc = include_str!("../docs/02-handshake.md")]
    struct Ch02;
    #[doc = include_str!("../docs/03-frames.md")]
    struct Ch03;
    #[doc = include_str!("../docs/04-threads.md")]
    struct Ch04;
    #[doc = include_str!("../docs/05-events.md")]
    struct Ch05;
    #[doc = include_str!("../docs/06-hub.md")]
    struct Ch06;
    #[doc = include_str!("../docs/07-origins.md")]
    struct Ch07;
    #[doc = include_str!("../docs/08-heartbeats.md")]
    struct Ch08;
    #[doc = include_str!("../docs/09-real-time-data.md")]
    struct Ch09;
    #[doc = include_str!("../docs/10-debugging.md")]
    struct Ch10;
    #[doc = include_str!("../docs/11-pitfalls.md")]
    struct Ch11;
    #[doc = include_str!("../docs/12-limits.md")]
    struct Ch12;
    #[doc = include_str!("../docs/13-socketio.md")]
    struct Ch13;
    #[doc = include_str!("../docs/14-recovery.md")]
    struct Ch14;
    #[doc = include_str!("../docs/socketio-api.md")]
    struct SocketIoApi;
    #[doc = include_str!("../docs/15-production.md")]
    struct Ch15;
    #[doc = include_str!("../docs/16-admin-ui.md")]
    struct Ch16;
    #[doc = include_str!("../docs/17-cluster.md")]
    struct Ch17;
}
