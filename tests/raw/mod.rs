//! Helpers for the hostile-input and fault tests: hand-made frames and
//! handshakes, resets, and what the process costs (threads, memory).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

/// Tests that count threads or memory take this lock, so that the other tests
/// of the same binary (which run in parallel) do not change the figures.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads of this process whose name starts with `conn-` (connection and
/// reader threads; Linux shows the name in /proc/self/task/*/comm).
pub fn conn_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("conn-"))
        .count()
}

/// Resident memory of this process in KiB (VmRSS of /proc/self/status).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Drops `stream` with SO_LINGER 0: the kernel sends RST instead of FIN.
pub fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// A valid upgrade request for `path`.
pub fn upgrade_head(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// Upgrades a raw TCP connection by hand and returns it right after the 101,
/// so that a test can write any bytes it likes.
pub fn upgrade(addr: SocketAddr, path: &str) -> TcpStream {
    upgrade_stream(TcpStream::connect(addr).expect("connect"), path)
}

/// Sends a valid upgrade request on `stream` and reads the 101.
pub fn upgrade_stream(mut stream: TcpStream, path: &str) -> TcpStream {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(upgrade_head(path).as_bytes()).unwrap();
    // Read byte by byte up to the blank line, so no frame byte is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("read the 101"), 1, "closed during the handshake");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    stream
}

/// A frame header as a client sends it (masked, mask key 0), with any first
/// byte (FIN, RSV bits, opcode) and any declared length.
pub fn header(first: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]); // mask key 0: the payload goes as it is
    out
}

/// A whole masked client frame: `first` byte, then `payload`.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(first, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// Turns a raw upgraded stream into a tungstenite client, to read what the
/// server sends back.
pub fn client(stream: TcpStream) -> WebSocket<TcpStream> {
    WebSocket::from_raw_socket(stream, Role::Client, None)
}

/// Reads until the server's Close frame and returns its code (None: a Close
/// without a code). Panics if the connection ends without a Close.
pub fn close_code(ws: &mut WebSocket<TcpStream>) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("expected a Close frame, got: {e}"),
        }
    }
}

/// Reads the server's frames straight off the socket until EOF, without
/// ever writing (a tungstenite client would answer pings, and fail once the
/// server is gone). Returns the opcodes of the frames and the Close code.
pub fn read_raw_frames(stream: &mut TcpStream) -> (Vec<u8>, Option<u16>) {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let (mut opcodes, mut code, mut at) = (Vec::new(), None, 0);
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0F;
        let (len, start) = match bytes[at + 1] & 0x7F {
            126 => (u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize, at + 4),
            127 => (u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize, at + 10),
            n => (n as usize, at + 2),
        };
        if opcode == 0x8 && len >= 2 {
            code = Some(u16::from_be_bytes([bytes[start], bytes[start + 1]]));
        }
        opcodes.push(opcode);
        at = start + len;
    }
    (opcodes, code)
}
