//! Several nodes behind a load balancer: HTTP long-polling needs every
//! request of a session to reach the node that holds it (sticky sessions).
//! A polling request that reaches another node gets the answer Node's
//! socket.io gives (`400 {"code":1,"message":"Session ID unknown"}`), and
//! nginx configured as `docs/17-cluster.md` shows keeps each client on one
//! node, through the polling phase and the upgrade.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::nginx::Nginx;
use common::*;
use wshub::{Server, ServerHandle};

/// A node that says which one it is.
fn node(name: &'static str) -> ServerHandle {
    start(Server::builder(), move |socket| {
        socket.emit("server-message", format!("Welcome from node {name}"));
        socket.on_with_ack("whoami", move |_, _, ack| ack.send(format!("node {name}")));
    })
}

fn polling(addr: std::net::SocketAddr, query: &str) -> (u16, String) {
    let request =
        format!("GET /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let response = raw_request(addr, request.as_bytes());
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status_of(&response), body)
}

#[test]
fn a_polling_request_on_the_wrong_node_gets_session_id_unknown() {
    let (a, b) = (node("a"), node("b"));
    let (status, open) = polling(a.local_addr, "");
    assert_eq!(status, 200);
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"].as_str().unwrap().to_string();
    let (status, body) = polling(b.local_addr, &format!("&sid={sid}"));
    assert_eq!((status, body.as_str()), (400, r#"{"code":1,"message":"Session ID unknown"}"#));
}

#[test]
fn socketio_clients_through_nginx_stay_on_their_node() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !require("node", has_program("node"))
        || !require("node_modules/socket.io-client (run `npm ci`)", dir.join("node_modules/socket.io-client").exists())
    {
        return;
    }
    let (a, b) = (node("a"), node("b"));
    let Some(nginx) = Nginx::start(&[a.local_addr, b.local_addr], "hash $remote_addr consistent;") else { return };
    for _ in 0..3 {
        let output = Command::new("node")
            .arg(dir.join("tests/socketio/through_proxy.mjs"))
            .arg(format!("http://{}", nginx.addr))
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run node");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "through nginx:\n{text}");
    }
}
