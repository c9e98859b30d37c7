//! The outlet of a client on HTTP long-polling: packets wait for its next
//! GET (or go straight to a GET already waiting), and the move to WebSocket.

use std::sync::Arc;

use crossbeam_channel::{bounded, Sender};
use tungstenite::Message;

use super::{Limits, Outlet, Poll, Transport, Written};
use crate::conn::Conn;
use crate::wire::engineio::{self, Packet};
use crate::wire::frame;

#[derive(Debug, Default)]
pub(super) struct Polling {
    /// Packets waiting for the next GET.
    pub(super) queue: Vec<Message>,
    pub(super) queue_bytes: usize,
    /// A GET blocked until there is something to send.
    pub(super) waiting: Option<Sender<String>>,
    /// A WebSocket passed its probe: every GET gets a noop until `5`.
    pub(super) upgrading: bool,
    /// The close packet goes in the first body that carries nothing else:
    /// the client acts on a close at once, before the packets beside it.
    pub(super) close_due: bool,
}

impl Outlet {
    // ANCHOR: poll
    /// A long-poll GET: what is queued, or a channel to wait on.
    pub fn poll(&self) -> Poll {
        let mut inner = self.lock();
        let Transport::Polling(polling) = &mut inner.transport else { return Poll::Gone };
        if let Some(first) = polling.waiting.take() {
            let _ = first.send(Packet::Close.text());
            return Poll::Overlap;
        }
        if polling.upgrading {
            return Poll::Ready(Packet::Noop.text());
        }
        if let Some(body) = polling.take_body() {
            return Poll::Ready(body);
        }
        let (tx, rx) = bounded(1);
        polling.waiting = Some(tx);
        Poll::Wait(rx)
    }
    // ANCHOR_END: poll

    /// A WebSocket passed its probe (`2probe`/`3probe`): the waiting GET,
    /// and every GET until the upgrade, gets a noop so the client can send `5`.
    pub fn upgrading(&self) {
        if let Transport::Polling(polling) = &mut self.lock().transport {
            polling.upgrading = true;
            if let Some(poll) = polling.waiting.take() {
                let _ = poll.send(Packet::Noop.text());
            }
        }
    }

    /// `5`: from now on this outlet writes to `stream`. Packets still queued
    /// for polling go first, as frames; later GETs are refused.
    pub fn upgrade(self: &Arc<Self>, stream: Arc<Conn>, notify: Sender<Arc<Outlet>>) {
        let mut inner = self.lock();
        let queued = match std::mem::replace(&mut inner.transport, Transport::WebSocket(stream)) {
            Transport::Polling(mut polling) => {
                if let Some(poll) = polling.waiting.take() {
                    let _ = poll.send(Packet::Noop.text());
                }
                polling.queue
            }
            other => {
                inner.transport = other;
                return;
            }
        };
        inner.notify = Some(notify);
        inner.draining = false;
        if queued.is_empty() {
            return;
        }
        let written = inner.write(frame::data_frames(&queued), self.limits);
        self.settle(inner, written);
    }

    /// Over polling: true while packets or the close packet wait for the
    /// client's next GET.
    pub fn has_unsent(&self) -> bool {
        match &self.lock().transport {
            Transport::Polling(polling) => !polling.queue.is_empty() || polling.close_due,
            _ => false,
        }
    }

    /// The transport by socket.io's name for it: `websocket` or `polling`
    /// (`closed` once the connection is over).
    pub fn transport(&self) -> &'static str {
        match &self.lock().transport {
            Transport::WebSocket(_) => "websocket",
            Transport::Polling(_) => "polling",
            Transport::Detached => "closed",
        }
    }
}

impl Polling {
    /// Queues packets for the next GET, or hands them to the waiting one.
    pub(super) fn queue(&mut self, messages: &[Message], limits: Limits) -> Written {
        let bytes: usize = messages.iter().map(Message::len).sum();
        if !self.queue.is_empty()
            && (self.queue.len() + messages.len() > limits.frames || self.queue_bytes + bytes > limits.bytes)
        {
            return Written::TooSlow;
        }
        self.queue.extend(messages.iter().cloned());
        self.queue_bytes += bytes;
        super::traffic::SENT.add(1, bytes); // the admin UI's packetsOut / bytesOut
        self.flush();
        Written::Sent
    }

    /// Answers a waiting GET, if there is one and something to say.
    pub(super) fn flush(&mut self) {
        if self.waiting.is_none() {
            return;
        }
        if let Some(body) = self.take_body() {
            if let Some(poll) = self.waiting.take() {
                let _ = poll.send(body);
            }
        }
    }

    /// The next body: every queued packet, or else the due close packet.
    pub(super) fn take_body(&mut self) -> Option<String> {
        if !self.queue.is_empty() {
            self.queue_bytes = 0;
            return Some(engineio::encode_payload(&std::mem::take(&mut self.queue)));
        }
        if self.close_due {
            self.close_due = false;
            return Some(Packet::Close.text());
        }
        None
    }
}
