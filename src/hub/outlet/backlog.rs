//! The backlog: what a socket could not take at once, drained by the hub
//! while it exists, and the client that stopped reading (1013).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Closing, Inner, Outlet, Transport, TOO_SLOW};
use crate::conn::Conn;
use crate::wire::frame;

/// What a drain left for the hub to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Bytes still wait: drain again soon. (False: forget this outlet
    /// until it asks again.)
    pub backlog: bool,
    /// We began a close at this time and nobody times it out yet: wake the
    /// connection if the client has not answered within the close timeout
    /// ([`Outlet::expire`]).
    pub closing_since: Option<Instant>,
}

impl Outlet {
    // ANCHOR: drain
    /// The hub's turn with an outlet that asked for it: write what the
    /// socket takes now, and close a client whose backlog has not moved for
    /// `slow` (1013). Says what is left to do.
    pub fn drain(self: &Arc<Self>, slow: Duration) -> Drained {
        let mut inner = self.lock();
        let now = Instant::now();
        if let Transport::WebSocket(stream) = &inner.transport {
            let stream = stream.clone();
            inner.flush_backlog(&stream, now);
        }
        if inner.waiting() && inner.closing.is_none() && now - inner.moved_at >= slow {
            log::warn!("conn {}: backlog stuck for {slow:?}: the client stopped reading; closing with 1013", self.id);
            inner.closing = Some(Closing::ours(1013, TOO_SLOW));
            inner.discard_unstarted();
            let _ = inner.write(frame::close_frame(1013, TOO_SLOW), self.limits);
        }
        let detached = matches!(inner.transport, Transport::Detached);
        inner.draining = inner.waiting() && !detached;
        let closing_since = match &mut inner.closing {
            Some(closing) if closing.by_us && !closing.told && !detached => {
                closing.told = true;
                Some(closing.since)
            }
            _ => None,
        };
        Drained { backlog: inner.draining, closing_since }
    }
    // ANCHOR_END: drain
}

impl Inner {
    /// Writes what waits, oldest first (TLS records still in the session,
    /// then backlog units) until the socket takes no more.
    pub(super) fn flush_backlog(&mut self, stream: &Conn, now: Instant) {
        match stream.flush_unsent() {
            Ok((moved, done)) => {
                if moved {
                    self.moved_at = now;
                }
                if !done {
                    return;
                }
            }
            Err(_) => {
                self.backlog.clear(); // gone: nothing will ever take these bytes
                self.backlog_bytes = 0;
                return;
            }
        }
        while let Some(front) = self.backlog.front_mut() {
            match stream.send_now(front) {
                Ok(0) => break,
                Ok(n) => {
                    self.moved_at = now;
                    self.backlog_bytes -= n;
                    if n == front.len() {
                        self.backlog.pop_front();
                        self.started = false;
                    } else {
                        *front = front.slice(n..);
                        self.started = true;
                        break;
                    }
                }
                Err(_) => {
                    // Gone: nothing will ever take these bytes.
                    self.backlog.clear();
                    self.backlog_bytes = 0;
                    break;
                }
            }
        }
    }

    /// Drops every waiting frame not yet begun (the one written in part
    /// must be finished: its client is in the middle of reading it).
    pub(super) fn discard_unstarted(&mut self) {
        let keep = if self.started { self.backlog.pop_front() } else { None };
        self.backlog.clear();
        self.backlog_bytes = 0;
        if let Some(front) = keep {
            self.backlog_bytes = front.len();
            self.backlog.push_back(front);
        }
    }
}
