//! The cluster's Redis threads against a real `redis-server`: subscribing,
//! publishing, skipping its own and foreign messages, and the faults —
//! Redis not there yet at start, Redis killed and restarted mid-run — and a
//! clean shutdown. No Node here: `tests/cluster_wire.rs` speaks to Node.
mod common;

use std::time::Duration;

use common::redis_server::{free_port, RedisServer};
use common::*;
use crossbeam_channel::{unbounded, Receiver};
use serde_json::json;
use wshub::cluster::{
    Broadcast, BroadcastOpts, Channels, Cluster, ClusterConfig, Event, EventPacket, Message, Request, RequestKind,
};

/// A cluster node whose events go into a channel.
fn start_cluster(url: &str, namespaces: &[&str]) -> (Cluster, Receiver<Event>) {
    start_with(ClusterConfig::new(url), namespaces)
}

fn start_with(config: ClusterConfig, namespaces: &[&str]) -> (Cluster, Receiver<Event>) {
    watchdog(120);
    let (tx, rx) = unbounded();
    let cluster = Cluster::start(config, namespaces, move |event| {
        let _ = tx.send(event);
    })
    .expect("start the cluster threads");
    (cluster, rx)
}

/// The next event, within the read timeout.
fn next(events: &Receiver<Event>) -> Event {
    events.recv_timeout(READ_TIMEOUT).expect("an event from the cluster within the timeout")
}

/// Waits for `Subscribed`, skipping nothing else: it must come first.
fn expect_subscribed(events: &Receiver<Event>) -> Vec<String> {
    match next(events) {
        Event::Subscribed { namespaces } => namespaces,
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

/// The next `Message` event (after `Subscribed` / `Disconnected` ones).
fn next_message(events: &Receiver<Event>) -> (String, Message) {
    loop {
        if let Event::Message { nsp, message } = next(events) {
            return (nsp, message);
        }
    }
}

/// A broadcast from some other node, as Node's adapter would publish it.
fn foreign_broadcast(uid: &str, name: &str) -> Vec<u8> {
    let packet = EventPacket { nsp: "/".into(), name: name.into(), args: vec![json!(1)] };
    Broadcast { uid: uid.into(), packet, opts: BroadcastOpts::default() }.encode()
}

fn publish(con: &mut redis::Connection, channel: &str, payload: &[u8]) -> i64 {
    redis::cmd("PUBLISH").arg(channel).arg(payload).query(con).expect("PUBLISH")
}

/// A raw subscriber on `channel`, for what the cluster publishes.
fn raw_subscriber(server: &RedisServer, channel: &str) -> Receiver<Vec<u8>> {
    let mut con = server.connection();
    let (tx, rx) = unbounded();
    let (ready_tx, ready_rx) = unbounded();
    let channel = channel.to_string();
    std::thread::spawn(move || {
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe(&channel).expect("SUBSCRIBE");
        let _ = ready_tx.send(());
        while let Ok(msg) = pubsub.get_message() {
            if tx.send(msg.get_payload_bytes().to_vec()).is_err() {
                break;
            }
        }
    });
    ready_rx.recv_timeout(READ_TIMEOUT).expect("raw subscriber ready");
    rx
}

fn numsub(con: &mut redis::Connection, channel: &str) -> usize {
    let (_, n): (String, usize) = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query(con).expect("NUMSUB");
    n
}

/// Subscribed, the node gets another node's broadcast, decoded, and is
/// counted by NUMSUB like a Node server (its request channel subscription).
#[test]
fn subscribes_like_a_node_and_decodes_what_arrives() {
    let Some(server) = RedisServer::start() else { return };
    let (cluster, events) = start_cluster(&server.url(), &["/", "/admin"]);
    assert_eq!(expect_subscribed(&events), ["/", "/admin"]);
    let mut con = server.connection();
    let root = Channels::new("socket.io", "/");
    assert_eq!(numsub(&mut con, &root.request), 1);
    assert_eq!(numsub(&mut con, &root.response), 1);
    assert_eq!(numsub(&mut con, &root.response_for(cluster.uid())), 1);
    assert_eq!(cluster.server_count("/").recv_timeout(READ_TIMEOUT).unwrap(), Some(1));

    assert_eq!(publish(&mut con, &root.room("r1"), &foreign_broadcast("other", "in-a-room")), 1);
    let (nsp, message) = next_message(&events);
    let Message::Broadcast(b) = message else { panic!("a broadcast, got {message:?}") };
    assert_eq!((nsp.as_str(), b.uid.as_str(), b.packet.name.as_str()), ("/", "other", "in-a-room"));

    let request = Request { uid: "other".into(), kind: RequestKind::AllRooms { request_id: "q1".into() } };
    publish(&mut con, &Channels::new("socket.io", "/admin").request, &request.encode());
    assert_eq!(next_message(&events), ("/admin".to_string(), Message::Request(request)));
    cluster.shutdown();
}

/// A namespace added at run time is subscribed to, and reported.
#[test]
fn a_namespace_added_later_is_subscribed() {
    let Some(server) = RedisServer::start() else { return };
    let (cluster, events) = start_cluster(&server.url(), &["/"]);
    assert_eq!(expect_subscribed(&events), ["/"]);
    cluster.add_namespace("/late");
    assert_eq!(expect_subscribed(&events), ["/", "/late"]);
    let mut con = server.connection();
    publish(&mut con, &Channels::new("socket.io", "/late").broadcast, &{
        let packet = EventPacket { nsp: "/late".into(), name: "e".into(), args: vec![] };
        Broadcast { uid: "other".into(), packet, opts: BroadcastOpts::default() }.encode()
    });
    assert_eq!(next_message(&events).0, "/late");
}

/// Its own broadcasts and requests come back from Redis and are skipped;
/// garbage on every kind of channel is ignored (logged), never delivered
/// and never the end of the subscriber: the valid message after it
/// arrives, first.
#[test]
fn own_and_foreign_messages_are_skipped() {
    let Some(server) = RedisServer::start() else { return };
    let (cluster, events) = start_cluster(&server.url(), &["/"]);
    expect_subscribed(&events);
    let root = cluster.channels("/");
    let seen = raw_subscriber(&server, &root.broadcast);

    let packet = EventPacket { nsp: "/".into(), name: "mine".into(), args: vec![] };
    assert!(cluster.broadcast(packet, BroadcastOpts::default()));
    assert!(cluster.request("/", RequestKind::AllRooms { request_id: "q".into() }));
    // Once a raw subscriber saw our broadcast, Redis has queued it for our
    // own subscriber too, ahead of anything published after.
    seen.recv_timeout(READ_TIMEOUT).expect("the broadcast reached Redis");

    let mut con = server.connection();
    for channel in [&root.broadcast, &root.request, &root.response] {
        for junk in [&b""[..], b"{", b"{\"type\":99}", b"\x93\xa1u\x80\x80", b"\xc1", &[0xdd, 0xff, 0xff, 0xff, 0xff]] {
            publish(&mut con, channel, junk);
        }
    }
    // A packet for another namespace on "/"'s channel: Node drops it too.
    let wrong_nsp = EventPacket { nsp: "/other".into(), name: "x".into(), args: vec![] };
    publish(
        &mut con,
        &root.broadcast,
        &Broadcast { uid: "n2".into(), packet: wrong_nsp, opts: Default::default() }.encode(),
    );
    publish(&mut con, &root.broadcast, &foreign_broadcast("n2", "valid"));
    let (_, message) = next_message(&events);
    let Message::Broadcast(b) = message else { panic!("a broadcast, got {message:?}") };
    assert_eq!((b.uid.as_str(), b.packet.name.as_str()), ("n2", "valid"));
}

/// Redis is not there when the node starts: it keeps trying, and
/// subscribes once Redis comes up; what it publishes then arrives.
#[test]
fn starts_before_redis_and_subscribes_once_it_is_up() {
    if !common::redis_server::redis_ready() {
        return;
    }
    let mut server = RedisServer::not_started(free_port());
    let (cluster, events) = start_cluster(&server.url(), &["/"]);
    // Publishing with no Redis neither blocks nor fails: the message is dropped.
    let packet = EventPacket { nsp: "/".into(), name: "lost".into(), args: vec![] };
    assert!(cluster.broadcast(packet, BroadcastOpts::default()));
    assert_eq!(cluster.server_count("/").recv_timeout(READ_TIMEOUT).unwrap(), None);

    server.restart();
    expect_subscribed(&events);
    let seen = raw_subscriber(&server, &cluster.channels("/").broadcast);
    let packet = EventPacket { nsp: "/".into(), name: "after".into(), args: vec![] };
    assert!(cluster.broadcast(packet, BroadcastOpts::default()));
    let bytes = seen.recv_timeout(READ_TIMEOUT).expect("the publisher connected too");
    assert_eq!(Broadcast::decode(&bytes).unwrap().packet.name, "after");
}

/// Redis killed mid-run and started again: the node reports the loss,
/// subscribes again, and both directions work again.
#[test]
fn resubscribes_and_publishes_again_after_redis_restarts() {
    let Some(mut server) = RedisServer::start() else { return };
    let (cluster, events) = start_cluster(&server.url(), &["/"]);
    expect_subscribed(&events);
    server.stop();
    assert!(matches!(next(&events), Event::Disconnected { .. }));
    // While Redis is down, publishing drops and returns at once.
    let packet = EventPacket { nsp: "/".into(), name: "while-down".into(), args: vec![] };
    cluster.broadcast(packet, BroadcastOpts::default());

    server.restart();
    expect_subscribed(&events);
    let root = cluster.channels("/");
    let mut con = server.connection();
    publish(&mut con, &root.broadcast, &foreign_broadcast("n2", "after-restart"));
    let Message::Broadcast(b) = next_message(&events).1 else { panic!("a broadcast") };
    assert_eq!(b.packet.name, "after-restart");

    // The publisher's old connection died with the old Redis; the first
    // publish finds out, reconnects and goes through.
    let seen = raw_subscriber(&server, &root.broadcast);
    let packet = EventPacket { nsp: "/".into(), name: "from-us".into(), args: vec![] };
    cluster.broadcast(packet, BroadcastOpts::default());
    let bytes = seen.recv_timeout(READ_TIMEOUT).expect("published after the restart");
    assert_eq!(Broadcast::decode(&bytes).unwrap().packet.name, "from-us");
}

/// Shutdown publishes what was still queued, unsubscribes (NUMSUB drops to
/// 0 before `shutdown` returns) and joins both threads; with Redis gone it
/// returns too.
#[test]
fn shutdown_flushes_unsubscribes_and_joins() {
    let Some(mut server) = RedisServer::start() else { return };
    let (cluster, events) = start_cluster(&server.url(), &["/"]);
    expect_subscribed(&events);
    let root = cluster.channels("/");
    let seen = raw_subscriber(&server, &root.broadcast);
    for i in 0..100 {
        let packet = EventPacket { nsp: "/".into(), name: format!("e{i}"), args: vec![] };
        cluster.broadcast(packet, BroadcastOpts::default());
    }
    cluster.shutdown();
    let mut con = server.connection();
    assert_eq!(numsub(&mut con, &root.request), 0);
    let names: Vec<String> =
        (0..100).map(|_| Broadcast::decode(&seen.recv_timeout(READ_TIMEOUT).unwrap()).unwrap().packet.name).collect();
    assert_eq!(names, (0..100).map(|i| format!("e{i}")).collect::<Vec<_>>());

    let (cluster, events) = start_cluster(&server.url(), &["/"]);
    expect_subscribed(&events);
    server.stop();
    cluster.shutdown(); // returns although Redis is gone
                        // The subscriber thread is gone, and with it the callback (and its sender).
    assert!(events.try_iter().all(|e| matches!(e, Event::Disconnected { .. })));
    assert_eq!(events.recv_timeout(Duration::ZERO), Err(crossbeam_channel::RecvTimeoutError::Disconnected));
}

/// An idle subscription PINGs Redis (here every 100 ms) and stays up: no
/// `Disconnected` while idle, and a message after the idle time arrives.
#[test]
fn an_idle_subscription_pings_and_stays_up() {
    let Some(server) = RedisServer::start() else { return };
    let mut config = ClusterConfig::new(&server.url());
    config.ping_after = Duration::from_millis(100);
    let (cluster, events) = start_with(config, &["/"]);
    expect_subscribed(&events);
    // Idle for about ten pings: nothing may happen meanwhile.
    assert_eq!(events.recv_timeout(Duration::from_millis(1000)), Err(crossbeam_channel::RecvTimeoutError::Timeout));
    let mut con = server.connection();
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).expect("CLIENT LIST");
    let subscriber = clients.lines().find(|l| l.contains(" psub=1 ")).expect("the subscriber's connection");
    assert!(subscriber.contains(" cmd=ping "), "its last command was a PING: {subscriber}");
    publish(&mut con, &cluster.channels("/").broadcast, &foreign_broadcast("n2", "after-idle"));
    let Message::Broadcast(b) = next_message(&events).1 else { panic!("a broadcast") };
    assert_eq!(b.packet.name, "after-idle");
}
