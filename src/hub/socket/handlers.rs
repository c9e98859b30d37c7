//! The way in: the handlers a [`Socket`] runs for what its client sends
//! (`on`, `on_with_ack`, `on_any`, middlewares, `on_message`,
//! `on_disconnect`), and `dispatch`, which runs them for one inbound event.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tungstenite::Message;

use super::Ack;
use super::{lock, Socket};
use crate::hub::acks::AckError;
use crate::wire::Inbound;

/// What a packet middleware ([`Socket::use_middleware`]) decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: the next middleware, then the handler.
    Pass,
    /// Drop the packet silently: no handler runs, nothing is answered.
    Ignore,
    /// Refuse it: no handler runs, and the client gets an `error` event
    /// with this message (an ack it asked for never comes).
    Refuse(String),
}

pub(super) type Handler = Box<dyn FnMut(&Socket, Value, Ack) + Send>;
pub(super) type AnyHandler = Box<dyn FnMut(&Socket, &str, &Value) + Send>;
pub(super) type Middleware = Box<dyn FnMut(&Socket, &str, &mut Value) -> Verdict + Send>;
/// Waits for the client's answer to an `emit_with_ack` (or its timeout).
pub(crate) type AckCallback = Box<dyn FnOnce(&Socket, Result<Value, AckError>) + Send>;
pub(super) type DisconnectHandler = Box<dyn FnOnce(&Socket, &str) + Send>;
pub(super) type MessageHandler = Box<dyn FnMut(&Socket, Message) + Send>;

impl Socket {
    /// Calls `handler` with the data of every `event` this client sends. A
    /// client that asked for an answer gets none from it: use
    /// [`on_with_ack`](Self::on_with_ack) to answer.
    pub fn on<F>(&self, event: &str, mut handler: F)
    where
        F: FnMut(&Socket, Value) + Send + 'static,
    {
        self.on_with_ack(event, move |socket, data, _ack| handler(socket, data));
    }

    // ANCHOR: on_with_ack
    /// Like [`on`](Self::on), and the handler also gets the [`Ack`] the
    /// client asked for: answer with `ack.send(reply)`, now or later, from
    /// any thread; or never, and the client is never answered (its timeout
    /// fires). When the client asked for nothing, `ack.send` does nothing.
    pub fn on_with_ack<F>(&self, event: &str, handler: F)
    where
        F: FnMut(&Socket, Value, Ack) + Send + 'static,
    {
        let handler: Handler = Box::new(handler);
        lock(&self.inner.handlers).insert(event.to_string(), Arc::new(Mutex::new(handler)));
    }
    // ANCHOR_END: on_with_ack

    /// Calls `listener` with every event this client sends, whatever its
    /// name and whether or not a handler takes it (socket.io's `onAny`),
    /// before the middlewares and the handler.
    pub fn on_any<F>(&self, listener: F)
    where
        F: FnMut(&Socket, &str, &Value) + Send + 'static,
    {
        let listener: AnyHandler = Box::new(listener);
        lock(&self.inner.any_in).push(Arc::new(Mutex::new(listener)));
    }

    /// Calls `listener` with every event sent to this client (socket.io's
    /// `onAnyOutgoing`): its own emits, on the emitting thread, and the
    /// broadcasts it is in, on the `hub` thread. Keep it short: on the hub
    /// it holds up every broadcast. (Acks are not events: not shown.)
    pub fn on_any_outgoing<F>(&self, listener: F)
    where
        F: FnMut(&Socket, &str, &Value) + Send + 'static,
    {
        let listener: AnyHandler = Box::new(listener);
        lock(&self.inner.any_out).push(Arc::new(Mutex::new(listener)));
        self.inner.has_any_out.store(true, Ordering::Release);
    }

    /// Adds a middleware for this socket's incoming events (socket.io's
    /// `socket.use`): each runs in the order added, with the event's name
    /// and data (which it may change), and says what happens next: see
    /// [`Verdict`].
    pub fn use_middleware<F>(&self, middleware: F)
    where
        F: FnMut(&Socket, &str, &mut Value) -> Verdict + Send + 'static,
    {
        let middleware: Middleware = Box::new(middleware);
        lock(&self.inner.middlewares).push(Arc::new(Mutex::new(middleware)));
    }

    /// Calls `handler` with every text or binary message this client sends,
    /// exactly as it came, *instead of* decoding it as a JSON event (`on`
    /// handlers then see nothing). For clients that do not speak the JSON
    /// envelope: an echo server, a binary protocol of your own. Pings, pongs
    /// and the close handshake are still answered by wshub.
    pub fn on_message<F>(&self, handler: F)
    where
        F: FnMut(&Socket, Message) + Send + 'static,
    {
        *lock(&self.inner.on_message) = Some(Box::new(handler));
    }

    /// Calls `handler` once when the socket leaves, with the reason. The
    /// socket has left the hub by then, but [`rooms`](Self::rooms) still
    /// lists the rooms it was in (what socket.io's `disconnecting` is for).
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: FnOnce(&Socket, &str) + Send + 'static,
    {
        lock(&self.inner.on_disconnect).push(Box::new(handler));
    }

    // ---- used by the connection loop, the socket.io session and the hub ----

    // ANCHOR: dispatch
    /// Runs the handler for one inbound event or ack: first the `on_any`
    /// listeners, then the middlewares, then the handler with its [`Ack`].
    pub(crate) fn dispatch(&self, inbound: Inbound) {
        if self.is_gone() {
            return;
        }
        match inbound {
            Inbound::Event { name, mut data, ack } => {
                let listeners = lock(&self.inner.any_in).clone();
                for listener in listeners {
                    (lock(&listener))(self, &name, &data);
                }
                let middlewares = lock(&self.inner.middlewares).clone();
                for middleware in middlewares {
                    match (lock(&middleware))(self, &name, &mut data) {
                        Verdict::Pass => {}
                        Verdict::Ignore => return log::debug!("socket {}: a middleware dropped {name:?}", self.id()),
                        Verdict::Refuse(why) => return self.report_error(why),
                    }
                }
                let handler = lock(&self.inner.handlers).get(&name).cloned();
                let Some(handler) = handler else {
                    log::debug!("socket {}: no handler for event {name:?}", self.id());
                    if ack.is_some() {
                        self.report_error(format!("no handler for event {name:?}"));
                    }
                    return;
                };
                let ack = Ack::new(self.clone(), ack, name);
                (lock(&handler))(self, data, ack);
            }
            Inbound::Ack { id, data } => {
                let callback = lock(&self.inner.pending_acks).remove(&id);
                match callback {
                    Some(callback) => callback(self, Ok(data)),
                    None => log::debug!("socket {}: ack {id} answers nothing we wait for", self.id()),
                }
            }
        }
    }
    // ANCHOR_END: dispatch

    /// Registers `callback` for the client's answer; returns its ack id.
    pub(crate) fn expect_ack(&self, callback: AckCallback) -> u64 {
        let id = self.inner.next_ack.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.pending_acks).insert(id, callback);
        id
    }

    /// Stops waiting for the answer `id` (its timeout passed).
    pub(crate) fn forget_ack(&self, id: u64) -> Option<AckCallback> {
        lock(&self.inner.pending_acks).remove(&id)
    }

    /// True when an `on_message` handler takes the data frames.
    pub(crate) fn takes_raw_messages(&self) -> bool {
        lock(&self.inner.on_message).is_some()
    }

    /// Hands one data frame to the `on_message` handler.
    pub(crate) fn dispatch_raw(&self, message: Message) {
        // Taken out while it runs, so the handler may call `on_message` itself.
        let handler = lock(&self.inner.on_message).take();
        if let Some(mut handler) = handler {
            handler(self, message);
            lock(&self.inner.on_message).get_or_insert(handler);
        }
    }
}
