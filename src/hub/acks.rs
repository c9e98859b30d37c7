//! Acknowledgements both ways, as socket.io does them.
//!
//! - A client's event that asks for an answer reaches an
//!   [`on_with_ack`](crate::Socket::on_with_ack) handler with an [`Ack`]: a
//!   value the handler may call once, now or later, from any thread. A
//!   handler that never calls it never answers, and the client's
//!   `socket.timeout(ms).emitWithAck(...)` times out, as against Node.
//! - The server asks a client with
//!   [`Socket::emit_with_ack`](crate::Socket::emit_with_ack); with
//!   [`Socket::timeout`](crate::Socket::timeout) the callback gets
//!   `Err(AckError::Timeout)` when the answer does not come in time.
//! - [`To::emit_with_ack`](crate::To::emit_with_ack) asks every selected
//!   client at once and collects one answer per client into
//!   [`BroadcastAcks`], saying who did not answer in time.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use super::socket::Socket;
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

/// Why an answer the server asked for did not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// No answer within the timeout.
    Timeout,
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::Timeout => f.write_str("operation has timed out"),
        }
    }
}

impl std::error::Error for AckError {}

/// The answers to a broadcast that asked every client for one
/// ([`To::emit_with_ack`](crate::To::emit_with_ack)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BroadcastAcks {
    /// `(socket id, answer)`, in the order the answers came.
    pub replies: Vec<(String, Value)>,
    /// The ids of the sockets that did not answer within the timeout (they
    /// may have left meanwhile). Empty when everyone answered.
    pub missing: Vec<String>,
    /// With a cluster: the answers of the other servers' clients (the
    /// adapter carries no socket id with them), in the order they came.
    pub remote: Vec<Value>,
    /// With a cluster: how many of the other servers' clients did not
    /// answer in time (or whose server did not say how many it asked).
    pub remote_missing: usize,
}

impl BroadcastAcks {
    /// True when every client answered in time.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.remote_missing == 0
    }
}

type Done = Box<dyn FnOnce(BroadcastAcks) + Send>;

/// Collects the answers to one broadcast with acks: the hub tells it whom it
/// asked, each client's thread adds its answer, and whoever completes it
/// (the last answer, or the `timers` thread at the timeout) calls back once.
pub struct Collector {
    state: Mutex<State>,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Collector")
            .field("replies", &state.replies.len())
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

struct State {
    replies: Vec<(String, Value)>,
    /// Asked and not answered yet: (socket id, the socket, its ack id), so a
    /// timeout can take the waiting callbacks back out of those sockets.
    waiting: Vec<(String, Socket, u64)>,
    /// The hub has asked everyone it will ask.
    counted: bool,
    /// Other servers that have not said yet how many clients they asked.
    nodes_left: usize,
    /// How many of their clients' answers to wait for, and those come.
    remote_expected: usize,
    remote: Vec<Value>,
    done: Option<Done>,
}

impl Collector {
    pub fn new(done: impl FnOnce(BroadcastAcks) + Send + 'static) -> Arc<Collector> {
        let state = State {
            replies: Vec::new(),
            waiting: Vec::new(),
            counted: false,
            nodes_left: 0,
            remote_expected: 0,
            remote: Vec::new(),
            done: Some(Box::new(done)),
        };
        Arc::new(Collector { state: Mutex::new(state) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The hub asked `socket` (with ack id `id`).
    pub fn asked(&self, socket: &Socket, id: u64) {
        let mut state = self.lock();
        if state.done.is_none() {
            // Timed out before the hub got to it (a very short timeout).
            drop(state);
            socket.forget_ack(id);
            return;
        }
        state.waiting.push((socket.sid().to_string(), socket.clone(), id));
    }

    /// The hub could not send it to `sid` after all (a volatile event its
    /// client could not take): nobody waits for that answer.
    pub fn retract(&self, sid: &str) {
        self.lock().waiting.retain(|(s, _, _)| s != sid);
    }

    /// The hub asked everyone. True when nobody is left to wait for (no
    /// client was selected, or all answered already): the caller finishes.
    pub fn counted(&self) -> bool {
        let mut state = self.lock();
        state.counted = true;
        state.all_in()
    }

    /// With a cluster: `nodes` other servers will each say how many of their
    /// clients they asked (before the hub asks its own).
    pub fn expect_nodes(&self, nodes: usize) {
        self.lock().nodes_left = nodes;
    }

    /// One other server asked `clients` of its clients. True when nothing
    /// is left to wait for: the caller finishes (off the hub thread).
    pub fn node_count(&self, clients: usize) -> bool {
        let mut state = self.lock();
        state.nodes_left = state.nodes_left.saturating_sub(1);
        state.remote_expected += clients;
        state.all_in()
    }

    /// Some servers never said how many they asked: stop waiting for them.
    /// True when nothing else is left to wait for.
    pub fn nodes_gave_up(&self) -> bool {
        let mut state = self.lock();
        state.nodes_left = 0;
        state.all_in()
    }

    /// One of another server's clients answered. True when it was the last
    /// answer waited for.
    pub fn remote_answer(&self, data: Value) -> bool {
        let mut state = self.lock();
        state.remote.push(data);
        state.all_in()
    }

    /// `sid` answered. Completes the collection if it was the last one.
    pub fn answer(&self, sid: &str, data: Value) {
        let done = {
            let mut state = self.lock();
            let Some(at) = state.waiting.iter().position(|(s, _, _)| s == sid) else { return };
            state.waiting.swap_remove(at);
            state.replies.push((sid.to_string(), data));
            if !state.all_in() {
                return;
            }
            let remote = std::mem::take(&mut state.remote);
            state.done.take().map(|done| (done, std::mem::take(&mut state.replies), remote))
        };
        if let Some((done, replies, remote)) = done {
            done(BroadcastAcks { replies, missing: Vec::new(), remote, remote_missing: 0 });
        }
    }

    /// Time is up (or nobody was asked): calls back with what came, and
    /// takes the callbacks still waiting back out of their sockets.
    pub fn finish(&self) {
        let taken = {
            let mut state = self.lock();
            let Some(done) = state.done.take() else { return };
            let waiting = std::mem::take(&mut state.waiting);
            let remote = std::mem::take(&mut state.remote);
            let remote_missing = state.remote_expected.saturating_sub(remote.len()) + state.nodes_left;
            (done, std::mem::take(&mut state.replies), waiting, remote, remote_missing)
        };
        let (done, replies, waiting, remote, remote_missing) = taken;
        let mut missing = BTreeSet::new();
        for (sid, socket, id) in waiting {
            socket.forget_ack(id);
            missing.insert(sid);
        }
        done(BroadcastAcks { replies, missing: missing.into_iter().collect(), remote, remote_missing });
    }
}

impl State {
    /// Every answer waited for has come (and the callback has not run).
    fn all_in(&self) -> bool {
        self.done.is_some()
            && self.counted
            && self.waiting.is_empty()
            && self.nodes_left == 0
            && self.remote.len() >= self.remote_expected
    }
}
