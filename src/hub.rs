//! The hub thread: who is connected, who is in which room, and fan-out.
//!
//! Connection threads and [`Io`](crate::Io) handles send [`Command`]s into one
//! channel; the `hub` thread owns the registry and applies them one at a time,
//! so no lock guards the registry and commands from one sender keep their order.
//!
//! A broadcast is encoded **once per wire format** and the same bytes are
//! `try_send`-ed into each member's **bounded** outbox. A full outbox is the
//! sign of a slow consumer, but not a proof: in a burst the hub can outrun a
//! perfectly healthy connection thread that simply has not been scheduled
//! yet. So the hub looks at that thread's [`OutboxState`]: a thread that has
//! been stuck in one write (or one handler) for `slow_client_timeout` has a
//! client that is not keeping up, and the hub drops it at once (close 1013
//! "too slow"). Otherwise the hub waits for room, at most that long, and
//! nothing a healthy client was sent is lost. One stalled client costs the
//! others at most one such wait, never a wait per message.
//!
//! Broadcasts are scoped to a **namespace** (socket.io's `/`, `/admin`, …):
//! `/ws` clients live in `/`. A socket.io client joined to two namespaces is
//! two members (two socket ids) that share one outbox, because one connection
//! carries both; see `session.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use tungstenite::Message;

use crate::socket::SocketId;
use crate::wire::{Outgoing, Wire};

/// A request to the hub.
#[derive(Debug)]
pub enum Command {
    /// A connection finished its upgrade and wants broadcasts.
    Register(Member),
    /// A socket.io client joined one more namespace: socket `id` in `nsp`
    /// shares the outbox of `sibling`, its socket already registered. Why not
    /// a `Register`: that would need a sender of the outbox, and a session
    /// keeping one could never see the outbox disconnect (see `session.rs`).
    RegisterSibling {
        /// The new namespace socket.
        id: SocketId,
        /// Its namespace.
        nsp: String,
        /// A socket of the same client, registered before.
        sibling: SocketId,
    },
    /// A connection ended.
    Unregister(SocketId),
    /// Put a socket in a room.
    Join(SocketId, String),
    /// Take a socket out of a room.
    Leave(SocketId, String),
    /// Send an event to every socket `target` names.
    Emit(Target, Outgoing),
    /// The server is stopping: close everyone with 1001 and exit.
    Shutdown,
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

/// What the hub knows of one connected socket.
#[derive(Debug)]
pub struct Member {
    /// The socket's id.
    pub id: SocketId,
    /// Its wire format: broadcasts are encoded once per format.
    pub wire: Wire,
    /// Its namespace (`/` unless a socket.io client joined another).
    pub nsp: String,
    /// Its bounded outbox; the connection thread reads the other end.
    ///
    /// Why `Arc<Message>` and not `Message`: a bounded crossbeam channel
    /// allocates and touches every slot up front, and a slot holds one item
    /// plus a stamp. 64 bytes for a `Message`, 16 for an `Arc`: at the
    /// default capacity of 256 that is 16 KiB or 4 KiB of RSS per client, idle
    /// or not. The hub shares one `Arc` of each encoded frame among all
    /// outboxes. Measured: 45.4 → 33.4 KiB RSS per idle connection.
    pub outbox: Sender<Arc<Message>>,
    /// What the hub and the connection thread both see of that outbox.
    pub state: Arc<OutboxState>,
}

/// Shared by one connection thread and the hub, lock-free.
#[derive(Debug)]
pub struct OutboxState {
    /// Set before the hub lets go of the outbox, so that the connection
    /// thread, seeing it disconnected, knows which close code to send
    /// (1013 too slow, 1001 going away). 0 while the hub holds on.
    pub kicked: AtomicU16,
    /// When the connection thread entered the write or handler it is in now,
    /// in microseconds since `epoch` plus one; 0 when it is not in one.
    busy_since: AtomicU64,
    epoch: Instant,
}

impl OutboxState {
    /// A fresh state: not kicked, not busy.
    pub fn new() -> OutboxState {
        OutboxState { kicked: AtomicU16::new(0), busy_since: AtomicU64::new(0), epoch: Instant::now() }
    }

    /// The connection thread is entering a blocking write or a handler.
    pub fn busy(&self) {
        let now = self.epoch.elapsed().as_micros() as u64 + 1;
        self.busy_since.store(now, Ordering::Relaxed);
    }

    /// The connection thread is back in its loop, ready to take frames.
    pub fn idle(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// How long the connection thread has been in its current write or
    /// handler (zero when it is in neither).
    fn busy_for(&self) -> Duration {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => self.epoch.elapsed().saturating_sub(Duration::from_micros(since - 1)),
        }
    }
}

impl Default for OutboxState {
    fn default() -> Self {
        OutboxState::new()
    }
}

/// The hub's state, owned by the `hub` thread.
#[derive(Default)]
struct Hub {
    members: HashMap<SocketId, (Member, HashSet<String>)>,
    rooms: HashMap<String, HashSet<SocketId>>,
    /// How long a connection thread may be stuck before its client counts as too slow.
    slow_client_timeout: Duration,
}

/// The `hub` thread's loop: apply commands until `Shutdown` or until every
/// sender (the server and all `Io` handles) is gone.
pub fn run(commands: Receiver<Command>, clients: Arc<AtomicUsize>, slow_client_timeout: Duration) {
    let mut hub = Hub { slow_client_timeout, ..Hub::default() };
    for command in commands.iter() {
        match command {
            Command::Register(member) => {
                hub.members.insert(member.id, (member, HashSet::new()));
            }
            Command::RegisterSibling { id, nsp, sibling } => hub.register_sibling(id, nsp, sibling),
            Command::Unregister(id) => {
                hub.remove(id);
            }
            Command::Join(id, room) => hub.join(id, room),
            Command::Leave(id, room) => hub.leave(id, &room),
            Command::Emit(target, event) => hub.emit(&target, &event),
            Command::Shutdown => break,
        }
        // Why here and not in Io: the count changes only in this thread.
        clients.store(hub.members.len(), Ordering::Relaxed);
    }
    // Dropping each outbox (after marking why) makes every connection thread
    // send its Close; messages already queued are delivered first.
    let ids: Vec<SocketId> = hub.members.keys().copied().collect();
    for id in ids {
        hub.kick(id, 1001);
    }
    clients.store(0, Ordering::Relaxed);
}

impl Hub {
    fn remove(&mut self, id: SocketId) -> Option<Member> {
        let (member, rooms) = self.members.remove(&id)?;
        for room in rooms {
            self.leave_room_set(id, &room);
        }
        Some(member)
    }

    /// Registers one more namespace socket of a client on the outbox (and
    /// state) of `sibling`. When the sibling is gone, the hub has just dropped
    /// that client: its outbox is disconnected and its session is ending, so
    /// the new socket stays out too.
    fn register_sibling(&mut self, id: SocketId, nsp: String, sibling: SocketId) {
        let Some((sibling, _)) = self.members.get(&sibling) else {
            log::debug!("socket {id}: not registered: its client was dropped");
            return;
        };
        let member =
            Member { id, wire: sibling.wire, nsp, outbox: sibling.outbox.clone(), state: sibling.state.clone() };
        self.members.insert(id, (member, HashSet::new()));
    }

    fn join(&mut self, id: SocketId, room: String) {
        if let Some((_, rooms)) = self.members.get_mut(&id) {
            rooms.insert(room.clone());
            self.rooms.entry(room).or_default().insert(id);
        }
    }

    fn leave(&mut self, id: SocketId, room: &str) {
        if let Some((_, rooms)) = self.members.get_mut(&id) {
            rooms.remove(room);
            self.leave_room_set(id, room);
        }
    }

    fn leave_room_set(&mut self, id: SocketId, room: &str) {
        if let Some(set) = self.rooms.get_mut(room) {
            set.remove(&id);
            if set.is_empty() {
                self.rooms.remove(room); // empty rooms cost nothing
            }
        }
    }

    /// Lets go of a member's outbox, telling its connection thread why.
    /// Members sharing that outbox (other namespaces of the same socket.io
    /// connection) go too: the outbox only disconnects when all are dropped.
    fn kick(&mut self, id: SocketId, code: u16) {
        if let Some(member) = self.remove(id) {
            member.state.kicked.store(code, Ordering::Relaxed);
            let siblings: Vec<SocketId> = self
                .members
                .values()
                .filter(|(other, _)| other.outbox.same_channel(&member.outbox))
                .map(|(other, _)| other.id)
                .collect();
            for sibling in siblings {
                self.remove(sibling);
            }
        }
    }

    // ANCHOR: emit
    /// Encodes `event` at most once per wire format and offers it to every
    /// targeted outbox. (All targeted members share one namespace, so one
    /// encoding per format fits them all.)
    fn emit(&mut self, target: &Target, event: &Outgoing) {
        let mut encoded: [Option<Vec<Arc<Message>>>; Wire::ALL.len()] = Default::default();
        let mut too_slow = Vec::new();
        let patience = self.slow_client_timeout;
        let mut offer = |member: &Member| {
            let frames = encoded[member.wire.index()].get_or_insert_with(|| {
                member.wire.encode_frames(&member.nsp, event).into_iter().map(Arc::new).collect()
            });
            // One frame, or a socket.io binary event and its attachments.
            for frame in frames.iter() {
                match member.outbox.try_send(frame.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(frame)) => {
                        if !wait_for_room(member, frame, patience) {
                            too_slow.push(member.id);
                            break;
                        }
                    }
                    // The connection is ending; its Unregister is on the way.
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
        };
        match target {
            Target::All { except, nsp } => {
                for (id, (member, _)) in &self.members {
                    if Some(*id) != *except && member.nsp == *nsp {
                        offer(member);
                    }
                }
            }
            Target::Room { room, except, nsp } => {
                for id in self.rooms.get(room).into_iter().flatten() {
                    if Some(*id) != *except {
                        if let Some((member, _)) = self.members.get(id).filter(|(m, _)| m.nsp == *nsp) {
                            offer(member);
                        }
                    }
                }
            }
            Target::One(id) => {
                if let Some((member, _)) = self.members.get(id) {
                    offer(member);
                }
            }
        }
        for id in too_slow {
            log::warn!("socket {id}: outbox full and its thread stuck, dropping the slow client (close 1013)");
            self.kick(id, 1013);
        }
    }
    // ANCHOR_END: emit
}

/// Waits for room in a full outbox while its connection thread is not stuck.
/// Returns false when the client is too slow: its thread has been in one
/// write or handler for `patience`, or took nothing for `patience`.
fn wait_for_room(member: &Member, mut frame: Arc<Message>, patience: Duration) -> bool {
    let started = Instant::now();
    loop {
        let stuck_for = member.state.busy_for().max(started.elapsed());
        if stuck_for >= patience {
            return false;
        }
        // Short slices, so a thread that gets stuck while we wait is noticed.
        let slice = (patience - stuck_for).min(Duration::from_millis(10));
        match member.outbox.send_timeout(frame, slice) {
            Ok(()) => return true,
            Err(SendTimeoutError::Disconnected(_)) => return true, // ending anyway
            Err(SendTimeoutError::Timeout(back)) => frame = back,
        }
    }
}
