//! The hub thread: who is connected, who is in which room, and fan-out.
//!
//! Connection threads and [`Io`](crate::Io) handles send [`Command`]s into one
//! channel; the `hub` thread owns the registry and applies them one at a time,
//! so no lock guards the registry and commands from one sender keep their order.
//!
//! A broadcast is encoded **once per wire format** and the same bytes are
//! offered to each member's **bounded** outbox without waiting: when an
//! outbox is full, that client is not keeping up, and the hub drops it (its
//! connection closes with 1013 "too slow") rather than make everyone else wait.
//!
//! Why the bound is a length check and not a `bounded` channel: a bounded
//! crossbeam channel allocates and touches all of its slots up front, about
//! 64 bytes per message of capacity: 16 KiB for each idle client at the
//! default 256 (measured: 52.6 → 36.7 KiB RSS per idle connection with this
//! change). An `unbounded` channel allocates a 31-slot block only when
//! messages flow, and the hub — its only sender — checks the length before
//! each send, so an outbox still never holds more than `outbox_capacity`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use tungstenite::Message;

use crate::protocol::{Outgoing, Wire};
use crate::socket::SocketId;

/// A request to the hub.
#[derive(Debug)]
pub enum Command {
    /// A connection finished its upgrade and wants broadcasts.
    Register(Member),
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
    /// Every socket, except one if given (the sender of a `broadcast`).
    All {
        /// The socket left out.
        except: Option<SocketId>,
    },
    /// Every socket in a room, except one if given.
    Room {
        /// The room's name.
        room: String,
        /// The socket left out.
        except: Option<SocketId>,
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
    /// Its outbox (an `unbounded` channel that the hub keeps under
    /// `outbox_capacity`); the connection thread reads the other end.
    pub outbox: Sender<Message>,
    /// Set before the hub lets go of `outbox`, so that the connection thread,
    /// seeing its outbox disconnected, knows which close code to send
    /// (1013 too slow, 1001 going away).
    pub kicked: Arc<AtomicU16>,
}

/// The hub's state, owned by the `hub` thread.
struct Hub {
    members: HashMap<SocketId, (Member, HashSet<String>)>,
    rooms: HashMap<String, HashSet<SocketId>>,
    /// Most messages one outbox may hold ([`Config::outbox_capacity`](crate::Config::outbox_capacity)).
    outbox_capacity: usize,
}

/// The `hub` thread's loop: apply commands until `Shutdown` or until every
/// sender (the server and all `Io` handles) is gone.
pub fn run(commands: Receiver<Command>, clients: Arc<AtomicUsize>, outbox_capacity: usize) {
    let mut hub = Hub { members: HashMap::new(), rooms: HashMap::new(), outbox_capacity };
    for command in commands.iter() {
        match command {
            Command::Register(member) => {
                hub.members.insert(member.id, (member, HashSet::new()));
            }
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
    fn kick(&mut self, id: SocketId, code: u16) {
        if let Some(member) = self.remove(id) {
            member.kicked.store(code, Ordering::Relaxed);
        }
    }

    /// Encodes `event` at most once per wire format and offers it to every
    /// targeted outbox without waiting.
    fn emit(&mut self, target: &Target, event: &Outgoing) {
        let mut encoded: [Option<Message>; Wire::ALL.len()] = Default::default();
        let mut too_slow = Vec::new();
        let capacity = self.outbox_capacity;
        let mut offer = |member: &Member| {
            // Only the hub sends into outboxes, so the length cannot grow
            // between this check and the send.
            if member.outbox.len() >= capacity {
                return too_slow.push(member.id);
            }
            let frame = encoded[member.wire.index()].get_or_insert_with(|| member.wire.encode(event));
            // Err: the connection is ending; its Unregister is on the way.
            let _ = member.outbox.send(frame.clone());
        };
        match target {
            Target::All { except } => {
                for (id, (member, _)) in &self.members {
                    if Some(*id) != *except {
                        offer(member);
                    }
                }
            }
            Target::Room { room, except } => {
                for id in self.rooms.get(room).into_iter().flatten() {
                    if Some(*id) != *except {
                        if let Some((member, _)) = self.members.get(id) {
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
            log::warn!("socket {id}: outbox full, dropping the slow client (close 1013)");
            self.kick(id, 1013);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    fn member(id: SocketId) -> (Member, Receiver<Message>, Arc<AtomicU16>) {
        let (outbox, rx) = unbounded();
        let kicked = Arc::new(AtomicU16::new(0));
        (Member { id, wire: Wire::Json, outbox, kicked: kicked.clone() }, rx, kicked)
    }

    /// The outbox is an unbounded channel, but the hub still holds it to
    /// `outbox_capacity`: the client whose outbox is full is dropped (1013),
    /// its queued frames are still delivered, and the others go on receiving.
    #[test]
    fn a_full_outbox_drops_only_that_client() {
        let mut hub = Hub { members: HashMap::new(), rooms: HashMap::new(), outbox_capacity: 2 };
        let (slow, slow_rx, slow_kicked) = member(1);
        let (fast, fast_rx, fast_kicked) = member(2);
        hub.members.insert(1, (slow, HashSet::new()));
        hub.members.insert(2, (fast, HashSet::new()));
        let event = Outgoing::Event { name: "tick".into(), data: crate::protocol::payload(&1).unwrap(), ack: None };
        let all = Target::All { except: None };

        for _ in 0..2 {
            hub.emit(&all, &event);
            assert_eq!(fast_rx.try_iter().count(), 1); // the fast client keeps up
        }
        assert_eq!((slow_rx.len(), slow_kicked.load(Ordering::Relaxed)), (2, 0));

        hub.emit(&all, &event); // the slow client's outbox is full now
        assert_eq!(slow_kicked.load(Ordering::Relaxed), 1013);
        assert!(!hub.members.contains_key(&1));
        assert_eq!(slow_rx.try_iter().count(), 2);
        assert!(slow_rx.recv().is_err(), "the hub let go of the outbox");
        assert_eq!((fast_rx.len(), fast_kicked.load(Ordering::Relaxed)), (1, 0));
    }
}
