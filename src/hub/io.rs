//! [`Io`]: a handle to the hub that any thread can hold, and [`To`]: the
//! sockets a broadcast or a server-side operation is about.
//!
//! Handlers get an `Io` through [`Socket::io`](crate::Socket::io); other
//! threads get one from [`Server::io`](crate::Server::io). It is how a
//! ticker thread pushes real-time data to every client, and how a server
//! finds, moves and disconnects sockets (socket.io's server API):
//!
//! ```no_run
//! # let io: wshub::Io = wshub::Server::builder().bind(("127.0.0.1", 0)).unwrap().io();
//! use std::time::Duration;
//! io.to("room1").to("room2").except("room3").emit("news", "for some");
//! io.volatile().emit("tick", 42); // dropped for a client that cannot take it now
//! io.in_("room1").sockets_join("room4");
//! for socket in io.in_("room4").fetch_sockets() {
//!     socket.emit("hello", socket.id.as_str());
//! }
//! io.timeout(Duration::from_secs(5)).emit_with_ack("ready?", (), |acks| {
//!     println!("{} answered, {:?} did not", acks.replies.len(), acks.missing);
//! });
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::acks::{BroadcastAcks, Collector};
use super::handshake::Handshake;
use super::node::REQUEST_TIMEOUT;
use super::recovery::RecoveryStats;
use super::server_side::{ServerReply, ServerSide};
use super::socket::Socket;
use super::{on_hub_thread, Answers, Broadcast, Command, Envelope, Flags, Restored, Selection, Timers};
use crate::cluster::{Cluster, RemoteSocket};
use crate::wire::{payload, Outgoing};

/// How long a broadcast with acks waits when no [`To::timeout`] was set.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A `Clone + Send` handle for emitting to every client or to a room.
#[derive(Clone, Debug)]
pub struct Io {
    /// The hub's command channel. Bounded: a thread emitting faster than the
    /// hub can fan out waits here instead of growing an unbounded queue.
    hub: Sender<Envelope>,
    /// Upgraded sockets registered with the hub, kept up to date by the hub.
    clients: Arc<AtomicUsize>,
    /// The namespace this handle emits to: `/` (where `/ws` clients are too),
    /// or the socket.io namespace of [`Io::of`].
    nsp: Arc<str>,
    /// Where timeouts of acks run (the `timers` thread).
    timers: Arc<Timers>,
    /// Connection state recovery is on.
    keeps_sessions: bool,
    /// A client's handle (a [`Socket`]'s): how many of its commands may
    /// wait for the hub at once. `None` for other threads.
    credits: Option<Arc<Credits>>,
    /// The cluster, once the server runs with one: operations that wait for
    /// the other servers first ask how many there are.
    cluster: Arc<OnceLock<Arc<Cluster>>>,
    /// Handlers of the other servers' server-side events.
    server_side: Arc<ServerSide>,
}

/// How many of one client's commands may wait for the hub at once. A client
/// whose handlers emit faster than the hub can write (a flood) waits for
/// its own earlier commands, and so stops reading its socket: TCP slows it
/// down. Meanwhile the others' commands never queue behind more than this
/// many of its own.
pub(crate) const CREDITS: usize = 16;

/// A client's credits: a slot in a small bounded channel per command in flight.
#[derive(Debug)]
pub(crate) struct Credits {
    take: Sender<()>,
    give_back: Receiver<()>,
}

/// One command's credit, given back when the hub drops its envelope.
#[derive(Debug)]
pub struct Credit(Arc<Credits>);

impl Drop for Credit {
    fn drop(&mut self) {
        let _ = self.0.give_back.try_recv();
    }
}

impl Credits {
    pub(crate) fn new() -> Arc<Credits> {
        let (take, give_back) = bounded(CREDITS);
        Arc::new(Credits { take, give_back })
    }
}

impl Io {
    pub(crate) fn new(hub: Sender<Envelope>, clients: Arc<AtomicUsize>, keeps_sessions: bool) -> Io {
        let (timers, cluster, server_side) = (Arc::default(), Arc::default(), Arc::default());
        Io { hub, clients, nsp: Arc::from("/"), timers, keeps_sessions, credits: None, cluster, server_side }
    }

    /// The server runs in `cluster` from now on.
    pub(crate) fn set_cluster(&self, cluster: Arc<Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    pub(crate) fn server_side(&self) -> &Arc<ServerSide> {
        &self.server_side
    }

    /// How many other servers listen to namespace `nsp` (0 alone, or when
    /// Redis does not answer within the request timeout). Waits for Redis:
    /// asked on the caller's thread, never on the hub's.
    fn other_servers(&self, nsp: &str) -> usize {
        let Some(cluster) = self.cluster.get() else { return 0 };
        let count = cluster.server_count(nsp).recv_timeout(REQUEST_TIMEOUT).ok().flatten();
        count.map_or(0, |servers| servers.saturating_sub(1))
    }

    /// How many servers share this one's namespace: 1 alone, or every node
    /// of the cluster (this one included).
    pub fn server_count(&self) -> usize {
        self.other_servers(&self.nsp) + 1
    }

    /// Every room of this namespace with a socket in it, on every server
    /// (socket.io's `adapter.allRooms()`; each socket's own id is a room).
    pub fn all_rooms(&self) -> Vec<String> {
        let (nsp, others) = (self.nsp.to_string(), self.other_servers(&self.nsp));
        self.ask(|reply| Command::AllRooms(nsp, others, reply)).unwrap_or_default()
    }

    /// Calls `handler` for each server-side event `event` another server of
    /// the cluster sends to this namespace (socket.io's `io.on(event, …)`
    /// for `serverSideEmit`), on the `timers` thread, with the event's data
    /// and the way to answer, when the sender waits for answers.
    pub fn on_server_side<F>(&self, event: &str, handler: F)
    where
        F: Fn(Value, ServerReply) + Send + Sync + 'static,
    {
        self.server_side.set(&self.nsp, event, Arc::new(handler));
    }

    /// The same hub, emitting to socket.io namespace `nsp` (e.g. `/admin`).
    /// (A handle for other threads: without the client's credits.)
    pub fn of(&self, nsp: &str) -> Io {
        Io { nsp: Arc::from(nsp), credits: None, ..self.clone() }
    }

    /// This handle for one client's socket: its commands take credits
    /// (see [`CREDITS`]). The namespace sockets of one connection share them.
    pub(crate) fn for_client(&self, credits: Arc<Credits>) -> Io {
        Io { credits: Some(credits), ..self.clone() }
    }

    /// The namespace this handle emits to.
    pub fn namespace(&self) -> &str {
        &self.nsp
    }

    /// Sends `event` with `data` to every connected client.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.all().emit(event, data);
    }

    /// Selects the clients in `room`, for [`To::emit`] (chain `.to` for
    /// several rooms: a client in any of them is selected once).
    pub fn to(&self, room: impl Into<String>) -> To<'_> {
        self.all().to(room)
    }

    /// The same as [`to`](Self::to) (socket.io's `io.in(room)`).
    pub fn in_(&self, room: impl Into<String>) -> To<'_> {
        self.to(room)
    }

    /// Selects every client except those in `room`.
    pub fn except(&self, room: impl Into<String>) -> To<'_> {
        self.all().except(room)
    }

    /// Every client, volatile: see [`To::volatile`].
    pub fn volatile(&self) -> To<'_> {
        self.all().volatile()
    }

    /// Every client of this server only, not the other servers' of a
    /// cluster (socket.io's `io.local`).
    pub fn local(&self) -> To<'_> {
        self.all().local()
    }

    /// Every client, with a timeout for [`To::emit_with_ack`].
    pub fn timeout(&self, timeout: Duration) -> To<'_> {
        self.all().timeout(timeout)
    }

    /// Every socket of this namespace, as handles: see [`To::fetch_sockets`].
    pub fn fetch_sockets(&self) -> Vec<FetchedSocket> {
        self.all().fetch_sockets()
    }

    /// Every socket of this namespace joins `rooms`.
    pub fn sockets_join(&self, rooms: impl IntoRooms) {
        self.all().sockets_join(rooms)
    }

    /// Every socket of this namespace leaves `rooms`.
    pub fn sockets_leave(&self, rooms: impl IntoRooms) {
        self.all().sockets_leave(rooms)
    }

    /// Disconnects every socket of this namespace (with `close`, their
    /// whole connections).
    pub fn disconnect_sockets(&self, close: bool) {
        self.all().disconnect_sockets(close)
    }

    /// Sends `event` to the other servers of a cluster (socket.io's
    /// `serverSideEmit`). A server never receives its own, so alone it
    /// reaches nobody: this does nothing until a cluster is set up.
    pub fn server_side_emit<T: Serialize>(&self, event: &str, data: T) {
        if let Ok(data) = payload(&data) {
            self.send(Command::ServerSideEmit(self.nsp.to_string(), event.to_string(), data, None));
        }
    }

    /// The same, and `callback` gets one answer per other server (alone:
    /// none, at once).
    pub fn server_side_emit_with_ack<T, F>(&self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(Vec<Value>) + Send + 'static,
    {
        let Ok(data) = payload(&data) else { return };
        let others = self.other_servers(&self.nsp);
        let answers = Some((others, Box::new(callback) as Answers));
        self.send(Command::ServerSideEmit(self.nsp.to_string(), event.to_string(), data, answers));
    }

    /// What connection state recovery holds now (all zero when it is off).
    pub fn recovery_stats(&self) -> RecoveryStats {
        self.ask(Command::Stats).unwrap_or_default()
    }

    /// How many sockets are connected now (a socket.io client joined to two
    /// namespaces counts twice).
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    fn all(&self) -> To<'_> {
        To { io: self, rooms: Vec::new(), except: Vec::new(), flags: Flags::default(), timeout: None }
    }

    /// The hub's answer to a question, or `None` when it has stopped (or
    /// when asked from the hub thread itself, which would wait for itself).
    fn ask<T>(&self, question: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        if on_hub_thread() {
            log::error!("a question to the hub from the hub thread (an on_any_outgoing listener?) is not answered");
            return None;
        }
        let (tx, rx) = bounded(1);
        self.send(question(tx));
        // The hub answers within microseconds, or within the cluster's
        // request timeout when other servers are asked. A question sent in
        // the instant the hub stops could be left unread: never wait forever.
        rx.recv_timeout(REQUEST_TIMEOUT * 3).ok()
    }

    /// Registers `socket` with the hub, which writes `greeting` to it first
    /// (and what recovery replays), and waits until that is done.
    pub(crate) fn register(&self, socket: Socket, replay: Option<u64>, greeting: Option<crate::wire::Encoded>) {
        let _ = self.ask(|done| Command::Register(socket, replay, greeting, done));
    }

    /// Recovery: the session a reconnecting client names, if it can be resumed.
    pub(crate) fn restore(&self, nsp: &str, pid: &str, offset: &str) -> Option<Restored> {
        let (nsp, pid, offset) = (nsp.to_string(), pid.to_string(), offset.to_string());
        self.ask(|reply| Command::Restore { nsp, pid, offset, reply }).flatten()
    }

    /// True when connection state recovery is on.
    pub(crate) fn keeps_sessions(&self) -> bool {
        self.keeps_sessions
    }

    pub(crate) fn timers(&self) -> &Arc<Timers> {
        &self.timers
    }

    // ANCHOR: send
    /// Sends a command to the hub; after shutdown it is dropped. A client's
    /// handle first takes one of its credits, waiting while all are out. On
    /// the hub thread itself (a listener's emit) it never waits: a full
    /// queue drops it, with an error in the log.
    pub(crate) fn send(&self, command: Command) {
        if on_hub_thread() {
            match self.hub.try_send(Envelope { command, _credit: None }) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(envelope)) => {
                    log::error!("the hub's queue is full; {:?} from the hub thread dropped", envelope.command)
                }
            }
            return;
        }
        let credit = self.credits.as_ref().and_then(|credits| {
            // The hub gives a credit back within microseconds; only a hub
            // that stopped takes longer, and then the command is dropped anyway.
            credits.take.send_timeout((), Duration::from_secs(1)).ok().map(|()| Credit(credits.clone()))
        });
        if self.hub.send(Envelope { command, _credit: credit }).is_err() {
            log::debug!("the hub has stopped (server shut down); command dropped");
        }
    }
    // ANCHOR_END: send
}

/// Rooms as one name or several: `"a"`, `String`, `["a", "b"]`, `vec![..]`.
pub trait IntoRooms {
    /// The room names.
    fn into_rooms(self) -> Vec<String>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<String> {
        vec![self.to_string()]
    }
}
impl IntoRooms for String {
    fn into_rooms(self) -> Vec<String> {
        vec![self]
    }
}
impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<String> {
        vec![self.clone()]
    }
}
impl<S: Into<String>> IntoRooms for Vec<S> {
    fn into_rooms(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}
impl<S: Into<String> + Clone, const N: usize> IntoRooms for [S; N] {
    fn into_rooms(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}
impl<S: Into<String> + Clone> IntoRooms for &[S] {
    fn into_rooms(self) -> Vec<String> {
        self.iter().cloned().map(Into::into).collect()
    }
}

/// The sockets a broadcast or an operation is about (socket.io's
/// `BroadcastOperator`): chosen with [`Io::to`], [`Io::except`],
/// [`Socket::to`](crate::Socket::to)…, refined by chaining, used once.
#[derive(Debug)]
#[must_use = "a selection does nothing until it emits or operates"]
pub struct To<'a> {
    io: &'a Io,
    rooms: Vec<String>,
    except: Vec<String>,
    flags: Flags,
    timeout: Option<Duration>,
}

impl To<'_> {
    /// Also the clients in `room`.
    pub fn to(mut self, room: impl Into<String>) -> Self {
        let room = room.into();
        if !self.rooms.contains(&room) {
            self.rooms.push(room);
        }
        self
    }

    /// The same as [`to`](Self::to).
    pub fn in_(self, room: impl Into<String>) -> Self {
        self.to(room)
    }

    /// Minus the clients in `room`.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        let room = room.into();
        if !self.except.contains(&room) {
            self.except.push(room);
        }
        self
    }

    /// Volatile: a client that cannot take the event now (its socket has a
    /// backlog; over polling, no long-poll waits) does not get it, and it is
    /// never logged for recovery. For values that a newer one replaces.
    pub fn volatile(mut self) -> Self {
        self.flags.volatile = true;
        self
    }

    /// For this server's clients only, not the other servers' of a cluster
    /// (socket.io's `local` flag).
    pub fn local(mut self) -> Self {
        self.flags.local = true;
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for answers
    /// (default [`DEFAULT_ACK_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The selection as the hub and the cluster see it.
    pub fn selection(&self) -> Selection {
        Selection { nsp: self.io.nsp.to_string(), rooms: self.rooms.clone(), except: self.except.clone() }
    }

    fn event<T: Serialize>(&self, event: &str, data: T) -> Option<Outgoing> {
        match payload(&data) {
            Ok(data) => Some(Outgoing::Event { name: event.to_string(), data, ack: None }),
            Err(e) => {
                log::error!("emit {event:?}: data cannot be serialized as JSON: {e}");
                None
            }
        }
    }

    /// Sends `event` with `data` to every selected client.
    pub fn emit<T: Serialize>(self, event: &str, data: T) {
        if let Some(event) = self.event(event, data) {
            self.io.send(Command::Emit(Broadcast { select: self.selection(), flags: self.flags, event }));
        }
    }

    // ANCHOR: emit_with_ack
    /// Sends `event` to every selected client, asking each for an answer;
    /// `callback` gets them all once every client answered, or at the
    /// timeout with the ids of those who did not (on the `timers` thread or
    /// the last answering client's).
    pub fn emit_with_ack<T, F>(self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(BroadcastAcks) + Send + 'static,
    {
        let Some(event) = self.event(event, data) else { return };
        let collector = Collector::new(callback);
        let timeout = self.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let timed = collector.clone();
        self.io.timers.schedule(Instant::now() + timeout, Box::new(move || timed.finish()));
        let broadcast = Broadcast { select: self.selection(), flags: self.flags, event };
        let others = if self.flags.local { 0 } else { self.io.other_servers(&self.io.nsp) };
        self.io.send(Command::EmitWithAck(broadcast, collector, others, timeout));
    }
    // ANCHOR_END: emit_with_ack

    /// The selected sockets (socket.io's `fetchSockets()`), as handles to
    /// emit to, move between rooms and disconnect. The caller waits for the
    /// hub's answer (never call it from an `on_any_outgoing` listener).
    pub fn fetch_sockets(&self) -> Vec<FetchedSocket> {
        let select = self.selection();
        let others = if self.flags.local { 0 } else { self.io.other_servers(&select.nsp) };
        let fetched = self.io.ask(|reply| Command::Fetch(select, others, reply)).unwrap_or_default();
        let local = fetched.local.into_iter().map(|socket| FetchedSocket::local(socket, self.io));
        local.chain(fetched.remote.into_iter().map(|socket| FetchedSocket::remote(socket, self.io))).collect()
    }

    /// The selected sockets join `rooms` (socket.io's `socketsJoin`).
    pub fn sockets_join(&self, rooms: impl IntoRooms) {
        self.io.send(Command::AddRooms(self.selection(), rooms.into_rooms()));
    }

    /// The selected sockets leave `rooms` (socket.io's `socketsLeave`).
    pub fn sockets_leave(&self, rooms: impl IntoRooms) {
        self.io.send(Command::DelRooms(self.selection(), rooms.into_rooms()));
    }

    /// Disconnects the selected sockets (socket.io's
    /// `disconnectSockets(close)`): each leaves its namespace, or with
    /// `close` its whole connection closes. Their `on_disconnect` handlers
    /// run on this thread.
    pub fn disconnect_sockets(&self, close: bool) {
        let select = self.selection();
        for socket in self.io.ask(|reply| Command::Disconnect(select, close, reply)).unwrap_or_default() {
            if close {
                socket.close();
            } else {
                socket.disconnect();
            }
        }
    }
}

/// A socket found by [`To::fetch_sockets`]: what socket.io's `RemoteSocket`
/// has (id, handshake, rooms, data), and the same operations, which go
/// through the hub by the socket's id, so that they work alike for a socket
/// of this server and (with a cluster) of another one.
#[derive(Debug, Clone)]
pub struct FetchedSocket {
    /// The public id ([`Socket::sid`]).
    pub id: String,
    /// Its handshake.
    pub handshake: Handshake,
    /// Its rooms when it was fetched, its own id's among them.
    pub rooms: Vec<String>,
    /// Its `socket.data` as JSON, when it was fetched.
    pub data: Value,
    /// The socket itself, when it is on this server.
    socket: Option<Socket>,
    /// Its namespace's hub handle.
    io: Io,
}

impl FetchedSocket {
    fn local(socket: Socket, io: &Io) -> FetchedSocket {
        FetchedSocket {
            id: socket.sid().to_string(),
            handshake: socket.handshake().clone(),
            rooms: socket.rooms(),
            data: socket.data_json(),
            io: io.of(socket.namespace()),
            socket: Some(socket),
        }
    }

    /// A socket of another server, from its `fetchSockets` answer.
    fn remote(socket: RemoteSocket, io: &Io) -> FetchedSocket {
        FetchedSocket {
            handshake: Handshake::from_json(&socket.handshake),
            id: socket.id,
            rooms: socket.rooms,
            data: socket.data,
            io: io.clone(),
            socket: None,
        }
    }

    /// The socket, when it is connected to this server.
    pub fn local_socket(&self) -> Option<&Socket> {
        self.socket.as_ref()
    }

    /// The data, read as `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.data.clone()).ok()
    }

    /// Sends `event` to this socket.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.io.to(self.id.as_str()).emit(event, data);
    }

    /// Puts this socket in `rooms`.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.io.to(self.id.as_str()).sockets_join(rooms);
    }

    /// Takes this socket out of `rooms`.
    pub fn leave(&self, rooms: impl IntoRooms) {
        self.io.to(self.id.as_str()).sockets_leave(rooms);
    }

    /// Disconnects this socket (with `close`, its whole connection).
    pub fn disconnect(&self, close: bool) {
        match &self.socket {
            Some(socket) if close => socket.close(),
            Some(socket) => socket.disconnect(),
            None => self.io.to(self.id.as_str()).disconnect_sockets(close),
        }
    }
}
