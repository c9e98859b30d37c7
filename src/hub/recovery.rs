//! Connection state recovery (socket.io ≥ 4.6): what the hub keeps so that a
//! client whose network blipped comes back as the same socket, in the same
//! rooms, with its data, and gets every packet it missed.
//!
//! Two bounded stores, both owned by the `hub` thread:
//!
//! - the **packet log**: every event written through the hub that asks no
//!   ack and is not volatile gets the next **offset** (1, 2, 3, … for the
//!   whole server) and is kept with its selection (namespace, rooms,
//!   except). The client sees the offset (socket.io: as the event's last
//!   argument; `/ws`: as `"offset"`) and sends back the last one it saw.
//!   Offsets are consecutive, so finding one is an index, not a search.
//! - the **held sessions**: a socket that leaves for a recoverable reason
//!   (its transport broke, closed, timed out, was too slow, the server
//!   stopped) is kept by its private id (`pid`) with its public id, rooms
//!   and data, for `max_disconnection_duration`.
//!
//! A client that connects with a known `pid` and an offset whose successors
//! are all still in the log gets its session back; anything else gets a
//! fresh one. Both stores are bounded in count, the log also in bytes, and
//! both forget by age; what falls off is only ever the oldest.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::handshake::Data;
use super::Broadcast;
use crate::wire::Outgoing;

/// How recovery is set up: [`ServerBuilder::connection_state_recovery`](crate::ServerBuilder::connection_state_recovery)
/// and [`ServerBuilder::recovery_limits`](crate::ServerBuilder::recovery_limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a disconnected session is kept, and how long a packet stays
    /// in the log (Node's `maxDisconnectionDuration`; default 2 minutes).
    pub max_disconnection_duration: Duration,
    /// A recovered socket skips the connect checks (`check_connect`), as
    /// Node's `skipMiddlewares` (default true).
    pub skip_middlewares: bool,
    /// Most sessions held at once (default 10,000); past it the oldest is
    /// forgotten.
    pub max_sessions: usize,
    /// Most packets in the log (default 10,000).
    pub max_packets: usize,
    /// Most bytes of event data in the log (default 16 MiB).
    pub max_packet_bytes: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_sessions: 10_000,
            max_packets: 10_000,
            max_packet_bytes: 16 << 20,
        }
    }
}

/// What recovery holds now ([`Io::recovery_stats`](crate::Io::recovery_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryStats {
    /// Disconnected sessions held.
    pub sessions: usize,
    /// Bytes those sessions hold by this count: their ids, rooms and data
    /// (as JSON text), and their entries in the map and the expiry queue.
    /// (The heap they take is larger: see chapter 14 for the measurement.)
    pub session_bytes: usize,
    /// Packets in the log.
    pub packets: usize,
    /// Bytes the log holds by the same count: event names and data (as
    /// JSON text), rooms, and the entries.
    pub packet_bytes: usize,
}

/// One packet in the log.
struct Logged {
    offset: u64,
    at: Instant,
    nsp: String,
    rooms: Vec<String>,
    except: Vec<String>,
    event: Outgoing,
    bytes: usize,
}

/// A disconnected socket, waiting for its client to come back.
#[derive(Debug)]
pub struct Held {
    /// The public id (socket.io's `socket.id`).
    pub sid: String,
    /// The private id the client proves itself with.
    pub pid: String,
    /// Its namespace: a session comes back only in the same one.
    pub nsp: String,
    /// Its rooms when it left (its own id among them).
    pub rooms: Vec<String>,
    /// `socket.data`, shared with the socket that left.
    pub(crate) data: Data,
    /// The offset the client sent back: the replay starts after it.
    pub offset: u64,
    at: Instant,
    bytes: usize,
}

/// A held session, as the hub builds it when a socket leaves.
pub(crate) struct Leaving {
    pub sid: String,
    pub pid: String,
    pub nsp: String,
    pub rooms: Vec<String>,
    pub data: Data,
}

/// Bytes of a held session beyond its strings: its entry in the map (the
/// key too) and in the expiry queue.
const SESSION_OVERHEAD: usize =
    std::mem::size_of::<Held>() + 2 * std::mem::size_of::<String>() + std::mem::size_of::<Instant>();

/// Bytes of a logged packet beyond its strings: its entry in the log.
const PACKET_OVERHEAD: usize = std::mem::size_of::<Logged>();

/// What a room name costs in a list of rooms: the name and its `String`.
fn rooms_bytes(rooms: &[String]) -> usize {
    rooms.iter().map(|r| r.len() + std::mem::size_of::<String>()).sum()
}

/// The recovery state. See the [module docs](self).
pub(crate) struct Recovery {
    config: RecoveryConfig,
    /// The offset the next logged packet gets.
    next_offset: u64,
    /// Oldest first; `log[i].offset == log[0].offset + i`.
    log: VecDeque<Logged>,
    log_bytes: usize,
    /// pid → session.
    held: HashMap<String, Held>,
    /// (when it was held, pid), oldest first: what to forget first. An
    /// entry whose session was taken meanwhile is skipped.
    order: VecDeque<(Instant, String)>,
    held_bytes: usize,
    /// Namespaces whose events are never logged (the admin UI's: they tell
    /// what happens now, and a UI that reconnects is told everything anew).
    unlogged: HashSet<String>,
}

impl Recovery {
    pub fn new(config: RecoveryConfig) -> Recovery {
        Recovery {
            config,
            next_offset: 1,
            log: VecDeque::new(),
            log_bytes: 0,
            held: HashMap::new(),
            order: VecDeque::new(),
            held_bytes: 0,
            unlogged: HashSet::new(),
        }
    }

    /// Never logs the events of namespace `nsp` (see `unlogged`).
    pub fn unlog(&mut self, nsp: &str) {
        self.unlogged.insert(nsp.to_string());
    }

    // ANCHOR: log
    /// Logs `broadcast` if it is an event that asks no ack and is not
    /// volatile (as Node's `SessionAwareAdapter`), and returns its offset.
    pub fn log(&mut self, broadcast: &Broadcast, now: Instant) -> Option<u64> {
        let Outgoing::Event { name, data, ack: None } = &broadcast.event else { return None };
        if broadcast.flags.volatile || self.unlogged.contains(&broadcast.select.nsp) {
            return None;
        }
        let select = &broadcast.select;
        let strings = rooms_bytes(&select.rooms) + rooms_bytes(&select.except);
        let bytes = PACKET_OVERHEAD + name.len() + data.get().len() + select.nsp.len() + strings;
        let offset = self.next_offset;
        self.next_offset += 1;
        self.log.push_back(Logged {
            offset,
            at: now,
            nsp: select.nsp.clone(),
            rooms: select.rooms.clone(),
            except: select.except.clone(),
            event: broadcast.event.clone(),
            bytes,
        });
        self.log_bytes += bytes;
        while self.log.len() > self.config.max_packets || self.log_bytes > self.config.max_packet_bytes {
            self.drop_oldest_packet();
        }
        Some(offset)
    }
    // ANCHOR_END: log

    fn drop_oldest_packet(&mut self) {
        if let Some(old) = self.log.pop_front() {
            self.log_bytes -= old.bytes;
        }
    }

    /// Keeps the session of a socket that left for a recoverable reason.
    pub fn hold(&mut self, leaving: Leaving, now: Instant) {
        let data = leaving.data.to_json();
        let data_bytes = if data.is_null() { 0 } else { data.to_string().len() };
        let strings = 3 * leaving.pid.len() + leaving.sid.len() + leaving.nsp.len() + rooms_bytes(&leaving.rooms);
        let bytes = SESSION_OVERHEAD + strings + data_bytes;
        let Leaving { sid, pid, nsp, rooms, data } = leaving;
        log::debug!("recovery: holding socket {sid} of {nsp:?} for {:?}", self.config.max_disconnection_duration);
        let held = Held { sid, pid: pid.clone(), nsp, rooms, data, offset: 0, at: now, bytes };
        if let Some(old) = self.held.insert(pid.clone(), held) {
            self.held_bytes -= old.bytes;
        }
        self.held_bytes += bytes;
        self.order.push_back((now, pid));
        while self.held.len() > self.config.max_sessions {
            self.forget_oldest_session();
        }
    }

    fn forget_oldest_session(&mut self) {
        while let Some((at, pid)) = self.order.pop_front() {
            if self.held.get(&pid).is_some_and(|h| h.at == at) {
                if let Some(old) = self.held.remove(&pid) {
                    self.held_bytes -= old.bytes;
                }
                return;
            }
        }
    }

    // ANCHOR: take
    /// The session `pid` of namespace `nsp`, if it is held, has not expired,
    /// and every packet after `offset` is still in the log; it is no longer
    /// held. `None`: the client gets a fresh session.
    pub fn take(&mut self, nsp: &str, pid: &str, offset: &str, now: Instant) -> Option<Held> {
        let held = self.held.get(pid)?;
        if held.nsp != nsp {
            return None;
        }
        if now.duration_since(held.at) > self.config.max_disconnection_duration {
            log::debug!("recovery: session of socket {} expired", held.sid);
            return None;
        }
        let offset: u64 = offset.parse().ok()?;
        if !self.resumable(offset) {
            log::info!("recovery: socket {}: offset {offset} is too old or unknown; a fresh session", held.sid);
            return None;
        }
        let mut held = self.held.remove(pid)?;
        self.held_bytes -= held.bytes;
        held.offset = offset;
        Some(held)
    }
    // ANCHOR_END: take

    /// `offset` as a number, if a session that saw it last can be resumed.
    pub fn resumes(&self, offset: &str) -> Option<u64> {
        offset.parse().ok().filter(|&o| self.resumable(o))
    }

    /// True when `offset` was handed out and nothing after it has left the log.
    fn resumable(&self, offset: u64) -> bool {
        let first = self.log.front().map_or(self.next_offset, |p| p.offset);
        offset < self.next_offset && offset + 1 >= first
    }

    /// The logged packets after `offset` that a socket of `nsp` in `rooms`
    /// would have received, oldest first, with their offsets (Node's
    /// `shouldIncludePacket`).
    pub fn missed<'a>(
        &'a self,
        offset: u64,
        nsp: &'a str,
        rooms: &'a HashSet<String>,
    ) -> impl Iterator<Item = (u64, &'a Outgoing)> + 'a {
        let first = self.log.front().map_or(self.next_offset, |p| p.offset);
        if offset + 1 < first {
            log::warn!("recovery: packets after offset {offset} left the log before the replay");
        }
        let skip = (offset + 1).saturating_sub(first) as usize;
        self.log
            .iter()
            .skip(skip)
            .filter(move |p| {
                p.nsp == nsp
                    && (p.rooms.is_empty() || p.rooms.iter().any(|r| rooms.contains(r)))
                    && !p.except.iter().any(|r| rooms.contains(r))
            })
            .map(|p| (p.offset, &p.event))
    }

    /// Forgets expired sessions and packets older than the maximum duration.
    pub fn sweep(&mut self, now: Instant) {
        let max = self.config.max_disconnection_duration;
        while self.order.front().is_some_and(|(at, _)| now.duration_since(*at) > max) {
            // One entry at a time: one whose session was taken since is
            // skipped, and must not take a younger session with it.
            let Some((at, pid)) = self.order.pop_front() else { break };
            if self.held.get(&pid).is_some_and(|h| h.at == at) {
                if let Some(old) = self.held.remove(&pid) {
                    self.held_bytes -= old.bytes;
                }
            }
        }
        while self.log.front().is_some_and(|p| now.duration_since(p.at) > max) {
            self.drop_oldest_packet();
        }
        // Give back what a burst of disconnections grew (maps keep their
        // capacity when emptied).
        if self.held.capacity() > 64 && self.held.len() < self.held.capacity() / 4 {
            self.held.shrink_to(self.held.len() * 2);
            self.order.shrink_to(self.order.len() * 2);
        }
        if self.log.capacity() > 64 && self.log.len() < self.log.capacity() / 4 {
            self.log.shrink_to(self.log.len() * 2);
        }
    }

    /// When [`sweep`](Self::sweep) has something to do next.
    pub fn next_sweep(&self) -> Option<Instant> {
        let max = self.config.max_disconnection_duration;
        let session = self.order.front().map(|(at, _)| *at + max);
        let packet = self.log.front().map(|p| p.at + max);
        match (session, packet) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        // A millisecond late, so that "older than max" holds when it fires.
        .map(|at| at + Duration::from_millis(1))
    }

    pub fn stats(&self) -> RecoveryStats {
        RecoveryStats {
            sessions: self.held.len(),
            session_bytes: self.held_bytes,
            packets: self.log.len(),
            packet_bytes: self.log_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Flags, Selection};
    use crate::wire::payload;

    fn event(n: u64) -> Outgoing {
        Outgoing::Event { name: "e".into(), data: payload(&n).unwrap(), ack: None }
    }

    fn to(rooms: &[&str], except: &[&str]) -> Broadcast {
        Broadcast {
            select: Selection {
                nsp: "/".into(),
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
                except: except.iter().map(|r| r.to_string()).collect(),
            },
            flags: Flags::default(),
            event: event(0),
        }
    }

    fn leaving(pid: &str, rooms: &[&str]) -> Leaving {
        Leaving {
            sid: format!("s-{pid}"),
            pid: pid.into(),
            nsp: "/".into(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            data: Data::default(),
        }
    }

    #[test]
    fn replays_what_the_session_would_have_received_after_its_offset() {
        let now = Instant::now();
        let mut r = Recovery::new(RecoveryConfig::default());
        assert_eq!(r.log(&to(&[], &[]), now), Some(1));
        assert_eq!(r.log(&to(&["a"], &[]), now), Some(2));
        assert_eq!(r.log(&to(&["b"], &[]), now), Some(3));
        assert_eq!(r.log(&to(&[], &["s-p"]), now), Some(4));
        assert_eq!(r.log(&to(&["s-p"], &[]), now), Some(5));
        let mut volatile = to(&[], &[]);
        volatile.flags.volatile = true;
        assert_eq!(r.log(&volatile, now), None);
        r.hold(leaving("p", &["s-p", "a"]), now);
        assert!(r.take("/other", "p", "1", now).is_none(), "another namespace");
        assert!(r.take("/", "p", "99", now).is_none(), "an offset never handed out");
        let held = r.take("/", "p", "1", now).expect("held");
        assert!(r.take("/", "p", "1", now).is_none(), "taken once");
        let rooms: HashSet<String> = held.rooms.iter().cloned().collect();
        let offsets: Vec<u64> = r.missed(held.offset, "/", &rooms).map(|(o, _)| o).collect();
        assert_eq!(offsets, [2, 5]);
    }

    #[test]
    fn everything_is_bounded_and_forgotten_by_age() {
        let now = Instant::now();
        let config = RecoveryConfig { max_sessions: 2, max_packets: 3, ..RecoveryConfig::default() };
        let mut r = Recovery::new(config);
        for _ in 0..5 {
            r.log(&to(&[], &[]), now);
        }
        assert_eq!(r.stats().packets, 3);
        assert!(!r.resumable(1), "offset 1: packet 2 fell off");
        assert!(r.resumable(2) && r.resumable(5));
        for pid in ["a", "b", "c"] {
            r.hold(leaving(pid, &[]), now);
        }
        assert_eq!(r.stats().sessions, 2);
        assert!(r.take("/", "a", "5", now).is_none(), "the oldest went first");
        let later = now + config.max_disconnection_duration + Duration::from_millis(2);
        assert!(r.next_sweep().is_some_and(|at| at <= later));
        r.sweep(later);
        assert_eq!(r.stats(), RecoveryStats::default());
        // A quiet log: the last offset handed out still resumes.
        assert!(r.resumable(5));
    }

    #[test]
    fn a_taken_session_does_not_make_the_sweep_forget_a_younger_one() {
        let t0 = Instant::now();
        let config = RecoveryConfig::default();
        let mut r = Recovery::new(config);
        r.hold(leaving("a", &[]), t0);
        assert!(r.take("/", "a", "0", t0).is_some());
        r.hold(leaving("b", &[]), t0 + Duration::from_secs(10));
        r.sweep(t0 + config.max_disconnection_duration + Duration::from_millis(1));
        assert_eq!(r.stats().sessions, 1, "b is only 110 s old");
    }
}
