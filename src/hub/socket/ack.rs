//! [`Ack`]: the answer a client asked for, as its handler holds it.

use std::fmt;

use serde::Serialize;

use super::Socket;
use crate::wire::{payload, Outgoing};

/// The answer a client asked for, handed to an
/// [`on_with_ack`](crate::Socket::on_with_ack) handler.
///
/// Call [`send`](Ack::send) once, now or later, from any thread (an `Ack`
/// is `Send`: move it into another thread or keep it in a map). `send`
/// takes the `Ack` by value, so a second answer does not compile. Dropping
/// it without sending means no answer: the client's timeout fires. When the
/// client asked for no answer, `send` does nothing
/// ([`is_requested`](Ack::is_requested) tells).
///
/// ```no_run
/// # let server = wshub::Server::builder().bind(("127.0.0.1", 0)).unwrap();
/// server.on_connection(|socket| {
///     socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
///     socket.on_with_ack("slow", |_socket, data, ack| {
///         std::thread::spawn(move || ack.send(format!("done with {data}")));
///     });
/// });
/// ```
#[must_use = "an Ack that is dropped unsent never answers the client"]
pub struct Ack {
    socket: Socket,
    /// The id the client chose; `None` once sent, or when it asked for nothing.
    id: Option<u64>,
    event: String,
}

impl Ack {
    pub(crate) fn new(socket: Socket, id: Option<u64>, event: String) -> Ack {
        Ack { socket, id, event }
    }

    /// True when the client asked for an answer.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Sends the answer: the client's ack callback gets `data` (several
    /// arguments with [`Args`](crate::Args)). Nothing is sent when the
    /// client asked for no answer or has left.
    pub fn send<T: Serialize>(mut self, data: T) {
        let Some(id) = self.id.take() else { return };
        match payload(&data) {
            Ok(data) => self.socket.deliver(&Outgoing::Ack { id, data }),
            Err(e) => log::error!("socket {}: the ack of {:?} cannot be serialized: {e}", self.socket.id(), self.event),
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            log::debug!("socket {}: the ack {id} of {:?} was dropped unanswered", self.socket.id(), self.event);
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("socket", &self.socket.id())
            .field("id", &self.id)
            .field("event", &self.event)
            .finish()
    }
}
