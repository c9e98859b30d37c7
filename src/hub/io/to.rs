//! [`To`]: the sockets an emit or a server-side operation is about, chosen
//! by rooms and refined by chaining (socket.io's `BroadcastOperator`).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::hub::acks::{BroadcastAcks, Collector};
use crate::hub::{Broadcast, Command, Flags, Selection};
use crate::wire::{payload, Outgoing};

use super::{FetchedSocket, Io, DEFAULT_ACK_TIMEOUT};

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
    pub(super) io: &'a Io,
    pub(super) rooms: Vec<String>,
    pub(super) except: Vec<String>,
    pub(super) flags: Flags,
    pub(super) timeout: Option<Duration>,
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
