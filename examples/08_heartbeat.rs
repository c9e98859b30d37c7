//! Chapter 08: heartbeats and closing. A server with a short heartbeat, a
//! client that answers pings, a client that has gone silent, and a graceful
//! shutdown that closes everyone with 1001.
//!
//! ```sh
//! cargo run --example 08_heartbeat
//! RUST_LOG=debug cargo run --example 08_heartbeat     # also the server's own log lines
//! ```
//! Nothing to run in a second terminal: both clients live in this process.
//!
//! Step through it: break on `wshub::hub::outlet::Outlet::close`
//! (src/hub/outlet/), where every Close the server sends begins: first on
//! `conn-1`, whose read deadline found its ping unanswered (`on_deadline`,
//! 1001 "heartbeat timeout"), then on the `hub` at shutdown (1001 "server
//! shutting down"). docs/08-heartbeats.md shows the session.
//!
//! This example is about time, so a debugger changes what it prints: the
//! server measures silence by the clock, which goes on while the process is
//! stopped. The `t=` times grow by the pause and the silent client's buffer
//! holds fewer pings. The live client is still there after a stop of any
//! length, since the wait for a pong is counted from the ping, unless the
//! stop fell between a ping and the reading of its pong (docs/08-heartbeats.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;
use wshub::Server;

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new().with_level(log::LevelFilter::Warn).env().with_threads(true).init().ok();
    // ANCHOR: server
    let server = Server::builder()
        .heartbeat(Duration::from_millis(500), Duration::from_millis(1500)) // ping every 0.5 s, give up after 1.5 s
        .close_timeout(Duration::from_secs(1))
        .bind(("127.0.0.1", 0))?;
    server.on_connection(|socket| {
        let id = socket.id();
        say(&format!("server: socket {id} connected"));
        socket.on_disconnect(move |_, reason| say(&format!("server: socket {id} ended: {reason}")));
    });
    let handle = server.spawn()?;
    // ANCHOR_END: server
    let addr = handle.local_addr;
    start();

    // A client whose network vanished: it finished its handshake and then
    // never sends another byte (not even the pongs the server asks for).
    let mut silent = TcpStream::connect(addr)?;
    silent.write_all(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )?;

    // A healthy client: tungstenite answers each ping with a pong while we read.
    let live = thread::Builder::new().name("live-client".into()).spawn(move || {
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).expect("connect");
        loop {
            match ws.read() {
                Ok(Message::Ping(_)) => say("live client: got a ping (tungstenite queues the pong)"),
                Ok(Message::Close(frame)) => {
                    let frame = frame.expect("a close frame with a code");
                    say(&format!("live client: got Close {} {:?}", u16::from(frame.code), frame.reason.as_str()));
                }
                Ok(_) => {}
                Err(e) => return say(&format!("live client: connection ended ({e})")),
            }
        }
    })?;

    thread::sleep(Duration::from_millis(2600));
    say("main: shutting the server down");
    handle.shutdown()?;
    say("main: shutdown returned: every thread joined");
    live.join().expect("live client thread");

    // What reached the silent client while it was not looking.
    let mut bytes = Vec::new();
    silent.set_read_timeout(Some(Duration::from_secs(1)))?;
    let _ = silent.read_to_end(&mut bytes);
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    let frames = &bytes[head_end..];
    let pings = frames.windows(2).filter(|w| w == b"\x89\x00").count();
    println!("\nthe silent client's socket buffer held: a 101, {pings} pings, then:");
    if let Some(close) = frames.windows(2).position(|w| w[0] == 0x88) {
        let len = usize::from(frames[close + 1]);
        let payload = &frames[close + 2..close + 2 + len];
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        println!("    a Close frame: code {code}, reason {:?}", String::from_utf8_lossy(&payload[2..]));
    }
    Ok(())
}

static START: OnceLock<Instant> = OnceLock::new();

fn start() {
    START.get_or_init(Instant::now);
}

/// Prints a line with the time since the clients started.
fn say(line: &str) {
    let t = START.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!("t={t:4.2}s  {line}");
}
