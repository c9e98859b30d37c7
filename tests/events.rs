//! Events on one connection: the welcome, client events reaching their
//! handlers, acks in both directions, frames the server cannot understand,
//! the message size limit, ping/pong, and what `{socket:#?}` shows.
//!
//! Handlers run on the server's connection threads; they report to the test
//! through a channel, so the test waits on `recv_timeout`, never on a sleep.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;
use crossbeam_channel::unbounded;
use serde_json::{json, Value};
use tungstenite::Message;
use wshub::Server;

/// A client connecting to `/ws` is greeted with the `server-message` event
/// that `on_connection` emitted, as the first thing it receives.
#[test]
fn welcome_event_on_connect() {
    let server = start_default();
    let mut client = connect(server.local_addr);
    assert_eq!(client.recv_event(), ("server-message".to_string(), json!("Welcome to WebSocket")));
}

/// `{"event":"client-message","data":...}` from the client reaches the handler
/// registered with `socket.on("client-message", ...)`, with its data and on
/// the right socket.
#[test]
fn client_message_reaches_its_handler() {
    let (tx, rx) = unbounded();
    let server = start(Server::builder(), move |socket| {
        let tx = tx.clone();
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("client-message", move |socket, data| {
            let _ = tx.send((socket.id(), data));
        });
    });
    let mut client = connect_greeted(server.local_addr);
    client.emit("client-message", json!("hello from the test"));
    client.emit("client-message", json!({ "n": 2 }));

    let (first_id, first) = rx.recv_timeout(READ_TIMEOUT).expect("the handler ran");
    let (second_id, second) = rx.recv_timeout(READ_TIMEOUT).expect("the handler ran again");
    assert_eq!(first, json!("hello from the test"));
    assert_eq!(second, json!({ "n": 2 }));
    assert_eq!(first_id, second_id, "both events came from the same socket");
}

/// Client → server acks: a message carrying `"ack": n` is answered with
/// `{"ack": n, "data": ...}` when its `on_with_ack` handler calls
/// `ack.send(data)`, now or later and from another thread. A handler that
/// does not answer (plain `on`, or an `Ack` dropped unsent) is never
/// acknowledged: the next frame the client gets answers its next question.
#[test]
fn client_acks_are_answered_only_by_handlers_that_answer() {
    let server = start(Server::builder(), |socket| {
        socket.on_with_ack("double", |_socket, data, ack| ack.send(data.as_i64().unwrap_or(0) * 2));
        socket.on_with_ack("whoami", |socket, _data, ack| {
            ack.send(json!({ "id": socket.id(), "path": socket.info().path }))
        });
        socket.on("note", |_socket, _data| {});
        socket.on_with_ack("ignore", |_socket, _data, ack| drop(ack));
        socket.on_with_ack("later", |_socket, data, ack| {
            std::thread::spawn(move || ack.send(json!({ "later": data })));
        });
    });
    let mut client = connect(server.local_addr);

    client.send_json(json!({ "event": "double", "data": 21, "ack": 7 }));
    assert_eq!(client.recv_json(), json!({ "ack": 7, "data": 42 }), "the exact reply envelope");

    assert_eq!(client.call("whoami", Value::Null, 8)["path"], json!("/ws"));
    client.send_json(json!({ "event": "note", "data": "x", "ack": 9 }));
    client.send_json(json!({ "event": "ignore", "data": "y", "ack": 10 }));
    client.send_json(json!({ "event": "later", "data": "z", "ack": 11 }));
    assert_eq!(client.recv_json(), json!({ "ack": 11, "data": { "later": "z" } }), "9 and 10 are never answered");
}

/// Server → client acks: `socket.emit_with_ack` sends `"ack": n`; when the
/// client answers `{"ack": n, "data": ...}`, the callback runs with that data.
#[test]
fn server_emit_with_ack_runs_the_callback_with_the_clients_answer() {
    let (tx, rx) = unbounded();
    let server = start(Server::builder(), move |socket| {
        let tx = tx.clone();
        socket.emit_with_ack("question", "what is 6 * 7?", move |_socket, answer| {
            let _ = tx.send(answer);
        });
    });
    let mut client = connect(server.local_addr);

    let question = client.recv_json();
    assert_eq!(question["event"], json!("question"));
    assert_eq!(question["data"], json!("what is 6 * 7?"));
    let id = question["ack"].as_u64().expect("the event asks for an ack");
    client.send_json(json!({ "ack": id, "data": 42 }));

    assert_eq!(rx.recv_timeout(READ_TIMEOUT).expect("the callback ran"), json!(42));
}

/// Bad JSON and an object without `event` are answered with an `error` event
/// that says what was wrong, and the connection keeps working.
#[test]
fn bad_json_gets_an_error_event_and_the_connection_survives() {
    let server = start(Server::builder(), |socket| {
        socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
    });
    let mut client = connect(server.local_addr);

    client.ws.send(Message::text("{this is not json")).unwrap();
    let (event, data) = client.recv_event();
    assert_eq!(event, "error");
    let message = data["message"].as_str().expect("error data has a message");
    assert!(message.starts_with("invalid JSON"), "{message}");

    client.send_json(json!({ "data": 1 }));
    let (event, data) = client.recv_event();
    assert_eq!(event, "error");
    assert!(data["message"].as_str().unwrap().contains("missing \"event\""), "{data}");

    assert_eq!(client.call("echo", json!("still here"), 1), json!("still here"));
}

/// A binary frame is not part of the JSON protocol: the server answers with an
/// `error` event (and keeps the connection).
#[test]
fn binary_frame_gets_an_error_event() {
    let server = start(Server::builder(), |socket| {
        socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
    });
    let mut client = connect(server.local_addr);

    client.ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    let (event, data) = client.recv_event();
    assert_eq!(event, "error");
    assert!(data["message"].as_str().unwrap().contains("binary"), "{data}");
    assert_eq!(client.call("echo", json!(1), 2), json!(1));
}

/// A message over `max_message_size` closes the connection with 1009
/// (Message Too Big); the server refuses it from the frame header.
#[test]
fn over_limit_message_closes_with_1009() {
    let server = start(Server::builder().max_message_size(1024), |_socket| {});
    let mut client = connect(server.local_addr);

    let big = json!({ "event": "client-message", "data": "x".repeat(4096) });
    client.send_json(big);
    assert_eq!(client.expect_close_code(), 1009);
}

/// A Ping from the client is answered with a Pong carrying the same payload
/// (tungstenite queues the Pong; the connection loop sends it).
#[test]
fn ping_is_answered_with_pong_with_the_same_payload() {
    let server = start_default();
    let mut client = connect(server.local_addr);

    client.ws.send(Message::Ping(b"are you there?".to_vec().into())).unwrap();
    for _ in 0..10 {
        match client.ws.read().expect("read") {
            Message::Pong(payload) => return assert_eq!(&payload[..], b"are you there?"),
            _ => continue, // the welcome event
        }
    }
    panic!("no Pong");
}

/// `{socket:#?}` (what the seed logs on connect) shows the socket's id, the
/// peer address, the path and the request headers.
#[test]
fn socket_debug_output_shows_id_peer_path_and_headers() {
    let (tx, rx) = unbounded();
    let server = start(Server::builder(), move |socket| {
        let _ = tx.send((socket.id(), format!("{socket:#?}")));
    });
    let client = connect_with(server.local_addr, "/ws?room=lobby", &[("X-Test", "hello")]).unwrap();
    let peer = client.ws.get_ref().local_addr().unwrap();

    let (id, debug) = rx.recv_timeout(READ_TIMEOUT).expect("on_connection ran");
    assert!(debug.contains(&format!("id: {id},")), "{debug}");
    assert!(debug.contains(&format!("peer: {peer},")), "{debug}");
    assert!(debug.contains("path: \"/ws\""), "{debug}");
    assert!(debug.contains("query: \"room=lobby\""), "{debug}");
    assert!(debug.contains("\"x-test\"") && debug.contains("\"hello\""), "{debug}");
}

/// A client frame in the same TCP write as the request head (so it arrives
/// with the head, before the 101 is sent) is not lost: it is handled once the
/// handlers are registered. (Regression test: those bytes used to wait in
/// tungstenite's buffer until the client sent something else.)
#[test]
fn frame_sent_right_behind_the_request_head_is_handled() {
    let server = start(Server::builder(), |socket| {
        socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
    });
    let addr = server.local_addr;

    // A client frame is masked: payload XOR a 4-byte key (here 1, 2, 3, 4).
    let payload = br#"{"event":"echo","data":"early","ack":3}"#;
    let mut bytes = upgrade_request(addr, "").into_bytes();
    bytes.extend([0x81, 0x80 | payload.len() as u8, 1, 2, 3, 4]);
    bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ (i % 4 + 1) as u8));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.write_all(&bytes).unwrap();

    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..100 {
        if String::from_utf8_lossy(&received).contains(r#"{"ack":3,"data":"early"}"#) {
            return;
        }
        let n = stream.read(&mut buf).expect("the reply arrives");
        assert!(n > 0, "closed before replying: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
    }
    panic!("no reply: {}", String::from_utf8_lossy(&received));
}
