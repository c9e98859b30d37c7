//! What a [`Socket`] keeps: the rooms it is in (the hub has the
//! authoritative copy, this one answers `rooms()` without asking it) and its
//! `socket.data`.

use serde::Serialize;
use serde_json::Value;

use super::{lock, Socket};
use crate::hub::io::To;
use crate::hub::Command;

impl Socket {
    /// Puts this socket in `room`.
    pub fn join(&self, room: &str) {
        if lock(&self.inner.rooms).insert(room.to_string()) {
            log::info!("socket {}: joined room {room:?}", self.id());
            self.inner.io.send(Command::Join(self.id(), room.to_string()));
        }
    }

    /// Takes this socket out of `room`.
    pub fn leave(&self, room: &str) {
        if lock(&self.inner.rooms).remove(room) {
            log::info!("socket {}: left room {room:?}", self.id());
            self.inner.io.send(Command::Leave(self.id(), room.to_string()));
        }
    }

    /// The rooms this socket is in, sorted; its own id's room among them
    /// (as socket.io's `socket.rooms`).
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.inner.rooms).iter().cloned().collect()
    }

    /// Selects the other clients in `room` (this socket is left out), for
    /// [`To::emit`].
    pub fn to(&self, room: impl Into<String>) -> To<'_> {
        self.inner.io.to(room).except(self.sid())
    }

    /// Selects every other client of this namespace except those in `room`.
    pub fn except(&self, room: impl Into<String>) -> To<'_> {
        self.inner.io.except(room).except(self.sid())
    }

    /// Keeps `data` with this socket (socket.io's `socket.data`), replacing
    /// what was there. It must serialize: `fetch_sockets` shows it as JSON,
    /// and a recovered socket gets it back.
    pub fn set_data<T: Serialize + Send + 'static>(&self, data: T) {
        self.inner.data.set(data);
    }

    /// A copy of the data kept with [`set_data`](Self::set_data), if there
    /// is some of type `T`.
    pub fn data<T: Clone + 'static>(&self) -> Option<T> {
        self.inner.data.get()
    }

    /// Changes the data in place (if there is some of type `T`).
    pub fn with_data<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.inner.data.with(f)
    }

    /// The data as JSON (`null` when there is none).
    pub fn data_json(&self) -> Value {
        self.inner.data.to_json()
    }

    /// The hub put this socket in `room` (`sockets_join`).
    pub(crate) fn note_joined(&self, room: &str) {
        lock(&self.inner.rooms).insert(room.to_string());
    }

    /// The hub took this socket out of `room` (`sockets_leave`).
    pub(crate) fn note_left(&self, room: &str) {
        lock(&self.inner.rooms).remove(room);
    }
}
