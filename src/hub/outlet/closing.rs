//! The close handshake as an outlet sees it: our Close (written after what
//! was already decided for the client, or instead of it), the client's,
//! and the deadline by which a client that never answers is cut off.

use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

use super::{Outlet, Transport, Written};
use crate::wire::frame;

/// Our Close or the client's, once the close handshake began.
#[derive(Debug, Clone)]
pub(super) struct Closing {
    pub(super) code: u16,
    pub(super) reason: String,
    /// We sent the first Close: tungstenite's automatic reply to the
    /// client's Close must not go out as a second one.
    pub(super) by_us: bool,
    pub(super) since: Instant,
    /// `notify` was told of this close (to time it out, or to end the session).
    pub(super) told: bool,
}

impl Outlet {
    // ANCHOR: close
    /// Starts the close handshake with `code` (the first Close wins; later
    /// calls do nothing). Over WebSocket the Close frame goes behind what
    /// waits, unless `discard` drops the waiting frames first (a client too
    /// slow to read them); over polling the close packet follows the queue.
    pub fn close(self: &Arc<Self>, code: u16, reason: &str, discard: bool) {
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return;
        }
        inner.closing = Some(Closing::ours(code, reason));
        match &mut inner.transport {
            Transport::WebSocket(_) => {
                if discard {
                    inner.discard_unstarted();
                }
                let _ = inner.write(frame::close_frame(code, reason), self.limits);
            }
            Transport::Polling(polling) => {
                if discard {
                    polling.queue.clear();
                    polling.queue_bytes = 0;
                }
                polling.close_due = true;
                polling.flush();
            }
            Transport::Detached => {}
        }
        // The watcher times the close out (WebSocket) or ends the session (polling).
        self.settle(inner, Written::Backlogged);
    }
    // ANCHOR_END: close

    /// The client sent Close first: from now on only tungstenite's reply
    /// goes out.
    pub fn peer_closed(&self, code: Option<u16>) {
        let mut inner = self.lock();
        if inner.closing.is_none() {
            let code = code.unwrap_or(1005);
            inner.closing = Some(Closing { by_us: false, ..Closing::ours(code, "") });
        }
    }

    /// The close code and reason we sent, if we began the close.
    pub fn our_close(&self) -> Option<(u16, String)> {
        self.lock().closing.as_ref().filter(|c| c.by_us).map(|c| (c.code, c.reason.clone()))
    }

    /// True when nothing waits to be written to the socket (or there is no socket).
    pub fn is_flushed(&self) -> bool {
        !self.lock().waiting()
    }

    /// When we began our close, if we did.
    pub fn closing_since(&self) -> Option<Instant> {
        self.lock().closing.as_ref().filter(|c| c.by_us).map(|c| c.since)
    }

    /// True once either side began the close.
    pub fn is_closing(&self) -> bool {
        self.lock().closing.is_some()
    }

    /// Wakes the connection thread out of its blocking read by shutting
    /// the socket down (it sees the end of the stream): the client never
    /// answered our Close in time, or the server is stopping.
    pub fn abort(&self) {
        if let Transport::WebSocket(stream) = &self.lock().transport {
            stream.shutdown(Shutdown::Both);
        }
    }

    /// The connection is over: drop what waits and the socket. A waiting
    /// long-poll gets `last_body` (a noop, or nothing: 400).
    pub fn detach(&self, last_body: Option<String>) {
        let mut inner = self.lock();
        if let Transport::Polling(polling) = &mut inner.transport {
            if let (Some(poll), Some(body)) = (polling.waiting.take(), last_body) {
                let _ = poll.send(body);
            }
        }
        inner.transport = Transport::Detached;
        inner.backlog.clear();
        inner.backlog_bytes = 0;
        inner.notify = None;
    }

    /// The close timeout of our Close passed: if the connection is still
    /// there, shut the socket down. Its thread, blocked in `read`, sees the
    /// end of the stream and finishes.
    pub fn expire(&self) {
        let inner = self.lock();
        if let (Transport::WebSocket(stream), Some(closing)) = (&inner.transport, &inner.closing) {
            log::info!("conn {}: no Close reply to our {} in time; dropping the connection", self.id, closing.code);
            stream.shutdown(Shutdown::Both);
        }
    }
}

impl Closing {
    pub(super) fn ours(code: u16, reason: &str) -> Closing {
        Closing { code, reason: reason.to_string(), by_us: true, since: Instant::now(), told: false }
    }
}
