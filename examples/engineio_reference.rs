//! Engine.IO without socket.io: the server the official engine.io protocol
//! test suite (`socketio/engine.io-protocol`, its `test-suite/`) expects, in
//! wshub. Every message, text or binary, goes back to its sender.
//!
//! ```sh
//! cargo run --example engineio_reference        # http://localhost:3000/engine.io/ (PORT to change it)
//! ```
//! In a second terminal, an `engine.io-client` (npm) against it, over each
//! transport and the upgrade (`npm ci` once):
//! ```sh
//! node tests/engineio/echo.mjs http://127.0.0.1:3000
//! ```
//! The settings are the suite's reference settings: pingInterval 300 ms,
//! pingTimeout 200 ms, maxPayload 1,000,000 bytes, CORS for any origin.
//! wshub's own tests (`tests/engineio.rs`) start it with `PORT=0` and read
//! the address from its first line of output: `listening on 127.0.0.1:PORT`.
//! `TLS_CERT` and `TLS_KEY` (PEM files) make it https.
//!
//! Step through it: put a breakpoint on `engineio_reference::echo`.

use std::time::Duration;

use wshub::{EngineSocket, Message, Server, ServerBuilder};

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Warn)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);

    let server = builder().tls_from_env()?.bind(("127.0.0.1", port))?;
    server.on_engineio(on_session);

    // The first line on stdout tells a test harness where we listen.
    println!("listening on {}", server.local_addr());
    server.stop_on_signals()?;
    server.run()
}

/// The suite's reference settings. (`tests/engineio.rs` includes this file
/// to start the very same server in-process.)
pub fn builder() -> ServerBuilder {
    Server::builder()
        .socketio_ping(Duration::from_millis(300), Duration::from_millis(200))
        .socketio_max_payload(1_000_000)
        .allow_any_origin()
}

/// Each new Engine.IO session: echo whatever it sends.
pub fn on_session(socket: &EngineSocket) {
    socket.on_message(echo);
}

/// One message from the client, sent straight back.
fn echo(socket: &EngineSocket, message: Message) {
    socket.send(message);
}
