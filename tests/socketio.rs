//! socket.io v4 on `/socket.io/`: the real npm `socket.io-client` 4.8 against
//! wshub, and raw-protocol tests of the behaviours the official
//! `socketio/engine.io-protocol` and `socketio/socket.io-protocol` test
//! suites check (written anew for wshub).
//!
//! Every test starts the reference server of `examples/socketio_reference.rs`
//! in-process on port 0 (pingInterval 300 ms, pingTimeout 200 ms,
//! connectTimeout 1000 ms, `auth` echo, `message-back`, `message-with-ack`,
//! namespace `/custom`).
mod common;

#[allow(dead_code)]
#[path = "../examples/socketio_reference.rs"]
mod reference;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tungstenite::Message;
use wshub::{Server, ServerHandle};

/// The reference server, in-process on 127.0.0.1, port 0.
fn start_reference() -> ServerHandle {
    watchdog(240);
    let server = reference::builder().bind(("127.0.0.1", 0)).expect("bind");
    reference::install(&server);
    server.spawn().expect("spawn")
}

// ---------------------------------------------------------------- node ----

/// Runs `tests/socketio/features.mjs` over `transport` against a fresh
/// reference server and returns its output (`None`: node skipped). The
/// script exits non-zero on the first failed check, which fails the test.
fn features_over(transport: &str) -> Option<String> {
    if !node_ready() {
        return None;
    }
    let server = start_reference();
    let out = run_node("tests/socketio/features.mjs", &[&format!("http://{}", server.local_addr), transport]);
    assert!(out.contains("done"), "{out}");
    Some(out)
}

/// socket.io-client with its default transports: polling, then the upgrade
/// to WebSocket; then every feature of the reference server.
#[test]
fn client_default_transports_upgrade_and_every_feature() {
    let Some(out) = features_over("default") else { return };
    assert!(out.contains("ok - upgraded from polling to websocket"), "{out}");
}

/// socket.io-client with `transports: ["websocket"]`: the same features.
#[test]
fn client_websocket_only_every_feature() {
    let Some(out) = features_over("websocket") else { return };
    assert!(out.contains("ok - connected over websocket"), "{out}");
    assert!(out.contains("ok - an oversize message gets close 1009"), "{out}");
    assert!(out.contains("ok - a wrong auth.token is refused by check_connect: not authorized"), "{out}");
}

/// socket.io-client with `transports: ["polling"]`: every feature over HTTP
/// long-polling alone (binary as base64, pings in poll responses).
#[test]
fn client_polling_only_every_feature() {
    let Some(out) = features_over("polling") else { return };
    assert!(out.contains("ok - stays connected across 3 server pings"), "{out}");
}

/// Rooms and broadcasts mix protocols: a `/ws` client's emit to a room
/// reaches a socket.io client in it, and a socket.io client's broadcast
/// reaches the `/ws` client, through the same hub.
#[test]
fn rooms_and_broadcasts_mix_socketio_and_ws_clients() {
    if !node_ready() {
        return;
    }
    let server = start_reference();
    let mut ws = connect(server.local_addr);
    assert_eq!(ws.recv_event().0, "auth"); // the reference server greets /ws clients too
    let mut child = node("tests/socketio/rooms.mjs", &[&format!("http://{}", server.local_addr), "websocket"]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Bounded: the script prints `ready` or exits within 20 s.
    let ready = lines.by_ref().map_while(Result::ok).any(|line| line == "ready");
    assert!(ready, "rooms.mjs never got ready: {:?}", child.wait_with_output());

    ws.emit("to-room", json!({ "room": "r", "text": "hello room" }));
    let broadcast = loop {
        let (event, data) = ws.recv_event();
        if event == "broadcast" {
            break data;
        }
    };
    assert_eq!(broadcast, json!("from socket.io"));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("node exit");
    assert!(status.success() && rest.contains(&"done".to_string()), "rooms.mjs: {rest:?}");
}

/// The seed's client code (`examples/seed-client.mjs`) against a server set up
/// like `examples/seed.rs`: it gets the welcome, its `client-message` reaches
/// the handler, and it exits by itself (status 0) once welcomed. The address
/// comes from `PORT`, as for every example.
#[test]
fn seed_client_gets_the_welcome_and_its_message_reaches_the_handler() {
    if !node_ready() {
        return;
    }
    let (tx, rx) = mpsc::channel::<Value>();
    let tx = std::sync::Mutex::new(tx);
    let server = start(Server::builder(), move |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        let tx = tx.lock().unwrap().clone();
        socket.on("client-message", move |_, data| {
            let _ = tx.send(data);
        });
    });
    // The client connects to `localhost`, which may name ::1 before
    // 127.0.0.1 (where the server listens): Node 20 and later try each
    // address of a name in turn.
    let child = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed-client.mjs"))
        .env("PORT", server.local_addr.port().to_string())
        .env_remove("SERVER_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let message = rx.recv_timeout(Duration::from_secs(20));
    // The watchdog bounds this wait: the client must end by itself.
    let output = child.wait_with_output().expect("node exit");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(message.ok(), Some(json!("Hello there! My name is Laxman")), "{stdout}{stderr}");
    assert!(stdout.contains("Welcome to WebSocket"), "the seed client did not print the welcome:\n{stdout}{stderr}");
    assert!(output.status.success(), "the seed client did not exit cleanly ({}):\n{stdout}{stderr}", output.status);
}

// ------------------------------------------------------ raw WebSocket ----

/// The open packet over WebSocket: sid, no upgrades, the configured heartbeat
/// and maxPayload.
#[test]
fn websocket_open_packet() {
    let server = start_reference();
    let (_raw, open) = Raw::open(server.local_addr);
    assert!(open["sid"].as_str().is_some_and(|s| s.len() >= 16));
    assert_eq!(open["upgrades"], json!([]));
    assert_eq!((open["pingInterval"].clone(), open["pingTimeout"].clone()), (json!(300), json!(200)));
    assert_eq!(open["maxPayload"], json!(1_000_000));
    assert_eq!(open.as_object().unwrap().len(), 5);
}

/// With the default heartbeat (a ping every 25 s) the open packet still comes
/// at once: a WebSocket-only client sends nothing before it has it. (Found by
/// `bench/loadgen`, whose socket.io clients waited for it until the first ping.)
#[test]
fn websocket_open_packet_comes_at_once() {
    let server = start_default();
    let (_raw, open) = Raw::open(server.local_addr);
    assert_eq!(open["pingInterval"], json!(25_000));
}

/// CONNECT to `/` and `/custom`, with and without an auth payload; an
/// unknown namespace is refused with CONNECT_ERROR.
#[test]
fn connect_to_namespaces_with_auth_and_refuse_unknown_ones() {
    let server = start_reference();
    let (mut raw, _) = Raw::open(server.local_addr);
    raw.send(r#"40{"token":"123"}"#);
    let connected: Value = serde_json::from_str(&raw.recv()[2..]).unwrap();
    assert_eq!(connected.as_object().unwrap().keys().collect::<Vec<_>>(), ["sid"]);
    assert_eq!(raw.recv(), r#"42["auth",{"token":"123"}]"#);
    raw.send("40/custom,");
    assert!(raw.recv().starts_with(r#"40/custom,{"sid":"#));
    assert_eq!(raw.recv(), r#"42/custom,["auth",{}]"#);
    // Through the hub: the /custom socket shares the client's outbox.
    raw.send(r#"42/custom,["broadcast","to custom"]"#);
    assert_eq!(raw.recv(), r#"42/custom,["broadcast","to custom"]"#);
    raw.send("40/random");
    assert_eq!(raw.recv(), r#"44/random,{"message":"Invalid namespace"}"#);
    // Leave /custom; / still works.
    raw.send("41/custom,");
    raw.send(r#"42["message","to main"]"#);
    assert_eq!(raw.recv(), r#"42["message-back","to main"]"#);
}

/// `check_connect`: the application refuses a CONNECT with its own message
/// (CONNECT_ERROR `44{"message":…}` for `/`, `44/private,{…}` for
/// `/private`) when `auth.token` is wrong, and the Engine.IO session stays
/// open: the same client then connects to both with the right token. A
/// refused client gets no socket (`on_connection` does not run) and no hub
/// member. A `/ws` client refused by the check for `/` gets `403` with the
/// message instead of the upgrade.
#[test]
fn check_connect_refuses_a_wrong_token_and_accepts_the_right_one() {
    watchdog(240);
    let server = Server::builder().bind(("127.0.0.1", 0)).expect("bind");
    // `/ws` clients send no auth payload: their token comes in the query string.
    server.check_connect(|auth: &Value, info: &wshub::SocketInfo| {
        if auth["token"] == "secret" || info.query == "token=secret" {
            Ok(())
        } else {
            Err("not authorized".into())
        }
    });
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    server.on_connection(move |socket| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        socket.emit("server-message", "Welcome to WebSocket");
    });
    reference::install_private(&server);
    let server = server.spawn().expect("spawn");
    let addr = server.local_addr;

    let (mut raw, _) = Raw::open(addr);
    raw.send(r#"40{"token":"wrong"}"#);
    assert_eq!(raw.recv(), r#"44{"message":"not authorized"}"#);
    raw.send(r#"40/private,{"token":"wrong"}"#);
    assert_eq!(raw.recv(), r#"44/private,{"message":"not authorized"}"#);
    raw.send("40/private,");
    assert_eq!(raw.recv(), r#"44/private,{"message":"not authorized"}"#);
    // The session is still open: the right token gets in, to both.
    raw.send(r#"40{"token":"secret"}"#);
    assert!(raw.recv().starts_with(r#"40{"sid":"#));
    assert_eq!(raw.recv(), r#"42["server-message","Welcome to WebSocket"]"#);
    raw.send(r#"40/private,{"token":"secret"}"#);
    assert!(raw.recv().starts_with(r#"40/private,{"sid":"#));
    assert_eq!(raw.recv(), r#"42/private,["auth",{"token":"secret"}]"#);

    // `/ws`: refused before the upgrade, with the message; accepted with the token.
    let refused = raw_request(addr, upgrade_request(addr, "").replacen("/ws", "/ws?token=wrong", 1).as_bytes());
    assert_eq!(status_of(&refused), 403, "{refused}");
    assert!(refused.ends_with("not authorized\n"), "{refused}");
    assert_eq!(connect_with(addr, "/ws", &[]).err(), Some(403));
    let mut ws = connect_with(addr, "/ws?token=secret", &[]).expect("upgrade");
    assert_eq!(ws.recv_event().0, "server-message");

    // Three sockets: `/` and `/private` of the socket.io client, and the `/ws` one.
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "on_connection of `/` ran for refused clients"
    );
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 3), "{}", server.io.client_count());
    server.io.emit("everyone", 1);
    assert_eq!(raw.recv(), r#"42["everyone",1]"#);
    assert_eq!(ws.recv_event(), ("everyone".to_string(), json!(1)));
    assert_eq!(server.io.client_count(), 3, "a refused client joined the hub");
}

/// Events and acks, plain and with binary attachments, as the suites send them.
#[test]
fn events_acks_and_binary_attachments() {
    let server = start_reference();
    let mut raw = Raw::joined(server.local_addr);
    raw.send(r#"42["message",1,"2",{"3":[true]}]"#);
    assert_eq!(raw.recv(), r#"42["message-back",1,"2",{"3":[true]}]"#);
    raw.send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#);
    assert_eq!(raw.recv(), r#"43456[1,"2",{"3":[false]}]"#);
    raw.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    raw.send_binary(&[1, 2, 3]);
    raw.send_binary(&[4, 5, 6]);
    assert_eq!(raw.recv(), r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    assert_eq!(raw.recv(), "<[1, 2, 3]>");
    assert_eq!(raw.recv(), "<[4, 5, 6]>");
    raw.send(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    raw.send_binary(&[1, 2, 3]);
    raw.send_binary(&[4, 5, 6]);
    assert_eq!(raw.recv(), r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    assert_eq!(raw.recv(), "<[1, 2, 3]>");
    assert_eq!(raw.recv(), "<[4, 5, 6]>");
    // The server asks, the client answers with an ACK.
    raw.send(r#"42["ask-client","name?"]"#);
    assert_eq!(raw.recv(), r#"420["question","name?"]"#);
    raw.send(r#"430["Alice"]"#);
    assert_eq!(raw.recv(), r#"42["answer-was","Alice"]"#);
}

/// A malformed packet closes the connection, whatever layer it breaks.
#[test]
fn malformed_packets_close_the_connection() {
    let server = start_reference();
    for bad in ["abc", "4abc", "42{}", r#"42abc["message-with-ack",1]"#, r#"42["disconnect"]"#, "44"] {
        let mut raw = Raw::joined(server.local_addr);
        raw.send(bad);
        assert_eq!(raw.until_closed(false), Some(1002), "{bad}");
    }
    // Before CONNECT, too.
    let (mut raw, _) = Raw::open(server.local_addr);
    raw.send("4abc");
    raw.until_closed(false);
}

/// DISCONNECT both ways, as Node's socket.io 4.8 does it: the client's `41`
/// on its last namespace leaves that namespace but keeps the Engine.IO
/// session open (it is pinged, and may join again); a handler's
/// `disconnect()` sends `41` and the session stays too. Only the client's
/// Engine.IO close (`1`) ends the session.
#[test]
fn disconnect_both_ways() {
    let server = start_reference();
    let mut raw = Raw::joined(server.local_addr);
    raw.send("41");
    raw.send("40"); // still open: the same session joins again
    assert!(raw.recv().starts_with("40{\"sid\":"));
    assert_eq!(raw.recv(), r#"42["auth",{}]"#);
    raw.send(r#"42["disconnect-me"]"#);
    assert_eq!(raw.recv(), "41");
    raw.send(r#"42["message","after the disconnect"]"#); // nobody listens on `/` now
    raw.send("40");
    assert!(raw.recv().starts_with("40{\"sid\":"), "the session outlived the server's disconnect");
    assert_eq!(raw.recv(), r#"42["auth",{}]"#);
    // The Engine.IO close packet ends it.
    raw.send("1");
    raw.until_closed(false);
}

/// The server pings (`2`) and a client answering `3` stays connected across
/// several pings; a client that never answers is dropped after
/// pingInterval + pingTimeout.
#[test]
fn heartbeat_keeps_live_clients_and_drops_silent_ones() {
    let server = start_reference();
    let mut raw = Raw::joined(server.local_addr);
    for _ in 0..3 {
        match raw.client.recv() {
            Message::Text(t) if t.as_str() == "2" => raw.send("3"),
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    raw.send(r#"42["message","still here"]"#);
    assert_eq!(raw.recv(), r#"42["message-back","still here"]"#);

    let mut silent = Raw::joined(server.local_addr);
    silent.until_closed(true);
}

/// A client that never joins a namespace is closed after connectTimeout,
/// even while it answers pings.
#[test]
fn no_connect_within_connect_timeout_closes() {
    let server = start_reference();
    let (mut raw, _) = Raw::open(server.local_addr);
    raw.until_closed(false);
}

/// A message over maxPayload is refused with close code 1009.
#[test]
fn oversize_message_gets_1009() {
    let server = start_reference();
    let mut raw = Raw::joined(server.local_addr);
    let big = format!(r#"42["message","{}"]"#, "x".repeat(1_000_001));
    let _ = raw.client.ws.send(Message::text(big));
    assert_eq!(raw.until_closed(false), Some(1009));
}

// ------------------------------------------------------ raw HTTP polling ----

/// One HTTP request on its own connection: (status, headers, body).
fn http(addr: SocketAddr, method: &str, query: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = format!(
        "{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let response = raw_request(addr, request.as_bytes());
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status_of(&response), head.to_string(), body.to_string())
}

fn handshake(addr: SocketAddr) -> String {
    let (status, _, body) = http(addr, "GET", "", "", &[]);
    assert_eq!(status, 200);
    let open: Value = serde_json::from_str(body.strip_prefix('0').expect("open packet")).unwrap();
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(open["maxPayload"], json!(1_000_000));
    open["sid"].as_str().unwrap().to_string()
}

fn poll(addr: SocketAddr, sid: &str) -> (u16, String) {
    let (status, _, body) = http(addr, "GET", &format!("&sid={sid}"), "", &[]);
    (status, body)
}

fn post(addr: SocketAddr, sid: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http(addr, "POST", &format!("&sid={sid}"), body, &[]);
    (status, body)
}

/// Bad handshakes get 400: wrong EIO, unknown transport, POST/PUT without a
/// session, an unknown sid.
#[test]
fn polling_bad_handshakes_get_400() {
    let server = start_reference();
    let addr = server.local_addr;
    for (method, path) in [
        ("GET", "/socket.io/?transport=polling"),
        ("GET", "/socket.io/?EIO=abc&transport=polling"),
        ("GET", "/socket.io/?EIO=3&transport=polling"),
        ("GET", "/socket.io/?EIO=4"),
        ("GET", "/socket.io/?EIO=4&transport=abc"),
        ("POST", "/socket.io/?EIO=4&transport=polling"),
        ("PUT", "/socket.io/?EIO=4&transport=polling"),
        ("GET", "/socket.io/?EIO=4&transport=polling&sid=nope"),
    ] {
        let response = raw_request(addr, format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes());
        assert_eq!(status_of(&response), 400, "{method} {path}: {response}");
    }
}

/// POST delivers packets (several joined by `\x1e`, binary as base64);
/// a GET returns what the server queued, joined the same way.
#[test]
fn polling_round_trip_text_and_binary() {
    let server = start_reference();
    let addr = server.local_addr;
    let sid = handshake(addr);
    assert_eq!(post(addr, &sid, "40"), (200, "ok".into()));
    let (status, body) = poll(addr, &sid);
    assert_eq!(status, 200);
    let packets: Vec<&str> = body.split('\x1e').collect();
    assert!(packets[0].starts_with("40{\"sid\":"), "{body}");
    assert_eq!(packets[1], r#"42["auth",{}]"#);
    let sent = "42[\"message\",\"a\"]\x1e451-[\"message\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID";
    assert_eq!(post(addr, &sid, sent), (200, "ok".into()));
    let mut got = String::new();
    for _ in 0..10 {
        let (status, body) = poll(addr, &sid);
        assert_eq!(status, 200);
        got.push_str(&body.replace("\x1e2", "").replace('\x1e', "|")); // pings left out
        if got.contains("bAQID") {
            break;
        }
        if body == "2" {
            post(addr, &sid, "3");
        }
    }
    assert!(got.contains(r#"42["message-back","a"]"#), "{got}");
    assert!(got.contains(r#"451-["message-back",{"_placeholder":true,"num":0}]|bAQID"#), "{got}");
}

/// A bad packet in a POST gets 400 and ends the session.
#[test]
fn polling_invalid_packet_closes_the_session() {
    let server = start_reference();
    let sid = handshake(server.local_addr);
    assert_eq!(post(server.local_addr, &sid, "abc").0, 400);
    assert_eq!(poll(server.local_addr, &sid).0, 400);
}

/// The server pings in a poll response; a client that does not answer is
/// dropped, and its next request gets 400.
#[test]
fn polling_ping_timeout_closes_the_session() {
    let server = start_reference();
    let sid = handshake(server.local_addr);
    assert_eq!(poll(server.local_addr, &sid), (200, "2".into()));
    // No pong: this poll waits until the session ends, then gets 400 or the close.
    let (status, body) = poll(server.local_addr, &sid);
    assert!(status == 400 || body.ends_with('6') || body.ends_with('1'), "{status} {body}");
    assert_eq!(poll(server.local_addr, &sid).0, 400);
}

/// Two long-polls at once break the session: one gets the close packet (or
/// 400), the other 400, and the session is gone.
#[test]
fn polling_overlapping_polls_close_the_session() {
    let server = start_reference();
    let addr = server.local_addr;
    let sid = handshake(addr);
    let first = {
        let sid = sid.clone();
        std::thread::spawn(move || poll(addr, &sid))
    };
    let second = poll(addr, &sid);
    let first = first.join().unwrap();
    let statuses = [first.0, second.0];
    assert!(statuses.contains(&400), "{first:?} {second:?}");
    assert!(first.1 == "1" || second.1 == "1" || statuses == [400, 400] || first.1 == "2" || second.1 == "2");
    // Whichever way the race went, the session ends within a ping round.
    let mut status = 200;
    for _ in 0..20 {
        status = poll(addr, &sid).0;
        if status == 400 {
            break;
        }
    }
    assert_eq!(status, 400);
}

/// The upgrade: `2probe` → `3probe` on the new WebSocket, the long-poll is
/// released with a noop, `5` switches over; polling on that sid then gets
/// 400 and a second WebSocket for it is closed.
#[test]
fn polling_upgrades_to_websocket() {
    let server = start_reference();
    let addr = server.local_addr;
    let sid = handshake(addr);
    assert_eq!(post(addr, &sid, "40").0, 200);
    let (_, body) = poll(addr, &sid);
    assert!(body.contains(r#"42["auth",{}]"#), "{body}");
    let mut ws = Raw::connect(addr, &format!("&sid={sid}"));
    ws.send("2probe");
    assert_eq!(ws.recv(), "3probe");
    let (status, body) = poll(addr, &sid);
    assert_eq!((status, body.as_str()), (200, "6"));
    ws.send("5");
    ws.send(r#"42["message","over ws"]"#);
    assert_eq!(ws.recv(), r#"42["message-back","over ws"]"#);
    assert_eq!(poll(addr, &sid).0, 400);
    let mut second = Raw::connect(addr, &format!("&sid={sid}"));
    second.until_closed(false);
    ws.send(r#"42["message","still"]"#);
    assert_eq!(ws.recv(), r#"42["message-back","still"]"#);
}

/// CORS: an allowed Origin gets `Access-Control-Allow-Origin` (credentials
/// only after `allow_credentials()`, see tests/handshake.rs), a preflight
/// OPTIONS gets 204, a foreign Origin gets 403.
#[test]
fn polling_cors_headers_and_403() {
    let server = start(Server::builder().allow_origin("http://allowed.example"), |_| {});
    let addr = server.local_addr;
    let (status, head, _) = http(addr, "GET", "", "", &[("Origin", "http://allowed.example")]);
    assert_eq!(status, 200);
    assert!(head.contains("Access-Control-Allow-Origin: http://allowed.example"), "{head}");
    assert!(!head.contains("Access-Control-Allow-Credentials"), "{head}");
    let preflight = [("Origin", "http://allowed.example"), ("Access-Control-Request-Headers", "content-type")];
    let (status, head, _) = http(addr, "OPTIONS", "", "", &preflight);
    assert_eq!(status, 204);
    assert!(head.contains("Access-Control-Allow-Methods: GET, POST, OPTIONS"), "{head}");
    assert!(head.contains("Access-Control-Allow-Headers: content-type"), "{head}");
    let (status, _, body) = http(addr, "GET", "", "", &[("Origin", "http://evil.example")]);
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = http(addr, "OPTIONS", "", "", &[("Origin", "http://evil.example")]);
    assert_eq!(status, 403);
}

/// Polling requests may share one kept-alive connection, as browsers do.
#[test]
fn polling_requests_share_a_kept_alive_connection() {
    let server = start_reference();
    let mut stream = TcpStream::connect(server.local_addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let get = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        stream.write_all(get.as_bytes()).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
            assert_ne!(line.to_ascii_lowercase().trim(), "connection: close");
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        assert!(body.starts_with(b"0{"), "{}", String::from_utf8_lossy(&body));
    }
}

// ------------------------------------------------------------ browser ----

/// The seed's client page in headless Chromium, with socket.io-client's own
/// `socket.io.min.js` served from `node_modules`: the browser's console shows
/// the welcome and the page's `client-message` reaches the handler. (The
/// page connects to the origin that served it, here a free port.)
#[test]
fn seed_page_in_chromium() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/socket.io-client/dist/socket.io.min.js");
    if !require("chromium", has_program("chromium")) || !node_ready() {
        return;
    }
    let (tx, rx) = mpsc::channel::<Value>();
    let tx = std::sync::Mutex::new(tx);
    let client_js = include_str!("../examples/seed-page/index.js");
    assert!(!client_js.contains("localhost:3000\")"), "the page must connect to the server that served it");
    let server = Server::builder()
        .page("/", include_str!("../examples/seed-page/index.html"))
        .asset("/index.js", "text/javascript", client_js)
        .asset("/socket.io.min.js", "text/javascript", std::fs::read(script).expect("socket.io.min.js"))
        .bind(("127.0.0.1", 0))
        .expect("bind");
    server.on_connection(move |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        let tx = tx.lock().unwrap().clone();
        socket.on("client-message", move |_, data| {
            let _ = tx.send(data);
        });
    });
    let server = server.spawn().expect("spawn");
    let profile = std::env::temp_dir().join(format!("wshub-chromium-{}", std::process::id()));
    let mut chromium = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--virtual-time-budget=5000")
        .arg("--dump-dom")
        .arg(format!("http://{}/", server.local_addr))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let message = rx.recv_timeout(Duration::from_secs(30));
    // The console line may come before or after the message: read Chromium's
    // log (on its own thread) until it shows up, or until Chromium exits.
    let stderr = chromium.stderr.take().expect("stderr");
    let (line_tx, line_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).try_for_each(|l| line_tx.send(l)));
    let mut log = String::new();
    while let Ok(line) = line_rx.recv_timeout(Duration::from_secs(30)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("Welcome to WebSocket") {
            break;
        }
    }
    let _ = chromium.kill();
    let _ = chromium.wait();
    let _ = std::fs::remove_dir_all(&profile);
    assert_eq!(message.ok(), Some(json!("Hello there! My name is Laxman")), "chromium log:\n{log}");
    assert!(log.contains("Welcome to WebSocket"), "no welcome in the console:\n{log}");
}

/// Shutdown closes socket.io clients too: a WebSocket one gets close 1001;
/// a polling one whose GET was not waiting comes back (on a new
/// connection, which the stopping server still accepts for it) for what
/// was queued and then the close packet `1`; every thread is joined
/// (`shutdown` returns) as soon as it has.
#[test]
fn shutdown_closes_socketio_sessions() {
    let server = start_reference();
    let addr = server.local_addr;
    let mut ws = Raw::joined(addr);
    let sid = handshake(addr);
    assert_eq!(post(addr, &sid, "40"), (200, "ok".into()));
    let stopping = std::thread::spawn(move || server.shutdown());
    assert_eq!(ws.until_closed(false), Some(1001));
    let (status, queued) = poll(addr, &sid);
    assert_eq!(status, 200);
    assert!(queued.starts_with("40{\"sid\":"), "what was queued comes first: {queued}");
    assert_eq!(poll(addr, &sid), (200, "1".into()));
    stopping.join().unwrap().expect("shutdown");
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
}

// ------------------------------------------------------ slow consumers ----

/// A socket.io client that stops reading while a burst of 1,000 broadcasts
/// (16 KiB or more each) fills its socket buffers and its small outbox is
/// dropped by the hub (1013), while a `/ws` client and another socket.io
/// client receive every broadcast, in order. When the stalled client reads
/// again it finds its backlog, in order, and then Close 1013 at once: every
/// read waits at most 3 s, while neither heartbeat fires within the test
/// (60 s), so it is the hub letting go that closes it, not a ping.
#[test]
fn slow_socketio_client_is_closed_with_1013_while_others_get_every_broadcast_in_order() {
    const BROADCASTS: usize = 1000;
    let prompt = Duration::from_secs(3);
    let minute = Duration::from_secs(60);
    let builder = Server::builder()
        .backlog_capacity(8)
        .slow_client_timeout(Duration::from_millis(200))
        // The stalled session's blocked write must outlast the burst, so that
        // its Close can be read at the end (as in tests/hub.rs).
        .write_timeout(Duration::from_secs(100))
        .heartbeat(minute, 2 * minute)
        .socketio_ping(minute, minute);
    let server = start(builder, |socket| socket.emit("server-message", "Welcome to WebSocket"));
    let addr = server.local_addr;
    // Joined to `/` and greeted: the hub has registered it (before `on_connection` ran).
    let sio_greeted = || {
        let (mut raw, _) = Raw::open(addr);
        raw.send("40");
        assert!(raw.recv().starts_with("40{\"sid\":"));
        assert_eq!(raw.recv(), r#"42["server-message","Welcome to WebSocket"]"#);
        raw
    };
    let mut stalled = sio_greeted();
    let mut healthy_sio = sio_greeted();
    let mut healthy_ws = connect_greeted(addr);

    let readers = vec![
        std::thread::spawn(move || {
            for expected in 0..BROADCASTS {
                assert_eq!(
                    tick_number(&healthy_sio.recv()),
                    Some(expected),
                    "socket.io client: missing or out of order"
                );
            }
        }),
        std::thread::spawn(move || {
            for expected in 0..BROADCASTS {
                let text = healthy_ws.recv().into_text().expect("a text frame");
                assert_eq!(tick_number(&text), Some(expected), "/ws client: missing or out of order");
            }
        }),
    ];
    // Four times what the kernel may buffer for the stalled socket, so it surely fills.
    let pad = "x".repeat((4 * send_buffer_limit() / BROADCASTS).max(16 * 1024));
    for n in 0..BROADCASTS {
        server.io.emit("tick", (n, &pad));
    }
    for reader in readers {
        reader.join().expect("a healthy client got every broadcast, in order");
    }

    // Now the stalled client reads: a prefix of the broadcasts, then Close 1013,
    // each read within `prompt`.
    stalled.client.ws.get_ref().set_read_timeout(Some(prompt)).unwrap();
    let mut next = 0;
    let code = loop {
        assert!(next <= BROADCASTS, "the stalled client was never dropped");
        match stalled.client.ws.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(Message::Text(text)) => {
                assert_eq!(tick_number(&text), Some(next), "the stalled client's backlog is in order");
                next += 1;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => panic!("no Close within {prompt:?} after {next} broadcasts: {e}"),
        }
    };
    eprintln!("the stalled socket.io client got {next} of {BROADCASTS} broadcasts, then Close {code:?}");
    assert_eq!(code, Some(1013), "after {next} broadcasts");
    assert!(next < BROADCASTS, "the stalled client was dropped before the end ({next} delivered)");
}
