//! Engine.IO without socket.io on `/engine.io/`: the real npm
//! `engine.io-client` against `examples/engineio_reference.rs` (an echo
//! server with the protocol test suite's settings), and raw-protocol
//! tests of what the layer promises: raw text and binary both ways, sends
//! from any thread, the endpoints kept apart, the close reason.
mod common;

#[allow(dead_code)]
#[path = "../examples/engineio_reference.rs"]
mod reference;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tungstenite::Message;
use wshub::{EngineSocket, Server, ServerHandle};

/// The reference server, in-process on 127.0.0.1, port 0.
fn start_reference() -> ServerHandle {
    watchdog(120);
    let server = reference::builder().bind(("127.0.0.1", 0)).expect("bind");
    server.on_engineio(reference::on_session);
    server.spawn().expect("spawn")
}

/// One polling request on its own connection: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, query: &str, body: &str) -> (u16, String) {
    let request = format!(
        "{method} {path}?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = raw_request(addr, request.as_bytes());
    (status_of(&response), response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string())
}

/// A polling handshake on `path`: the open packet's JSON.
fn open(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, "", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(body.strip_prefix('0').expect("the open packet")).expect("JSON")
}

fn ws(addr: SocketAddr, query: &str) -> Client {
    let mut client = connect_with(addr, &format!("/engine.io/?EIO=4&transport=websocket{query}"), &[]).expect("101");
    match client.recv() {
        Message::Text(open) => assert!(open.as_str().starts_with("0{"), "{open}"),
        other => panic!("expected the open packet, got {other:?}"),
    }
    client
}

/// The next message that is not an Engine.IO ping (answered).
fn recv(client: &mut Client) -> Message {
    loop {
        match client.recv() {
            Message::Text(t) if t.as_str() == "2" => client.ws.send(Message::text("3")).unwrap(),
            other => return other,
        }
    }
}

/// engine.io-client 4.x/6.x over polling, WebSocket, and polling then the
/// upgrade: text, binary and 120 KB messages come back unchanged.
#[test]
fn engineio_client_over_every_transport_and_the_upgrade() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/engine.io-client");
    if !require("node", has_program("node")) || !require("node_modules/engine.io-client (`npm ci`)", modules.exists()) {
        return;
    }
    let server = start_reference();
    let output = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engineio/echo.mjs"))
        .arg(format!("http://{}", server.local_addr))
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "engine.io-client failed:\n{text}");
    assert_eq!(text.matches("ok - ").count(), 3 * 4 + 1, "{text}");
}

/// The open packet has the suite's settings; POSTed packets come back on
/// the next GET, joined by the record separator: text, and binary as
/// base64 (`b…`). A Socket.IO packet means nothing here: `40` is a message
/// like any other.
#[test]
fn polling_echoes_raw_text_and_binary() {
    let server = start_reference();
    let addr = server.local_addr;
    let open = open(addr, "/engine.io/");
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!((open["pingInterval"].clone(), open["pingTimeout"].clone()), (json!(300), json!(200)));
    assert_eq!(open["maxPayload"], json!(1_000_000));
    let sid = open["sid"].as_str().unwrap();
    let query = format!("&sid={sid}");
    assert_eq!(http(addr, "POST", "/engine.io/", &query, "4hello\x1ebAQID\x1e440"), (200, "ok".into()));
    assert_eq!(http(addr, "GET", "/engine.io/", &query, ""), (200, "4hello\x1ebAQID\x1e440".into()));
}

/// Over WebSocket: text frames carry `4<text>`, binary frames the bytes.
#[test]
fn websocket_echoes_raw_text_and_binary() {
    let server = start_reference();
    let mut client = ws(server.local_addr, "");
    client.ws.send(Message::text("4héllo")).unwrap();
    assert_eq!(recv(&mut client), Message::text("4héllo"));
    client.ws.send(Message::binary(vec![0u8, 255, 7])).unwrap();
    assert_eq!(recv(&mut client), Message::binary(vec![0u8, 255, 7]));
}

/// `EngineSocket::send` from a thread that is no connection's: the message
/// reaches a WebSocket client at once and a polling client on its next GET;
/// each session's `on_close` handler gets the reason when it ends.
#[test]
fn send_from_any_thread_and_close_reasons() {
    watchdog(120);
    let (sockets_tx, sockets) = mpsc::channel::<EngineSocket>();
    let (closed_tx, closed) = mpsc::channel::<String>();
    let server = Server::builder().bind(("127.0.0.1", 0)).unwrap();
    server.on_engineio(move |socket| {
        let closed = closed_tx.clone();
        socket.on_close(move |_, reason| closed.send(reason.to_string()).unwrap());
        sockets_tx.send(socket.clone()).unwrap();
    });
    let server = server.spawn().unwrap();
    let addr = server.local_addr;

    let mut client = ws(addr, "");
    let socket = sockets.recv().unwrap();
    assert_eq!(socket.info().protocol, "engine.io");
    std::thread::spawn(move || socket.send(Message::text("from a thread"))).join().unwrap();
    assert_eq!(recv(&mut client), Message::text("4from a thread"));
    client.ws.send(Message::text("1")).unwrap(); // the client's close packet
    assert_eq!(closed.recv().unwrap(), "transport close (client sent close)");

    let sid = open(addr, "/engine.io/")["sid"].as_str().unwrap().to_string();
    let socket = sockets.recv().unwrap();
    assert_eq!(socket.sid(), sid);
    std::thread::spawn(move || {
        socket.send(Message::binary(vec![1u8, 2]));
        socket.close();
    })
    .join()
    .unwrap();
    let query = format!("&sid={sid}");
    assert_eq!(http(addr, "GET", "/engine.io/", &query, ""), (200, "bAQI=".into()));
    assert_eq!(http(addr, "GET", "/engine.io/", &query, ""), (200, "1".into()), "then the close packet");
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)).unwrap(), "forced close");
}

/// The two endpoints keep their sessions apart: a socket.io sid is unknown
/// under `/engine.io/` and the other way round. A server that does not
/// handle Engine.IO has no such endpoint (404).
#[test]
fn endpoints_are_apart_and_engineio_is_opt_in() {
    let server = start_reference();
    let addr = server.local_addr;
    let eio = open(addr, "/engine.io/")["sid"].as_str().unwrap().to_string();
    let sio = open(addr, "/socket.io/")["sid"].as_str().unwrap().to_string();
    assert_eq!(http(addr, "GET", "/socket.io/", &format!("&sid={eio}"), "").0, 400);
    assert_eq!(http(addr, "GET", "/engine.io/", &format!("&sid={sio}"), "").0, 400);

    let plain = start_default();
    assert_eq!(http(plain.local_addr, "GET", "/engine.io/", "", "").0, 404);
}

/// The polling → WebSocket upgrade, as for socket.io: `2probe`/`3probe`,
/// the waiting GET gets the noop, `5`, then messages over the WebSocket.
#[test]
fn upgrade_from_polling() {
    let server = start_reference();
    let addr = server.local_addr;
    let sid = open(addr, "/engine.io/")["sid"].as_str().unwrap().to_string();
    let mut client = connect_with(addr, &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"), &[]).unwrap();
    client.ws.send(Message::text("2probe")).unwrap();
    assert_eq!(client.recv(), Message::text("3probe"));
    assert_eq!(http(addr, "GET", "/engine.io/", &format!("&sid={sid}"), ""), (200, "6".into()));
    client.ws.send(Message::text("5")).unwrap();
    client.ws.send(Message::text("4upgraded")).unwrap();
    assert_eq!(recv(&mut client), Message::text("4upgraded"));
}
