//! wshub's cluster module against the real thing: Node socket.io 4.8 servers
//! with `@socket.io/redis-adapter` 8.x (`tests/cluster/node-node.mjs`) on a
//! real `redis-server`.
//!
//! - What Node publishes (captured from Redis with a plain `redis`
//!   subscriber) decodes to the values Node was given, and re-encodes to
//!   Node's very bytes.
//! - What wshub publishes, Node acts on: its clients get our broadcasts, it
//!   answers our requests, and it takes our answers to its requests.
mod common;

use std::collections::VecDeque;
use std::path::Path;

use common::node_node::NodeNode;
use common::redis_server::RedisServer;
use common::*;
use crossbeam_channel::{unbounded, Receiver};
use serde_json::{json, Value};
use wshub::cluster::{
    new_id, Broadcast, BroadcastOpts, Cluster, ClusterConfig, Event, EventPacket, Flags, Message, RemoteSocket,
    Request, RequestKind, Response, Selection,
};
use wshub::{binary, Args};

/// The captured broadcast that `docs`-style walkthroughs decode byte by byte:
/// `io.to("room1").except("room2").emit("chat", "hello", Buffer.from([1, 2, 3]))`
/// on channel `socket.io#/#room1#`. Refreshed by `WSHUB_BLESS_CLUSTER=1`.
const FIXTURE: &str = "tests/cluster/broadcast-room1.msgpack";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Redis, node, and the adapter's npm packages (`npm ci`); else a loud skip.
fn start_redis_for_node() -> Option<RedisServer> {
    watchdog(180);
    let node = require("node", has_program("node"))
        && require(
            "node_modules/@socket.io/redis-adapter (run `npm ci`)",
            root().join("node_modules/@socket.io/redis-adapter").exists(),
        );
    if !node {
        return None;
    }
    RedisServer::start()
}

// -------------------------------------------------------------- capture ----

/// Every message on a `socket.io…` channel, as Redis carried it: a plain
/// PSUBSCRIBE, which (unlike SUBSCRIBE) no node counts as a server.
struct Capture {
    messages: Receiver<(String, Vec<u8>)>,
    backlog: VecDeque<(String, Vec<u8>)>,
}

impl Capture {
    fn start(redis: &RedisServer) -> Capture {
        let mut con = redis.connection();
        let (tx, messages) = unbounded();
        let (ready_tx, ready) = unbounded();
        std::thread::spawn(move || {
            let mut pubsub = con.as_pubsub();
            pubsub.psubscribe("socket.io*").expect("PSUBSCRIBE");
            let _ = ready_tx.send(());
            while let Ok(msg) = pubsub.get_message() {
                if tx.send((msg.get_channel_name().to_string(), msg.get_payload_bytes().to_vec())).is_err() {
                    break;
                }
            }
        });
        ready.recv_timeout(READ_TIMEOUT).expect("capture subscribed");
        Capture { messages, backlog: VecDeque::new() }
    }

    /// The first message (captured before or now) on `channel` whose bytes
    /// `matches`; the others stay for later calls.
    fn next(&mut self, channel: &str, matches: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let fits = |(c, bytes): &(String, Vec<u8>)| c == channel && matches(bytes);
        if let Some(i) = self.backlog.iter().position(fits) {
            return self.backlog.remove(i).map(|(_, b)| b).unwrap_or_default();
        }
        loop {
            match self.messages.recv_timeout(READ_TIMEOUT) {
                Ok(m) if fits(&m) => return m.1,
                Ok(m) => self.backlog.push_back(m),
                Err(_) => panic!("nothing captured on {channel}; other channels: {:?}", channels(&self.backlog)),
            }
        }
    }

    /// The next message on `channel` sent by node `uid` (requests and broadcasts).
    fn sent_by(&mut self, channel: &str, uid: &str) -> Vec<u8> {
        let uid = uid.to_string();
        self.next(channel, move |bytes| match wshub::cluster::Message::decode(kind_of(channel), bytes) {
            Ok(Message::Broadcast(b)) => b.uid == uid,
            Ok(Message::Request(r)) => r.uid == uid,
            _ => false,
        })
    }

    /// The next response on `channel` that `matches` once decoded.
    fn response(&mut self, channel: &str, matches: impl Fn(&Response) -> bool) -> (Vec<u8>, Response) {
        let bytes = self.next(channel, |bytes| Response::decode(bytes).is_ok_and(|r| matches(&r)));
        let response = Response::decode(&bytes).expect("decoded above");
        (bytes, response)
    }
}

fn channels(backlog: &VecDeque<(String, Vec<u8>)>) -> Vec<&str> {
    backlog.iter().map(|(c, _)| c.as_str()).collect()
}

fn kind_of(channel: &str) -> wshub::cluster::ChannelKind {
    use wshub::cluster::ChannelKind;
    if channel.contains("-request#") {
        ChannelKind::Request
    } else if channel.contains("-response#") {
        ChannelKind::Response
    } else {
        ChannelKind::Broadcast
    }
}

// -------------------------------------------------------------- cluster ----

/// Our node, subscribed to `/` and `/admin` before the Node nodes start (so
/// they count it among the servers from their first request on).
fn start_cluster(redis: &RedisServer, specific: bool) -> (Cluster, Receiver<Event>) {
    let (tx, events) = unbounded();
    let mut config = ClusterConfig::new(&redis.url());
    config.specific_response_channel = specific;
    let cluster = Cluster::start(config, &["/", "/admin"], move |event| {
        let _ = tx.send(event);
    })
    .expect("start the cluster");
    match events.recv_timeout(READ_TIMEOUT) {
        Ok(Event::Subscribed { .. }) => {}
        other => panic!("expected Subscribed, got {other:?}"),
    }
    (cluster, events)
}

/// The next message our node received (from another node).
fn next_message(events: &Receiver<Event>) -> Message {
    loop {
        match events.recv_timeout(READ_TIMEOUT) {
            Ok(Event::Message { message, .. }) => return message,
            Ok(_) => continue,
            Err(_) => panic!("our node received no message"),
        }
    }
}

/// The next request our node received (other nodes' answers, which reach
/// it too on the shared response channel, are skipped).
fn next_request(events: &Receiver<Event>) -> Request {
    loop {
        match next_message(events) {
            Message::Request(r) => return r,
            Message::Response(_) => continue,
            other => panic!("expected a request, got {other:?}"),
        }
    }
}

fn packet(nsp: &str, name: &str, args: Vec<Value>) -> EventPacket {
    EventPacket { nsp: nsp.into(), name: name.into(), args }
}

fn rooms(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn sorted(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by_key(|v| v.to_string());
    items
}

// ---------------------------------------------------------------- tests ----

/// Node's broadcasts, captured from Redis, decode to exactly what Node was
/// asked to emit — to all, to one room (its own channel), with `except`,
/// to several rooms, with bytes of every length class, with flags, in
/// another namespace, with a Date — and re-encode to Node's very bytes.
#[test]
fn node_broadcasts_decode_to_what_it_emitted_and_reencode_to_its_bytes() {
    let Some(redis) = start_redis_for_node() else { return };
    let mut capture = Capture::start(&redis);
    let mut a = NodeNode::start(&redis, &[]);
    let uid = a.uid.clone();

    let check = |capture: &mut Capture, channel: &str, uid: &str, expected: Broadcast, same_bytes: bool| {
        let bytes = capture.sent_by(channel, uid);
        let decoded = Broadcast::decode(&bytes).expect("Node's broadcast decodes");
        // (Not assert_eq: a 70,000-byte value would flood the failure message.)
        assert!(decoded == expected, "on {channel}: decoded {:.400}", format!("{decoded:?}"));
        if same_bytes {
            let ours = decoded.encode();
            let differs = ours.iter().zip(&bytes).position(|(x, y)| x != y);
            assert!(
                ours == bytes,
                "re-encoding differs from Node's bytes on {channel}: first at {differs:?}, lengths {} and {}",
                ours.len(),
                bytes.len()
            );
        }
        bytes
    };
    let scalars =
        json!([1, "two", {"three": [3]}, null, true, -5, 1.5, 300, 70000, 5_000_000_000u64, -5_000_000_000i64]);
    a.call(json!({ "cmd": "emit", "event": "all", "args": scalars }));
    let everyone = Broadcast {
        uid: uid.clone(),
        packet: packet("/", "all", scalars.as_array().unwrap().clone()),
        opts: BroadcastOpts::default(),
    };
    check(&mut capture, "socket.io#/#", &uid, everyone, true);

    // The fixture: one room (so its own channel), an except, bytes.
    a.call(json!({
        "cmd": "emit", "rooms": ["room1"], "except": ["room2"], "event": "chat",
        "args": ["hello", binary(&[1, 2, 3])],
    }));
    let fixture = Broadcast {
        uid: uid.clone(),
        packet: packet("/", "chat", vec![json!("hello"), binary(&[1, 2, 3])]),
        opts: BroadcastOpts { rooms: rooms(&["room1"]), except: rooms(&["room2"]), flags: Flags::default() },
    };
    let bytes = check(&mut capture, "socket.io#/#room1#", &uid, fixture, true);
    check_fixture(&bytes);

    a.call(json!({ "cmd": "emit", "rooms": ["r1", "r2"], "except": ["r3"], "event": "several", "args": [] }));
    let several = Broadcast {
        uid: uid.clone(),
        packet: packet("/", "several", vec![]),
        opts: BroadcastOpts { rooms: rooms(&["r1", "r2"]), except: rooms(&["r3"]), flags: Flags::default() },
    };
    check(&mut capture, "socket.io#/#", &uid, several, true);

    // bin 8, bin 16 and bin 32 (70,000 bytes), nested in objects and arrays.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let bytes_args = vec![binary(&[]), json!({"nested": [binary(&[0u8; 300])]}), binary(&big)];
    a.call(json!({ "cmd": "emit", "event": "bytes", "args": bytes_args }));
    let with_bytes =
        Broadcast { uid: uid.clone(), packet: packet("/", "bytes", bytes_args), opts: BroadcastOpts::default() };
    check(&mut capture, "socket.io#/#", &uid, with_bytes, true);

    a.call(json!({ "cmd": "emit", "volatile": true, "compress": false, "event": "flags", "args": [] }));
    let flags = Flags { volatile: true, compress: Some(false), ..Flags::default() };
    let flagged = Broadcast {
        uid: uid.clone(),
        packet: packet("/", "flags", vec![]),
        opts: BroadcastOpts { flags, ..BroadcastOpts::default() },
    };
    check(&mut capture, "socket.io#/#", &uid, flagged, true);

    a.call(json!({ "cmd": "emit", "nsp": "/admin", "event": "admin-news", "args": ["x"] }));
    let admin = Broadcast {
        uid: a.uid_admin.clone(),
        packet: packet("/admin", "admin-news", vec![json!("x")]),
        opts: BroadcastOpts::default(),
    };
    check(&mut capture, "socket.io#/admin#", &a.uid_admin.clone(), admin, true);

    // A Date reads as the text JSON.stringify gives it (not re-encodable
    // to the same bytes: it is a string now, as a client would see it).
    a.call(json!({ "cmd": "emit", "event": "when", "args": [{"$date": 1_714_564_800_123u64}, {"$date": 0}] }));
    let dated = Broadcast {
        uid: uid.clone(),
        packet: packet("/", "when", vec![json!("2024-05-01T12:00:00.123Z"), json!("1970-01-01T00:00:00.000Z")]),
        opts: BroadcastOpts::default(),
    };
    check(&mut capture, "socket.io#/#", &uid, dated, false);
}

/// The captured bytes equal the committed fixture, but for the sender's
/// random uid (bytes 2..8: after `0x93` array-of-3 and `0xa6` str-of-6).
fn check_fixture(bytes: &[u8]) {
    let path = root().join(FIXTURE);
    if std::env::var("WSHUB_BLESS_CLUSTER").is_ok_and(|v| v == "1") {
        std::fs::write(&path, bytes).expect("write the fixture");
    }
    let fixture = std::fs::read(&path).expect("the fixture (WSHUB_BLESS_CLUSTER=1 writes it)");
    assert_eq!(&bytes[..2], [0x93, 0xa6], "an array of 3 that starts with a 6-character uid");
    let mut live = bytes.to_vec();
    live[2..8].copy_from_slice(&fixture[2..8]);
    assert_eq!(live, fixture, "Node's bytes for the fixture's broadcast changed");
}

/// Two Node nodes and ours. Node A's requests (fetchSockets, allRooms,
/// serverSideEmit with and without ack, socketsJoin/Leave,
/// disconnectSockets, emitWithAck, a RemoteSocket's emit) decode to what A
/// asked; node B's answers decode to what B holds; and A takes our answers
/// alongside B's, on the shared response channel.
#[test]
fn node_requests_and_answers_decode_and_node_takes_ours() {
    let Some(redis) = start_redis_for_node() else { return };
    let mut capture = Capture::start(&redis);
    let (cluster, events) = start_cluster(&redis, false);
    let mut a = NodeNode::start(&redis, &[]);
    let mut b = NodeNode::start(&redis, &[]);
    let a1 = a.client("a1", "/", &["r1"]);
    let b1 = b.client("b1", "/", &["r1"]);
    assert_eq!(a.call(json!({ "cmd": "serverCount" })), json!(3), "A, B and ours");
    let uid = a.uid.clone();
    let (req, res) = ("socket.io-request#/#", "socket.io-response#/#");

    // fetchSockets: B answers with b1, we with a socket of ours.
    let id = a.send(json!({ "cmd": "fetchSockets", "rooms": ["r1"] }));
    let request = Request::decode(&capture.sent_by(req, &uid)).unwrap();
    let RequestKind::Fetch { request_id, select } = &request.kind else { panic!("a fetch: {request:?}") };
    assert_eq!(select, &Selection { rooms: rooms(&["r1"]), except: vec![] });
    assert_eq!(next_request(&events), request, "our node got the same request");
    let ours = RemoteSocket {
        id: "rust-socket".into(),
        handshake: json!({ "address": "127.0.0.1", "auth": {} }),
        rooms: rooms(&["rust-socket", "r1"]),
        data: json!({ "user": "rust" }),
    };
    cluster.respond("/", &uid, Response::Fetch { request_id: request_id.clone(), sockets: vec![ours] });
    let (_, answer) =
        capture.response(res, |r| matches!(r, Response::Fetch { sockets, .. } if sockets.iter().any(|s| s.id == b1)));
    let Response::Fetch { request_id: answered, sockets } = answer else { unreachable!() };
    assert_eq!(&answered, request_id);
    assert_eq!(
        (sockets[0].rooms.clone(), sockets[0].data.clone()),
        (vec![b1.clone(), "r1".into()], json!({"user": "b1"}))
    );
    assert_eq!(sockets[0].handshake["address"], json!("127.0.0.1"), "B's handshake object: {:?}", sockets[0].handshake);
    let fetched = a.reply(id);
    let expected = json!([
        { "id": a1, "rooms": sorted(vec![json!(a1), json!("r1")]), "data": {"user": "a1"}, "address": "127.0.0.1" },
        { "id": b1, "rooms": sorted(vec![json!(b1), json!("r1")]), "data": {"user": "b1"}, "address": "127.0.0.1" },
        { "id": "rust-socket", "rooms": ["r1", "rust-socket"], "data": {"user": "rust"}, "address": "127.0.0.1" },
    ]);
    assert_eq!(sorted(fetched.as_array().unwrap().clone()), sorted(expected.as_array().unwrap().clone()));

    // allRooms
    let id = a.send(json!({ "cmd": "allRooms" }));
    let request = Request::decode(&capture.sent_by(req, &uid)).unwrap();
    let RequestKind::AllRooms { request_id } = &request.kind else { panic!("allRooms: {request:?}") };
    assert_eq!(next_request(&events), request);
    cluster.respond("/", &uid, Response::AllRooms { request_id: request_id.clone(), rooms: rooms(&["rust-room"]) });
    let (_, answer) = capture.response(res, |r| matches!(r, Response::AllRooms { rooms, .. } if rooms.contains(&b1)));
    assert_eq!(answer, Response::AllRooms { request_id: request_id.clone(), rooms: vec![b1.clone(), "r1".into()] });
    let mut all = vec![a1.clone(), b1.clone(), "r1".into(), "rust-room".into()];
    all.sort();
    assert_eq!(a.reply(id), json!(all));

    // serverSideEmit without an ack: nobody answers.
    a.call(json!({ "cmd": "serverSideEmit", "event": "hello", "args": [1, "two"] }));
    let request = Request::decode(&capture.sent_by(req, &uid)).unwrap();
    let sse =
        RequestKind::ServerSideEmit { request_id: None, name: "hello".into(), args: vec![json!(1), json!("two")] };
    assert_eq!(request, Request { uid: uid.clone(), kind: sse });
    assert_eq!(next_request(&events), request);
    assert_eq!(b.wait(|v| v["serverSideEmit"] == json!("hello"))["args"], json!([1, "two"]));

    // serverSideEmitWithAck: one answer per other server.
    let id = a.send(json!({ "cmd": "serverSideEmitWithAck", "event": "ping", "args": ["x"] }));
    let request = Request::decode(&capture.sent_by(req, &uid)).unwrap();
    let RequestKind::ServerSideEmit { request_id: Some(request_id), name, args } = &request.kind else {
        panic!("serverSideEmit with an ack: {request:?}")
    };
    assert_eq!((name.as_str(), args.clone()), ("ping", vec![json!("x")]));
    assert_eq!(next_request(&events), request);
    cluster.respond(
        "/",
        &uid,
        Response::ServerSideEmitAck { request_id: request_id.clone(), data: json!("rust-pong") },
    );
    let (_, answer) =
        capture.response(res, |r| matches!(r, Response::ServerSideEmitAck { data, .. } if data == "node-pong"));
    assert_eq!(answer.request_id(), request_id);
    assert_eq!(sorted(a.reply(id).as_array().unwrap().clone()), [json!("node-pong"), json!("rust-pong")]);

    // socketsJoin, socketsLeave, disconnectSockets: orders, never answered.
    let select = Selection { rooms: rooms(&["r1"]), except: rooms(&["r0"]) };
    a.call(json!({ "cmd": "socketsJoin", "rooms": ["r1"], "except": ["r0"], "join": ["r9"] }));
    let join = Request { uid: uid.clone(), kind: RequestKind::Join { select: select.clone(), rooms: rooms(&["r9"]) } };
    assert_eq!(Request::decode(&capture.sent_by(req, &uid)).unwrap(), join);
    assert_eq!(next_request(&events), join);
    a.call(json!({ "cmd": "socketsLeave", "rooms": ["r1"], "except": ["r0"], "leave": "r9" }));
    let leave = Request { uid: uid.clone(), kind: RequestKind::Leave { select, rooms: rooms(&["r9"]) } };
    assert_eq!(Request::decode(&capture.sent_by(req, &uid)).unwrap(), leave);
    assert_eq!(next_request(&events), leave);
    a.call(json!({ "cmd": "disconnectSockets", "rooms": ["nobody"], "close": true }));
    let select = Selection { rooms: rooms(&["nobody"]), except: vec![] };
    let disconnect = Request { uid: uid.clone(), kind: RequestKind::Disconnect { select, close: true } };
    assert_eq!(Request::decode(&capture.sent_by(req, &uid)).unwrap(), disconnect);
    assert_eq!(next_request(&events), disconnect);

    // emitWithAck: a MessagePack request; B answers with its client count,
    // then with b1's ack (MessagePack); A adds ours to its own a1's.
    let id = a.send(json!({
        "cmd": "emitWithAck", "rooms": ["r1"], "timeout": 5000, "event": "ask", "args": [1, binary(&[1, 2])],
    }));
    let bytes = capture.sent_by(req, &uid);
    assert_ne!(bytes[0], b'{', "MessagePack, not JSON");
    let request = Request::decode(&bytes).unwrap();
    let RequestKind::BroadcastWithAck { request_id, packet: p, opts } = &request.kind else {
        panic!("a broadcast with acks: {request:?}")
    };
    assert_eq!(p, &packet("/", "ask", vec![json!(1), binary(&[1, 2])]));
    let flags = Flags { timeout_ms: Some(5000), ..Flags::default() };
    assert_eq!(opts, &BroadcastOpts { rooms: rooms(&["r1"]), except: vec![], flags });
    assert_eq!(request.encode(), bytes, "re-encoding gives Node's bytes");
    assert_eq!(next_request(&events), request);
    cluster.respond("/", &uid, Response::BroadcastClientCount { request_id: request_id.clone(), client_count: 1 });
    cluster.respond(
        "/",
        &uid,
        Response::BroadcastAck { request_id: request_id.clone(), data: json!({"from": "rust"}) },
    );
    let (_, count) = capture.response(res, |r| matches!(r, Response::BroadcastClientCount { client_count: 1, .. }));
    assert_eq!(count.request_id(), request_id);
    let b1_ack = json!({ "from": "b1", "got": [1, binary(&[1, 2])] });
    let (bytes, ack) =
        capture.response(res, |r| matches!(r, Response::BroadcastAck { data, .. } if data["from"] == "b1"));
    assert_ne!(bytes[0], b'{', "an ack is MessagePack");
    assert_eq!(ack, Response::BroadcastAck { request_id: request_id.clone(), data: b1_ack.clone() });
    assert_eq!(ack.encode(), bytes, "re-encoding gives Node's bytes");
    assert_eq!(b.client_event("b1"), ("ask".to_string(), json!([1, binary(&[1, 2])])));
    let a1_ack = json!({ "from": "a1", "got": [1, binary(&[1, 2])] });
    assert_eq!(sorted(a.reply(id).as_array().unwrap().clone()), sorted(vec![a1_ack, b1_ack, json!({"from": "rust"})]));

    // A RemoteSocket's emit: a broadcast to b1's own room, expecting one answer.
    let id = a.send(json!({ "cmd": "remoteEmit", "rooms": [b1], "event": "direct", "args": ["only you"] }));
    let RequestKind::Fetch { request_id, .. } = next_request(&events).kind else { panic!("the fetch first") };
    cluster.respond("/", &uid, Response::Fetch { request_id, sockets: vec![] });
    assert_eq!(a.reply(id), json!(1));
    let direct = Broadcast {
        uid: uid.clone(),
        packet: packet("/", "direct", vec![json!("only you")]),
        opts: BroadcastOpts {
            rooms: vec![b1.clone()],
            except: vec![],
            flags: Flags { expect_single_response: true, ..Flags::default() },
        },
    };
    let bytes = capture.sent_by(&format!("socket.io#/#{b1}#"), &uid);
    assert_eq!(Broadcast::decode(&bytes).unwrap(), direct);
    assert_eq!(b.client_event("b1"), ("direct".to_string(), json!(["only you"])));
}

/// What our node publishes, Node acts on: its clients get our broadcasts
/// (to all, to a room, except a room, with bytes, in another namespace)
/// and no one else does; it answers our requests (on our own response
/// channel, with `publishOnSpecificResponseChannel`), and obeys our
/// socketsJoin / socketsLeave / disconnectSockets.
#[test]
fn node_acts_on_what_we_publish() {
    let Some(redis) = start_redis_for_node() else { return };
    let mut capture = Capture::start(&redis);
    let (cluster, events) = start_cluster(&redis, true);
    let mut a = NodeNode::start(&redis, &["specific"]);
    let c1 = a.client("c1", "/", &["r1"]);
    let c2 = a.client("c2", "/", &["r2"]);
    a.client("c3", "/admin", &[]);
    assert_eq!(cluster.server_count("/").recv_timeout(READ_TIMEOUT).unwrap(), Some(2));

    cluster.broadcast(packet("/", "hello-all", vec![json!("hi"), json!(1)]), BroadcastOpts::default());
    assert_eq!(a.client_event("c1"), ("hello-all".to_string(), json!(["hi", 1])));
    assert_eq!(a.client_event("c2"), ("hello-all".to_string(), json!(["hi", 1])));

    // Node handles what it reads in order: a marker after a room broadcast
    // shows that a client outside the room did not get it.
    let marker = |cluster: &Cluster, name: &str| {
        cluster.broadcast(packet("/", name, vec![]), BroadcastOpts::default());
    };
    let to_r1 = BroadcastOpts { rooms: rooms(&["r1"]), ..BroadcastOpts::default() };
    cluster.broadcast(packet("/", "to-r1", vec![json!("r1 only")]), to_r1);
    marker(&cluster, "marker1");
    assert_eq!(a.client_event("c1"), ("to-r1".to_string(), json!(["r1 only"])));
    assert_eq!(a.client_event("c1").0, "marker1");
    assert_eq!(a.client_event("c2").0, "marker1");

    let not_r1 = BroadcastOpts { except: rooms(&["r1"]), ..BroadcastOpts::default() };
    cluster.broadcast(packet("/", "not-r1", vec![]), not_r1);
    marker(&cluster, "marker2");
    assert_eq!(a.client_event("c2").0, "not-r1");
    assert_eq!(a.client_event("c2").0, "marker2");
    assert_eq!(a.client_event("c1").0, "marker2");

    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let bytes_args = vec![binary(&[1, 2, 3]), json!({ "nested": [binary(&[0u8; 300])] }), binary(&big)];
    cluster.broadcast(packet("/", "bytes", bytes_args.clone()), BroadcastOpts::default());
    for client in ["c1", "c2"] {
        let (event, args) = a.client_event(client);
        assert!(event == "bytes" && args == json!(bytes_args), "{client} got {event} {:.200}", args.to_string());
    }

    cluster.broadcast(packet("/admin", "admin-news", vec![json!("x")]), BroadcastOpts::default());
    marker(&cluster, "marker3");
    assert_eq!(a.client_event("c3"), ("admin-news".to_string(), json!(["x"])));
    assert_eq!(a.client_event("c1").0, "marker3");
    assert_eq!(a.client_event("c2").0, "marker3");

    // An event from wshub's own model: Args become several arguments.
    let data = wshub::wire::payload(&Args(vec![json!(1), json!({"two": 2})])).unwrap();
    let from_hub = EventPacket::from_event("/", "from-hub", &data);
    cluster.broadcast(from_hub, BroadcastOpts::default());
    assert_eq!(a.client_event("c2"), ("from-hub".to_string(), json!([1, {"two": 2}])));
    assert_eq!(a.client_event("c1").0, "from-hub");

    // Requests: Node answers on our own response channel.
    let ours = format!("socket.io-response#/#{}#", cluster.uid());
    let fetch = |cluster: &Cluster, events: &Receiver<Event>, room: &str| -> Vec<RemoteSocket> {
        let request_id = new_id();
        let select = Selection { rooms: rooms(&[room]), except: vec![] };
        cluster.request("/", RequestKind::Fetch { request_id: request_id.clone(), select });
        match next_message(events) {
            Message::Response(Response::Fetch { request_id: answered, sockets }) if answered == request_id => sockets,
            other => panic!("expected the fetch answer, got {other:?}"),
        }
    };
    let sockets = fetch(&cluster, &events, "r1");
    assert_eq!(sockets.len(), 1);
    assert_eq!((sockets[0].id.clone(), sockets[0].data.clone()), (c1.clone(), json!({"user": "c1"})));
    let (_, seen) = capture.response(&ours, |r| matches!(r, Response::Fetch { .. }));
    assert!(matches!(seen, Response::Fetch { .. }), "Node answered on our own channel");

    let request_id = new_id();
    cluster.request("/", RequestKind::AllRooms { request_id: request_id.clone() });
    let Message::Response(Response::AllRooms { request_id: answered, rooms: mut all }) = next_message(&events) else {
        panic!("the allRooms answer")
    };
    all.sort();
    let mut expected = vec![c1.clone(), c2.clone(), "r1".to_string(), "r2".to_string()];
    expected.sort();
    assert_eq!((answered, all), (request_id, expected));

    let select = Selection { rooms: rooms(&["r1"]), except: vec![] };
    cluster.request("/", RequestKind::Join { select: select.clone(), rooms: rooms(&["joined-by-rust"]) });
    assert_eq!(fetch(&cluster, &events, "joined-by-rust")[0].id, c1);
    cluster.request("/", RequestKind::Leave { select, rooms: rooms(&["joined-by-rust"]) });
    assert!(fetch(&cluster, &events, "joined-by-rust").is_empty());

    cluster.request("/", RequestKind::ServerSideEmit { request_id: None, name: "hello".into(), args: vec![json!(1)] });
    assert_eq!(a.wait(|v| v["serverSideEmit"] == json!("hello"))["args"], json!([1]));
    let request_id = new_id();
    let ping = RequestKind::ServerSideEmit { request_id: Some(request_id.clone()), name: "ping".into(), args: vec![] };
    cluster.request("/", ping);
    assert_eq!(
        next_message(&events),
        Message::Response(Response::ServerSideEmitAck { request_id, data: json!("node-pong") })
    );
    // Node sends that ack on the shared channel, whatever the option says.
    capture.response("socket.io-response#/#", |r| matches!(r, Response::ServerSideEmitAck { .. }));

    let request_id = new_id();
    let flags = Flags { timeout_ms: Some(5000), ..Flags::default() };
    let opts = BroadcastOpts { rooms: rooms(&["r1"]), except: vec![], flags };
    let ask = RequestKind::BroadcastWithAck {
        request_id: request_id.clone(),
        packet: packet("/", "ask", vec![json!(7)]),
        opts,
    };
    cluster.request("/", ask);
    assert_eq!(a.client_event("c1"), ("ask".to_string(), json!([7])));
    let count = Response::BroadcastClientCount { request_id: request_id.clone(), client_count: 1 };
    let ack = Response::BroadcastAck { request_id, data: json!({ "from": "c1", "got": [7] }) };
    assert_eq!(next_message(&events), Message::Response(count));
    assert_eq!(next_message(&events), Message::Response(ack));

    let select = Selection { rooms: rooms(&["r2"]), except: vec![] };
    cluster.request("/", RequestKind::Disconnect { select, close: false });
    let gone = a.wait(|v| v["client"] == json!("c2") && v.get("disconnected").is_some());
    assert_eq!(gone["disconnected"], json!("io server disconnect"));
}
