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
//! The handles that talk to the hub live here too: [`Io`] (any thread) and
//! [`Socket`] (one client, as handlers see it).

mod fanout;
pub mod io;
pub mod outlet;
pub mod socket;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use crate::wire::{Outgoing, Wire};

pub(crate) use io::Credits;
pub use io::{Io, To};
pub use outlet::{ConnId, Outlet};
pub use socket::{Socket, SocketInfo};

/// A socket's id: unique for the life of the server, never reused. A `/ws`
/// client's socket has its connection's id; each namespace a socket.io
/// client joins gets a fresh one.
pub type SocketId = u64;

/// Most broadcasts written together when they waited in the queue together
/// (see `fanout.rs`).
const RUN: usize = 64;

/// How often the hub retries backlogged sockets while any exist. Short: a
/// backlog of a healthy client is one that only has to wait for its reader.
const DRAIN_EVERY: Duration = Duration::from_millis(1);

/// A request to the hub.
#[derive(Debug)]
pub enum Command {
    /// A client connection opened (a `/ws` WebSocket or a socket.io
    /// session): the hub closes it on shutdown.
    Open(Arc<Outlet>),
    /// That connection ended.
    Gone(ConnId),
    /// A socket joined a namespace: it gets broadcasts from now on.
    Register(Member),
    /// That socket left.
    Unregister(SocketId),
    /// Put a socket in a room.
    Join(SocketId, String),
    /// Take a socket out of a room.
    Leave(SocketId, String),
    /// Send an event to every socket `target` names.
    Emit(Target, Outgoing),
    /// The server is stopping: close everyone with 1001, then exit.
    Shutdown,
}

/// A command on its way to the hub, with its sender's credit if it is a
/// client's (given back when the hub is done with it: see [`io::CREDITS`]).
#[derive(Debug)]
pub struct Envelope {
    /// What to do.
    pub command: Command,
    /// Held, never read: dropping the envelope gives the credit back.
    _credit: Option<io::Credit>,
}

/// Who receives an [`Command::Emit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every socket of a namespace, except one if given (the sender of a `broadcast`).
    All {
        /// The socket left out.
        except: Option<SocketId>,
        /// Only sockets of this namespace (`/` for `/ws` clients).
        nsp: String,
    },
    /// Every socket in a room of a namespace, except one if given.
    Room {
        /// The room's name.
        room: String,
        /// The socket left out.
        except: Option<SocketId>,
        /// Rooms are per namespace, as in socket.io.
        nsp: String,
    },
    /// One socket.
    One(SocketId),
}

/// What the hub knows of one socket.
#[derive(Debug)]
pub struct Member {
    /// The socket's id.
    pub id: SocketId,
    /// Its wire format: broadcasts are encoded once per format.
    pub wire: Wire,
    /// Its namespace (`/` unless a socket.io client joined another).
    pub nsp: String,
    /// Where its frames go (shared by the namespaces of one connection).
    pub outlet: Arc<Outlet>,
}

/// Settings the hub runs with.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A backlog that has not moved for this long closes its client (1013).
    pub slow_client: Duration,
    /// How long a client may take to answer our Close.
    pub close: Duration,
}

/// The hub's state, owned by the `hub` thread.
struct Hub {
    timeouts: Timeouts,
    /// Every open connection, to close at shutdown.
    outlets: HashMap<ConnId, Arc<Outlet>>,
    members: HashMap<SocketId, (Member, HashSet<String>)>,
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
/// for it (`notices`: a backlog to drain, a close to time out), until
/// `Shutdown` has closed every connection or every sender is gone.
pub fn run(
    commands: Receiver<Envelope>,
    notices: Receiver<Arc<Outlet>>,
    clients: Arc<AtomicUsize>,
    timeouts: Timeouts,
) {
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
    };
    loop {
        // Sleep until a command, a notice, or the next backlog retry or
        // close deadline; with neither, sleep until a command comes.
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
            Some(Some(Envelope { command: Command::Emit(target, event), .. })) => {
                // Broadcasts that queued up behind this one go out with it:
                // one write per client for the whole run, not one per event.
                let mut run = vec![(target, event)];
                let mut next = None;
                while run.len() < RUN {
                    match commands.try_recv() {
                        Ok(Envelope { command: Command::Emit(target, event), .. }) => run.push((target, event)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                hub.emit_run(&run);
                if let Some(envelope) = next {
                    hub.apply(envelope.command);
                }
            }
            Some(Some(envelope)) => hub.apply(envelope.command), // its credit goes back here
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
    // Commands still queued would keep their senders' credits forever.
    while commands.try_recv().is_ok() {}
}
// ANCHOR_END: run

impl Hub {
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
            Command::Register(member) => {
                self.sockets_of.entry(member.outlet.id).or_default().push(member.id);
                self.members.insert(member.id, (member, HashSet::new()));
            }
            Command::Unregister(id) => self.remove(id),
            Command::Join(id, room) => self.join(id, room),
            Command::Leave(id, room) => self.leave(id, &room),
            Command::Emit(target, event) => self.emit_run(&[(target, event)]),
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
            // every room now (its thread says goodbye when the close is done).
            for id in self.sockets_of.remove(&outlet.id).unwrap_or_default() {
                self.remove(id);
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
        match (drain, close) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retries every backlog, and wakes connections whose client did not
    /// answer our Close in time.
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
    }

    fn remove(&mut self, id: SocketId) {
        let Some((member, rooms)) = self.members.remove(&id) else { return };
        if let Some(ids) = self.sockets_of.get_mut(&member.outlet.id) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.sockets_of.remove(&member.outlet.id);
            }
        }
        for room in rooms {
            self.leave_room_set(&member.nsp, id, &room);
        }
    }

    fn join(&mut self, id: SocketId, room: String) {
        if let Some((member, rooms)) = self.members.get_mut(&id) {
            rooms.insert(room.clone());
            self.rooms.entry(member.nsp.clone()).or_default().entry(room).or_default().insert(id);
        }
    }

    fn leave(&mut self, id: SocketId, room: &str) {
        if let Some((member, rooms)) = self.members.get_mut(&id) {
            rooms.remove(room);
            let nsp = member.nsp.clone();
            self.leave_room_set(&nsp, id, room);
        }
    }

    fn leave_room_set(&mut self, nsp: &str, id: SocketId, room: &str) {
        let Some(rooms) = self.rooms.get_mut(nsp) else { return };
        if let Some(set) = rooms.get_mut(room) {
            set.remove(&id);
            if set.is_empty() {
                rooms.remove(room); // empty rooms cost nothing
            }
        }
        if rooms.is_empty() {
            self.rooms.remove(nsp);
        }
    }
}
