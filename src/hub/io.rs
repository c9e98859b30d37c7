//! [`Io`]: a handle to the hub that any thread can hold.
//!
//! Handlers get one through [`Socket::io`](crate::Socket::io); other threads
//! get one from [`Server::io`](crate::Server::io). It is how a ticker thread
//! pushes real-time data to every client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use serde::Serialize;

use super::{Command, Envelope, SocketId, Target};
use crate::wire::{payload, Outgoing};

/// A `Clone + Send` handle for emitting to every client or to a room.
#[derive(Clone, Debug)]
pub struct Io {
    /// The hub's command channel. Bounded: a thread emitting faster than the
    /// hub can fan out waits here instead of growing an unbounded queue.
    hub: Sender<Envelope>,
    /// Upgraded sockets registered with the hub, kept up to date by the hub.
    clients: Arc<AtomicUsize>,
    /// The namespace this handle emits to: `/` (where `/ws` clients are too),
    /// or the socket.io namespace of [`Io::of`].
    nsp: Arc<str>,
    /// A client's handle (a [`Socket`](crate::Socket)'s): how many of its
    /// commands may wait for the hub at once. `None` for other threads.
    credits: Option<Arc<Credits>>,
}

/// How many of one client's commands may wait for the hub at once. A client
/// whose handlers emit faster than the hub can write (a flood) waits for
/// its own earlier commands, and so stops reading its socket: TCP slows it
/// down. Meanwhile the others' commands never queue behind more than this
/// many of its own.
pub(crate) const CREDITS: usize = 16;

/// A client's credits: a slot in a small bounded channel per command in flight.
#[derive(Debug)]
pub(crate) struct Credits {
    take: Sender<()>,
    give_back: Receiver<()>,
}

/// One command's credit, given back when the hub drops its envelope.
#[derive(Debug)]
pub struct Credit(Arc<Credits>);

impl Drop for Credit {
    fn drop(&mut self) {
        let _ = self.0.give_back.try_recv();
    }
}

impl Credits {
    pub(crate) fn new() -> Arc<Credits> {
        let (take, give_back) = bounded(CREDITS);
        Arc::new(Credits { take, give_back })
    }
}

impl Io {
    pub(crate) fn new(hub: Sender<Envelope>, clients: Arc<AtomicUsize>) -> Io {
        Io { hub, clients, nsp: Arc::from("/"), credits: None }
    }

    /// The same hub, emitting to socket.io namespace `nsp` (e.g. `/admin`).
    pub fn of(&self, nsp: &str) -> Io {
        Io { hub: self.hub.clone(), clients: self.clients.clone(), nsp: Arc::from(nsp), credits: None }
    }

    /// This handle for one client's socket: its commands take credits
    /// (see [`CREDITS`]). The namespace sockets of one connection share them.
    pub(crate) fn for_client(&self, credits: Arc<Credits>) -> Io {
        Io { credits: Some(credits), ..self.clone() }
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

    // ANCHOR: send
    /// Sends a command to the hub; after shutdown it is dropped. A client's
    /// handle first takes one of its credits, waiting while all are out.
    pub(crate) fn send(&self, command: Command) {
        let credit = self.credits.as_ref().and_then(|credits| {
            // The hub gives a credit back within microseconds; only a hub
            // that stopped takes longer, and then the command is dropped anyway.
            credits.take.send_timeout((), Duration::from_secs(1)).ok().map(|()| Credit(credits.clone()))
        });
        if self.hub.send(Envelope { command, _credit: credit }).is_err() {
            log::debug!("the hub has stopped (server shut down); command dropped");
        }
    }
    // ANCHOR_END: send
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
