//! The hub: who is connected, who is in which room, and fan-out.
//!
//! Connection threads and [`Io`] handles send [`Command`]s into one channel;
//! the `hub` thread owns the registry and applies them one at a time, so no
//! lock guards the registry and commands from one sender keep their order.
//!
//! A broadcast is encoded **once per wire format** and the hub itself writes
//! the same bytes into every target's [`Outlet`], without blocking and
//! without waking anybody: a client's own thread sleeps in `read` through
//! it. What a socket cannot take at once waits in that client's backlog; the
//! hub drains backlogs while any exist and closes a client whose backlog is
//! full or stuck (1013, see [`outlet`]). So one stalled client never makes
//! anyone else wait.
//!
//! Broadcasts are scoped to a **namespace** (socket.io's `/`, `/admin`, …):
//! `/ws` clients live in `/`. A socket.io client joined to two namespaces is
//! two members (two socket ids) writing through one outlet, because one
//! connection carries both.
//!
//! Who gets a broadcast is a [`Selection`]: a namespace, rooms, except
//! rooms, as socket.io's `BroadcastOptions` and the Node Redis adapter's
//! messages say it. Every socket is in a room named after its public id
//! ([`Socket::sid`]), so one socket is a selection too (`io.to(sid)`). The
//! server-side operations (fetch, join, leave, disconnect on a selection)
//! are commands with a reply channel: the hub answers for this server.
//!
//! With connection state recovery on, the hub also gives every logged event
//! its offset and keeps the log and the sessions of clients that dropped
//! ([`recovery`]), and replays what a returning client missed.
//!
//! The handles that talk to the hub live here too: [`Io`] (any thread),
//! [`Socket`] (one client, as handlers see it), [`Ack`] (an answer a client
//! waits for); and the `timers` thread, where timeouts of acks run.
//!
//! The files' imports run one way, from the bottom up: `ids`, `handshake`
//! (what names a socket, what it was told), `timers`, `server_side`,
//! `outlet` (a client's way out), `recovery`, `acks`; `fanout` and `node`
//! (writing into outlets; the hub as one node of a cluster); `io`, the
//! handle to the hub; `socket`, which holds one; `observe`; and the hub
//! thread's own `command`, `rooms` and `operations`. A file names only
//! files before it (`io/fetched.rs`, where `fetch_sockets` hands out
//! sockets, names `socket`); what this root defines (`Hub`, `Member`, the
//! re-exports below) is common ground.

pub mod acks;
mod command;
mod fanout;
pub mod handshake;
pub(crate) mod ids;
pub mod io;
mod node;
pub mod observe;
mod operations;
pub mod outlet;
pub mod recovery;
mod rooms;
pub mod server_side;
pub mod socket;
mod timers;

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use recovery::Recovery;

pub use acks::{AckError, BroadcastAcks};
pub use command::{Answers, Broadcast, Command, Envelope, Flags, Restored, Selection};
pub use handshake::{Handshake, SocketInfo};
pub(crate) use io::Credits;
pub use io::{FetchedSocket, Io, To};
pub use node::Fetched;
pub use outlet::{ConnId, Outlet};
pub use recovery::{RecoveryConfig, RecoveryStats};
pub use server_side::{ServerReply, ServerSideHandler};
pub use socket::{Ack, Socket, Verdict};
pub(crate) use timers::Timers;

/// A socket's number in this process: unique for the life of the server,
/// never reused, and never sent to a client. It keys the hub's maps and
/// names the socket in every log line. A `/ws` client's first socket has
/// its connection's number; each namespace a socket.io client joins gets a
/// fresh one, and so does a recovered socket. The id clients and other
/// nodes know a socket by is its public id, [`Socket::sid`].
pub type SocketId = u64;

/// Most broadcasts written together when they waited in the queue together
/// (see `fanout.rs`).
const RUN: usize = 64;

/// How often the hub retries backlogged sockets while any exist. Short: a
/// backlog of a healthy client is one that only has to wait for its reader.
const DRAIN_EVERY: Duration = Duration::from_millis(1);

/// What the hub knows of one socket.
struct Member {
    socket: Socket,
    /// The hub's copy of its rooms (the socket keeps one for `rooms()`).
    rooms: HashSet<String>,
}

/// Settings the hub runs with.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A backlog that has not moved for this long closes its client (1013).
    pub slow_client: Duration,
    /// How long a client may take to answer our Close.
    pub close: Duration,
}

thread_local! {
    /// True on the `hub` thread: commands it sends itself (from an
    /// `on_any_outgoing` listener) must not wait for room in its own queue.
    static ON_HUB: Cell<bool> = const { Cell::new(false) };
}

/// True when running on the `hub` thread.
pub(crate) fn on_hub_thread() -> bool {
    ON_HUB.with(Cell::get)
}

/// The hub's state, owned by the `hub` thread.
struct Hub {
    timeouts: Timeouts,
    /// Every open connection, to close at shutdown.
    outlets: HashMap<ConnId, Arc<Outlet>>,
    members: HashMap<SocketId, Member>,
    /// Connection → its sockets (one per namespace it joined).
    sockets_of: HashMap<ConnId, Vec<SocketId>>,
    /// Namespace → room → sockets.
    rooms: HashMap<String, HashMap<String, HashSet<SocketId>>>,
    /// Outlets with bytes waiting: retried every [`DRAIN_EVERY`].
    draining: HashMap<ConnId, Arc<Outlet>>,
    /// When to retry them next.
    drain_at: Instant,
    /// Our Closes not yet answered, by when the client must have answered.
    closing: BinaryHeap<Reverse<Deadline>>,
    /// After `Shutdown`: stop once every connection is gone.
    stopping: bool,
    /// The packet log and the held sessions, when recovery is on.
    recovery: Option<Recovery>,
    /// Where a broadcast with acks that reached nobody is finished (its
    /// callback is the application's, and never runs here).
    timers: Arc<Timers>,
    /// This server as a node of a cluster, when there is one (`node.rs`).
    node: Option<node::Node>,
    /// The handlers of server-side events from the other nodes.
    server_side: Arc<server_side::ServerSide>,
    /// Who watches the registry change (`observe.rs`; the admin UI).
    observers: Vec<observe::Observer>,
}

/// What the hub thread starts with, besides its two channels.
pub(crate) struct Setup {
    /// The hub keeps it up to date: how many sockets are connected.
    pub clients: Arc<AtomicUsize>,
    pub timeouts: Timeouts,
    pub recovery: Option<RecoveryConfig>,
    pub timers: Arc<Timers>,
    /// The cluster over Redis, when there is one, and the namespaces it
    /// listens to from the start.
    pub cluster: Option<(Arc<crate::cluster::Cluster>, Vec<String>)>,
    pub server_side: Arc<server_side::ServerSide>,
}

/// A close to time out.
struct Deadline(Instant, Arc<Outlet>);

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

// ANCHOR: run
/// The `hub` thread's loop: apply commands, look after outlets that asked
/// for it (`notices`: a backlog to drain, a close to time out), sweep what
/// recovery no longer needs, until `Shutdown` has closed every connection
/// or every sender is gone.
pub(crate) fn run(commands: Receiver<Envelope>, notices: Receiver<Arc<Outlet>>, setup: Setup) {
    ON_HUB.with(|on| on.set(true));
    let Setup { clients, timeouts, recovery, timers, cluster, server_side } = setup;
    let mut hub = Hub {
        timeouts,
        outlets: HashMap::new(),
        members: HashMap::new(),
        sockets_of: HashMap::new(),
        rooms: HashMap::new(),
        draining: HashMap::new(),
        drain_at: Instant::now(),
        closing: BinaryHeap::new(),
        stopping: false,
        recovery: recovery.map(Recovery::new),
        timers,
        node: cluster.map(|(cluster, namespaces)| node::Node::new(cluster, namespaces)),
        server_side,
        observers: Vec::new(),
    };
    loop {
        // Sleep until a command, a notice, or the next backlog retry, close
        // deadline or sweep; with none, sleep until a command comes.
        let step = match hub.next_wake() {
            Some(at) => select! {
                recv(commands) -> envelope => envelope.ok().map(Some),
                recv(notices) -> outlet => { if let Ok(outlet) = outlet { hub.look_after(outlet) } Some(None) },
                default(at.saturating_duration_since(Instant::now())) => Some(None),
            },
            None => select! {
                recv(commands) -> envelope => envelope.ok().map(Some),
                recv(notices) -> outlet => { if let Ok(outlet) = outlet { hub.look_after(outlet) } Some(None) },
            },
        };
        match step {
            Some(Some(envelope)) => hub.apply_run(envelope, &commands), // credits go back as envelopes drop
            Some(None) => {}
            None => break, // every sender is gone
        }
        hub.on_timers();
        // Why here and not in Io: the count changes only in this thread.
        clients.store(hub.members.len(), Ordering::Relaxed);
        if hub.stopping && hub.outlets.is_empty() {
            break;
        }
    }
    clients.store(0, Ordering::Relaxed);
    hub.timers.shutdown();
    // Commands still queued would keep their senders' credits forever.
    while commands.try_recv().is_ok() {}
}
// ANCHOR_END: run

impl Hub {
    /// Applies one command; a broadcast takes the broadcasts queued right
    /// behind it along (see `fanout.rs`), and the first other command met
    /// is applied after them.
    fn apply_run(&mut self, first: Envelope, commands: &Receiver<Envelope>) {
        let Command::Emit(broadcast) = first.command else { return self.apply(first.command) };
        let mut run = vec![broadcast];
        let mut next = None;
        while run.len() < RUN && !run[run.len() - 1].flags.volatile {
            match commands.try_recv() {
                Ok(Envelope { command: Command::Emit(broadcast), .. }) => run.push(broadcast),
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        self.emit_run(&run);
        if let Some(envelope) = next {
            self.apply(envelope.command);
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Open(outlet) => {
                if self.stopping {
                    outlet.close(1001, "server shutting down", false);
                }
                self.outlets.insert(outlet.id, outlet);
            }
            Command::Gone(id) => {
                self.outlets.remove(&id);
                self.draining.remove(&id);
            }
            Command::Register(socket, replay, greeting, registered) => {
                self.subscribe(socket.namespace());
                if let Some(greeting) = greeting {
                    socket.outlet().push(&greeting);
                }
                self.register(socket, replay);
                let _ = registered.send(());
            }
            Command::Unregister(id, keep) => self.remove(id, keep),
            Command::Join(id, room) => self.join(id, room),
            Command::Leave(id, room) => self.leave(id, &room),
            Command::Emit(broadcast) => self.emit_run(&[broadcast]),
            Command::EmitWithAck(broadcast, collector, others, timeout) => {
                self.emit_with_ack(broadcast, collector, others, timeout)
            }
            Command::Write(id, frames, volatile) => {
                if let Some(member) = self.members.get(&id) {
                    fanout::push(member.socket.outlet(), &frames, volatile);
                }
            }
            Command::Close(id, code, reason) => {
                if let Some(member) = self.members.get(&id) {
                    member.socket.outlet().close(code, &reason, false);
                }
            }
            // The operations on selections span every server of a cluster (node.rs).
            Command::Fetch(select, others, reply) => self.fetch(select, others, reply),
            Command::AddRooms(select, rooms) => self.add_rooms(select, rooms),
            Command::DelRooms(select, rooms) => self.del_rooms(select, rooms),
            Command::Disconnect(select, close, reply) => self.disconnect(select, close, reply),
            Command::ServerSideEmit(nsp, event, data, answers) => self.server_side_emit(&nsp, &event, &data, answers),
            Command::AllRooms(nsp, others, reply) => self.all_rooms(&nsp, others, reply),
            Command::Cluster(event) => self.on_cluster(event),
            Command::Restore { nsp, pid, offset, reply } => {
                let restored = self.restore(&nsp, &pid, &offset);
                let _ = reply.send(restored);
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.recovery.as_ref().map(Recovery::stats).unwrap_or_default());
            }
            Command::Observe(request) => self.observe(request),
            Command::Shutdown => {
                // Each Close goes behind what the client was already sent;
                // clients that never answer are dropped at the close timeout.
                self.stopping = true;
                for outlet in self.outlets.values() {
                    outlet.close(1001, "server shutting down", false);
                }
            }
        }
    }

    /// An outlet asked for care: drain it now, and keep it in the lists
    /// of what to retry and what to time out.
    fn look_after(&mut self, outlet: Arc<Outlet>) {
        let drained = outlet.drain(self.timeouts.slow_client);
        if let Some(since) = drained.closing_since {
            // Closing: nothing more will be written to it, so it leaves
            // every room now (its thread says goodbye when the close is
            // done). A client dropped as too slow, or by the server
            // stopping, may come back for what it missed.
            let keep = outlet.our_close().is_some_and(|(code, _)| matches!(code, 1001 | 1013));
            for id in self.sockets_of.remove(&outlet.id).unwrap_or_default() {
                self.remove(id, keep);
            }
            self.closing.push(Reverse(Deadline(since + self.timeouts.close, outlet.clone())));
        }
        if drained.backlog {
            if self.draining.is_empty() {
                self.drain_at = Instant::now() + DRAIN_EVERY;
            }
            self.draining.insert(outlet.id, outlet);
        } else {
            self.draining.remove(&outlet.id);
        }
    }

    /// When the loop must wake even without a command.
    fn next_wake(&self) -> Option<Instant> {
        let drain = (!self.draining.is_empty()).then_some(self.drain_at);
        let close = self.closing.peek().map(|Reverse(Deadline(at, _))| *at);
        let sweep = self.recovery.as_ref().and_then(Recovery::next_sweep);
        let request = self.node.as_ref().and_then(node::Node::next_deadline);
        [drain, close, sweep, request].into_iter().flatten().min()
    }

    /// Retries every backlog, wakes connections whose client did not
    /// answer our Close in time, and forgets what recovery no longer needs.
    fn on_timers(&mut self) {
        let now = Instant::now();
        if !self.draining.is_empty() && now >= self.drain_at {
            let outlets: Vec<Arc<Outlet>> = self.draining.values().cloned().collect();
            for outlet in outlets {
                self.look_after(outlet);
            }
            self.drain_at = now + DRAIN_EVERY;
        }
        while self.closing.peek().is_some_and(|Reverse(Deadline(at, _))| *at <= now) {
            if let Some(Reverse(Deadline(_, outlet))) = self.closing.pop() {
                outlet.expire();
            }
        }
        self.expire_requests(now);
        if let Some(recovery) = self.recovery.as_mut() {
            if recovery.next_sweep().is_some_and(|at| at <= now) {
                recovery.sweep(now);
            }
        }
    }
}
