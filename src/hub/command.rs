//! What the hub is told: a [`Command`] (in an [`Envelope`] that says who
//! sent it), and the [`Selection`] of sockets a broadcast or a server-side
//! operation is about.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use serde_json::Value;

use super::acks::Collector;
use super::recovery::{Held, RecoveryStats};
use super::{io, ConnId, Fetched, Outlet, Socket, SocketId};
use crate::wire::{Encoded, Outgoing, Payload};

// ANCHOR: selection
/// Which sockets of a namespace an operation is about: socket.io's
/// `BroadcastOptions` (`rooms`, `except`), and what the Node Redis
/// adapter's messages carry between nodes (`BroadcastOpts` in
/// [`crate::cluster::wire`]), field for field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// The namespace (`/` for `/ws` clients).
    pub nsp: String,
    /// Sockets in any of these rooms; none means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Minus the sockets in any of these. Every socket is in a room named
    /// after its public id, so `socket.broadcast` puts the sender here.
    pub except: Vec<String>,
}

/// How a broadcast is sent (the adapter's `flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// Dropped for a client that cannot take it now (its socket has a
    /// backlog, or no long-poll waits), and never logged for recovery.
    pub volatile: bool,
    /// For this server's clients only (socket.io's `local`): not published
    /// to the other servers of a cluster. A broadcast that came from one
    /// of them has it.
    pub local: bool,
}

/// An event for the sockets a [`Selection`] names.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// Who gets it.
    pub select: Selection,
    /// How.
    pub flags: Flags,
    /// What.
    pub event: Outgoing,
}
// ANCHOR_END: selection

/// A command on its way to the hub, with its sender's credit if it is a
/// client's (given back when the hub is done with it: see `io::CREDITS`).
#[derive(Debug)]
pub struct Envelope {
    /// What to do.
    pub command: Command,
    /// Held, never read: dropping the envelope gives the credit back.
    pub(crate) _credit: Option<io::Credit>,
}

/// A request to the hub.
///
/// The server-side operations ([`Command::Fetch`], [`Command::AddRooms`],
/// [`Command::DelRooms`], [`Command::Disconnect`],
/// [`Command::ServerSideEmit`]) take a [`Selection`] and, where there is
/// something to answer, a reply channel: the hub answers for this server's
/// sockets, and a cluster layer can answer for the other nodes' beside it.
pub enum Command {
    /// A client connection opened (a `/ws` WebSocket or a socket.io
    /// session): the hub closes it on shutdown.
    Open(Arc<Outlet>),
    /// That connection ended.
    Gone(ConnId),
    /// A socket joined a namespace, in the rooms it holds (its own id's at
    /// least): it gets broadcasts from now on. With `Some(offset)` it is a
    /// recovered socket: the logged packets after `offset` that it missed
    /// are written to it first, in order. Before those, the hub writes the
    /// frames the client gets first (its CONNECT answer, the `/ws` session
    /// frame): so that a client that has them is in the hub already, and a
    /// broadcast sent after it saw them reaches it. The hub then answers on
    /// the channel: the socket's thread waits for that before it runs the
    /// connection handler, whose emits must come after all that.
    Register(Socket, Option<u64>, Option<Encoded>, Sender<()>),
    /// That socket left; `true`: for a reason its client may recover from.
    Unregister(SocketId, bool),
    /// Put a socket in a room.
    Join(SocketId, String),
    /// Take a socket out of a room.
    Leave(SocketId, String),
    /// Send an event to every socket the selection names.
    Emit(Broadcast),
    /// The same, asking each socket for an ack, collected by the collector;
    /// with a cluster, asking the clients of this many other servers too,
    /// who have this long to answer.
    EmitWithAck(Broadcast, Arc<Collector>, usize, Duration),
    /// Write one socket's own frames, in line with its broadcasts (when
    /// recovery is on, a socket writes everything through the hub, so that
    /// the log's order is the order its client sees). `true`: volatile.
    Write(SocketId, Encoded, bool),
    /// Close one `/ws` socket's connection, after what was written before.
    Close(SocketId, u16, String),
    /// The selected sockets (`fetch_sockets`): this server's, and with a
    /// cluster those of this many other servers.
    Fetch(Selection, usize, Sender<Fetched>),
    /// The selected sockets join these rooms (`sockets_join`).
    AddRooms(Selection, Vec<String>),
    /// The selected sockets leave these rooms (`sockets_leave`).
    DelRooms(Selection, Vec<String>),
    /// The selected sockets, for the caller to disconnect
    /// (`disconnect_sockets`): their `on_disconnect` handlers are the
    /// application's code, which never runs on the hub thread.
    /// With `true`, whole connections close; other servers do the same
    /// with theirs.
    Disconnect(Selection, bool, Sender<Vec<Socket>>),
    /// An event for the other servers of a cluster (`server_side_emit`):
    /// namespace, event, data, and how many servers' answers to wait for
    /// and what to call with them. Alone, there is nobody to tell: the
    /// answers are none, at once (on the `timers` thread: the callback is
    /// the application's).
    ServerSideEmit(String, String, Payload, Option<(usize, Answers)>),
    /// Every room of a namespace (`all_rooms`): this server's, and with a
    /// cluster those of this many other servers.
    AllRooms(String, usize, Sender<Vec<String>>),
    /// What the `redis-sub` thread read from the other servers.
    Cluster(crate::cluster::Event),
    /// Recovery: the session `pid` of namespace `nsp` for a client that
    /// saw `offset` last, if it can be resumed (taken from the held
    /// sessions, or from a socket still connected with that pid, which
    /// leaves: its client is back on another connection).
    Restore {
        /// The namespace.
        nsp: String,
        /// The client's private id.
        pid: String,
        /// The last offset it saw.
        offset: String,
        /// The answer.
        reply: Sender<Option<Restored>>,
    },
    /// What recovery holds now.
    Stats(Sender<RecoveryStats>),
    /// Watching the registry (the admin UI): see [`observe`](super::observe).
    Observe(super::observe::Request),
    /// The server is stopping: close everyone with 1001, then exit.
    Shutdown,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Open(outlet) => write!(f, "Open({})", outlet.id),
            Command::Gone(id) => write!(f, "Gone({id})"),
            Command::Register(socket, replay, ..) => write!(f, "Register({}, {replay:?})", socket.id()),
            Command::Unregister(id, keep) => write!(f, "Unregister({id}, {keep})"),
            Command::Join(id, room) => write!(f, "Join({id}, {room:?})"),
            Command::Leave(id, room) => write!(f, "Leave({id}, {room:?})"),
            Command::Emit(b) => write!(f, "Emit({b:?})"),
            Command::EmitWithAck(b, _, others, _) => write!(f, "EmitWithAck({b:?}, others: {others})"),
            Command::Write(id, _, volatile) => write!(f, "Write({id}, volatile: {volatile})"),
            Command::Close(id, code, _) => write!(f, "Close({id}, {code})"),
            Command::Fetch(s, others, _) => write!(f, "Fetch({s:?}, others: {others})"),
            Command::AddRooms(s, rooms) => write!(f, "AddRooms({s:?}, {rooms:?})"),
            Command::DelRooms(s, rooms) => write!(f, "DelRooms({s:?}, {rooms:?})"),
            Command::Disconnect(s, close, _) => write!(f, "Disconnect({s:?}, close: {close})"),
            Command::ServerSideEmit(nsp, event, _, _) => write!(f, "ServerSideEmit({nsp:?}, {event:?})"),
            Command::AllRooms(nsp, others, _) => write!(f, "AllRooms({nsp:?}, others: {others})"),
            Command::Cluster(event) => write!(f, "Cluster({event:?})"),
            Command::Restore { nsp, .. } => write!(f, "Restore({nsp:?})"),
            Command::Stats(_) => write!(f, "Stats"),
            Command::Observe(_) => write!(f, "Observe"),
            Command::Shutdown => write!(f, "Shutdown"),
        }
    }
}

/// What a `server_side_emit_with_ack` calls with the other servers' answers.
pub type Answers = Box<dyn FnOnce(Vec<Value>) + Send>;

/// A session the hub gave back for a client that came back.
#[derive(Debug)]
pub struct Restored {
    /// Its id, rooms, data and where its replay starts.
    pub held: Held,
    /// The socket that still had it, if its old connection was not known
    /// to be gone yet: it has left the hub; the caller finishes it (its
    /// `on_disconnect` handlers run) on its own thread.
    pub replaced: Option<Socket>,
}
