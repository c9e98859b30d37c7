//! socket.io's upgrade from long-polling to WebSocket, under the races a
//! real client makes: requests on the polling side while the WebSocket
//! probes and sends `5`, and the session ending in the middle of a probe.
//!
//! The answers are Node's (engine.io 6): a long-poll waiting when the probe
//! succeeds, or arriving before `5`, gets the noop `6`; once `5` has been
//! handled, a GET or a POST on the old transport gets 400 (code 3). wshub
//! decides each answer from the session's state under its lock, so the
//! answer follows the order of events, never which thread ran first.
mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tungstenite::Message;
use wshub::{Server, ServerBuilder, ServerHandle, Socket};

/// A server whose pings never come within a test (they would answer a
/// waiting long-poll with `2`), echoing `message` as `message-back`.
fn start_echo(builder: ServerBuilder) -> ServerHandle {
    start(builder, |socket: &Socket| {
        socket.on("message", |socket, data| socket.emit("message-back", data));
    })
}

fn quiet() -> ServerBuilder {
    let minute = Duration::from_secs(60);
    Server::builder().socketio_ping(minute, minute)
}

/// One polling request on its own connection: (status, body).
fn http(addr: SocketAddr, method: &str, sid: Option<&str>, body: &str) -> (u16, String) {
    let sid = sid.map(|sid| format!("&sid={sid}")).unwrap_or_default();
    let request = format!(
        "{method} /socket.io/?EIO=4&transport=polling{sid} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = raw_request(addr, request.as_bytes());
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    (status_of(&response), body)
}

/// A polling session joined to `/`, with nothing left to read.
fn joined_session(addr: SocketAddr) -> String {
    let (status, open) = http(addr, "GET", None, "");
    assert_eq!(status, 200);
    let open: Value = serde_json::from_str(open.strip_prefix('0').expect("the open packet")).unwrap();
    let sid = open["sid"].as_str().unwrap().to_string();
    assert_eq!(http(addr, "POST", Some(&sid), "40"), (200, "ok".into()));
    let (status, body) = http(addr, "GET", Some(&sid), "");
    assert_eq!(status, 200);
    assert!(body.starts_with("40{\"sid\":"), "{body}");
    sid
}

/// A GET sent now on another thread; its answer comes on the channel.
fn poll_in_background(addr: SocketAddr, sid: &str) -> mpsc::Receiver<(u16, String)> {
    let (tx, rx) = mpsc::channel();
    let sid = sid.to_string();
    thread::spawn(move || {
        let _ = tx.send(http(addr, "GET", Some(&sid), ""));
    });
    rx
}

/// Opens the probing WebSocket of session `sid`.
fn probe(addr: SocketAddr, sid: &str) -> Client {
    connect_with(addr, &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"), &[]).expect("the probe's 101")
}

fn send(ws: &mut Client, text: &str) {
    ws.ws.send(Message::text(text)).expect("send");
}

fn text(ws: &mut Client) -> String {
    match ws.recv() {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// 200 upgrades, each with the requests Node answers in a fixed way,
/// whatever the threads do:
/// - a long-poll sent before the probe (usually waiting in the server when
///   `3probe` goes out) and one sent after `3probe` both get `6`;
/// - once `5` is known to be handled (a message sent behind it over the
///   WebSocket was answered there), a GET and a POST on polling get 400;
/// - a long-poll sent right before `5`, racing it, gets `6` or 400 — and
///   never hangs, and never takes a packet meant for the WebSocket.
#[test]
fn requests_racing_an_upgrade_get_nodes_answers_200_times() {
    let server = start_echo(quiet());
    let addr = server.local_addr;
    let mut raced = [0usize; 2];
    for round in 0..200 {
        let sid = joined_session(addr);
        let before = poll_in_background(addr, &sid);
        let mut ws = probe(addr, &sid);
        send(&mut ws, "2probe");
        assert_eq!(text(&mut ws), "3probe", "round {round}");
        assert_eq!(before.recv().unwrap(), (200, "6".into()), "round {round}: a poll pending during the probe");
        assert_eq!(http(addr, "GET", Some(&sid), ""), (200, "6".into()), "round {round}: a poll after the probe");

        // The racing GET goes on a connection opened beforehand, right
        // before or right after `5` (in turns): both reach the server at
        // about the same time.
        let mut racing = TcpStream::connect(addr).unwrap();
        racing.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let get = format!(
            "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        if round % 2 == 0 {
            racing.write_all(get.as_bytes()).unwrap();
            send(&mut ws, "5");
        } else {
            send(&mut ws, "5");
            racing.write_all(get.as_bytes()).unwrap();
        }
        send(&mut ws, &format!(r#"42["message",{round}]"#));
        assert_eq!(text(&mut ws), format!(r#"42["message-back",{round}]"#), "round {round}: over WebSocket now");
        let response = String::from_utf8_lossy(&read_until_eof(&mut racing)).into_owned();
        let (status, body) = (status_of(&response), response.split_once("\r\n\r\n").map_or("", |(_, b)| b));
        match (status, body) {
            (200, "6") => raced[0] += 1,
            (400, body) if body.contains("\"code\":3") => raced[1] += 1,
            other => panic!("round {round}: a poll racing `5` got {other:?}"),
        }

        let (status, body) = http(addr, "GET", Some(&sid), "");
        assert_eq!(status, 400, "round {round}: a GET after `5`: {body}");
        assert!(body.contains("\"code\":3"), "{body}");
        let (status, body) = http(addr, "POST", Some(&sid), r#"42["message","late"]"#);
        assert_eq!(status, 400, "round {round}: a POST after `5`: {body}");
        ws.close();
    }
    eprintln!("polls racing `5`: {} got the noop, {} got 400", raced[0], raced[1]);
}

/// A session that ends while its WebSocket probes (here: no pong on the
/// polling side within pingTimeout) closes the probing socket with a Close
/// frame that says why, at once, not after the upgrade timeout (10 s).
#[test]
fn a_probe_is_closed_when_its_session_times_out() {
    let builder = Server::builder().socketio_ping(Duration::from_millis(100), Duration::from_millis(100));
    let server = start_echo(builder);
    let addr = server.local_addr;
    let sid = joined_session(addr);
    let mut ws = probe(addr, &sid);
    send(&mut ws, "2probe");
    assert_eq!(text(&mut ws), "3probe");
    // Neither `5` nor a pong: the session times out on the polling side.
    let close = ws.expect_close().expect("a Close with a code");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1000, "ping timeout"));
    ws.finish_close();
    assert_eq!(http(addr, "GET", Some(&sid), "").0, 400, "the session is gone");
}

/// Shutdown while a WebSocket probes: the probe gets 1001 too (it is no
/// client of the hub yet), and shutdown does not wait for the upgrade
/// timeout.
#[test]
fn shutdown_closes_a_probing_websocket() {
    let server = start_echo(quiet());
    let addr = server.local_addr;
    let sid = joined_session(addr);
    let mut ws = probe(addr, &sid);
    send(&mut ws, "2probe");
    assert_eq!(text(&mut ws), "3probe");
    let stopping = thread::spawn(move || server.shutdown());
    let close = ws.expect_close().expect("a Close with a code");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1001, "server shutting down"));
    ws.finish_close();
    stopping.join().unwrap().expect("shutdown");
}
