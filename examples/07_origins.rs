//! Chapter 07: origins. The same upgrade request sent with different `Origin`
//! headers, as different web pages' browsers would send it, and the server's
//! verdict for each.
//!
//! ```sh
//! cargo run --example 07_origins
//! ```
//! To see the browser's side, run `cargo run --example seed` and, in a second
//! terminal, serve a page from another port (e.g. `python3 -m http.server 5500`):
//! a page from http://127.0.0.1:5500 may connect, one from any other port gets 403.
//! The last two requests come from a DNS-rebinding page: the same-origin check
//! lets it in, the `allow_host` list does not.
//!
//! Step through it: break on `wshub::http::origin::OriginPolicy::check` (src/http/origin.rs).
//!
//! The example's client waits for every answer without a timeout: the server is in this
//! process and always answers, and a debugger may hold it at a breakpoint as long as you like.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use wshub::Server;

fn main() -> std::io::Result<()> {
    // Like the seed: the page at http://127.0.0.1:5500 is on the allow-list.
    let server = Server::builder().allow_origin("http://127.0.0.1:5500").bind(("127.0.0.1", 0))?;
    server.on_connection(|socket| socket.emit("server-message", "Welcome to WebSocket"));
    let handle = server.spawn()?;
    let addr = handle.local_addr;
    // New: the same, answering only the names it is really reached by.
    let guarded = Server::builder()
        .allow_origin("http://127.0.0.1:5500")
        .allow_host("127.0.0.1")
        .allow_host("localhost")
        .bind(("127.0.0.1", 0))?
        .spawn()?;

    let cases = [
        ("no Origin header (curl, a native app, a test)", None),
        ("a page served by this very server", Some(format!("http://{addr}"))),
        ("the listed page, http://127.0.0.1:5500", Some("http://127.0.0.1:5500".to_string())),
        ("a page on another site", Some("http://evil.example".to_string())),
        ("a page on the same host, another port", Some("http://127.0.0.1:5501".to_string())),
        ("a file:// page (browsers send \"null\")", Some("null".to_string())),
    ];
    for (who, origin) in cases {
        let status = upgrade_status(addr, &addr.to_string(), origin.as_deref())?;
        let origin = origin.map_or("(none)".to_string(), |o| format!("Origin: {o}"));
        println!("{status:<24} {who:<47} {origin}");
    }
    // A page on evil.example whose DNS name now points to this server: the
    // browser sends its own name in both headers.
    for (server, who) in
        [(addr, "a DNS-rebinding page"), (guarded.local_addr, "the same, with allow_host(\"127.0.0.1\")")]
    {
        let host = format!("evil.example:{}", server.port());
        let status = upgrade_status(server, &host, Some(&format!("http://{host}")))?;
        println!("{status:<24} {who:<47} Origin: http://{host}, Host: {host}");
    }
    guarded.shutdown()?;
    handle.shutdown()
}

/// Sends an upgrade request with this `Host` and `Origin` to `addr` and
/// returns the status line.
fn upgrade_status(addr: SocketAddr, host: &str, origin: Option<&str>) -> std::io::Result<String> {
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(origin) = origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    request.push_str("\r\n");
    // No read timeout (see the header): a blocking read waits for the server.
    let mut tcp = TcpStream::connect(addr)?;
    tcp.write_all(request.as_bytes())?;
    // The status line: read until its end (one read may bring less).
    let mut response = Vec::new();
    let mut buf = [0u8; 512];
    while !response.windows(2).any(|w| w == b"\r\n") {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue, // a signal: read again
            Err(e) => return Err(e),
        }
    }
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().trim_start_matches("HTTP/1.1 ").to_string())
}
