//! [`FetchedSocket`]: a socket as `fetch_sockets` finds it, here or on
//! another server of the cluster.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::cluster::RemoteSocket;
use crate::hub::handshake::Handshake;
use crate::hub::socket::Socket;

use super::{IntoRooms, Io};

/// has (id, handshake, rooms, data), and the same operations, which go
/// through the hub by the socket's id, so that they work alike for a socket
/// of this server and (with a cluster) of another one.
/// A socket found by [`To::fetch_sockets`](super::To::fetch_sockets): what socket.io's `RemoteSocket`
#[derive(Debug, Clone)]
pub struct FetchedSocket {
    /// The public id ([`Socket::sid`]).
    pub id: String,
    /// Its handshake.
    pub handshake: Handshake,
    /// Its rooms when it was fetched, its own id's among them.
    pub rooms: Vec<String>,
    /// Its `socket.data` as JSON, when it was fetched.
    pub data: Value,
    /// The socket itself, when it is on this server.
    socket: Option<Socket>,
    /// Its namespace's hub handle.
    io: Io,
}

impl FetchedSocket {
    pub(super) fn local(socket: Socket, io: &Io) -> FetchedSocket {
        FetchedSocket {
            id: socket.sid().to_string(),
            handshake: socket.handshake().clone(),
            rooms: socket.rooms(),
            data: socket.data_json(),
            io: io.of(socket.namespace()),
            socket: Some(socket),
        }
    }

    /// A socket of another server, from its `fetchSockets` answer.
    pub(super) fn remote(socket: RemoteSocket, io: &Io) -> FetchedSocket {
        FetchedSocket {
            handshake: Handshake::from_json(&socket.handshake),
            id: socket.id,
            rooms: socket.rooms,
            data: socket.data,
            io: io.clone(),
            socket: None,
        }
    }

    /// The socket, when it is connected to this server.
    pub fn local_socket(&self) -> Option<&Socket> {
        self.socket.as_ref()
    }

    /// The data, read as `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.data.clone()).ok()
    }

    /// Sends `event` to this socket.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        self.io.to(self.id.as_str()).emit(event, data);
    }

    /// Puts this socket in `rooms`.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.io.to(self.id.as_str()).sockets_join(rooms);
    }

    /// Takes this socket out of `rooms`.
    pub fn leave(&self, rooms: impl IntoRooms) {
        self.io.to(self.id.as_str()).sockets_leave(rooms);
    }

    /// Disconnects this socket (with `close`, its whole connection).
    pub fn disconnect(&self, close: bool) {
        match &self.socket {
            Some(socket) if close => socket.close(),
            Some(socket) => socket.disconnect(),
            None => self.io.to(self.id.as_str()).disconnect_sockets(close),
        }
    }
}
