//! The socket.io 4.8 server API its users expect (the table in
//! `docs/socketio-api.md`), as the real socket.io-client 4.8 sees it:
//! middlewares, acks that a handler answers later or never, broadcast acks,
//! `on_any`, `io.to(socket.id)`, the handshake, fetch/join/leave/disconnect
//! on selections, dynamic namespaces (`tests/socketio/api.mjs`), and
//! volatile emits dropped for a stalled client only
//! (`tests/socketio/volatile.mjs`). The servers are defined here.
mod common;

use std::time::Duration;

use common::*;
use serde::Serialize;
use serde_json::{json, Value};
use wshub::{Server, ServerHandle, Socket, Verdict};

/// What a socket saw: the names of the events it received and was sent.
#[derive(Debug, Clone, Default, Serialize)]
struct Seen {
    incoming: Vec<String>,
    outgoing: Vec<String>,
}

/// The API server: `/` with one handler per API, `/admin` behind two
/// connect checks, and the dynamic namespace `/dyn-*`.
fn start_api() -> ServerHandle {
    watchdog(240);
    let server = Server::builder().bind(("127.0.0.1", 0)).expect("bind");
    let dynamic = server.of_pattern("/dyn-*");
    dynamic.on_connection(|socket| socket.emit("where", socket.namespace()));
    server.on_connection(move |socket| on_connection(socket, &dynamic));
    let admin = server.of("/admin");
    admin.check_connect(|auth, _| if auth["token"].is_string() { Ok(()) } else { Err("no token".into()) });
    admin.check_connect(|auth, _| if auth["user"] == "mallory" { Err("banned".into()) } else { Ok(()) });
    admin.on_connection(|socket| socket.emit("welcome", "admin"));
    server.spawn().expect("spawn")
}

fn on_connection(socket: &Socket, dynamic: &wshub::DynamicNamespace) {
    socket.set_data(Seen::default());
    socket.on_any(|socket, event, _| {
        socket.with_data(|seen: &mut Seen| seen.incoming.push(event.to_string()));
    });
    socket.on_any_outgoing(|socket, event, _| {
        socket.with_data(|seen: &mut Seen| seen.outgoing.push(event.to_string()));
    });
    socket.use_middleware(|_, event, _| match event {
        "forbidden" => Verdict::Refuse("forbidden event".into()),
        "ignored" => Verdict::Ignore,
        _ => Verdict::Pass,
    });
    socket.emit("hello", json!({ "sid": socket.sid(), "rooms": socket.rooms(), "handshake": socket.handshake() }));

    socket.on("to-id", |socket, data| socket.io().to(data["id"].as_str().unwrap_or("")).emit("direct", &data["data"]));
    socket.on_with_ack("seen", |socket, _, ack| ack.send(socket.data::<Seen>()));
    socket.on("no-answer", |_, _| {});
    socket.on_with_ack("later", |_, data, ack| {
        // Answered from another thread, after the handler has returned.
        std::thread::spawn(move || ack.send(format!("{} from another thread", data.as_str().unwrap_or(""))));
    });
    socket.on_with_ack("ask-all", |socket, ms, ack| {
        let timeout = Duration::from_millis(ms.as_u64().unwrap_or(500));
        socket.io().timeout(timeout).emit_with_ack("question", wshub::Args(vec![]), move |acks| {
            ack.send(json!({ "replies": acks.replies, "missing": acks.missing }))
        });
    });
    socket.on_with_ack("join", |socket, room, ack| {
        socket.join(room.as_str().unwrap_or(""));
        ack.send(());
    });
    socket.on_with_ack("fetch", |socket, room, ack| {
        let sockets = match room.as_str() {
            Some(room) => socket.io().in_(room).fetch_sockets(),
            None => socket.io().fetch_sockets(),
        };
        let found: Vec<Value> = sockets
            .iter()
            .map(|s| json!({ "id": s.id, "rooms": s.rooms, "data": s.data, "handshake": s.handshake }))
            .collect();
        ack.send(found);
    });
    socket.on_with_ack("sockets-join", |socket, data, ack| {
        socket.io().in_(data["room"].as_str().unwrap_or("")).sockets_join(data["join"].as_str().unwrap_or(""));
        ack.send(());
    });
    socket.on_with_ack("fetched-join", |socket, data, ack| {
        for found in socket.io().in_(data["id"].as_str().unwrap_or("")).fetch_sockets() {
            found.join(data["join"].as_str().unwrap_or(""));
        }
        ack.send(());
    });
    socket.on_with_ack("sockets-leave", |socket, data, ack| {
        let rooms: Vec<String> = serde_json::from_value(data["leave"].clone()).unwrap_or_default();
        socket.io().in_(data["room"].as_str().unwrap_or("")).sockets_leave(rooms);
        ack.send(());
    });
    socket.on_with_ack("disconnect-room", |socket, room, ack| {
        socket.io().in_(room.as_str().unwrap_or("")).disconnect_sockets(false);
        ack.send(());
    });
    socket.on_with_ack("server-side", |socket, _, ack| {
        socket.io().server_side_emit_with_ack("hello", "other servers", move |answers| ack.send(answers.len()));
    });
    let dynamic = dynamic.clone();
    socket.on("parent-emit", move |_, data| dynamic.emit("parent", data));
}

/// Every API with socket.io-client over `transport`.
fn api_over(transport: &str) {
    if !node_ready() {
        return;
    }
    let server = start_api();
    let out = run_node("tests/socketio/api.mjs", &[&format!("http://{}", server.local_addr), transport]);
    assert!(out.contains("done"), "{out}");
}

/// Over WebSocket.
#[test]
fn the_server_api_over_websocket() {
    api_over("websocket");
}

/// Over HTTP long-polling.
#[test]
fn the_server_api_over_polling() {
    api_over("polling");
}

/// Volatile emits: a socket.io client that stops reading misses every
/// volatile event sent while its backlog is not empty, and only those; a
/// healthy client gets all of them; caught up, the stalled one gets them
/// again. (The backlog is allowed to hold the whole burst, so that nobody
/// is closed as too slow.)
#[test]
fn volatile_emits_are_dropped_for_a_stalled_client_only() {
    if !node_ready() {
        return;
    }
    watchdog(240);
    const FILL_BYTES: usize = 512 * 1024;
    let server = Server::builder()
        .backlog_capacity(100_000)
        .backlog_bytes(256 << 20)
        .slow_client_timeout(Duration::from_secs(60))
        .bind(("127.0.0.1", 0))
        .expect("bind");
    server.on_connection(|socket| {
        socket.on("fill", |socket, n| {
            let pad = "x".repeat(FILL_BYTES);
            for _ in 0..n.as_u64().unwrap_or(0) {
                socket.io().emit("fill", &pad);
            }
        });
        socket.on("volatile-burst", |socket, n| {
            let n = n.as_u64().unwrap_or(0);
            for i in 0..n {
                socket.io().volatile().emit("v", i);
            }
            socket.io().emit("end", n);
        });
    });
    let server = server.spawn().expect("spawn");
    // Twice what the kernel may buffer on both ends, so the stalled socket surely fills.
    let fill = (4 * send_buffer_limit() / FILL_BYTES).max(16).to_string();
    let out = run_node("tests/socketio/volatile.mjs", &[&format!("http://{}", server.local_addr), &fill]);
    assert!(out.contains("ok - and 0 of the 50 volatile ones"), "{out}");
    assert!(out.contains("done"), "{out}");
}
