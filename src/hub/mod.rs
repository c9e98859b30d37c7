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

pub mod acks;
mod fanout;
pub mod handshake;
pub mod io;
mod node;
pub mod observe;
pub mod outlet;
pub mod recovery;
mod rooms;
pub mod server_side;
pub mod socket;
mod timers;

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use serde_json::Value;

use crate::wire::{Encoded, Outgoing, Payload};
use acks::Collector;
use recovery::{Held, Recovery};

pub use acks::{Ack, AckError, BroadcastAcks};
pub use handshake::Handshake;
pub(crate) use io::Credits;
pub use io::{FetchedSocket, Io, To};
pub use node::Fetched;
pub use outlet::{ConnId, Outlet};
pub use recovery::{RecoveryConfig, RecoveryStats};
pub use server_side::{ServerReply, ServerSideHandler};
pub use socket::{Socket, SocketInfo, Verdict};
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

// ANCHOR: selection
/// Which sockets of a namespace an operation is about: socket.io's
/// `BroadcastOptions` (`rooms`, `except`), and what the Node Redis
/// adapter's messages carry between nodes (`BroadcastOpts` in
/// [`crate::cluster::wire`]), field for field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// The namespace (`/` for `/ws` clients).
    pub nsp: String,
    /// Sockets in any of these rooms; none means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Minus the sockets in any of these. Every socket is in a room named
    /// after its public id, so `socket.broadcast` puts the sender here.
    pub except: Vec<String>,
}

/// How a broadcast is sent (the adapter's `flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// Dropped for a client that cannot take it now (its socket has a
    /// backlog, or no long-poll waits), and never logged for recovery.
    pub volatile: bool,
    /// For this server's clients only (socket.io's `local`): not published
    /// to the other servers of a cluster. A broadcast that came from one
    /// of them has it.
    pub local: bool,
}

/// An event for the sockets a [`Selection`] names.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// Who gets it.
    pub select: Selection,
    /// How.
    pub flags: Flags,
    /// What.
    pub event: Outgoing,
}
// ANCHOR_END: selection

/// A command on its way to the hub, with its sender's credit if it is a
/// client's (given back when the hub is done with it: see `io::CREDITS`).
#[derive(Debug)]
pub struct Envelope {
    /// What to do.
    pub command: Command,
    /// Held, never read: dropping the envelope gives the credit back.
    _credit: Option<io::Credit>,
}

/// A request to the hub.
///
/// The server-side operations ([`Command::Fetch`], [`Command::AddRooms`],
/// [`Command::DelRooms`], [`Command::Disconnect`],
/// [`Command::ServerSideEmit`]) take a [`Selection`] and, where there is
/// something to answer, a reply channel: the hub answers for this server's
/// sockets, and a cluster layer can answer for the other nodes' beside it.
pub enum Command {
    /// A client connection opened (a `/ws` WebSocket or a socket.io
    /// session): the hub closes it on shutdown.
    Open(Arc<Outlet>),
    /// That connection ended.
    Gone(ConnId),
    /// A socket joined a namespace, in the rooms it holds (its own id's at
    /// least): it gets broadcasts from now on. With `Some(offset)` it is a
    /// recovered socket: the logged packets after `offset` that it missed
    /// are written to it first, in order. Before those, the hub writes the
    /// frames the client gets first (its CONNECT answer, the `/ws` session
    /// frame): so that a client that has them is in the hub already, and a
    /// broadcast sent after it saw them reaches it. The hub then answers on
    /// the channel: the socket's thread waits for that before it runs the
    /// connection handler, whose emits must come after all that.
    Register(Socket, Option<u64>, Option<Encoded>, Sender<()>),
    /// That socket left; `true`: for a reason its client may recover from.
    Unregister(SocketId, bool),
    /// Put a socket in a room.
    Join(SocketId, String),
    /// Take a socket out of a room.
    Leave(SocketId, String),
    /// Send an event to every socket the selection names.
    Emit(Broadcast),
    /// The same, asking each socket for an ack, collected by the collector;
    /// with a cluster, asking the clients of this many other servers too,
    /// who have this long to answer.
    EmitWithAck(Broadcast, Arc<Collector>, usize, Duration),
    /// Write one socket's own frames, in line with its broadcasts (when
    /// recovery is on, a socket writes everything through the hub, so that
    /// the log's order is the order its client sees). `true`: volatile.
    Write(SocketId, Encoded, bool),
    /// Close one `/ws` socket's connection, after what was written before.
    Close(SocketId, u16, String),
    /// The selected sockets (`fetch_sockets`): this server's, and with a
    /// cluster those of this many other servers.
    Fetch(Selection, usize, Sender<Fetched>),
    /// The selected sockets join these rooms (`sockets_join`).
    AddRooms(Selection, Vec<String>),
    /// The selected sockets leave these rooms (`sockets_leave`).
    DelRooms(Selection, Vec<String>),
    /// The selected sockets, for the caller to disconnect
    /// (`disconnect_sockets`): their `on_disconnect` handlers are the
    /// application's code, which never runs on the hub thread.
    /// With `true`, whole connections close; other servers do the same
    /// with theirs.
    Disconnect(Selection, bool, Sender<Vec<Socket>>),
    /// An event for the other servers of a cluster (`server_side_emit`):
    /// namespace, event, data, and how many servers' answers to wait for
    /// and what to call with them. Alone, there is nobody to tell: the
    /// answers are none, at once (on the `timers` thread: the callback is
    /// the application's).
    ServerSideEmit(String, String, Payload, Option<(usize, Answers)>),
    /// Every room of a namespace (`all_rooms`): this server's, and with a
    /// cluster those of this many other servers.
    AllRooms(String, usize, Sender<Vec<String>>),
    /// What the `redis-sub` thread read from the other servers.
    Cluster(crate::cluster::Event),
    /// Recovery: the session `pid` of namespace `nsp` for a client that
    /// saw `offset` last, if it can be resumed (taken from the held
    /// sessions, or from a socket still connected with that pid, which
    /// leaves: its client is back on another connection).
    Restore {
        /// The namespace.
        nsp: String,
        /// The client's private id.
        pid: String,
        /// The last offset it saw.
        offset: String,
        /// The answer.
        reply: Sender<Option<Restored>>,
    },
    /// What recovery holds now.
    Stats(Sender<RecoveryStats>),
    /// Watching the registry (the admin UI): see [`observe`].
    Observe(observe::Request),
    /// The server is stopping: close everyone with 1001, then exit.
    Shutdown,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Open(outlet) => write!(f, "Open({})", outlet.id),
            Command::Gone(id) => write!(f, "Gone({id})"),
            Command::Register(socket, replay, ..) => write!(f, "Register({}, {replay:?})", socket.id()),
            Command::Unregister(id, keep) => write!(f, "Unregister({id}, {keep})"),
            Command::Join(id, room) => write!(f, "Join({id}, {room:?})"),
            Command::Leave(id, room) => write!(f, "Leave({id}, {room:?})"),
            Command::Emit(b) => write!(f, "Emit({b:?})"),
            Command::EmitWithAck(b, _, others, _) => write!(f, "EmitWithAck({b:?}, others: {others})"),
            Command::Write(id, _, volatile) => write!(f, "Write({id}, volatile: {volatile})"),
            Command::Close(id, code, _) => write!(f, "Close({id}, {code})"),
            Command::Fetch(s, others, _) => write!(f, "Fetch({s:?}, others: {others})"),
            Command::AddRooms(s, rooms) => write!(f, "AddRooms({s:?}, {rooms:?})"),
            Command::DelRooms(s, rooms) => write!(f, "DelRooms({s:?}, {rooms:?})"),
            Command::Disconnect(s, close, _) => write!(f, "Disconnect({s:?}, close: {close})"),
            Command::ServerSideEmit(nsp, event, _, _) => write!(f, "ServerSideEmit({nsp:?}, {event:?})"),
            Command::AllRooms(nsp, others, _) => write!(f, "AllRooms({nsp:?}, others: {others})"),
            Command::Cluster(event) => write!(f, "Cluster({event:?})"),
            Command::Restore { nsp, .. } => write!(f, "Restore({nsp:?})"),
            Command::Stats(_) => write!(f, "Stats"),
            Command::Observe(_) => write!(f, "Observe"),
            Command::Shutdown => write!(f, "Shutdown"),
        }
    }
}

/// What a `server_side_emit_with_ack` calls with the other servers' answers.
pub type Answers = Box<dyn FnOnce(Vec<Value>) + Send>;

/// A session the hub gave back for a client that came back.
#[derive(Debug)]
pub struct Restored {
    /// Its id, rooms, data and where its replay starts.
    pub held: Held,
    /// The socket that still had it, if its old connection was not known
    /// to be gone yet: it has left the hub; the caller finishes it (its
    /// `on_disconnect` handlers run) on its own thread.
    pub replaced: Option<Socket>,
}

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
