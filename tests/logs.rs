//! What a client chooses never forges a log line: control characters in a
//! namespace, an event name, a close reason or a bad frame are escaped in
//! every line the server logs, and no line carries a whole Engine.IO
//! session id (a sid is all a polling request needs to act as its client).
mod common;

use std::sync::Mutex;

use common::*;
use tungstenite::Message;
use wshub::Server;

/// Every line logged in this process, as it would be printed.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        // wshub's own lines (tungstenite's traces print frames on purpose).
        if record.target().starts_with("wshub") {
            LINES.lock().unwrap().push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn client_text_is_escaped_and_sids_are_cut() {
    log::set_logger(&Capture).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);
    let server = start(Server::builder(), |socket| {
        socket.on("hello", |_, _| {});
    });
    let addr = server.local_addr;

    // socket.io: a namespace, then a broken packet, with line breaks in them.
    let mut sio = connect_with(addr, "/socket.io/?EIO=4&transport=websocket", &[]).expect("upgrade");
    let open = sio.recv().into_text().unwrap();
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"].as_str().unwrap().to_string();
    sio.ws.send(Message::text("40/x\nINFO forged: namespace,")).unwrap();
    assert!(sio.recv().into_text().unwrap().starts_with("44/x\n"), "refused, and told so");
    sio.ws.send(Message::text("42[\"a\r\nINFO forged: event\"")).unwrap();
    let _ = sio.expect_close();

    // /ws: a bad frame and an event nobody handles, with line breaks.
    let mut ws = connect(addr);
    ws.ws.send(Message::text("{\n\"event\": INFO forged: frame")).unwrap();
    assert_eq!(ws.recv_event().0, "error");
    ws.send_json(serde_json::json!({ "event": "no\nINFO forged: name", "ack": 1 }));
    assert_eq!(ws.recv_event().0, "error");
    ws.close();
    server.shutdown().unwrap();

    let lines = LINES.lock().unwrap();
    assert!(lines.len() > 5, "{lines:?}");
    for line in lines.iter() {
        assert!(!line.contains('\n') && !line.contains('\r'), "a line break in a log line: {line:?}");
        assert!(!line.contains(&sid), "a whole sid in a log line: {line:?}");
    }
}
