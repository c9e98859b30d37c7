//! An echo server for the Autobahn|Testsuite cases and third-party clients.
//!
//! ```sh
//! cargo run --release --example autobahn      # ws://127.0.0.1:9001/ (PORT to change it)
//! .ci/autobahn.sh                             # builds this, runs the cases, prints the counts
//! ```
//! Every text or binary message comes back unchanged, up to 16 MiB (the
//! Autobahn 9.* cases send that much). It uses [`Socket::on_message`]: the
//! raw frames, not the JSON events of `/ws`.
//!
//! [`Socket::on_message`]: wshub::Socket::on_message

use wshub::Server;

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Warn) // Autobahn opens hundreds of connections: no line per client
        .env()
        .with_threads(true)
        .init()
        .expect("logger");

    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(9001);
    let server = Server::builder()
        .ws_path("/")
        .page("/", "<p>wshub echo server: open a WebSocket to this address</p>")
        .allow_any_origin()
        .max_message_size(16 << 20)
        .tls_from_env()? // TLS_CERT and TLS_KEY (PEM files): wss
        .bind(("127.0.0.1", port))?;

    server.on_connection(|socket| {
        // Each message goes straight back to the client that sent it.
        socket.on_message(|socket, message| socket.send(message));
    });

    // Scripts wait for this line before they connect.
    println!("listening on ws://{}/", server.local_addr());
    server.stop_on_signals()?;
    server.run()
}
