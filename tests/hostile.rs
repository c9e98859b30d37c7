//! Hostile input: every bad handshake gets an HTTP status with a reason, every
//! bad frame a Close code, quickly, and the connection's threads are gone
//! afterwards. Raw TCP wherever a well-behaved client library would refuse
//! to send such bytes.
mod common;
mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use raw::*;
use tungstenite::Message;
use wshub::{Server, ServerBuilder, ServerHandle};

/// Largest message the servers of this file accept.
const LIMIT: usize = 64 * 1024;

/// An echo server (raw frames back as they came) with a 64 KiB message limit.
fn echo_server(builder: ServerBuilder) -> ServerHandle {
    start(builder.max_message_size(LIMIT), |socket| socket.on_message(|socket, message| socket.send(message)))
}

/// Waits until the server has no connection threads left; fails otherwise.
fn assert_threads_gone() {
    assert!(wait_until(Duration::from_secs(10), || conn_threads() == 0), "{} conn threads left", conn_threads());
}

/// Each malformed or refused upgrade request gets its own status and a
/// one-line reason, within a fraction of a second, and leaves no thread.
#[test]
fn every_bad_handshake_gets_a_status_and_a_reason() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/ws").page("/", "<p>hi</p>"));
    let addr = server.local_addr;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let up = |extra: &str| format!("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n");
    let full = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not an upgrade", up(""), 426, "only speaks WebSocket"),
        ("wrong version", up(&format!("{}{key}", full.replace("13", "8"))), 426, "unsupported Sec-WebSocket-Version 8"),
        ("missing version", up(&format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{key}")), 426, "Version none"),
        ("missing key", up(full), 400, "missing Sec-WebSocket-Key"),
        ("short key", up(&format!("{full}Sec-WebSocket-Key: c2hvcnQ=\r\n")), 400, "16 bytes"),
        ("key not base64", up(&format!("{full}Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n")), 400, "16 bytes"),
        (
            "key without Upgrade",
            up(&format!("Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}")),
            400,
            "Upgrade: websocket",
        ),
        ("two keys", up(&format!("{full}{key}{key}")), 400, "more than one Sec-WebSocket-Key"),
        ("no Host", up(&format!("{full}{key}")).replacen("Host: 127.0.0.1\r\n", "", 1), 400, "Host"),
        (
            "missing Connection",
            up(&format!("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}")),
            400,
            "Connection",
        ),
        ("POST", up(&format!("{full}{key}")).replacen("GET", "POST", 1), 405, "must be a GET"),
        ("HTTP/1.0", up(&format!("{full}{key}")).replacen("HTTP/1.1", "HTTP/1.0", 1), 400, "HTTP/1.1"),
        ("foreign Origin", up(&format!("{full}{key}Origin: http://evil.example\r\n")), 403, "not allowed"),
        ("head over 8 KiB", up(&format!("X-Big: {}\r\n", "a".repeat(9000))), 431, "too large"),
        ("2000 header lines", up(&"X-A: b\r\n".repeat(2000)), 431, ""),
        ("request line that never ends", format!("GET /{}", "a".repeat(20_000)), 431, "too large"),
        ("not HTTP", "\x16\x03\x01\x02\x00\x01\x00\r\n\r\n".to_string(), 400, "malformed"),
        ("unknown path", "GET /nope HTTP/1.1\r\n\r\n".to_string(), 404, "/nope"),
    ];
    let mut failures = Vec::new();
    for (name, request, status, reason) in &cases {
        let started = Instant::now();
        let response = raw_request(addr, request.as_bytes());
        let took = started.elapsed();
        println!("{name:30} -> {:40} in {took:?}", response.lines().next().unwrap_or("(nothing)"));
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        if status_of(&response) != *status || !body.contains(reason) || body.trim().is_empty() {
            failures.push(format!("{name}: expected {status} '{reason}', got:\n{response}"));
        }
        if *status == 426 && !response.contains("Sec-WebSocket-Version: 13\r\n") {
            failures.push(format!("{name}: a 426 must say Sec-WebSocket-Version: 13"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_threads_gone();
}

/// A client over `max_clients` is refused by the listener itself with 503,
/// and the clients already connected are not disturbed.
#[test]
fn over_the_client_cap_gets_503() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/").max_clients(2));
    let mut a = connect_with(server.local_addr, "/", &[]).unwrap();
    let _b = connect_with(server.local_addr, "/", &[]).unwrap();
    let response = raw_request(server.local_addr, upgrade_head("/").as_bytes());
    assert_eq!(status_of(&response), 503, "{response}");
    assert!(response.contains("too many clients"), "{response}");
    a.ws.send(Message::text("still here")).unwrap();
    assert_eq!(a.recv(), Message::text("still here"));
}

/// A client that sends part of its request and then goes quiet gets 408 at
/// the handshake deadline, and its thread ends.
#[test]
fn a_request_that_stops_halfway_gets_408_at_the_deadline() {
    let _serial = serial();
    let server = echo_server(Server::builder().handshake_timeout(Duration::from_millis(300)));
    let started = Instant::now();
    let response = raw_request(server.local_addr, b"GET /ws HTTP/1.1\r\nHost: x");
    println!("408 after {:?}", started.elapsed());
    assert_eq!(status_of(&response), 408, "{response}");
    assert!(response.contains("not received in time"));
    assert_threads_gone();
}

/// FIN or RST in the middle of a request head: nobody to answer, so no
/// answer; the thread ends and the server goes on serving.
#[test]
fn fin_or_rst_during_the_handshake() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/"));
    let request = upgrade_head("/");
    let partial = &request.as_bytes()[..40];
    for rst in [false, true] {
        let mut stream = TcpStream::connect(server.local_addr).unwrap();
        stream.write_all(partial).unwrap();
        if rst {
            reset(stream);
        } else {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
            assert!(rest.is_empty(), "no answer expected, got {}", String::from_utf8_lossy(&rest));
        }
    }
    assert_threads_gone();
    let mut client = connect_with(server.local_addr, "/", &[]).unwrap();
    client.ws.send(Message::text("ok")).unwrap();
    assert_eq!(client.recv(), Message::text("ok"));
}

/// Sends `bytes` on a fresh upgraded connection and returns the Close code
/// the server answers with.
fn close_code_for(server: &ServerHandle, bytes: &[u8]) -> Option<u16> {
    let mut stream = upgrade(server.local_addr, "/");
    stream.write_all(bytes).unwrap();
    close_code(&mut client(stream))
}

/// Frames that break RFC 6455 get the Close code the RFC asks for: 1002 for
/// protocol errors, 1007 for a text message that is not UTF-8, 1009 for a
/// message over the limit.
#[test]
fn bad_frames_get_the_right_close_code() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/"));
    let mut unmasked = frame(0x81, b"hello");
    unmasked[1] &= 0x7F; // clear the MASK bit (and drop the key below)
    unmasked.drain(2..6);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked client frame", unmasked, 1002),
        ("RSV1 without an extension", frame(0xC1, b"x"), 1002),
        ("RSV2", frame(0xA1, b"x"), 1002),
        ("RSV3", frame(0x91, b"x"), 1002),
        ("reserved data opcode 3", frame(0x83, b"x"), 1002),
        ("reserved control opcode 0xB", frame(0x8B, b""), 1002),
        ("continuation without a start", frame(0x80, b"x"), 1002),
        ("fragmented ping", frame(0x09, b""), 1002),
        ("ping over 125 bytes", frame(0x89, &[0; 126]), 1002),
        ("invalid UTF-8 in text", frame(0x81, &[0x68, 0xFF, 0xFE]), 1007),
        ("invalid UTF-8 across fragments", [frame(0x01, &[0xCE]), frame(0x80, &[0x41])].concat(), 1007),
        ("frame over the limit", header(0x82, LIMIT as u64 + 1), 1009),
        ("frame declaring 1 TiB", header(0x82, 1 << 40), 1009),
        ("fragments over the limit", [frame(0x02, &vec![0; LIMIT]), frame(0x80, b"x")].concat(), 1009),
    ];
    let mut failures = Vec::new();
    for (name, bytes, expected) in cases {
        let started = Instant::now();
        let code = close_code_for(&server, &bytes);
        println!("{name:32} -> close {code:?} in {:?}", started.elapsed());
        if code != Some(expected) {
            failures.push(format!("{name}: expected {expected}, got {code:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_threads_gone();
}

/// A header that announces 1 TiB is refused from the header alone: the
/// server never reserves the memory, even when the client keeps sending.
#[test]
fn a_frame_declaring_one_tebibyte_keeps_memory_flat() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/"));
    let before = rss_kib();
    let mut stream = upgrade(server.local_addr, "/");
    stream.write_all(&header(0x82, 1 << 40)).unwrap();
    // Keep sending payload for a while; the server discards it, then closes.
    stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..256 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut client(stream)), Some(1009));
    let after = rss_kib();
    println!("RSS before {before} KiB, after {after} KiB");
    assert!(after < before + 32 * 1024, "RSS grew from {before} to {after} KiB");
    assert_threads_gone();
}

/// A message sent as 10,000 one-byte fragments is put back together and
/// echoed whole.
#[test]
fn ten_thousand_one_byte_fragments() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/"));
    let mut stream = upgrade(server.local_addr, "/");
    let mut bytes = frame(0x02, b"a"); // binary, not final
    for i in 1..10_000 {
        let fin = if i == 9_999 { 0x80 } else { 0 };
        bytes.extend(frame(fin, b"a"));
    }
    let started = Instant::now();
    stream.write_all(&bytes).unwrap();
    let mut ws = client(stream);
    match ws.read().expect("the echo") {
        Message::Binary(data) => assert_eq!(&data[..], &[b'a'; 10_000][..]),
        other => panic!("expected the echo, got {other:?}"),
    }
    println!("10,000 fragments echoed in {:?}", started.elapsed());
}

/// A client that floods pings and never reads the pongs: the server's
/// writes stall, and after the write timeout it drops the client. Memory
/// stays bounded meanwhile (tungstenite keeps at most one pending pong).
#[test]
fn a_ping_flood_without_reading_is_dropped_with_bounded_memory() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/").write_timeout(Duration::from_millis(500)));
    let before = rss_kib();
    let mut stream = upgrade(server.local_addr, "/");
    stream.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let ping = frame(0x89, &[b'p'; 125]);
    let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 64).collect();
    let started = Instant::now();
    let mut sent = 0u64;
    let mut peak = before;
    let ended = loop {
        match stream.write_all(&burst) {
            Ok(()) => sent += 64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {} // stalled: keep pushing
            Err(_) => break true,                                      // the server dropped us
        }
        peak = peak.max(rss_kib());
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
    };
    println!("{sent} pings sent; dropped: {ended} after {:?}; RSS {before} -> peak {peak} KiB", started.elapsed());
    assert!(ended, "the server never dropped a client that does not read");
    assert!(peak < before + 32 * 1024, "RSS grew from {before} to {peak} KiB");
    assert_threads_gone();
}

/// FIN or RST in the middle of a frame ends only that connection, without
/// a close handshake; the threads end and others are served.
#[test]
fn fin_or_rst_in_the_middle_of_a_frame() {
    let _serial = serial();
    let server = echo_server(Server::builder().ws_path("/"));
    let half = &frame(0x82, &[7; 1000])[..500];
    for rst in [false, true] {
        let mut stream = upgrade(server.local_addr, "/");
        stream.write_all(half).unwrap();
        if rst {
            reset(stream);
        } else {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest); // the server closes its side too
        }
    }
    assert_threads_gone();
    let mut client = connect_with(server.local_addr, "/", &[]).unwrap();
    client.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(client.recv(), Message::binary(vec![1, 2, 3]));
}

// ---- socket.io binary attachments ----

/// A socket.io server whose `file` event echoes its arguments (binary
/// attachments included) as `file-back`.
fn attachment_server(builder: ServerBuilder) -> ServerHandle {
    start(builder, |socket| socket.on("file", |socket, data| socket.emit("file-back", data)))
}

/// A raw socket.io client over WebSocket, joined to `/`.
fn sio_joined(addr: std::net::SocketAddr) -> common::Client {
    let mut client = connect_with(addr, "/socket.io/?EIO=4&transport=websocket", &[]).expect("upgrade");
    assert!(client.recv().into_text().unwrap().starts_with("0{"), "the open packet first");
    client.ws.send(Message::text("40")).unwrap();
    assert!(client.recv().into_text().unwrap().starts_with("40{"), "joined");
    client
}

/// The text of a BINARY_EVENT `file` with `n` placeholders.
fn binary_event(n: usize) -> String {
    let placeholders: Vec<String> = (0..n).map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#)).collect();
    format!(r#"45{n}-["file",{}]"#, placeholders.join(","))
}

/// Reads until the server's Close (answering Engine.IO pings) and returns
/// its code and reason.
fn sio_close(client: &mut common::Client) -> (u16, String) {
    loop {
        match client.ws.read() {
            Ok(Message::Close(Some(frame))) => return (frame.code.into(), frame.reason.to_string()),
            Ok(Message::Text(t)) if t.as_str() == "2" => client.ws.send(Message::text("3")).unwrap(),
            Ok(_) => continue,
            Err(e) => panic!("expected a Close frame, got: {e}"),
        }
    }
}

/// A packet may announce at most `max_attachments` (10 by default, as in
/// Node's socket.io-parser) binary attachments: one that announces more is
/// refused at once, before any attachment is held, with close 1009 and the
/// reason. Up to the limit, attachments are put back and echoed. A binary
/// message no packet announced is a protocol error: 1002.
#[test]
fn too_many_attachments_get_1009() {
    let server = attachment_server(Server::builder());
    let addr = server.local_addr;
    let mut client = sio_joined(addr);
    client.ws.send(Message::text(binary_event(11))).unwrap();
    let (code, reason) = sio_close(&mut client);
    println!("11 attachments -> close {code} ({reason})");
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("11 attachments") && reason.contains("10"), "{reason}");

    let mut client = sio_joined(addr);
    client.ws.send(Message::text(binary_event(10))).unwrap();
    for i in 0..10u8 {
        client.ws.send(Message::binary(vec![i])).unwrap();
    }
    assert!(client.recv().into_text().unwrap().starts_with(r#"4510-["file-back""#));
    for i in 0..10u8 {
        assert_eq!(client.recv(), Message::binary(vec![i]));
    }

    let mut client = sio_joined(addr);
    client.ws.send(Message::binary(vec![1])).unwrap();
    assert_eq!(sio_close(&mut client).0, 1002);

    let server = attachment_server(Server::builder().socketio_max_attachments(2));
    let mut client = sio_joined(server.local_addr);
    client.ws.send(Message::text(binary_event(3))).unwrap();
    assert_eq!(sio_close(&mut client).0, 1009);
}

/// The attachments of one unfinished packet may hold at most maxPayload
/// bytes together: the attachment that goes over it closes the session with
/// 1009 and the reason, and the memory is let go. Before this bound, one
/// connection could hold 256 attachments of 1 MB each for as long as it
/// answered pings.
#[test]
fn attachments_over_max_payload_get_1009_and_memory_stays_flat() {
    let _serial = serial();
    let server = attachment_server(Server::builder());
    let addr = server.local_addr;
    // Two of 400 KB fit in maxPayload (1,000,000 bytes).
    let mut client = sio_joined(addr);
    client.ws.send(Message::text(binary_event(2))).unwrap();
    client.ws.send(Message::binary(vec![1; 400_000])).unwrap();
    client.ws.send(Message::binary(vec![2; 400_000])).unwrap();
    assert!(client.recv().into_text().unwrap().starts_with("452-[\"file-back\""));
    assert_eq!(client.recv(), Message::binary(vec![1; 400_000]));
    assert_eq!(client.recv(), Message::binary(vec![2; 400_000]));
    client.close();

    // Four connections each announce 10 attachments and send 999,000 bytes
    // in each (one buffer, shared: the client's own memory stays flat).
    let attachment = tungstenite::Bytes::from(vec![7u8; 999_000]);
    let before = rss_kib();
    let mut sent = Vec::new();
    for _ in 0..4 {
        let mut client = sio_joined(addr);
        client.ws.send(Message::text(binary_event(10))).unwrap();
        let mut accepted = 0;
        for _ in 0..10 {
            if client.ws.send(Message::Binary(attachment.clone())).is_err() {
                break;
            }
            accepted += 1;
        }
        let (code, reason) = sio_close(&mut client);
        assert_eq!(code, 1009, "{reason}");
        assert!(reason.contains("maxPayload"), "{reason}");
        sent.push(accepted);
    }
    let after = rss_kib();
    println!("attachments sent before the close: {sent:?}; RSS {before} -> {after} KiB");
    // Held until complete, the 40 attachments would be 40 MB.
    assert!(after < before + 24 * 1024, "RSS grew from {before} to {after} KiB");
    assert_threads_gone();
}

/// Over HTTP long-polling the same limits end the session: the POST that
/// goes over gets 400 with the reason, and the session is gone.
#[test]
fn attachment_limits_over_polling() {
    let server = attachment_server(Server::builder());
    let addr = server.local_addr;
    let request = |method: &str, sid: &str, body: &str| {
        let query = if sid.is_empty() { String::new() } else { format!("&sid={sid}") };
        raw_request(
            addr,
            format!(
                "{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n\
                 Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let body_of = |response: &str| response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    let open: serde_json::Value = serde_json::from_str(&body_of(&request("GET", "", ""))[1..]).expect("open packet");
    let sid = open["sid"].as_str().expect("a sid").to_string();
    assert_eq!(body_of(&request("POST", &sid, "40")), "ok");
    let response = request("POST", &sid, &binary_event(11));
    println!("POST of 11 attachments -> {}", response.lines().next().unwrap_or(""));
    assert_eq!(status_of(&response), 400, "{response}");
    assert!(body_of(&response).contains("11 attachments"), "{response}");
    assert_eq!(status_of(&request("GET", &sid, "")), 400, "the session is gone");

    // Two attachments of 600,000 bytes (`b` + base64, one POST each): the
    // second goes over maxPayload.
    let open: serde_json::Value = serde_json::from_str(&body_of(&request("GET", "", ""))[1..]).expect("open packet");
    let sid = open["sid"].as_str().expect("a sid").to_string();
    assert_eq!(body_of(&request("POST", &sid, &format!("40\x1e{}", binary_event(2)))), "ok");
    let attachment = format!("b{}", "A".repeat(800_000)); // 600,000 bytes once decoded
    assert_eq!(body_of(&request("POST", &sid, &attachment)), "ok");
    let response = request("POST", &sid, &attachment);
    println!("second POST of 600,000 attachment bytes -> {}", response.lines().next().unwrap_or(""));
    assert_eq!(status_of(&response), 400, "{response}");
    assert!(body_of(&response).contains("maxPayload"), "{response}");
    assert_eq!(status_of(&request("GET", &sid, "")), 400, "the session is gone");
}
