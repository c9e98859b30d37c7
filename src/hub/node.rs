//! The hub as one node of a cluster: what crosses Redis, in the format of
//! Node's `@socket.io/redis-adapter`, so wshub nodes and Node socket.io
//! nodes can share one Redis.
//!
//! ```text
//! a broadcast emitted here   → written to this node's clients, and published once (`cluster::Cluster::broadcast`)
//! a broadcast from elsewhere → written to this node's clients only (flag `local`)
//! a request from elsewhere   → answered from the registry (rooms, sockets) or applied (join, leave, disconnect)
//! a request from here        → published; the answers are collected until every other node
//!                              has answered or `REQUEST_TIMEOUT` passes, then handed back
//! ```
//!
//! The hub never waits on Redis: publishing goes into the `redis-pub`
//! thread's queue, and what the `redis-sub` thread reads comes back as a
//! [`Command::Cluster`](super::Command::Cluster) like any other command.
//! How many other nodes to wait for is asked (`PUBSUB NUMSUB`) by the
//! thread that makes the request, before the hub sees it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use serde_json::Value;

use super::acks::Collector;
use super::server_side::ServerReply;
use super::{Answers, Broadcast, Flags, Hub, Selection, Socket};
use crate::cluster::{self, BroadcastOpts, Cluster, Event, EventPacket, Message, RemoteSocket, RequestKind, Response};
use crate::wire::Outgoing;

/// What a fetch found: this node's sockets, and the other nodes'.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Sockets connected here.
    pub local: Vec<Socket>,
    /// `(namespace, socket)` of the other nodes.
    pub remote: Vec<RemoteSocket>,
}

/// The hub's part of a cluster.
pub(super) struct Node {
    pub cluster: Arc<Cluster>,
    /// Namespaces whose channels this node listens to.
    subscribed: HashSet<String>,
    /// Requests from here waiting for answers, by request id.
    pending: HashMap<String, Pending>,
    /// When each gives up.
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
}

/// A request from here, and what has come back so far.
struct Pending {
    /// Answers still to come (one per other node).
    left: usize,
    waiting: Waiting,
}

pub(super) enum Waiting {
    Fetch(Fetched, Sender<Fetched>),
    Rooms(BTreeSet<String>, Sender<Vec<String>>),
    ServerSideEmit(Vec<Value>, Answers),
    /// The collector counts the acks; here only the nodes' client counts.
    Broadcast(Arc<Collector>),
}

impl Node {
    /// `subscribed`: the namespaces the cluster listens to from the start.
    pub fn new(cluster: Arc<Cluster>, subscribed: Vec<String>) -> Node {
        let subscribed = subscribed.into_iter().collect();
        Node { cluster, subscribed, pending: HashMap::new(), deadlines: BinaryHeap::new() }
    }

    /// When the first waiting request gives up.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }
}

/// The adapter's options for a broadcast from here.
fn opts(select: &Selection, flags: Flags, timeout: Option<Duration>) -> BroadcastOpts {
    let flags = cluster::Flags {
        volatile: flags.volatile,
        timeout_ms: timeout.map(|t| t.as_millis() as u64),
        ..cluster::Flags::default()
    };
    BroadcastOpts { rooms: select.rooms.clone(), except: select.except.clone(), flags }
}

fn selection(nsp: &str, select: cluster::Selection) -> Selection {
    Selection { nsp: nsp.to_string(), rooms: select.rooms, except: select.except }
}

/// A request's arguments as a handler sees event data: none → `null`, one
/// → itself, several → an array.
fn arguments(mut args: Vec<Value>) -> Value {
    match args.len() {
        0 => Value::Null,
        1 => args.pop().unwrap_or(Value::Null),
        _ => Value::Array(args),
    }
}

impl Hub {
    /// Listens to `nsp`'s channels too, the first time a socket joins it.
    pub(super) fn subscribe(&mut self, nsp: &str) {
        if let Some(node) = self.node.as_mut() {
            if node.subscribed.insert(nsp.to_string()) {
                node.cluster.add_namespace(nsp);
            }
        }
    }

    // ANCHOR: publish
    /// Publishes a broadcast emitted on this node (not one that came from
    /// another node: those are `local`).
    pub(super) fn publish(&self, broadcast: &Broadcast) {
        let Some(node) = &self.node else { return };
        let Outgoing::Event { name, data, ack: None } = &broadcast.event else { return };
        if broadcast.flags.local {
            return;
        }
        let packet = EventPacket::from_event(&broadcast.select.nsp, name, data);
        node.cluster.broadcast(packet, opts(&broadcast.select, broadcast.flags, None));
    }
    // ANCHOR_END: publish

    /// A request from here: published, and its answers awaited from
    /// `others` nodes (none to wait for: finished at once).
    /// A broadcast with acks waits as long as its own timeout.
    pub(super) fn ask_others(
        &mut self,
        nsp: &str,
        others: usize,
        kind: impl FnOnce(String) -> RequestKind,
        waiting: Waiting,
        timeout: Duration,
    ) {
        let (Some(node), true) = (self.node.as_mut(), others > 0) else {
            return self.finish(waiting);
        };
        let request_id = cluster::new_id();
        if !node.cluster.request(nsp, kind(request_id.clone())) {
            return self.finish(waiting); // Redis is away: what this node has
        }
        node.deadlines.push(Reverse((Instant::now() + timeout, request_id.clone())));
        node.pending.insert(request_id, Pending { left: others, waiting });
    }

    /// A request with nothing left to wait for: its answer goes back.
    fn finish(&self, waiting: Waiting) {
        match waiting {
            Waiting::Fetch(fetched, reply) => {
                let _ = reply.send(fetched);
            }
            Waiting::Rooms(rooms, reply) => {
                let _ = reply.send(rooms.into_iter().collect());
            }
            // The callback is the application's: not on this thread.
            Waiting::ServerSideEmit(answers, callback) => {
                self.timers.schedule(Instant::now(), Box::new(move || callback(answers)))
            }
            // Ended early or by its deadline: the collector decides.
            Waiting::Broadcast(collector) => {
                if collector.nodes_gave_up() {
                    self.timers.schedule(Instant::now(), Box::new(move || collector.finish()));
                }
            }
        }
    }

    /// Requests whose time is up are answered with what came.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        let Some(node) = self.node.as_mut() else { return };
        let mut expired = Vec::new();
        while node.deadlines.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse((_, id))) = node.deadlines.pop() {
                if let Some(pending) = node.pending.remove(&id) {
                    log::warn!("cluster: request {id}: {} node(s) did not answer in time", pending.left);
                    expired.push(pending.waiting);
                }
            }
        }
        for waiting in expired {
            self.finish(waiting);
        }
    }

    // ANCHOR: on_cluster
    /// What the `redis-sub` thread read.
    pub(super) fn on_cluster(&mut self, event: Event) {
        match event {
            Event::Subscribed { namespaces } => log::info!("cluster: listening to {namespaces:?}"),
            Event::Disconnected { reason } => {
                log::warn!("cluster: lost Redis ({reason}); what the other nodes publish meanwhile is lost")
            }
            Event::Message { nsp, message: Message::Broadcast(b) } => {
                // Another node's broadcast: for this node's clients only.
                let select = Selection { nsp, rooms: b.opts.rooms, except: b.opts.except };
                let flags = Flags { volatile: b.opts.flags.volatile, local: true };
                self.emit(&Broadcast { select, flags, event: b.packet.to_outgoing() }, None);
            }
            Event::Message { nsp, message: Message::Request(request) } => {
                self.on_request(&nsp, &request.uid, request.kind)
            }
            Event::Message { message: Message::Response(response), .. } => self.on_response(response),
        }
    }
    // ANCHOR_END: on_cluster

    /// Another node asks.
    fn on_request(&mut self, nsp: &str, from: &str, kind: RequestKind) {
        let Some(cluster) = self.node.as_ref().map(|node| node.cluster.clone()) else { return };
        match kind {
            RequestKind::AllRooms { request_id } => {
                let rooms = self.rooms.get(nsp).map(|rooms| rooms.keys().cloned().collect()).unwrap_or_default();
                cluster.respond(nsp, from, Response::AllRooms { request_id, rooms });
            }
            RequestKind::Join { select, rooms } => {
                for id in self.select_ids(&selection(nsp, select)) {
                    rooms.iter().for_each(|room| self.join(id, room.clone()));
                }
            }
            RequestKind::Leave { select, rooms } => {
                for id in self.select_ids(&selection(nsp, select)) {
                    rooms.iter().for_each(|room| self.leave(id, room));
                }
            }
            RequestKind::Disconnect { select, close } => {
                // Their `on_disconnect` handlers are the application's code.
                let sockets: Vec<Socket> =
                    self.select(&selection(nsp, select)).into_iter().map(|m| m.socket.clone()).collect();
                self.timers.schedule(
                    Instant::now(),
                    Box::new(move || sockets.iter().for_each(|s| if close { s.close() } else { s.disconnect() })),
                );
            }
            RequestKind::Fetch { request_id, select } => {
                let sockets = self
                    .select(&selection(nsp, select))
                    .into_iter()
                    .map(|m| RemoteSocket {
                        id: m.socket.sid().to_string(),
                        handshake: serde_json::to_value(m.socket.handshake()).unwrap_or_default(),
                        rooms: m.socket.rooms(),
                        data: self.remote_data(&m.socket),
                    })
                    .collect();
                cluster.respond(nsp, from, Response::Fetch { request_id, sockets });
            }
            RequestKind::ServerSideEmit { request_id, name, args } => {
                let (nsp, from) = (nsp.to_string(), from.to_string());
                let handler = self.server_side.handler(&nsp, &name);
                let Some(handler) = handler else {
                    log::debug!("cluster: no server-side handler for {name:?} in {nsp:?}");
                    return;
                };
                // The handler is the application's: on the timers thread. Its
                // answer, if the sender waits for one, goes back through Redis.
                let answer: Option<Box<dyn FnOnce(Value) + Send>> = request_id.map(|request_id| {
                    let cluster = cluster.clone();
                    let nsp = nsp.clone();
                    Box::new(move |data| {
                        cluster.respond(&nsp, &from, Response::ServerSideEmitAck { request_id, data });
                    }) as Box<dyn FnOnce(Value) + Send>
                });
                let data = arguments(args);
                self.timers.schedule(Instant::now(), Box::new(move || handler(data, ServerReply::new(answer))));
            }
            RequestKind::BroadcastWithAck { request_id, packet, opts } => {
                let select = Selection { nsp: nsp.to_string(), rooms: opts.rooms, except: opts.except };
                let event = packet.to_outgoing();
                let Outgoing::Event { name, data, .. } = &event else { return };
                let mut count = 0;
                for member in self.select(&select) {
                    let socket = &member.socket;
                    let (cluster, nsp, from, request_id) =
                        (cluster.clone(), nsp.to_string(), from.to_string(), request_id.clone());
                    let id = socket.expect_ack(Box::new(move |_socket, answer| {
                        if let Ok(data) = answer {
                            cluster.respond(&nsp, &from, Response::BroadcastAck { request_id, data });
                        }
                    }));
                    let asking = Outgoing::Event { name: name.clone(), data: data.clone(), ack: Some(id) };
                    if super::fanout::push(
                        socket.outlet(),
                        &crate::wire::Encoded::of(socket.wire(), &select.nsp, &asking),
                        opts.flags.volatile,
                    ) {
                        count += 1;
                    } else {
                        socket.forget_ack(id);
                    }
                }
                cluster.respond(nsp, from, Response::BroadcastClientCount { request_id, client_count: count });
            }
        }
    }

    /// Another node answers one of this node's requests.
    fn on_response(&mut self, response: Response) {
        let Some(node) = self.node.as_mut() else { return };
        let id = response.request_id().to_string();
        let Some(pending) = node.pending.get_mut(&id) else {
            return; // another node's request, or one that timed out
        };
        match (&mut pending.waiting, response) {
            (Waiting::Fetch(fetched, _), Response::Fetch { sockets, .. }) => {
                fetched.remote.extend(sockets);
                pending.left -= 1;
            }
            (Waiting::Rooms(all, _), Response::AllRooms { rooms, .. }) => {
                all.extend(rooms);
                pending.left -= 1;
            }
            (Waiting::ServerSideEmit(answers, _), Response::ServerSideEmitAck { data, .. }) => {
                answers.push(data);
                pending.left -= 1;
            }
            // A broadcast waits for its clients' acks, which come after
            // the counts: it ends when the collector has them all.
            (Waiting::Broadcast(collector), Response::BroadcastClientCount { client_count, .. }) => {
                pending.left = pending.left.saturating_sub(1);
                if collector.node_count(client_count as usize) {
                    let collector = collector.clone();
                    node.pending.remove(&id);
                    self.timers.schedule(Instant::now(), Box::new(move || collector.finish()));
                }
                return;
            }
            (Waiting::Broadcast(collector), Response::BroadcastAck { data, .. }) => {
                if collector.remote_answer(data) {
                    let collector = collector.clone();
                    node.pending.remove(&id);
                    self.timers.schedule(Instant::now(), Box::new(move || collector.finish()));
                }
                return;
            }
            (_, other) => {
                log::debug!("cluster: an answer of the wrong kind for request {}", other.request_id());
                return;
            }
        }
        if pending.left == 0 {
            if let Some(pending) = node.pending.remove(&id) {
                self.finish(pending.waiting);
            }
        }
    }
}

/// What [`Hub::ask_others`] waits with, for the commands that ask.
impl Waiting {
    pub(super) fn fetch(local: Vec<Socket>, reply: Sender<Fetched>) -> Waiting {
        Waiting::Fetch(Fetched { local, remote: Vec::new() }, reply)
    }

    pub(super) fn rooms(local: BTreeSet<String>, reply: Sender<Vec<String>>) -> Waiting {
        Waiting::Rooms(local, reply)
    }

    pub(super) fn server_side_emit(callback: Answers) -> Waiting {
        Waiting::ServerSideEmit(Vec::new(), callback)
    }

    pub(super) fn broadcast(collector: Arc<Collector>) -> Waiting {
        Waiting::Broadcast(collector)
    }
}

/// The request a broadcast with acks from here becomes.
pub(super) fn broadcast_request(
    broadcast: &Broadcast,
    timeout: Duration,
) -> Option<impl FnOnce(String) -> RequestKind> {
    let Outgoing::Event { name, data, .. } = &broadcast.event else { return None };
    let packet = EventPacket::from_event(&broadcast.select.nsp, name, data);
    let opts = opts(&broadcast.select, broadcast.flags, Some(timeout));
    Some(move |request_id| RequestKind::BroadcastWithAck { request_id, packet, opts })
}
