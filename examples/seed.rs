//! The seed tutorial's server, line for line, in Rust.
//!
//! ```sh
//! cargo run --example seed            # listens on http://localhost:3000 (PORT to change it)
//! ```
//! In a second terminal, connect with the terminal client:
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:3000/ws
//! ```
//! Step through it: put a breakpoint on `seed::on_client_message` (this file).

use wshub::{Server, Socket, Value};

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Info)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");

    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);

    // White-listing the page the seed's client is served from.
    let server = Server::builder().allow_origin("http://127.0.0.1:5500").bind(("127.0.0.1", port))?;

    // Let's explore the socket connection properties and deep-dive into it.
    server.on_connection(|socket| {
        log::info!("Response :: {socket:#?}");

        // Sending message to the client.
        socket.emit("server-message", "Welcome to WebSocket");

        // Receiving the client message.
        socket.on("client-message", on_client_message);
    });

    log::info!("Server is listening on http://localhost:{port}");
    server.run()
}

/// Runs on the client's own thread (`conn-N`) for every `client-message`.
fn on_client_message(_socket: &Socket, data: Value) {
    log::info!("Client message : {data}");
}
