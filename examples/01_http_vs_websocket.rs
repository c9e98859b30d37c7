//! Chapter 01: HTTP vs WebSocket, against the same server, printing the wire.
//!
//! ```sh
//! cargo run --example 01_http_vs_websocket              # runs both exchanges and exits
//! cargo run --example 01_http_vs_websocket -- --serve   # ... then keeps serving on port 3000
//! ```
//! With `--serve`, in a second terminal:
//! ```sh
//! curl -i http://127.0.0.1:3000/             # HTTP: one request, one response, closed
//! curl -i http://127.0.0.1:3000/ws           # the WebSocket path refuses plain HTTP: 426
//! ```
//! Step through it: break on `wshub::http::handshake::route` (src/http/handshake.rs), which
//! is where the server tells the two requests apart.
//!
//! The example's client waits for every answer without a timeout: the server is in this
//! process and always answers, and a debugger may hold it at a breakpoint as long as you like.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};
use wshub::Server;

const PAGE: &str = "<!doctype html><title>wshub</title><p>Hello over plain HTTP.</p>\n";

fn main() -> std::io::Result<()> {
    let serve = std::env::args().any(|a| a == "--serve");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);

    // ANCHOR: server
    // One server, one port: a page at `/` and WebSocket upgrades at `/ws`.
    let server = Server::builder().page("/", PAGE).bind(("127.0.0.1", port))?;
    server.on_connection(|socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("client-message", |socket, data| socket.emit("echo", data));
    });
    let handle = server.spawn()?;
    // ANCHOR_END: server
    let addr = handle.local_addr;

    println!("=== 1. Plain HTTP: one request, one response, then the server closes ===\n");
    plain_get(addr)?;

    println!("\n=== 2. WebSocket: one request, a 101, then both sides write whenever they like ===\n");
    upgrade(addr, &handle.io)?;

    if serve {
        println!("\nServing on http://{addr}/ (Ctrl+C to stop). In a second terminal: curl -i http://{addr}/");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    handle.shutdown()
}

/// `GET /` by hand: the request, the response, and the end of the connection.
fn plain_get(addr: SocketAddr) -> std::io::Result<()> {
    // No read timeout (see the header): a blocking read waits for the server.
    let mut tcp = TcpStream::connect(addr)?;
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    show("client → server", request.as_bytes());
    tcp.write_all(request.as_bytes())?;

    // `Connection: close`: reading to the end returns once the server hangs up.
    let mut response = Vec::new();
    tcp.read_to_end(&mut response)?;
    show("server → client", &response);
    println!("(read returned 0: the server closed the connection. A new question needs a new request.)");
    Ok(())
}

/// An upgrade by hand, the first frame as raw bytes, then messages both ways.
fn upgrade(addr: SocketAddr, io: &wshub::Io) -> std::io::Result<()> {
    let mut tcp = TcpStream::connect(addr)?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    show("client → server", request.as_bytes());
    tcp.write_all(request.as_bytes())?;

    // Read the response head byte by byte, so no frame byte is read by mistake.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    show("server → client", &head);

    // The server speaks first, without being asked: a text frame, unmasked.
    let mut header = [0u8; 2];
    tcp.read_exact(&mut header)?;
    let mut payload = vec![0u8; usize::from(header[1] & 0x7f)]; // short frame: length fits in 7 bits
    tcp.read_exact(&mut payload)?;
    println!("--- server → client: a frame, {} bytes on the wire", 2 + payload.len());
    println!("    header  {:02x} {:02x}   (FIN + text opcode, length {})", header[0], header[1], payload.len());
    println!("    payload {}", String::from_utf8_lossy(&payload));

    // From here tungstenite does the framing (chapter 03 shows the bytes).
    let mut ws = WebSocket::from_raw_socket(tcp, Role::Client, None);
    ws.send(Message::text(r#"{"event":"client-message","data":"hi"}"#)).map_err(std::io::Error::other)?;
    println!("--- client → server: {{\"event\":\"client-message\",\"data\":\"hi\"}}");
    println!("--- server → client: {}", next_text(&mut ws)?);

    // Another thread of the server pushes on the same connection: no request involved.
    io.emit("news", "pushed by the server, nobody asked");
    println!("--- server → client: {}", next_text(&mut ws)?);

    ws.close(None).map_err(std::io::Error::other)?;
    while ws.read().is_ok() {} // until the server's Close reply ends the connection
    println!("(the connection stayed open until the client closed it)");
    Ok(())
}

fn next_text(ws: &mut WebSocket<TcpStream>) -> std::io::Result<String> {
    loop {
        match ws.read().map_err(std::io::Error::other)? {
            Message::Text(text) => return Ok(text.to_string()),
            _ => continue,
        }
    }
}

/// Prints bytes as text, making the CR LF line ends visible.
fn show(direction: &str, bytes: &[u8]) {
    println!("--- {direction}: {} bytes", bytes.len());
    for line in String::from_utf8_lossy(bytes).split_inclusive("\r\n") {
        println!("    {}", line.replace("\r\n", "\\r\\n"));
    }
}
