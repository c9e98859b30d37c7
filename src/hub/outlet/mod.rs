//! [`Outlet`]: the one way out to a client, shared by every thread that writes to it.
//!
//! Three kinds of thread write to a client: the **hub** (broadcasts), the
//! client's **own thread** (replies, acks, pongs, its Close) and **any
//! thread** holding its [`Socket`](crate::Socket) (`socket.emit`). They all
//! go through the client's `Outlet`, one at a time under its lock, so frames
//! never interleave and keep the order in which the writers took the lock.
//!
//! Nobody ever waits for the client under that lock. Over WebSocket a write
//! is one non-blocking `send`: what the socket takes now goes to the kernel,
//! the rest waits in the **backlog**, in order, whole frames only (a frame
//! written in part keeps its rest first in line). The hub drains backlogs
//! while any exist; a backlog that is full, or has not moved for
//! `slow_client_timeout`, marks a client that stopped reading: it is closed
//! with 1013 and nobody else waits for it.
//!
//! Over HTTP long-polling there is no socket to write to: packets wait in
//! the same outlet until the client's next GET takes them, or go straight
//! to a GET that is already waiting.
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use tungstenite::{Bytes, Message};

use crate::conn::Conn;
use crate::wire::Encoded;

mod backlog;
mod closing;
mod polling;
mod traffic;

pub use backlog::Drained;
use closing::Closing;
use polling::Polling;
pub use traffic::sent_totals;
use traffic::SENT;

/// A connection's id: the `N` of its thread `conn-N`, in every log line.
pub type ConnId = u64;

/// How much may wait for one client before it counts as too slow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Frames (or polling packets) waiting.
    pub frames: usize,
    /// Bytes waiting. A frame is always taken into an empty backlog, so a
    /// message of the largest allowed size can always be sent.
    pub bytes: usize,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Written, or queued behind earlier bytes that someone already looks after.
    Done,
    /// Not sent: the client is closing or gone.
    Dropped,
}

/// What a long-poll GET gets from [`Outlet::poll`].
#[derive(Debug)]
pub enum Poll {
    /// A body to answer with at once.
    Ready(String),
    /// Nothing yet: wait for the body on this channel (disconnected: the
    /// session ended meanwhile).
    Wait(Receiver<String>),
    /// A second GET while one waits: the session is broken (Engine.IO
    /// forbids overlapping polls). The first one got the close packet.
    Overlap,
    /// The session moved to WebSocket or ended: `Session ID unknown`.
    Gone,
}

/// One client's way out. See the [module docs](self).
#[derive(Debug)]
pub struct Outlet {
    /// The connection this outlet writes to (for logs).
    pub id: ConnId,
    limits: Limits,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    /// WebSocket frames the socket has not taken yet, oldest first.
    backlog: VecDeque<Bytes>,
    backlog_bytes: usize,
    /// The first backlog unit was written in part: it must be finished
    /// before anything else, even a Close.
    started: bool,
    /// When the backlog last moved: a byte written, or it filled from empty.
    moved_at: Instant,
    /// Who is told when this outlet needs looking after (a backlog to
    /// drain, a close to time out): the hub for a WebSocket, the engine's
    /// timer thread for a polling session.
    notify: Option<Sender<Arc<Outlet>>>,
    /// `notify` holds this outlet among those it drains: tell it only once.
    draining: bool,
    closing: Option<Closing>,
}

#[derive(Debug)]
enum Transport {
    /// A WebSocket on this connection (plain or TLS). The connection
    /// thread reads it; writes happen here, under the lock.
    WebSocket(Arc<Conn>),
    /// HTTP long-polling.
    Polling(Polling),
    /// The connection is over: everything is dropped.
    Detached,
}

impl Outlet {
    /// An outlet writing WebSocket frames to `stream`.
    pub fn websocket(id: ConnId, stream: Arc<Conn>, limits: Limits, notify: Sender<Arc<Outlet>>) -> Arc<Outlet> {
        Outlet::new(id, Transport::WebSocket(stream), limits, notify)
    }

    /// An outlet of an HTTP long-polling session.
    pub fn polling(id: ConnId, limits: Limits, notify: Sender<Arc<Outlet>>) -> Arc<Outlet> {
        Outlet::new(id, Transport::Polling(Polling::default()), limits, notify)
    }

    fn new(id: ConnId, transport: Transport, limits: Limits, notify: Sender<Arc<Outlet>>) -> Arc<Outlet> {
        let inner = Inner {
            transport,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            started: false,
            moved_at: Instant::now(),
            notify: Some(notify),
            draining: false,
            closing: None,
        };
        Arc::new(Outlet { id, limits, inner: Mutex::new(inner) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ANCHOR: push
    /// Sends an event (its frames, or its packets over polling) to this
    /// client now, or queues it behind what already waits.
    pub fn push(self: &Arc<Self>, encoded: &Encoded) -> Pushed {
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return Pushed::Dropped; // after a Close, no more data
        }
        let pushed = match &mut inner.transport {
            Transport::WebSocket(_) => inner.write(encoded.frames.clone(), self.limits),
            Transport::Polling(polling) => polling.queue(&encoded.messages, self.limits),
            Transport::Detached => return Pushed::Dropped,
        };
        self.settle(inner, pushed)
    }
    // ANCHOR_END: push

    // ANCHOR: push_volatile
    /// Sends a volatile event only if this client can take it **now**:
    /// over WebSocket when nothing waits in its backlog, over polling when a
    /// long-poll is waiting for it. Otherwise it is dropped, for this client
    /// only (Node drops a volatile packet for a transport that is not
    /// writable). Live data where a late value is worse than none.
    pub fn push_volatile(self: &Arc<Self>, encoded: &Encoded) -> Pushed {
        let mut inner = self.lock();
        let free = match &inner.transport {
            Transport::WebSocket(_) => inner.backlog.is_empty(),
            Transport::Polling(polling) => polling.waiting.is_some() && !polling.upgrading,
            Transport::Detached => false,
        };
        if !free || inner.closing.is_some() {
            return Pushed::Dropped;
        }
        let pushed = match &mut inner.transport {
            Transport::WebSocket(_) => inner.write(encoded.frames.clone(), self.limits),
            Transport::Polling(polling) => polling.queue(&encoded.messages, self.limits),
            Transport::Detached => return Pushed::Dropped,
        };
        self.settle(inner, pushed)
    }
    // ANCHOR_END: push_volatile

    /// Sends several events in one write (their frames one after another),
    /// or queues them all behind what already waits.
    pub fn push_all(self: &Arc<Self>, events: &[&Encoded]) -> Pushed {
        match events {
            [] => return Pushed::Done,
            [one] => return self.push(one),
            _ => {}
        }
        let mut inner = self.lock();
        if inner.closing.is_some() {
            return Pushed::Dropped;
        }
        let pushed = match &mut inner.transport {
            Transport::WebSocket(_) => {
                let mut frames = Vec::with_capacity(events.iter().map(|e| e.frames.len()).sum());
                events.iter().for_each(|e| frames.extend_from_slice(&e.frames));
                inner.write(Bytes::from(frames), self.limits)
            }
            Transport::Polling(polling) => {
                let messages: Vec<Message> = events.iter().flat_map(|e| e.messages.iter().cloned()).collect();
                polling.queue(&messages, self.limits)
            }
            Transport::Detached => return Pushed::Dropped,
        };
        self.settle(inner, pushed)
    }

    /// Sends a control frame (our Ping) over WebSocket, in line with the rest.
    pub fn push_frame(self: &Arc<Self>, frame: Bytes) -> Pushed {
        let mut inner = self.lock();
        if inner.closing.is_some() || !matches!(inner.transport, Transport::WebSocket(_)) {
            return Pushed::Dropped;
        }
        let pushed = inner.write(frame, self.limits);
        self.settle(inner, pushed)
    }

    /// The bytes tungstenite writes on the connection thread: pongs and the
    /// reply to a client's Close. After our own Close they are dropped
    /// (a second Close would break the protocol).
    pub fn write_own(self: &Arc<Self>, bytes: &[u8]) -> io::Result<usize> {
        let mut inner = self.lock();
        if inner.closing.as_ref().is_some_and(|c| c.by_us) {
            return Ok(bytes.len());
        }
        if !matches!(inner.transport, Transport::WebSocket(_)) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let pushed = inner.write(Bytes::copy_from_slice(bytes), self.limits);
        self.settle(inner, pushed);
        Ok(bytes.len())
    }

    /// After a write: tells the watcher (hub or timer thread), once, when
    /// it has something to do (bytes wait, or a close began).
    fn settle(self: &Arc<Self>, mut inner: MutexGuard<'_, Inner>, written: Written) -> Pushed {
        match written {
            Written::Sent => Pushed::Done,
            Written::Backlogged => {
                let new_backlog = inner.waiting() && !inner.draining;
                let new_close = inner.closing.as_ref().is_some_and(|c| c.by_us && !c.told);
                if new_backlog || new_close {
                    inner.draining |= new_backlog;
                    if let Some(notify) = &inner.notify {
                        let _ = notify.send(self.clone());
                    }
                }
                Pushed::Done
            }
            Written::TooSlow => {
                log::warn!("conn {}: backlog full: the client is not reading; closing with 1013", self.id);
                drop(inner);
                self.close(1013, TOO_SLOW, true);
                Pushed::Dropped
            }
            Written::Failed => Pushed::Dropped,
        }
    }
}

/// The reason of the Close a slow consumer gets.
const TOO_SLOW: &str = "too slow: the client is not reading";

/// How one write went.
enum Written {
    Sent,
    /// Bytes wait in the backlog: someone must drain it.
    Backlogged,
    /// The backlog is full.
    TooSlow,
    /// The socket failed: the connection thread will see it too.
    Failed,
}

impl Inner {
    /// Writes one unit (whole frames) now, or queues it behind the backlog.
    fn write(&mut self, unit: Bytes, limits: Limits) -> Written {
        let Transport::WebSocket(stream) = &self.transport else { return Written::Failed };
        SENT.add(1, unit.len()); // the admin UI's packetsOut / bytesOut
        if !self.backlog.is_empty() {
            let full = self.backlog.len() >= limits.frames || self.backlog_bytes + unit.len() > limits.bytes;
            if full {
                return Written::TooSlow;
            }
            self.backlog_bytes += unit.len();
            self.backlog.push_back(unit);
            return Written::Backlogged;
        }
        match stream.send_now(&unit) {
            // TLS: the records of this unit may still wait in the session,
            // first in line; the hub drains them like a backlog.
            Ok(n) if n == unit.len() && stream.has_unsent() => {
                self.moved_at = Instant::now();
                Written::Backlogged
            }
            Ok(n) if n == unit.len() => Written::Sent,
            Ok(n) => {
                // The rest is first in line: nothing may come between the parts of a frame.
                self.moved_at = Instant::now();
                self.started = n > 0;
                let rest = unit.slice(n..);
                self.backlog_bytes += rest.len();
                self.backlog.push_back(rest);
                Written::Backlogged
            }
            Err(e) => {
                log::debug!("write failed: {e}");
                Written::Failed
            }
        }
    }

    /// Something still waits for the socket: backlog units, or (TLS)
    /// records of the last unit in the connection's session.
    fn waiting(&self) -> bool {
        !self.backlog.is_empty() || matches!(&self.transport, Transport::WebSocket(conn) if conn.has_unsent())
    }
}
