//! Watching the hub: what an admin view (the socket.io admin UI, chapter
//! 16) needs to know as it happens, told by the hub itself.
//!
//! An observer is a callback the hub calls **on its own thread**, at the
//! moment the registry changes: a socket registered, joined or left a room,
//! moved from long-polling to WebSocket, or left. Being called there is
//! what makes it exact: a socket is shown to the observer before its
//! thread runs its connection handler (its thread waits for the hub's
//! answer to `Register`), so listeners the observer puts on it
//! (`on_any`, `on_any_outgoing`, `on_disconnect`) see every one of its
//! events. The price: an observer must be quick and never block (hand
//! things to a channel with `try_send`, as `crate::admin` does).
//!
//! Everything here goes through one command, [`Command::Observe`], whose
//! [`Request`] says what is asked: so the hub's loop has one arm for it.

use std::sync::OnceLock;

use crossbeam_channel::Sender;
use serde_json::{json, Value};

use super::outlet::ConnId;
use super::{Command, Hub, Io, Socket};

// ANCHOR: seen
/// What an observer is told.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// A socket is in the hub now, in its rooms (its own id's among them).
    Connected(&'a Socket),
    /// It joined this room (it was not in it before).
    Joined(&'a Socket, &'a str),
    /// It left this room (a socket that leaves the hub leaves each of its rooms).
    Left(&'a Socket, &'a str),
    /// Its connection moved from HTTP long-polling to WebSocket
    /// ([`Socket::transport`] says `websocket` now).
    Upgraded(&'a Socket),
    /// It left the hub. (Why is for its `on_disconnect` handlers to say: the
    /// hub only knows that it is gone.)
    Gone(&'a Socket),
}

/// A callback the hub calls with what it sees, on the `hub` thread.
pub type Observer = Box<dyn FnMut(Seen<'_>) + Send>;
// ANCHOR_END: seen

/// What [`Command::Observe`] asks of the hub.
pub enum Request {
    /// Call this observer from now on, as long as the hub runs.
    Watch(Observer),
    /// This connection moved to WebSocket (the engine says so after `5`).
    Upgraded(ConnId),
    /// The numbers of the moment, for `server_stats`.
    Counts(Sender<Counts>),
    /// Never log this namespace's events for connection state recovery:
    /// the admin UI's would crowd the clients' out of the log.
    Unlogged(String),
}

/// How many of what the hub has now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Open connections (`/ws` and socket.io, the admin UI's own among them).
    pub connections: usize,
    /// Of those, socket.io sessions still on HTTP long-polling.
    pub polling: usize,
    /// Each namespace with a socket in it, and how many.
    pub namespaces: Vec<(String, usize)>,
}

impl Hub {
    /// Applies one [`Request`].
    pub(super) fn observe(&mut self, request: Request) {
        match request {
            Request::Watch(observer) => self.observers.push(observer),
            Request::Upgraded(conn) => {
                let ids = self.sockets_of.get(&conn).cloned().unwrap_or_default();
                for id in ids {
                    if let Some(socket) = self.members.get(&id).map(|m| m.socket.clone()) {
                        self.notify(Seen::Upgraded(&socket));
                    }
                }
            }
            Request::Counts(reply) => {
                let polling = self.outlets.values().filter(|o| o.transport() == "polling").count();
                let mut namespaces = std::collections::BTreeMap::<String, usize>::new();
                for member in self.members.values() {
                    *namespaces.entry(member.socket.namespace().to_string()).or_default() += 1;
                }
                let counts =
                    Counts { connections: self.outlets.len(), polling, namespaces: namespaces.into_iter().collect() };
                let _ = reply.send(counts);
            }
            Request::Unlogged(nsp) => {
                if let Some(recovery) = self.recovery.as_mut() {
                    recovery.unlog(&nsp);
                }
            }
        }
    }

    /// Tells every observer. (No observer, the common case: nothing at all.)
    pub(super) fn notify(&mut self, seen: Seen<'_>) {
        for observer in &mut self.observers {
            observer(seen);
        }
    }

    /// True when someone watches (callers skip building what nobody reads).
    pub(super) fn observed(&self) -> bool {
        !self.observers.is_empty()
    }

    /// A socket's data as this node shows it to the others of a cluster
    /// (their `fetchSockets`): `socket.data`, and when this node is
    /// watched, `_admin` beside it, as Node's admin UI keeps it there, so
    /// that the admin of another node shows its transport and client.
    pub(super) fn remote_data(&self, socket: &Socket) -> Value {
        let mut data = socket.data_json();
        if self.observed() {
            if data.is_null() {
                data = json!({});
            }
            if let Some(map) = data.as_object_mut() {
                map.insert("_admin".into(), json!({"clientId": client_id(socket), "transport": socket.transport()}));
            }
        }
        data
    }
}

/// The id of a socket's connection as the admin UI groups sockets by it
/// (its "client"): the connection's number, after a random name of this
/// process, so that the connections of two nodes of a cluster never share
/// one (two servers in one process number their connections apart: they
/// may). Every namespace socket of one socket.io connection shares it.
pub fn client_id(socket: &Socket) -> String {
    static PROCESS: OnceLock<String> = OnceLock::new();
    let process = PROCESS.get_or_init(|| super::ids::random_id().chars().take(8).collect());
    format!("{process}-conn-{}", socket.outlet().id)
}

impl Socket {
    /// How this socket's client is connected now: `websocket` (every `/ws`
    /// client, and a socket.io client after its upgrade) or `polling`.
    pub fn transport(&self) -> &'static str {
        self.outlet().transport()
    }
}

impl Io {
    /// Calls `observer` on the hub thread with every change of the
    /// registry from now on (see the [module docs](self)).
    pub fn observe(&self, observer: Observer) {
        self.send(Command::Observe(Request::Watch(observer)));
    }

    /// The hub's counts of the moment, once it runs (it may not yet: the
    /// question waits in its queue); `None` once it has stopped, or was
    /// dropped without running (the question is dropped unanswered). Not
    /// on the hub thread, which would wait for itself.
    pub fn counts(&self) -> Option<Counts> {
        if super::on_hub_thread() {
            return None;
        }
        let (reply, counts) = crossbeam_channel::bounded(1);
        self.send(Command::Observe(Request::Counts(reply)));
        counts.recv().ok()
    }

    /// Events of namespace `nsp` are never kept for connection state recovery.
    pub(crate) fn unlogged(&self, nsp: &str) {
        self.send(Command::Observe(Request::Unlogged(nsp.to_string())));
    }

    /// The engine moved connection `conn` to WebSocket: observers hear of it.
    pub(crate) fn upgraded(&self, conn: ConnId) {
        self.send(Command::Observe(Request::Upgraded(conn)));
    }
}
