//! Chapter 09: real-time data. A ticker thread that is not a connection
//! thread pushes a price to every client through an `Io` handle.
//!
//! ```sh
//! cargo run --example 09_ticker              # a built-in client prints 5 ticks, then it exits
//! cargo run --example 09_ticker -- --serve   # keeps serving on http://127.0.0.1:3000
//! ```
//! With `--serve`, open http://127.0.0.1:3000 in a browser (the page uses the
//! browser's own `WebSocket`), or in a second terminal:
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:3000/ws
//! ```
//! Step through it: break on `09_ticker::run_ticker` (this file) to see the
//! push leave the ticker thread, then on `wshub::hub::io::Io::send`
//! (src/hub/io/) and `wshub::hub::Hub::emit` (docs/09-real-time-data.md
//! shows the session).

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use wshub::{Io, Server};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>wshub ticker</title>
<h1>WSHUB/EUR <span id="price">…</span></h1>
<p id="state">connecting</p>
<script>
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => (document.getElementById("state").textContent = "connected");
  ws.onclose = (e) => (document.getElementById("state").textContent = `closed (${e.code})`);
  ws.onmessage = (e) => {
    const { event, data } = JSON.parse(e.data);
    if (event === "price") document.getElementById("price").textContent = data.price.toFixed(2);
  };
</script>
"#;

fn main() -> std::io::Result<()> {
    let serve = std::env::args().any(|a| a == "--serve");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let mut builder = Server::builder().page("/", PAGE);
    if !serve {
        // The built-in client lives in this process, so a debugger stops it
        // together with the server: the server need not give up on a silent
        // client (by default after 45 s, measured by a clock that runs on
        // while the process is stopped). A day, so any stop is safe.
        builder = builder.heartbeat(Duration::from_secs(25), Duration::from_secs(86_400));
    } else {
        builder = builder.tls_from_env()?; // TLS_CERT and TLS_KEY (PEM files): https and wss
    }
    let server = builder.bind(("127.0.0.1", port))?;
    server.on_connection(|socket| socket.emit("server-message", "Welcome to the ticker"));

    // ANCHOR: io
    // New: an `Io` handle, taken before the server starts, moved to another thread.
    let io = server.io();
    thread::Builder::new().name("ticker".into()).spawn(move || run_ticker(io, Duration::from_millis(250)))?;
    // ANCHOR_END: io

    if serve {
        println!("Serving on http://127.0.0.1:{port}/ (Ctrl+C to stop)");
        server.stop_on_signals()?; // Ctrl+C: every client gets Close 1001
        return server.run();
    }
    let handle = server.spawn()?;
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws", handle.local_addr)).map_err(std::io::Error::other)?;
    let mut ticks = 0;
    while ticks < 5 {
        let message = ws.read().map_err(std::io::Error::other)?;
        if message.is_text() {
            println!("client got: {message}");
            ticks += message.to_text().unwrap_or_default().contains("\"price\"") as usize;
        }
    }
    handle.shutdown()
}

// ANCHOR: ticker
/// The ticker thread: a made-up price, pushed to every client every `period`.
fn run_ticker(io: Io, period: Duration) {
    let mut price = 100.0_f64;
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    loop {
        thread::sleep(period);
        // A random walk (xorshift), so no random-number crate is needed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        price *= 1.0 + ((seed % 1000) as f64 - 500.0) / 100_000.0;
        if io.client_count() == 0 {
            continue; // nobody listening: skip the work
        }
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        // Returns at once: the hub encodes the event once and fans it out.
        let cents = (price * 100.0).round() / 100.0;
        io.emit("price", json!({ "symbol": "WSHUB/EUR", "price": cents, "at": at }));
    }
}
// ANCHOR_END: ticker
