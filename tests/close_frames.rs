//! Every Close frame wshub sends is a valid control frame, on every path
//! that sends one: at most 125 bytes of payload (RFC 6455 §5.5), a code a
//! server may send, a reason that is whole UTF-8. A reason may quote what
//! the client sent (a broken socket.io packet); it is cut to 123 bytes at a
//! character boundary, so a strict client never sees an "invalid payload
//! length".
//!
//! The client here is strict by hand: it reads every frame header itself
//! and fails on anything RFC 6455 forbids a server to send (masked frames,
//! reserved bits, fragmented or oversized control frames), instead of
//! trusting a library to be as strict.
mod common;
mod raw;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use serde_json::Value;
use wshub::{Server, ServerBuilder, ServerHandle, Socket};

/// A frame as it came off the wire.
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

/// A WebSocket client that checks every frame the server sends. See the
/// [module docs](self).
struct Strict {
    stream: TcpStream,
    /// Answer Engine.IO pings (`2`) with pongs (`3`), as a live socket.io client does.
    answer_pings: bool,
}

impl Strict {
    /// Upgrades `path` by hand.
    fn connect(addr: SocketAddr, path: &str) -> Strict {
        Strict { stream: raw::upgrade(addr, path), answer_pings: true }
    }

    /// A socket.io WebSocket session: after its open packet.
    fn socketio(addr: SocketAddr) -> Strict {
        let mut client = Strict::connect(addr, "/socket.io/?EIO=4&transport=websocket");
        assert!(client.text().starts_with("0{"), "the open packet comes first");
        client
    }

    /// A socket.io session joined to `/`.
    fn socketio_joined(addr: SocketAddr) -> Strict {
        let mut client = Strict::socketio(addr);
        client.send_text("40");
        assert!(client.text().starts_with("40{\"sid\":"));
        client
    }

    fn send_text(&mut self, text: &str) {
        let _ = self.stream.write_all(&raw::frame(0x81, text.as_bytes()));
    }

    /// The next frame, checked.
    fn frame(&mut self) -> Frame {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).expect("a frame header");
        assert_eq!(head[0] & 0x70, 0, "reserved bits set: {:#04x}", head[0]);
        assert_eq!(head[1] & 0x80, 0, "a server frame must not be masked");
        let opcode = head[0] & 0x0F;
        let fin = head[0] & 0x80 != 0;
        let len = match head[1] & 0x7F {
            126 => {
                let mut n = [0u8; 2];
                self.stream.read_exact(&mut n).unwrap();
                u16::from_be_bytes(n) as usize
            }
            127 => {
                let mut n = [0u8; 8];
                self.stream.read_exact(&mut n).unwrap();
                u64::from_be_bytes(n) as usize
            }
            n => n as usize,
        };
        if opcode >= 0x8 {
            assert!(fin, "a control frame (opcode {opcode:#x}) must not be fragmented");
            assert!(len <= 125, "a control frame (opcode {opcode:#x}) of {len} bytes: the limit is 125");
        }
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).expect("the frame's payload");
        Frame { opcode, payload }
    }

    /// The next text frame (answering Engine.IO pings if asked; pings and
    /// pongs of WebSocket itself are skipped).
    fn text(&mut self) -> String {
        loop {
            let frame = self.frame();
            match frame.opcode {
                0x1 => {
                    let text = String::from_utf8(frame.payload).expect("UTF-8 text");
                    if text == "2" && self.answer_pings {
                        self.send_text("3");
                        continue;
                    }
                    return text;
                }
                0x9 | 0xA => continue,
                other => panic!("expected a text frame, got opcode {other:#x}"),
            }
        }
    }

    /// Reads until the server's Close, checks it, answers it and reads to
    /// the end of the connection. Returns the code and the reason.
    fn close(&mut self) -> (u16, String) {
        let (code, reason) = loop {
            let frame = self.frame();
            match frame.opcode {
                0x8 => break check_close(&frame.payload),
                0x1 if self.answer_pings && frame.payload == b"2" => self.send_text("3"),
                0x0..=0x2 | 0x9 | 0xA => continue,
                other => panic!("opcode {other:#x} is not defined"),
            }
        };
        let mut reply = code.to_be_bytes().to_vec();
        reply.extend_from_slice(b"ok");
        let _ = self.stream.write_all(&raw::frame(0x88, &reply));
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "{} bytes after the Close", rest.len()),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        (code, reason)
    }
}

/// A Close payload: nothing, or a code a server may send and a UTF-8
/// reason of at most 123 bytes.
fn check_close(payload: &[u8]) -> (u16, String) {
    assert_ne!(payload.len(), 1, "a Close payload of one byte");
    assert!(payload.len() >= 2, "wshub always says why it closes");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    let may_send = matches!(code, 1000..=1003 | 1007..=1011 | 1013 | 3000..=4999);
    assert!(may_send, "close code {code} may not be sent");
    let reason = std::str::from_utf8(&payload[2..]).expect("the reason is whole UTF-8").to_string();
    assert!(reason.len() <= 123);
    (code, reason)
}

/// A server with the handlers these tests need, for `/ws` and socket.io:
/// a greeting on connect, `panic` panics, `disconnect-me` disconnects.
fn start_with(builder: ServerBuilder) -> ServerHandle {
    start(builder, |socket: &Socket| {
        socket.emit("hello", ());
        socket.on("panic", |_, _| panic!("a handler that panics (on purpose)"));
        socket.on("disconnect-me", |socket, _| socket.disconnect());
    })
}

fn start_plain() -> ServerHandle {
    start_with(Server::builder())
}

// ---------------------------------------------------------------- socket.io ----

/// A broken socket.io packet is quoted in the close reason: an invalid ack
/// id followed by 60 four-byte characters makes a reason far over 123
/// bytes, which is cut at a character boundary close to the limit.
#[test]
fn socketio_invalid_ack_id_gets_a_cut_reason() {
    let server = start_plain();
    let mut client = Strict::socketio_joined(server.local_addr);
    client.send_text(&format!("42abc[\"{}\"]", "😀".repeat(60)));
    let (code, reason) = client.close();
    assert_eq!(code, 1002);
    assert!(reason.starts_with("invalid Socket.IO packet"), "{reason}");
    assert!((120..=123).contains(&reason.len()), "cut near the limit, not emptied: {} bytes", reason.len());
}

/// An Engine.IO packet of unknown type: 1002.
#[test]
fn engineio_unknown_packet_type_gets_1002() {
    let server = start_plain();
    let mut client = Strict::socketio_joined(server.local_addr);
    client.send_text(&format!("x{}", "é".repeat(200)));
    assert_eq!(client.close().0, 1002);
}

/// A socket.io message over maxPayload: 1009.
#[test]
fn socketio_oversize_message_gets_1009() {
    let server = start_with(Server::builder().socketio_max_payload(1000));
    let mut client = Strict::socketio_joined(server.local_addr);
    client.send_text(&format!("42[\"m\",\"{}\"]", "x".repeat(2000)));
    assert_eq!(client.close().0, 1009);
}

/// A socket.io handler that panics: 1011.
#[test]
fn socketio_handler_panic_gets_1011() {
    let server = start_plain();
    let mut client = Strict::socketio_joined(server.local_addr);
    client.send_text(r#"42["panic"]"#);
    assert_eq!(client.close(), (1011, "handler panicked".into()));
}

/// A client that stops answering pings: 1000 "ping timeout"; one that
/// answers but never joins a namespace: 1000 "connect timeout".
#[test]
fn socketio_ping_and_connect_timeouts_get_1000() {
    let builder = Server::builder()
        .socketio_ping(Duration::from_millis(100), Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(300));
    let server = start_with(builder);
    let mut silent = Strict::socketio_joined(server.local_addr);
    silent.answer_pings = false;
    assert_eq!(silent.close(), (1000, "ping timeout".into()));
    let mut idle = Strict::socketio(server.local_addr);
    assert_eq!(idle.close(), (1000, "connect timeout".into()));
}

/// Shutdown: 1001 to socket.io and `/ws` clients alike.
#[test]
fn shutdown_gets_1001() {
    let server = start_plain();
    let mut sio = Strict::socketio_joined(server.local_addr);
    let mut ws = Strict::connect(server.local_addr, "/ws");
    let addr = server.local_addr;
    let stopping = std::thread::spawn(move || server.shutdown());
    assert_eq!(sio.close(), (1001, "server shutting down".into()));
    assert_eq!(ws.close(), (1001, "server shutting down".into()));
    stopping.join().unwrap().expect("shutdown");
    assert!(TcpStream::connect(addr).is_err());
}

/// The probing WebSocket of an upgrade: a packet other than `2probe` or
/// `5` gets 1002; a second probe while one is open, and a WebSocket for a
/// session already upgraded, get 1008.
#[test]
fn probe_refusals_get_valid_closes() {
    let server = start_plain();
    let addr = server.local_addr;
    let sid = polling_session(addr);
    let probe = format!("/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let mut wrong = Strict::connect(addr, &probe);
    wrong.send_text(r#"42["not yet"]"#);
    assert_eq!(wrong.close().0, 1002);

    let mut first = Strict::connect(addr, &probe);
    first.send_text("2probe");
    assert_eq!(first.text(), "3probe");
    let mut meanwhile = Strict::connect(addr, &probe);
    assert_eq!(meanwhile.close(), (1008, "an upgrade is already in progress".into()));
    first.send_text("5");
    first.send_text("40");
    assert!(first.text().starts_with("40{\"sid\":"), "upgraded: the session answers over WebSocket");
    let mut second = Strict::connect(addr, &probe);
    assert_eq!(second.close().0, 1008);
}

/// A polling session's id (handshake only).
fn polling_session(addr: SocketAddr) -> String {
    let request =
        format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let response = raw_request(addr, request.as_bytes());
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    let open: Value = serde_json::from_str(body.strip_prefix('0').expect("open packet")).expect("JSON");
    open["sid"].as_str().expect("sid").to_string()
}

// ---------------------------------------------------------------- /ws ----

/// Protocol errors on `/ws`: an unknown opcode (1002), invalid UTF-8 in a
/// text frame (1007), a frame over the size limit (1009).
#[test]
fn ws_protocol_errors_get_valid_closes() {
    let server = start_with(Server::builder().max_message_size(1000));
    let cases: [(Vec<u8>, u16); 3] = [
        (raw::frame(0x83, b"opcode 3 is reserved"), 1002),
        (raw::frame(0x81, &[0xC3, 0x28]), 1007),
        (raw::frame(0x82, &[0u8; 2000]), 1009),
    ];
    for (bytes, expected) in cases {
        let mut client = Strict::connect(server.local_addr, "/ws");
        client.stream.write_all(&bytes).unwrap();
        assert_eq!(client.close().0, expected);
    }
}

/// A `/ws` handler that panics: 1011; `disconnect()`: 1000.
#[test]
fn ws_handler_panic_and_disconnect() {
    let server = start_plain();
    let mut panicking = Strict::connect(server.local_addr, "/ws");
    panicking.send_text(r#"{"event":"panic","data":null}"#);
    assert_eq!(panicking.close(), (1011, "handler panicked".into()));
    let mut leaving = Strict::connect(server.local_addr, "/ws");
    leaving.send_text(r#"{"event":"disconnect-me","data":null}"#);
    assert_eq!(leaving.close(), (1000, "server disconnect".into()));
}

/// A `/ws` client that never answers pings: 1001 "heartbeat timeout".
#[test]
fn ws_heartbeat_timeout_gets_1001() {
    let server = start_with(Server::builder().heartbeat(Duration::from_millis(100), Duration::from_millis(300)));
    let mut client = Strict::connect(server.local_addr, "/ws");
    assert_eq!(client.close(), (1001, "heartbeat timeout".into()));
}

/// The hub's 1013: a `/ws` client that stops reading while a burst fills
/// its socket and its backlog. Its frames so far, then the Close.
#[test]
fn slow_client_gets_1013() {
    let minute = Duration::from_secs(60);
    let builder = Server::builder()
        .backlog_capacity(8)
        .slow_client_timeout(Duration::from_millis(100))
        .heartbeat(minute, 2 * minute);
    let server = start_with(builder);
    let mut client = Strict::connect(server.local_addr, "/ws");
    // Registered with the hub before its greeting.
    assert!(client.text().contains("hello"));
    let pad = "x".repeat(64 * 1024);
    for n in 0..(4 * send_buffer_limit() / pad.len()).max(64) {
        server.io.emit("tick", (n, &pad));
    }
    let code = loop {
        let frame = client.frame();
        if frame.opcode == 0x8 {
            break check_close(&frame.payload).0;
        }
    };
    assert_eq!(code, 1013);
}
