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
//! 1. [`server`] — `Server::builder()`, `bind`, `run` / `spawn`, shutdown. The
//!    **listener** loop blocks in `accept` and spawns one named thread `conn-N`
//!    per client ([`listener`]).
//! 2. [`http`] — the connection thread reads the HTTP request head itself, so
//!    that every refusal gets a real HTTP answer.
//! 3. [`http::handshake`] — decides what the request is: a page, a WebSocket
//!    upgrade, or a refusal (400, 403, 404, 405, 426, 431).
//!    [`http::origin`] holds the Origin allow-list.
//! 4. [`reader`] — the tiny `conn-N-rx` thread that only moves raw bytes from
//!    the socket into a channel, and the [`reader::Inbox`] stream that feeds
//!    them to tungstenite.
//! 5. [`connection`] — the connection thread's loop: it owns the only
//!    `WebSocket` and `select!`s over inbound bytes, its outbox, the heartbeat
//!    and the close deadline.
//! 6. [`wire`] — the wire format (`/ws`: one JSON object per text frame)
//!    turned into events and back. The event model does not know which wire
//!    format carried it.
//! 7. [`socket`] — the [`Socket`] handle your handlers receive: `emit`, `on`,
//!    acks, rooms, `disconnect`, and raw frames (`on_message`, `send`).
//! 8. [`hub`] — the `hub` thread: the registry of sockets and rooms; it encodes
//!    each broadcast once and `try_send`s it into every bounded outbox.
//! 9. [`io`] — [`Io`], a `Clone + Send` handle to the hub for pushing data
//!    from any thread.
//!
//! socket.io (`/socket.io/`) takes a side road after step 2: [`wire::engineio`] and
//! [`wire::socketio`] are its packets, `engine` answers its HTTP requests
//! (long-polling, upgrades), `session` is one socket.io client (its
//! heartbeat, its namespace sockets, its transport) and [`wslink`] the
//! WebSocket under it. Its events then go through the same [`socket`] and
//! [`hub`]. See `docs/13-socketio.md`.
//!
//! [`cluster`] stands beside all of this: several servers as one over Redis,
//! in the wire format of Node's `@socket.io/redis-adapter`, so wshub and Node
//! socket.io nodes can share rooms and broadcasts.
//!
//! [`config`] holds every limit and timeout with its default and the reason
//! for it.

pub mod cluster;
pub mod config;
pub mod connection;
mod engine;
pub mod http;
pub mod hub;
pub mod io;
pub mod listener;
pub mod reader;
pub mod server;
mod session;
pub mod socket;
pub mod wire;
pub mod wslink;

pub use config::Config;
pub use io::{Io, To};
pub use server::{Namespace, Server, ServerBuilder, ServerHandle};
pub use socket::{Socket, SocketId, SocketInfo};
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
}
