//! An answer to a request (the `-response#` channels), and a socket as a
//! fetch answer describes it.

use rmpv::Value as Mp;
use serde_json::{json, Value};

use crate::cluster::msgpack;

use super::{json_or_msgpack, kind, map, write, Fields, WireError};

/// One socket as a `fetchSockets()` answer describes it; Node makes a
/// `RemoteSocket` of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: String,
    /// socket.io's handshake object (`headers`, `time`, `address`,
    /// `xdomain`, `secure`, `issued`, `url`, `query`, `auth`), as JSON.
    pub handshake: Value,
    /// Its rooms, its own id among them.
    pub rooms: Vec<String>,
    /// `socket.data` (`null` when the socket has none).
    pub data: Value,
}

/// One node's answer to a [`Request`](super::Request), matched by `request_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// `{requestId, rooms}`: this node's rooms (for ALL_ROOMS).
    AllRooms {
        /// The request answered.
        request_id: String,
        /// Every room with a socket on this node (socket ids included).
        rooms: Vec<String>,
    },
    /// `{requestId, sockets}`: this node's matching sockets (for REMOTE_FETCH).
    Fetch {
        /// The request answered.
        request_id: String,
        /// The sockets.
        sockets: Vec<RemoteSocket>,
    },
    /// `{type: 6, requestId, data}`: a server-side handler's ack. Node
    /// always publishes it on the shared response channel.
    ServerSideEmitAck {
        /// The request answered.
        request_id: String,
        /// The handler's one argument (`null` when it gave none).
        data: Value,
    },
    /// `{type: 8, requestId, clientCount}`: how many of this node's clients
    /// got a broadcast that waits for acks, so the sender knows how many
    /// acks to wait for.
    BroadcastClientCount {
        /// The request answered.
        request_id: String,
        /// Clients that got the packet.
        client_count: u64,
    },
    /// `{type: 9, requestId, packet}` (MessagePack): one client's ack.
    BroadcastAck {
        /// The request answered.
        request_id: String,
        /// The ack's first argument (Node keeps only that one).
        data: Value,
    },
}

impl Response {
    /// The request this answers.
    pub fn request_id(&self) -> &str {
        match self {
            Response::AllRooms { request_id, .. }
            | Response::Fetch { request_id, .. }
            | Response::ServerSideEmitAck { request_id, .. }
            | Response::BroadcastClientCount { request_id, .. }
            | Response::BroadcastAck { request_id, .. } => request_id,
        }
    }

    /// Reads a response: JSON when it starts with `{`, else MessagePack.
    /// ALL_ROOMS and REMOTE_FETCH answers carry no `type`: their key
    /// (`rooms` or `sockets`) tells them apart.
    pub fn decode(bytes: &[u8]) -> Result<Response, WireError> {
        let value = json_or_msgpack(bytes)?;
        let f = Fields::of(&value, "response")?;
        let request_id = f.str("requestId")?;
        if f.get("type").is_none() {
            if f.get("rooms").is_some() {
                return Ok(Response::AllRooms { request_id, rooms: f.rooms("rooms")? });
            }
            let Some(Value::Array(items)) = f.get("sockets") else {
                return Err(WireError::new("a response without a type must hold rooms or sockets"));
            };
            let sockets = items.iter().map(RemoteSocket::decode).collect::<Result<_, _>>()?;
            return Ok(Response::Fetch { request_id, sockets });
        }
        Ok(match f.u64("type")? {
            kind::SERVER_SIDE_EMIT => {
                Response::ServerSideEmitAck { request_id, data: f.get("data").cloned().unwrap_or(Value::Null) }
            }
            kind::BROADCAST_CLIENT_COUNT => {
                Response::BroadcastClientCount { request_id, client_count: f.u64("clientCount")? }
            }
            kind::BROADCAST_ACK => {
                Response::BroadcastAck { request_id, data: f.get("packet").cloned().unwrap_or(Value::Null) }
            }
            other => return Err(WireError::new(format!("unknown response type {other}"))),
        })
    }

    /// The bytes Node would publish on a response channel.
    pub fn encode(&self) -> Vec<u8> {
        let value = match self {
            Response::AllRooms { request_id, rooms } => json!({ "requestId": request_id, "rooms": rooms }),
            Response::Fetch { request_id, sockets } => {
                let sockets: Vec<Value> = sockets
                    .iter()
                    .map(|s| json!({ "id": s.id, "handshake": s.handshake, "rooms": s.rooms, "data": s.data }))
                    .collect();
                json!({ "requestId": request_id, "sockets": sockets })
            }
            Response::ServerSideEmitAck { request_id, data } => {
                json!({ "type": kind::SERVER_SIDE_EMIT, "requestId": request_id, "data": data })
            }
            Response::BroadcastClientCount { request_id, client_count } => {
                json!({ "type": kind::BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": client_count })
            }
            // MessagePack, because an ack may hold bytes.
            Response::BroadcastAck { request_id, data } => {
                return write(&map(vec![
                    ("type", Mp::from(kind::BROADCAST_ACK)),
                    ("requestId", Mp::from(request_id.as_str())),
                    ("packet", msgpack::from_json(data)),
                ]));
            }
        };
        value.to_string().into_bytes()
    }
}

impl RemoteSocket {
    pub(super) fn decode(value: &Value) -> Result<RemoteSocket, WireError> {
        let f = Fields::of(value, "socket")?;
        Ok(RemoteSocket {
            id: f.str("id")?,
            handshake: f.get("handshake").cloned().unwrap_or(Value::Null),
            rooms: f.rooms("rooms")?,
            data: f.get("data").cloned().unwrap_or(Value::Null),
        })
    }
}
