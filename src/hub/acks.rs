//! Acknowledgements both ways, as socket.io does them.
//!
//! - A client's event that asks for an answer reaches an
//!   [`on_with_ack`](crate::Socket::on_with_ack) handler with an
//!   [`Ack`](crate::Ack) (the socket's: `socket/ack.rs`): a value the
//!   handler may call once, now or later, from any thread. A handler that
//!   never calls it never answers, and the client's
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

use serde_json::Value;

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

/// Takes an asked socket's waiting callback back out of it, when its
/// answer will no longer be waited for (the fan-out makes one per socket).
pub type Forget = Box<dyn FnOnce() + Send>;

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
    /// Asked and not answered yet: (socket id, how to forget its callback),
    /// so a timeout can take the waiting callbacks back out of those sockets.
    waiting: Vec<(String, Forget)>,
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

    /// The hub asked the socket `sid`; `forget` takes its callback back.
    pub fn asked(&self, sid: &str, forget: Forget) {
        let mut state = self.lock();
        if state.done.is_none() {
            // Timed out before the hub got to it (a very short timeout).
            drop(state);
            forget();
            return;
        }
        state.waiting.push((sid.to_string(), forget));
    }

    /// The hub could not send it to `sid` after all (a volatile event its
    /// client could not take): nobody waits for that answer, and its
    /// callback is taken back.
    pub fn retract(&self, sid: &str) {
        let taken = {
            let mut state = self.lock();
            let at = state.waiting.iter().position(|(s, _)| s == sid);
            at.map(|at| state.waiting.swap_remove(at))
        };
        if let Some((_, forget)) = taken {
            forget();
        }
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
            let Some(at) = state.waiting.iter().position(|(s, _)| s == sid) else { return };
            // Its callback ran (that is how the answer came): nothing to forget.
            drop(state.waiting.swap_remove(at));
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
        for (sid, forget) in waiting {
            forget();
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
