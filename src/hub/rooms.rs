//! The registry: which sockets there are, and which rooms each is in.
//!
//! Only the hub thread touches it (`impl Hub`): no lock. Rooms are per
//! namespace, and every socket is in a room named after its public id, so
//! `io.to(sid)` is a room broadcast like any other. A recovered socket comes
//! back with its rooms, and first gets what it missed (`register`).

use std::collections::HashSet;
use std::time::Instant;

use super::recovery::Leaving;
use super::{Hub, Member, Restored, Socket, SocketId};
use crate::wire::Encoded;

impl Hub {
    // ANCHOR: register
    /// A socket joins its namespace in the rooms it holds; a recovered one
    /// first gets what it missed, in order, before anything newer.
    pub(super) fn register(&mut self, socket: Socket, replay: Option<u64>) {
        let id = socket.id();
        let nsp = socket.namespace().to_string();
        let rooms: HashSet<String> = socket.rooms().into_iter().collect();
        if let (Some(after), Some(recovery)) = (replay, self.recovery.as_ref()) {
            let mut replayed = 0;
            for (offset, event) in recovery.missed(after, &nsp, &rooms) {
                let frames = Encoded::logged(socket.wire(), &nsp, event, Some(offset));
                socket.notify_outgoing(event);
                socket.outlet().push(&frames);
                replayed += 1;
            }
            log::info!("socket {id}: recovered as {} with {replayed} missed packet(s)", socket.sid());
        }
        for room in &rooms {
            self.rooms.entry(nsp.clone()).or_default().entry(room.clone()).or_default().insert(id);
        }
        self.sockets_of.entry(socket.outlet().id).or_default().push(id);
        self.notify(super::observe::Seen::Connected(&socket));
        self.members.insert(id, Member { socket, rooms });
    }
    // ANCHOR_END: register

    /// A socket leaves; with `keep` (and recovery on) its session is held.
    pub(super) fn remove(&mut self, id: SocketId, keep: bool) {
        let Some(member) = self.members.remove(&id) else { return };
        let conn = member.socket.outlet().id;
        if let Some(ids) = self.sockets_of.get_mut(&conn) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.sockets_of.remove(&conn);
            }
        }
        let nsp = member.socket.namespace().to_string();
        for room in &member.rooms {
            self.leave_room_set(&nsp, id, room);
            self.notify(super::observe::Seen::Left(&member.socket, room));
        }
        self.notify(super::observe::Seen::Gone(&member.socket));
        if let (true, Some(recovery), Some(pid)) = (keep, self.recovery.as_mut(), member.socket.pid()) {
            let leaving = Leaving {
                sid: member.socket.sid().to_string(),
                pid: pid.to_string(),
                nsp,
                rooms: member.rooms.into_iter().collect(),
                data: member.socket.data_slot(),
            };
            recovery.hold(leaving, Instant::now());
        }
    }

    /// A client came back with `pid`: its held session, or the one a socket
    /// still connected holds (its old connection had not been noticed gone).
    pub(super) fn restore(&mut self, nsp: &str, pid: &str, offset: &str) -> Option<Restored> {
        let now = Instant::now();
        let recovery = self.recovery.as_mut()?;
        if let Some(held) = recovery.take(nsp, pid, offset, now) {
            return Some(Restored { held, replaced: None });
        }
        // Still connected? Only with an offset that can be resumed.
        let offset_ok = recovery.resumes(offset);
        let id = self
            .members
            .iter()
            .find(|(_, m)| m.socket.pid() == Some(pid) && m.socket.namespace() == nsp)
            .map(|(id, _)| *id)?;
        offset_ok?;
        let old = self.members.get(&id).map(|m| m.socket.clone())?;
        self.remove(id, true);
        let recovery = self.recovery.as_mut()?;
        let held = recovery.take(nsp, pid, offset, now)?;
        log::info!("socket {id}: its client came back on another connection; the old one leaves");
        if !self.sockets_of.contains_key(&old.outlet().id) {
            old.outlet().close(1000, "replaced by a new connection", false);
        }
        Some(Restored { held, replaced: Some(old) })
    }

    pub(super) fn join(&mut self, id: SocketId, room: String) {
        if let Some(member) = self.members.get_mut(&id) {
            member.socket.note_joined(&room);
            if member.rooms.insert(room.clone()) {
                let nsp = member.socket.namespace().to_string();
                self.rooms.entry(nsp).or_default().entry(room.clone()).or_default().insert(id);
                if !self.observers.is_empty() {
                    let socket = member.socket.clone();
                    self.notify(super::observe::Seen::Joined(&socket, &room));
                }
            }
        }
    }

    pub(super) fn leave(&mut self, id: SocketId, room: &str) {
        if let Some(member) = self.members.get_mut(&id) {
            member.socket.note_left(room);
            if member.rooms.remove(room) {
                let nsp = member.socket.namespace().to_string();
                let socket = (!self.observers.is_empty()).then(|| member.socket.clone());
                self.leave_room_set(&nsp, id, room);
                if let Some(socket) = socket {
                    self.notify(super::observe::Seen::Left(&socket, room));
                }
            }
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
