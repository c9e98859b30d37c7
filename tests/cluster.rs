//! Several servers as one, over a real `redis-server` (Debian's, started on a
//! free loopback port with persistence off):
//!
//! - two wshub nodes: broadcasts, rooms, `except`, namespaces and binary
//!   data reach the clients of both, `/ws` and socket.io alike, once each;
//! - a wshub node beside a Node socket.io 4.8 node with
//!   `@socket.io/redis-adapter` 8.x: broadcasts and rooms both ways,
//!   `fetchSockets` both ways, server-side emits both ways, a wshub socket
//!   made to join a room from the Node side, broadcasts with acks;
//! - faults: Redis killed and restarted (local broadcasts go on; the node
//!   joins again), a node that stops answering (a request gives up at its
//!   timeout with what it has), garbage on the channels (dropped).
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::node_node::NodeNode;
use common::redis_server::RedisServer;
use common::*;
use crossbeam_channel::unbounded;
use serde_json::{json, Value};
use wshub::{binary, Server, ServerHandle};

/// A wshub node on `redis`: `/` and `/admin`; `join` puts the sender in a
/// room (answered with its id, once the hub has it), `shout` goes to the
/// others.
fn node(redis: &RedisServer) -> ServerHandle {
    watchdog(240);
    let server = Server::builder().redis(&redis.url()).bind(("127.0.0.1", 0)).expect("bind");
    server.on_connection(|socket| {
        socket.on_with_ack("join", |socket, room: Value, ack| {
            socket.join(room.as_str().unwrap_or_default());
            ack.send(socket.sid());
        });
        socket.on("shout", |socket, data| socket.broadcast("shout", data));
    });
    server.of("/admin").on_connection(|socket| socket.emit("admin", "hello"));
    server.spawn().expect("spawn")
}

/// Waits until `count` servers listen to namespace `nsp` of `server`'s cluster.
fn wait_for_servers(server: &ServerHandle, nsp: &str, count: usize) {
    let io = server.io.of(nsp);
    assert!(wait_until(Duration::from_secs(20), || io.server_count() == count), "{} servers", io.server_count());
}

/// A socket.io client (raw Engine.IO over WebSocket) joined to `nsp`: its public id.
fn sio(addr: std::net::SocketAddr, nsp: &str) -> (Raw, String) {
    let (mut raw, _) = Raw::open(addr);
    let connect = if nsp == "/" { "40".to_string() } else { format!("40{nsp},") };
    raw.send(&connect);
    let reply = raw.recv();
    let json = reply.split_once('{').map(|(_, rest)| format!("{{{rest}")).expect("a CONNECT answer");
    let sid = serde_json::from_str::<Value>(&json).unwrap()["sid"].as_str().unwrap().to_string();
    (raw, sid)
}

/// `/ws` client joins `room` (its ack says the hub has it).
fn ws_join(client: &mut Client, room: &str) {
    assert!(client.call("join", json!(room), 1).is_string());
}

#[test]
fn two_wshub_nodes_share_broadcasts_rooms_namespaces_and_binary() {
    let Some(redis) = RedisServer::start() else { return };
    let (a, b) = (node(&redis), node(&redis));
    wait_for_servers(&a, "/", 2);
    wait_for_servers(&b, "/", 2);

    let mut ws_b = connect(b.local_addr);
    let (mut sio_b, _) = sio(b.local_addr, "/");
    let (mut sio_a, _) = sio(a.local_addr, "/");
    // The /ws client is in B's hub once B counts it (an upgrade says nothing of that).
    assert!(wait_until(READ_TIMEOUT, || b.io.client_count() == 2));

    // Everyone, once each: the sender's own node does not deliver twice.
    a.io.emit("news", 1);
    assert_eq!(ws_b.recv_event(), ("news".into(), json!(1)));
    assert_eq!(sio_b.recv(), r#"42["news",1]"#);
    assert_eq!(sio_a.recv(), r#"42["news",1]"#);

    // A room: only its member on the other node.
    ws_join(&mut ws_b, "r1");
    a.io.to("r1").emit("room", 2);
    a.io.emit("marker", 3);
    assert_eq!(ws_b.recv_event(), ("room".into(), json!(2)));
    assert_eq!(ws_b.recv_event(), ("marker".into(), json!(3)));
    assert_eq!(sio_b.recv(), r#"42["marker",3]"#, "not in the room: no room event");
    assert_eq!(sio_a.recv(), r#"42["marker",3]"#);

    // `except` across nodes: a socket.io client on A shouts; the sender does not get it.
    sio_a.send(r#"42["shout","hey"]"#);
    assert_eq!(ws_b.recv_event(), ("shout".into(), json!("hey")));
    assert_eq!(sio_b.recv(), r#"42["shout","hey"]"#);
    a.io.emit("marker", 4);
    assert_eq!(sio_a.recv(), r#"42["marker",4]"#, "the shouter got no shout");
    assert_eq!(ws_b.recv_event(), ("marker".into(), json!(4)));
    assert_eq!(sio_b.recv(), r#"42["marker",4]"#);

    // Binary data: an attachment for socket.io, a marker for /ws.
    a.io.emit("bin", binary(&[1, 2, 3]));
    assert_eq!(ws_b.recv_event(), ("bin".into(), json!({ "$binary": "AQID" })));
    assert_eq!(sio_b.recv(), r#"451-["bin",{"_placeholder":true,"num":0}]"#);
    assert_eq!(sio_b.recv(), "<[1, 2, 3]>");

    // Namespaces: /admin's broadcast reaches /admin on the other node, not /.
    let (mut admin_b, _) = sio(b.local_addr, "/admin");
    assert_eq!(admin_b.recv(), r#"42/admin,["admin","hello"]"#);
    wait_for_servers(&a, "/admin", 2);
    a.io.of("/admin").emit("adm", 5);
    a.io.emit("marker", 6);
    assert_eq!(admin_b.recv(), r#"42/admin,["adm",5]"#);
    assert_eq!(ws_b.recv_event(), ("marker".into(), json!(6)), "/ did not get /admin's event");

    // The operations on selections span both nodes.
    let fetched = a.io.fetch_sockets();
    assert_eq!(fetched.len(), 3, "{fetched:?}");
    assert_eq!(fetched.iter().filter(|s| s.local_socket().is_none()).count(), 2, "two of them on the other node");
    assert!(a.io.all_rooms().contains(&"r1".to_string()));
    a.io.to("r1").sockets_join("r2");
    assert!(wait_until(Duration::from_secs(10), || b.io.to("r2").fetch_sockets().len() == 1));
}

#[test]
fn a_wshub_node_and_a_node_socketio_node_share_one_redis() {
    let Some(redis) = RedisServer::start() else { return };
    if !require("node", has_program("node")) {
        return;
    }
    let mut n = NodeNode::start(&redis, &[]);
    let w = node(&redis);
    let server_side: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = server_side.clone();
    w.io.on_server_side("hello", move |data, reply| {
        seen.lock().unwrap().push(data);
        reply.send("wshub-pong");
    });
    wait_for_servers(&w, "/", 2);

    let n1 = n.client("n1", "/", &["r"]);
    let (mut w1, w1_id) = sio(w.local_addr, "/");
    w1.send(r#"420["join","r"]"#);
    assert_eq!(w1.recv(), format!(r#"430["{w1_id}"]"#));

    // Broadcasts both ways, to a room.
    w.io.to("r").emit("hi", "from wshub");
    assert_eq!(n.client_event("n1"), ("hi".into(), json!(["from wshub"])));
    assert_eq!(w1.recv(), r#"42["hi","from wshub"]"#);
    n.call(json!({ "cmd": "emit", "rooms": ["r"], "event": "hi", "args": ["from node"] }));
    assert_eq!(w1.recv(), r#"42["hi","from node"]"#);

    // fetchSockets both ways.
    let ids: Vec<String> = n
        .call(json!({ "cmd": "fetchSockets", "rooms": ["r"] }))
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&w1_id) && ids.contains(&n1), "{ids:?}");
    let fetched: Vec<String> = w.io.to("r").fetch_sockets().into_iter().map(|s| s.id).collect();
    assert!(fetched.contains(&w1_id) && fetched.contains(&n1), "{fetched:?}");

    // A wshub socket made to join a room from the Node side.
    n.call(json!({ "cmd": "socketsJoin", "rooms": [w1_id], "join": "joined" }));
    assert!(wait_until(Duration::from_secs(10), || w.io.to("joined").fetch_sockets().len() == 1));
    n.call(json!({ "cmd": "emit", "rooms": ["joined"], "event": "in", "args": [1] }));
    assert_eq!(w1.recv(), r#"42["in",1]"#);

    // Server-side emits both ways, with acks.
    w.io.server_side_emit("hello", "from wshub");
    let line = n.wait(|v| v["serverSideEmit"] == json!("hello"));
    assert_eq!(line["args"], json!(["from wshub"]));
    let (tx, rx) = unbounded();
    w.io.server_side_emit_with_ack("ping", 1, move |answers| {
        let _ = tx.send(answers);
    });
    assert_eq!(rx.recv_timeout(READ_TIMEOUT).unwrap(), vec![json!("node-pong")]);
    let answers = n.call(json!({ "cmd": "serverSideEmitWithAck", "event": "hello", "args": ["from node"] }));
    assert_eq!(answers, json!(["wshub-pong"]));
    assert_eq!(server_side.lock().unwrap().clone(), vec![json!("from node")]);

    // A broadcast with acks from wshub: the Node client answers through Redis.
    let (tx, rx) = unbounded();
    w.io.to("r").except(w1_id.as_str()).timeout(Duration::from_secs(5)).emit_with_ack("ask", "q", move |acks| {
        let _ = tx.send(acks);
    });
    let acks = rx.recv_timeout(READ_TIMEOUT).unwrap();
    assert_eq!(acks.remote.len(), 1, "{acks:?}");
    assert!(acks.is_complete(), "{acks:?}");
}

#[test]
fn redis_going_away_and_coming_back() {
    let Some(mut redis) = RedisServer::start() else { return };
    let (a, b) = (node(&redis), node(&redis));
    wait_for_servers(&a, "/", 2);
    let mut local = connect(a.local_addr);
    let mut remote = connect(b.local_addr);
    assert!(wait_until(READ_TIMEOUT, || a.io.client_count() == 1 && b.io.client_count() == 1));

    redis.stop();
    // Local broadcasts are never blocked meanwhile.
    let started = Instant::now();
    for n in 0..100 {
        a.io.emit("tick", n);
    }
    for n in 0..100 {
        assert_eq!(local.recv_event(), ("tick".into(), json!(n)));
    }
    println!("100 local broadcasts with Redis gone: {:?}", started.elapsed());

    redis.restart();
    wait_for_servers(&a, "/", 2);
    wait_for_servers(&b, "/", 2);
    a.io.emit("back", 1);
    assert_eq!(remote.recv_event(), ("back".into(), json!(1)));
    assert_eq!(local.recv_event(), ("back".into(), json!(1)));
}

#[test]
fn a_node_that_stops_answering_costs_a_request_its_timeout_only() {
    let Some(redis) = RedisServer::start() else { return };
    if !require("node", has_program("node")) {
        return;
    }
    let mut n = NodeNode::start(&redis, &[]);
    let w = node(&redis);
    wait_for_servers(&w, "/", 2);
    let _local = connect(w.local_addr);
    n.client("n1", "/", &[]);
    // Frozen, not gone: Redis still counts it, but it never answers.
    let pid = n.child.id() as i32;
    // SAFETY: signals a child process of this test by its pid.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let started = Instant::now();
    let fetched = w.io.fetch_sockets();
    let waited = started.elapsed();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(fetched.len(), 1, "what this node has: {fetched:?}");
    // Bounded by the request timeout (5 s), with room for a loaded machine.
    assert!(waited < Duration::from_secs(30), "{waited:?}");
}

#[test]
fn garbage_on_the_channels_is_dropped() {
    let Some(redis) = RedisServer::start() else { return };
    let (a, b) = (node(&redis), node(&redis));
    wait_for_servers(&a, "/", 2);
    let mut client = connect(b.local_addr);
    assert!(wait_until(READ_TIMEOUT, || b.io.client_count() == 1));
    let mut con = redis.connection();
    for channel in ["socket.io#/#", "socket.io#/#room#", "socket.io-request#/#", "socket.io-response#/#"] {
        for payload in [&b"\x00\x01\x02"[..], b"{not json", b"\x93\xa1x\xc0\xc0", &[0xff; 64]] {
            let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(payload).query(&mut con).unwrap();
        }
    }
    a.io.emit("still", 1);
    assert_eq!(client.recv_event(), ("still".into(), json!(1)));
}
