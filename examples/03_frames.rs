//! Chapter 03: frames. A recording proxy sits between a client and the server
//! and decodes every frame that passes: text, binary, ping, pong, close, and
//! the mask on everything the client sends.
//!
//! ```sh
//! cargo run --example 03_frames
//! ```
//! Nothing to run in a second terminal: the client, the proxy and the server
//! all live in this process, so the output is in order.
//!
//! Step through it: break on `wshub::wire::frame::data_frames` (src/wire/frame.rs)
//! to see the server write a frame as bytes, on `03_frames::decode` (this file)
//! to watch the proxy take one apart, and on `wshub::connection::Connection::on_message`
//! (src/connection.rs) for the message tungstenite read from the socket
//! (docs/03-frames.md shows the session).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;
use wshub::Server;

fn main() -> std::io::Result<()> {
    // The server pings every 300 ms, so that a server ping shows up quickly,
    // and gives up on a silent client only after a day: a debugger may hold
    // this process at a breakpoint as long as you like (the server measures
    // silence by the clock, which goes on while the process is stopped).
    let server =
        Server::builder().heartbeat(Duration::from_millis(300), Duration::from_secs(86_400)).bind(("127.0.0.1", 0))?;
    server.on_connection(|socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("client-message", |socket, data| socket.emit("echo", data));
    });
    let handle = server.spawn()?;
    let proxy = start_proxy(handle.local_addr)?;

    let step = |title: &str| {
        thread::sleep(Duration::from_millis(50)); // let the proxy finish printing
        println!("\n=== {title}");
    };

    step("the handshake (plain HTTP), then the welcome the server sends right after its 101");
    let (mut ws, _) = tungstenite::connect(format!("ws://{proxy}/ws")).map_err(std::io::Error::other)?;
    ws.read().map_err(std::io::Error::other)?;

    step("a text frame from the client (masked), and the server's answer (not masked)");
    ws.send(Message::text(r#"{"event":"client-message","data":"hi"}"#)).map_err(std::io::Error::other)?;
    ws.read().map_err(std::io::Error::other)?;

    step("a binary frame: the JSON protocol answers with an error event");
    ws.send(Message::binary(vec![1u8, 2, 3])).map_err(std::io::Error::other)?;
    ws.read().map_err(std::io::Error::other)?;

    step("the client pings; tungstenite on the server answers with a pong by itself");
    ws.send(Message::Ping("are you there?".into())).map_err(std::io::Error::other)?;
    while !matches!(ws.read().map_err(std::io::Error::other)?, Message::Pong(_)) {}

    step("the server's heartbeat pings; tungstenite on the client answers by itself");
    while !matches!(ws.read().map_err(std::io::Error::other)?, Message::Ping(_)) {}
    ws.flush().map_err(std::io::Error::other)?; // the queued pong goes out

    step("the client closes with 1000; the server echoes the Close, then TCP ends");
    ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "bye".into() })).map_err(std::io::Error::other)?;
    while ws.read().is_ok() {}
    thread::sleep(Duration::from_millis(100));
    handle.shutdown()
}

/// Accepts one client, connects it to `server`, and dumps both directions:
/// thread `proxy` copies server → client, thread `proxy-up` client → server.
fn start_proxy(server: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::Builder::new().name("proxy".into()).spawn(move || {
        let (client, _) = listener.accept().expect("proxy accept");
        // `proxy-up` starts before the server sees a connection, so that a
        // debugger always lists the threads in one order: proxy, proxy-up, conn-1.
        let (upstream_tx, upstream_rx) = mpsc::channel::<TcpStream>();
        let from_client = client.try_clone().unwrap();
        thread::Builder::new()
            .name("proxy-up".into())
            .spawn(move || relay(from_client, upstream_rx.recv().expect("the upstream socket"), "client → server"))
            .expect("proxy-up thread");
        let upstream = TcpStream::connect(server).expect("proxy connect");
        upstream_tx.send(upstream.try_clone().unwrap()).expect("proxy-up is waiting");
        relay(upstream, client, "server → client");
    })?;
    Ok(addr)
}

/// Copies `from` → `to`, printing the HTTP head and then every frame.
fn relay(mut from: TcpStream, mut to: TcpStream, direction: &str) {
    let mut pending = Vec::new();
    let mut in_head = true;
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        if in_head {
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            println!("{direction}  HTTP head: {}", head.lines().next().unwrap_or_default());
            pending.drain(..end + 4);
            in_head = false;
        }
        while let Some((report, used)) = decode(&pending) {
            println!("{direction}  {report}");
            pending.drain(..used);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Takes one frame apart (RFC 6455, section 5.2). `None`: not complete yet.
fn decode(bytes: &[u8]) -> Option<(String, usize)> {
    let [b0, b1, ..] = *bytes else { return None };
    // ANCHOR: decode
    let fin = b0 >> 7;
    let opcode = b0 & 0x0f;
    let masked = b1 >> 7 == 1;
    // Payload length: 7 bits, or 126 + 2 bytes, or 127 + 8 bytes.
    let (len, mut pos) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize, 10),
        short => (short as usize, 2),
    };
    let mask: Option<[u8; 4]> = if masked {
        pos += 4;
        Some(bytes.get(pos - 4..pos)?.try_into().ok()?)
    } else {
        None
    };
    let mut payload = bytes.get(pos..pos + len)?.to_vec();
    // Unmasking: XOR each byte with the mask key, byte i with key[i % 4].
    if let Some(key) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    // ANCHOR_END: decode

    let kind = match opcode {
        0x0 => "continuation",
        0x1 => "text",
        0x2 => "binary",
        0x8 => "close",
        0x9 => "ping",
        0xA => "pong",
        _ => "reserved",
    };
    let raw: Vec<String> = bytes[..(pos + len).min(pos + 12)].iter().map(|b| format!("{b:02x}")).collect();
    let more = if len > 12 { " …" } else { "" };
    let mask_text = mask.map_or("not masked".to_string(), |k| format!("mask key {:02x?}", k));
    let content = match opcode {
        0x1 => String::from_utf8_lossy(&payload).into_owned(),
        0x8 if payload.len() >= 2 => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            format!("code {code}, reason {:?}", String::from_utf8_lossy(&payload[2..]))
        }
        0x9 | 0xA => format!("{:?} (any bytes; the pong carries the ping's)", String::from_utf8_lossy(&payload)),
        _ => format!("{payload:02x?}"),
    };
    let report = format!(
        "{kind} frame: FIN={fin} opcode=0x{opcode:x} length={len}, {mask_text}\n                 bytes   {}{more}\n                 payload {content}",
        raw.join(" ")
    );
    Some((report, pos + len))
}
