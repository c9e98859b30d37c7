//! Chapter 02: the handshake. Computes `Sec-WebSocket-Accept` step by step,
//! checks it against the server's 101, then shows the server's refusals.
//!
//! ```sh
//! cargo run --example 02_handshake              # prints every step and exits
//! cargo run --example 02_handshake -- --serve   # ... then keeps serving on port 3000
//! ```
//! With `--serve`, in a second terminal (curl sends no Origin header):
//! ```sh
//! curl -i http://127.0.0.1:3000/ws                                   # 426 Upgrade Required
//! curl -i -N -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' \
//!      -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:3000/ws   # 101, then Ctrl+C
//! ```
//! Step through it: break on `wshub::http::handshake::route` (src/http/handshake.rs) and
//! `wshub::http::handshake::accept_response`.
//!
//! The example's client waits for every answer without a timeout: the server is in this
//! process and always answers, and a debugger may hold it at a breakpoint as long as you like.
//! (A read with a timeout would fail with `Interrupted system call` after such a stop.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use wshub::Server;

/// The fixed string RFC 6455 (section 1.3) appends to every key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn main() -> std::io::Result<()> {
    let serve = std::env::args().any(|a| a == "--serve");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let server = Server::builder().allow_origin("http://127.0.0.1:5500").bind(("127.0.0.1", port))?;
    server.on_connection(|socket| socket.emit("server-message", "Welcome to WebSocket"));
    let handle = server.spawn()?;
    let addr = handle.local_addr;

    println!("=== The client's key: 16 random bytes, base64 ===");
    let key = base64(&random_16_bytes());
    println!("Sec-WebSocket-Key:    {key}");

    println!("\n=== What the server must answer ===");
    let expected = accept_key(&key);
    // The same computation by tungstenite, which the server uses.
    assert_eq!(expected, tungstenite::handshake::derive_accept_key(key.as_bytes()));
    println!("tungstenite agrees:   {expected}");

    println!("\n=== The real exchange ===");
    let response = send(addr, &upgrade_request(addr, &key, &[]))?;
    print_response(&response);
    let answered = header(&response, "Sec-WebSocket-Accept").unwrap_or_default();
    println!("server's accept:      {answered}");
    println!("ours:                 {expected}");
    println!("{}", if answered == expected { "MATCH: the server understood our key" } else { "MISMATCH" });

    println!("\n=== Refusals: a real HTTP answer for every bad request ===");
    let refusals = [
        ("no Sec-WebSocket-Key header", upgrade_request(addr, "", &[])),
        ("a page on another site (Origin)", upgrade_request(addr, &key, &["Origin: http://evil.example"])),
        ("plain HTTP on the WebSocket path", format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\n\r\n")),
        ("an old protocol version", upgrade_request(addr, &key, &[]).replace("Version: 13", "Version: 8")),
    ];
    for (what, request) in refusals {
        println!("\n--- {what}:");
        print_response(&send(addr, &request)?);
    }

    if serve {
        println!("\nServing on {addr} (Ctrl+C to stop). Try: curl -i http://{addr}/ws");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    handle.shutdown()
}

// ANCHOR: accept_key
/// `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)), printing each step.
fn accept_key(key: &str) -> String {
    let joined = format!("{key}{GUID}");
    println!("1. key + GUID:        {joined}");
    let digest = sha1(joined.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("2. SHA-1 (20 bytes):  {hex}");
    let accept = base64(&digest);
    println!("3. base64:            {accept}");
    accept
}
// ANCHOR_END: accept_key

/// SHA-1 (FIPS 180-4), written out. Never use it for security: the handshake
/// uses it only to prove that the server read the key.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    // Padding: a 1 bit, zeros, then the length in bits, to a multiple of 64 bytes.
    let mut data = message.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());

    for block in data.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with `=` padding: every 3 bytes become 4 characters.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = (u32::from(group[0]) << 16)
            | (u32::from(*group.get(1).unwrap_or(&0)) << 8)
            | u32::from(*group.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// 16 bytes that differ on every run (from the standard library's random hash keys).
fn random_16_bytes() -> [u8; 16] {
    use std::hash::{BuildHasher, RandomState};
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&RandomState::new().hash_one(1u8).to_le_bytes());
    bytes[8..].copy_from_slice(&RandomState::new().hash_one(2u8).to_le_bytes());
    bytes
}

/// An upgrade request; an empty `key` leaves the header out.
fn upgrade_request(addr: SocketAddr, key: &str, extra: &[&str]) -> String {
    let mut request =
        format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
    if !key.is_empty() {
        request.push_str(&format!("Sec-WebSocket-Key: {key}\r\n"));
    }
    for line in extra {
        request.push_str(&format!("{line}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// Sends a request and returns the response head (and body, for refusals).
fn send(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    // No read timeout (see the header): a blocking read waits for the server.
    let mut tcp = TcpStream::connect(addr)?;
    tcp.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    // A refusal ends with the server closing; a 101 keeps the connection open,
    // so stop at the end of its head.
    loop {
        let n = match tcp.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue, // a signal: read again
            Err(e) => return Err(e),
        };
        response.extend_from_slice(&buf[..n]);
        if n == 0 || (response.starts_with(b"HTTP/1.1 101") && response.windows(4).any(|w| w == b"\r\n\r\n")) {
            break;
        }
    }
    if response.starts_with(b"HTTP/1.1 101") {
        // Keep the head only: the welcome frame may have come in the same read.
        let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
        response.truncate(end);
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn header(response: &str, name: &str) -> Option<String> {
    response.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn print_response(response: &str) {
    for line in response.trim_end().lines() {
        println!("    {line}");
    }
}
