//! [`Io`]: a handle to the hub that any thread can hold.
//!
//! Handlers get one through [`Socket::io`](crate::Socket::io); other threads
//! get one from [`Server::io`](crate::Server::io). It is how a ticker thread
//! pushes real-time data to every client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
use serde::Serialize;

use super::{Command, SocketId, Target};
use crate::wire::{payload, Outgoing};

/// A `Clone + Send` handle for emitting to every client or to a room.
#[derive(Clone, Debug)]
pub struct Io {
    /// The hub's command channel. Bounded: a thread emitting faster than the
    /// hub can fan out waits here instead of growing an unbounded queue.
    hub: Sender<Command>,
    /// Upgraded sockets registered with the hub, kept up to date by the hub.
    clients: Arc<AtomicUsize>,
    /// The namespace this handle emits to: `/` (where `/ws` clients are too),
    /// or the socket.io namespace of [`Io::of`].
    nsp: Arc<str>,
}

impl Io {
    pub(crate) fn new(hub: Sender<Command>, clients: Arc<AtomicUsize>) -> Io {
        Io { hub, clients, nsp: Arc::from("/") }
    }

    /// The same hub, emitting to socket.io namespace `nsp` (e.g. `/admin`).
    pub fn of(&self, nsp: &str) -> Io {
        Io { hub: self.hub.clone(), clients: self.clients.clone(), nsp: Arc::from(nsp) }
    }

    /// The namespace this handle emits to.
    pub fn namespace(&self) -> &str {
        &self.nsp
    }

    /// Sends `event` with `data` to every connected client.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.emit_to(Target::All { except: None, nsp: self.nsp.to_string() }, event, data);
    }

    /// Selects the clients in `room`, for [`To::emit`].
    pub fn to(&self, room: impl Into<String>) -> To<'_> {
        To { io: self, room: room.into(), except: None }
    }

    /// How many sockets are connected now (a socket.io client joined to two
    /// namespaces counts twice).
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    pub(crate) fn emit_to<T: Serialize>(&self, target: Target, event: &str, data: T) {
        match payload(&data) {
            Ok(data) => self.send(Command::Emit(target, Outgoing::Event { name: event.to_string(), data, ack: None })),
            Err(e) => log::error!("emit {event:?}: data cannot be serialized as JSON: {e}"),
        }
    }

    /// Sends a command to the hub; after shutdown it is dropped.
    pub(crate) fn send(&self, command: Command) {
        if self.hub.send(command).is_err() {
            log::debug!("the hub has stopped (server shut down); command dropped");
        }
    }
}

/// The clients of one room, chosen with [`Io::to`] or [`Socket::to`](crate::Socket::to).
#[derive(Debug)]
pub struct To<'a> {
    io: &'a Io,
    room: String,
    /// `Socket::to` leaves out the socket that asked.
    except: Option<SocketId>,
}

impl To<'_> {
    pub(crate) fn except(mut self, id: SocketId) -> Self {
        self.except = Some(id);
        self
    }

    /// Sends `event` with `data` to every client in the room.
    pub fn emit<T: Serialize>(self, event: &str, data: T) {
        let nsp = self.io.nsp.to_string();
        self.io.emit_to(Target::Room { room: self.room, except: self.except, nsp }, event, data);
    }
}
