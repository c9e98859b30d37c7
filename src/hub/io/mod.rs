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
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crossbeam_channel::{bounded, Sender, TrySendError};
use serde::Serialize;
use serde_json::Value;

use super::recovery::RecoveryStats;
use super::server_side::{ServerReply, ServerSide};
use super::{on_hub_thread, Answers, Command, Envelope, Flags, Restored, Timers};
use crate::cluster::Cluster;
use crate::wire::payload;

mod fetched;
mod to;

pub use fetched::FetchedSocket;
pub use to::{IntoRooms, To};
/// How long a request waits for the other nodes (Node's `requestsTimeout`).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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

/// A client's credits: how many of its commands are in flight, and a way to
/// wait for one to come back. (A counter, not a channel of `CREDITS` slots:
/// it is kept for every client, and a bounded channel costs ~800 bytes.)
#[derive(Debug, Default)]
pub(crate) struct Credits {
    /// Commands of this client that the hub has not dropped yet.
    out: Mutex<usize>,
    /// Told each time one comes back.
    returned: Condvar,
}

/// One command's credit, given back when the hub drops its envelope.
#[derive(Debug)]
pub struct Credit(Arc<Credits>);

impl Drop for Credit {
    fn drop(&mut self) {
        *lock(&self.0.out) -= 1;
        self.0.returned.notify_one();
    }
}

impl Credits {
    pub(crate) fn new() -> Arc<Credits> {
        Arc::new(Credits::default())
    }

    /// Takes a credit, waiting at most `wait` while all of them are out.
    fn take(self: &Arc<Self>, wait: Duration) -> Option<Credit> {
        let out = lock(&self.out);
        let (mut out, _) =
            self.returned.wait_timeout_while(out, wait, |out| *out >= CREDITS).unwrap_or_else(|e| e.into_inner());
        if *out >= CREDITS {
            return None;
        }
        *out += 1;
        Some(Credit(self.clone()))
    }
}

/// A poisoned lock still counts: a panic elsewhere must not stop the count.
fn lock(mutex: &Mutex<usize>) -> MutexGuard<'_, usize> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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
    pub(crate) fn ask<T>(&self, question: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
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
            credits.take(Duration::from_secs(1))
        });
        if self.hub.send(Envelope { command, _credit: credit }).is_err() {
            log::debug!("the hub has stopped (server shut down); command dropped");
        }
    }
    // ANCHOR_END: send
}
