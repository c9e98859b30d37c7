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
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use tungstenite::{Bytes, Message};

use crate::conn::Conn;
use crate::wire::engineio::{self, Packet};
use crate::wire::{frame, Encoded};

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

#[derive(Debug, Default)]
struct Polling {
    /// Packets waiting for the next GET.
    queue: Vec<Message>,
    queue_bytes: usize,
    /// A GET blocked until there is something to send.
    waiting: Option<Sender<String>>,
    /// A WebSocket passed its probe: every GET gets a noop until `5`.
    upgrading: bool,
    /// The close packet goes in the first body that carries nothing else:
    /// the client acts on a close at once, before the packets beside it.
    close_due: bool,
}

/// Our Close or the client's, once the close handshake began.
#[derive(Debug, Clone)]
struct Closing {
    code: u16,
    reason: String,
    /// We sent the first Close: tungstenite's automatic reply to the
    /// client's Close must not go out as a second one.
    by_us: bool,
    since: Instant,
    /// `notify` was told of this close (to time it out, or to end the session).
    told: bool,
}

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

    // ---- HTTP long-polling ----

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

    /// The transport by socket.io's name for it: `websocket` or `polling`
    /// (`closed` once the connection is over).
    pub fn transport(&self) -> &'static str {
        match &self.lock().transport {
            Transport::WebSocket(_) => "websocket",
            Transport::Polling(_) => "polling",
            Transport::Detached => "closed",
        }
    }

    /// Over polling: true while packets or the close packet wait for the
    /// client's next GET.
    pub fn has_unsent(&self) -> bool {
        match &self.lock().transport {
            Transport::Polling(polling) => !polling.queue.is_empty() || polling.close_due,
            _ => false,
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
        super::observe::SENT.add(1, unit.len()); // the admin UI's packetsOut / bytesOut
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

    /// Writes what waits, oldest first (TLS records still in the session,
    /// then backlog units) until the socket takes no more.
    fn flush_backlog(&mut self, stream: &Conn, now: Instant) {
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
    fn discard_unstarted(&mut self) {
        let keep = if self.started { self.backlog.pop_front() } else { None };
        self.backlog.clear();
        self.backlog_bytes = 0;
        if let Some(front) = keep {
            self.backlog_bytes = front.len();
            self.backlog.push_back(front);
        }
    }
}

impl Closing {
    fn ours(code: u16, reason: &str) -> Closing {
        Closing { code, reason: reason.to_string(), by_us: true, since: Instant::now(), told: false }
    }
}

impl Polling {
    /// Queues packets for the next GET, or hands them to the waiting one.
    fn queue(&mut self, messages: &[Message], limits: Limits) -> Written {
        let bytes: usize = messages.iter().map(Message::len).sum();
        if !self.queue.is_empty()
            && (self.queue.len() + messages.len() > limits.frames || self.queue_bytes + bytes > limits.bytes)
        {
            return Written::TooSlow;
        }
        self.queue.extend(messages.iter().cloned());
        self.queue_bytes += bytes;
        super::observe::SENT.add(1, bytes); // the admin UI's packetsOut / bytesOut
        self.flush();
        Written::Sent
    }

    /// Answers a waiting GET, if there is one and something to say.
    fn flush(&mut self) {
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
    fn take_body(&mut self) -> Option<String> {
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
