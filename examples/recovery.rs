//! Connection state recovery: a client whose network blips comes back as the
//! same socket, in the same rooms, and gets every packet it missed.
//!
//! ```sh
//! cargo run --example recovery                       # http://localhost:3000, sessions kept 120 s
//! RECOVERY_MS=5000 PORT=8080 cargo run --example recovery
//! ```
//! In a second terminal, with `npm ci` done: the socket.io client of the tests,
//! which drops its transport while 40 packets are broadcast to it:
//! ```sh
//! node tests/socketio/recovery.mjs http://127.0.0.1:3000 websocket recover
//! ```
//! Or by hand, over `/ws`: `cargo run --example client -- ws://127.0.0.1:3000/ws` shows
//! `{"session":{"sid":…,"pid":…}}` first, and an `"offset"` in every event; quit it, and
//! connect again to `ws://127.0.0.1:3000/ws?pid=<pid>&offset=<last offset>`: the session
//! comes back (`"recovered":true`) with what was broadcast meanwhile.
//!
//! The events:
//! ```text
//! on connect   server → client  server-message "Welcome to WebSocket"
//! broadcast    data             → io.emit("broadcast", data)              everyone
//! join         "room"           → the sender joins that room
//! to-room      {room, data}     → io.to(room).emit("to-room", data)       everyone in the room
//! ```
//! Every socket is also in a room named after its id, so `to-room` with
//! `room` = a socket's id reaches that socket alone.
//!
//! Step through it: break on `recovery::on_connection` and look at
//! `socket.recovered()`; break on `wshub::hub::Hub::register` to watch the
//! missed packets being written before anything newer.

use std::time::Duration;

use wshub::{Server, ServerBuilder, Socket, Value};

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Info)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let ms: u64 = std::env::var("RECOVERY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(120_000);

    let server = builder(Duration::from_millis(ms)).bind(("127.0.0.1", port))?;
    install(&server);
    println!("listening on {}", server.local_addr());
    log::info!("recovery: sessions are kept {ms} ms after a disconnect");
    server.run()
}

/// Recovery on, keeping a disconnected session for `max_disconnection`.
/// (`tests/recovery.rs` includes this file to start the very same server.)
pub fn builder(max_disconnection: Duration) -> ServerBuilder {
    Server::builder().connection_state_recovery(max_disconnection, true).allow_any_origin()
}

/// The handlers, for `/ws` and socket.io clients alike.
pub fn install(server: &Server) {
    server.on_connection(on_connection);
}

/// Every connection, fresh or recovered.
fn on_connection(socket: &Socket) {
    if socket.recovered() {
        log::info!("socket {} is back as {}, in {:?}", socket.id(), socket.sid(), socket.rooms());
    }
    socket.emit("server-message", "Welcome to WebSocket");
    socket.on("broadcast", |socket, data| socket.io().emit("broadcast", data));
    socket.on("join", |socket, room| socket.join(room.as_str().unwrap_or_default()));
    socket.on("to-room", on_to_room);
}

/// `to-room {room, data}`: everyone in `room` gets `to-room data`.
fn on_to_room(socket: &Socket, message: Value) {
    let room = message["room"].as_str().unwrap_or_default();
    socket.io().to(room).emit("to-room", &message["data"]);
}
