//! The server the official socket.io protocol test suites expect, in wshub.
//!
//! ```sh
//! cargo run --example socketio_reference          # listens on http://localhost:3000 (PORT to change it)
//! ```
//! In a second terminal, point a socket.io client (or the `test-suite/` of
//! `socketio/socket.io-protocol`) at `http://localhost:3000`. The settings are
//! the suites' reference settings: pingInterval 300 ms, pingTimeout 200 ms,
//! connectTimeout 1000 ms; on connect every socket gets `auth` with its auth
//! payload; `message` is echoed as `message-back`, `message-with-ack` is
//! acknowledged with its own arguments; `/custom` is a second namespace.
//! wshub's own tests add `/private`, which refuses a client whose
//! `auth.token` is not `"secret"` (CONNECT_ERROR "not authorized").
//!
//! wshub's own tests (`tests/socketio.rs`) start it with `PORT=0` and read the
//! address from its first line of output: `listening on 127.0.0.1:PORT`.
//! `TLS_CERT` and `TLS_KEY` (PEM files) make it https.
//!
//! Step through it: put a breakpoint on `socketio_reference::on_connection`.

use std::time::Duration;

use wshub::{Args, Server, ServerBuilder, Socket, SocketInfo, Value};

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Warn)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);

    // TLS_CERT/TLS_KEY: https and wss; REDIS_URL: one node of a cluster (chapter 17).
    let server = builder().tls_from_env()?.redis_from_env().bind(("127.0.0.1", port))?;
    install(&server);

    // The first line on stdout tells a test harness where we listen.
    println!("listening on {}", server.local_addr());
    server.stop_on_signals()?;
    server.run()
}

/// The suites' reference settings. (`tests/socketio.rs` includes this file
/// to start the very same server in-process.)
pub fn builder() -> ServerBuilder {
    Server::builder()
        .socketio_ping(Duration::from_millis(300), Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(1000))
        .allow_any_origin()
}

/// The handlers: `/`, `/custom` and `/private` alike; `/private` checks
/// the client's token first.
pub fn install(server: &Server) {
    server.on_connection(on_connection);
    server.of("/custom").on_connection(on_connection);
    install_private(server);
}

/// `/private`: like `/custom`, behind `token_is_secret`.
pub fn install_private(server: &Server) {
    server.of("/private").check_connect(token_is_secret);
    server.of("/private").on_connection(on_connection);
}

/// The connect check of `/private`: `io(url + "/private", { auth: { token: "secret" } })`
/// gets in; any other client gets `connect_error` with "not authorized".
fn token_is_secret(auth: &Value, _info: &SocketInfo) -> Result<(), String> {
    match auth["token"].as_str() {
        Some("secret") => Ok(()),
        _ => Err("not authorized".into()),
    }
}

/// Every namespace behaves the same way, as in the suites' reference server.
fn on_connection(socket: &Socket) {
    socket.emit("auth", socket.auth());
    socket.on("message", |socket, data| socket.emit("message-back", as_args(data)));
    socket.on_with_ack("message-with-ack", |_socket, data, ack| ack.send(as_args(data)));
    // Extra events used by wshub's own tests.
    socket.on("join", |socket, room| socket.join(room.as_str().unwrap_or("")));
    socket.on("to-room", |socket, data| {
        socket.io().to(data["room"].as_str().unwrap_or("")).emit("room-message", &data["text"])
    });
    socket.on("broadcast", |socket, data| socket.io().emit("broadcast", data));
    socket.on("ask-client", |socket, data| {
        socket.emit_with_ack("question", data, |socket, answer| socket.emit("answer-was", answer));
    });
    socket.on("disconnect-me", |socket, _| socket.disconnect());
}

/// Handlers get several arguments as one array: send them back as several.
fn as_args(data: Value) -> Args {
    match data {
        Value::Array(items) => Args(items),
        Value::Null => Args(Vec::new()),
        one => Args(vec![one]),
    }
}
