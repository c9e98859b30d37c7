//! The way out of a [`Socket`]: `emit` and its variants (with an ack, with
//! a timeout, volatile), raw `send`, `broadcast`, and the `on_any_outgoing`
//! listeners that see each of them.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tungstenite::Message;

use super::{lock, Socket};
use crate::hub::acks::AckError;
use crate::hub::{Broadcast, Command, Flags, Selection};
use crate::wire::args::args_inner;
use crate::wire::{payload, Encoded, Outgoing};

impl Socket {
    // ANCHOR: emit
    /// Sends `event` with `data` to this client, now.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.emit_event(event, data, None, false);
    }
    // ANCHOR_END: emit

    /// Sends `event` and calls `callback` with the client's reply, when it
    /// comes (on the thread that reads this client). It waits as long as
    /// the socket lives; [`timeout`](Self::timeout) bounds the wait.
    pub fn emit_with_ack<T, F>(&self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(&Socket, Value) + Send + 'static,
    {
        let id = self.expect_ack(Box::new(move |socket, answer| {
            if let Ok(answer) = answer {
                callback(socket, answer)
            }
        }));
        self.emit_event(event, data, Some(id), false);
    }

    /// Bounds the wait of the next `emit_with_ack` (socket.io's
    /// `socket.timeout(ms)`): its callback gets the answer, or
    /// `Err(AckError::Timeout)` on the `timers` thread when `timeout` passes
    /// first.
    pub fn timeout(&self, timeout: Duration) -> SocketTimeout<'_> {
        SocketTimeout { socket: self, timeout }
    }

    /// The next emit is volatile (socket.io's `socket.volatile`): dropped if
    /// this client cannot take it now, and never logged for recovery.
    pub fn volatile(&self) -> Volatile<'_> {
        Volatile { socket: self }
    }

    fn emit_event<T: Serialize>(&self, event: &str, data: T, ack: Option<u64>, volatile: bool) {
        let data = match payload(&data) {
            Ok(data) => data,
            Err(e) => return log::error!("socket {}: emit {event:?}: data cannot be serialized: {e}", self.id()),
        };
        let out = Outgoing::Event { name: event.to_string(), data, ack };
        if self.inner.through_hub && ack.is_none() {
            // As Node with recovery on: a broadcast to this socket's own
            // room, so that it gets an offset and its place in the log.
            // `local`: the socket is here, so no other server of a cluster
            // needs to hear of it.
            let select =
                Selection { nsp: self.namespace().to_string(), rooms: vec![self.sid().to_string()], except: vec![] };
            self.inner.io.send(Command::Emit(Broadcast { select, flags: Flags { volatile, local: true }, event: out }));
            return;
        }
        self.deliver_with(&out, volatile);
    }

    /// Encodes `out` for this client and writes it through its outlet (or,
    /// with recovery on, through the hub).
    pub(crate) fn deliver(&self, out: &Outgoing) {
        self.deliver_with(out, false);
    }

    fn deliver_with(&self, out: &Outgoing, volatile: bool) {
        if self.is_gone() {
            return;
        }
        self.notify_outgoing(out);
        let frames = Encoded::of(self.inner.wire, self.namespace(), out);
        if self.inner.through_hub {
            self.inner.io.send(Command::Write(self.id(), frames, volatile));
        } else if volatile {
            self.inner.outlet.push_volatile(&frames);
        } else {
            self.inner.outlet.push(&frames);
        }
    }

    /// Sends a text or binary `message` to this client as it is, without the
    /// JSON envelope. The counterpart of [`on_message`](Self::on_message).
    /// Control frames are wshub's business (pings come from the heartbeat,
    /// Close from [`disconnect`](Self::disconnect)): they are not sent.
    pub fn send(&self, message: Message) {
        match message {
            Message::Text(_) | Message::Binary(_) => self.deliver(&Outgoing::Raw(message)),
            other => log::warn!("socket {}: send() takes text or binary messages, not {other:?}", self.id()),
        }
    }

    /// Sends `event` to every client of this namespace except this one.
    pub fn broadcast<T: Serialize>(&self, event: &str, data: T) {
        self.inner.io.except(self.sid()).emit(event, data);
    }

    /// Tells the client that its last frame could not be understood (or
    /// was refused).
    pub(crate) fn report_error(&self, message: String) {
        log::debug!("socket {}: sent error event: {message:?}", self.id());
        self.deliver(&Outgoing::Error { message });
    }

    /// Shows an outgoing event to the `on_any_outgoing` listeners. A
    /// listener that panics loses only its own call (this may be the hub).
    pub(crate) fn notify_outgoing(&self, out: &Outgoing) {
        if !self.inner.has_any_out.load(Ordering::Acquire) {
            return;
        }
        let Outgoing::Event { name, data, .. } = out else { return };
        let value = handler_value(data.get());
        let listeners = lock(&self.inner.any_out).clone();
        for listener in listeners {
            let call = AssertUnwindSafe(|| (lock(&listener))(self, name, &value));
            if panic::catch_unwind(call).is_err() {
                log::error!("socket {}: an on_any_outgoing listener panicked", self.id());
            }
        }
    }
}

/// Event data as a handler sees it: several arguments ([`Args`](crate::Args))
/// as one array, none as `null`.
fn handler_value(json: &str) -> Value {
    match args_inner(json).map(serde_json::from_str::<Vec<Value>>) {
        Some(Ok(mut items)) if items.len() == 1 => items.pop().unwrap_or(Value::Null),
        Some(Ok(items)) if items.is_empty() => Value::Null,
        Some(Ok(items)) => Value::Array(items),
        _ => serde_json::from_str(json).unwrap_or(Value::Null),
    }
}

/// `socket.timeout(d)`: see [`Socket::timeout`].
#[derive(Debug)]
pub struct SocketTimeout<'a> {
    socket: &'a Socket,
    timeout: Duration,
}

impl SocketTimeout<'_> {
    /// Sends `event` and calls `callback` with the client's answer, or with
    /// `Err(AckError::Timeout)` if it has not come within the timeout.
    pub fn emit_with_ack<T, F>(self, event: &str, data: T, callback: F)
    where
        T: Serialize,
        F: FnOnce(&Socket, Result<Value, AckError>) + Send + 'static,
    {
        let socket = self.socket.clone();
        let id = socket.expect_ack(Box::new(callback));
        let due = Instant::now() + self.timeout;
        let timed = socket.clone();
        socket.io().timers().schedule(
            due,
            Box::new(move || {
                if let Some(callback) = timed.forget_ack(id) {
                    log::debug!("socket {}: no ack {id} within the timeout", timed.id());
                    callback(&timed, Err(AckError::Timeout));
                }
            }),
        );
        socket.emit_event(event, data, Some(id), false);
    }
}

/// `socket.volatile()`: see [`Socket::volatile`].
#[derive(Debug)]
pub struct Volatile<'a> {
    socket: &'a Socket,
}

impl Volatile<'_> {
    /// Sends `event` if the client can take it now; else it is dropped.
    pub fn emit<T: Serialize>(self, event: &str, data: T) {
        self.socket.emit_event(event, data, None, true);
    }
}
