//! wshub under the bench contract, the same work the Node peer does
//! (`bench/peer/server.js`):
//!
//! - on connect: emit `server-message` "Welcome to WebSocket";
//! - `client-message`: emit it back to the sender (echo);
//! - `broadcast`: emit it to every client, the sender included;
//! - `ack`: answer the client's ack with the data (the healthy client's
//!   round trip in `bench/attacks.sh`).
//!
//! ```sh
//! PORT=3000 cargo run --release --example bench_server
//! ```
//! Then drive it with `bench/compare.sh` and `bench/attacks.sh` (or
//! `bench/loadgen`, see docs/bench.md).
//! The handlers are registered for every connection, whatever its wire
//! format, so the same binary serves `/ws` and socket.io on `/socket.io/`.
//!
//! Environment: `PORT` (default 3000), `PING_MS` (heartbeat interval, default
//! 25000; the idle timeout is three intervals), `MAX_CLIENTS` (default
//! 20000, for the 10,000-client scale run), `RUST_LOG` (logging is off unless
//! it is set: a log line per connection would measure the terminal),
//! `TLS_CERT` and `TLS_KEY` (PEM files: https and wss instead).

use std::time::Duration;

use wshub::Server;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        simple_logger::SimpleLogger::new().env().with_threads(true).init().expect("logger");
    }
    let port: u16 = env("PORT", 3000);
    let ping = Duration::from_millis(env("PING_MS", 25_000));

    let server = Server::builder()
        .allow_origin("http://127.0.0.1:5500")
        .heartbeat(ping, ping * 3)
        .max_clients(env("MAX_CLIENTS", 20_000))
        .tls_from_env()? // TLS_CERT and TLS_KEY: the same over https and wss
        .redis_from_env() // REDIS_URL: one node of a cluster (chapter 17)
        .bind(("127.0.0.1", port))?;

    server.on_connection(|socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("client-message", |socket, data| socket.emit("client-message", data));
        // `socket.broadcast` leaves the sender out; the contract includes it.
        socket.on("broadcast", |socket, data| socket.io().emit("broadcast", data));
        socket.on_with_ack("ack", |_socket, data, ack| ack.send(data));
    });

    server.stop_on_signals()?;
    server.run()
}
