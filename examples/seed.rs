//! The seed tutorial's server, line for line, in Rust.
//!
//! ```sh
//! cargo run --example seed            # listens on http://localhost:3000 (PORT to change it)
//! ```
//! In a second terminal, connect with the terminal client:
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:3000/ws
//! ```
//! It speaks socket.io on `/socket.io/` too, so the seed's own socket.io
//! client code connects as it is (chapter 13):
//! ```sh
//! npm ci                              # once: socket.io-client, for the page and the Node client
//! node examples/seed-client.mjs       # the seed's client code in Node: welcomed, then it exits
//! ```
//! or open <http://localhost:3000/> in a browser: the seed's client page
//! (`examples/seed-page/`), with socket.io-client's own `socket.io.min.js`
//! served from `node_modules/` (no CDN). Its console shows the welcome. The page
//! connects to the server that served it; with `PORT=8080` give the Node client
//! the same `PORT=8080` (or `SERVER_URL=http://127.0.0.1:8080`).
//! Step through it: put a breakpoint on `seed::on_client_message` (this file).

use std::path::Path;

use wshub::{Server, ServerBuilder, Socket, Value};

/// The seed's client page and script (the script's one fix: `socket.emit`).
const PAGE: &str = include_str!("seed-page/index.html");
const CLIENT_JS: &str = include_str!("seed-page/index.js");
/// Where `npm ci` puts socket.io-client's browser build.
const SOCKET_IO_JS: &str = "node_modules/socket.io-client/dist/socket.io.min.js";

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Info)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");

    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);

    // White-listing the page the seed's client is served from (Live Server's
    // port, as in the seed, and this server's own page under either name).
    let builder = Server::builder()
        .allow_origin("http://127.0.0.1:5500")
        .allow_origin(&format!("http://localhost:{port}"))
        .allow_origin(&format!("http://127.0.0.1:{port}"));
    // TLS_CERT/TLS_KEY: https and wss; REDIS_URL: one node of a cluster (chapter 17).
    let server = with_client_page(builder).tls_from_env()?.redis_from_env().bind(("127.0.0.1", port))?;

    // Let's explore the socket connection properties and deep-dive into it.
    server.on_connection(|socket| {
        log::info!("Response :: {socket:#?}");

        // Sending message to the client.
        socket.emit("server-message", "Welcome to WebSocket");

        // Receiving the client message.
        socket.on("client-message", on_client_message);
    });

    log::info!("Server is listening on http://localhost:{port}");
    server.stop_on_signals()?; // Ctrl+C stops it gracefully: clients get Close 1001
    server.run()
}

/// Serves the seed's page at `/`, its script at `/index.js`, and
/// socket.io-client's `socket.io.min.js`, read now from `node_modules/` (which
/// exists only after `npm ci`; without it that path answers 404).
fn with_client_page(builder: ServerBuilder) -> ServerBuilder {
    let builder = builder.page("/", PAGE).asset("/index.js", "text/javascript; charset=utf-8", CLIENT_JS);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(SOCKET_IO_JS);
    match std::fs::read(&script) {
        Ok(js) => builder.asset("/socket.io.min.js", "text/javascript; charset=utf-8", js),
        Err(e) => {
            log::warn!("{}: {e}; run `npm ci` to serve /socket.io.min.js (404 until then)", script.display());
            builder
        }
    }
}

/// Runs on the client's own thread (`conn-N`) for every `client-message`.
fn on_client_message(_socket: &Socket, data: Value) {
    log::info!("Client message : {data}");
}
