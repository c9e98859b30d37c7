//! A request from one node to the others (the `-request#` channels).

use rmpv::Value as Mp;
use serde_json::{json, Value};

use super::{json_or_msgpack, kind, map, write, BroadcastOpts, EventPacket, Fields, Selection, WireError};

/// A request from node `uid` to the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The asking node: a node skips its own requests, and with
    /// `publishOnSpecificResponseChannel` answers on `uid`'s own channel.
    pub uid: String,
    /// What it asks.
    pub kind: RequestKind,
}

/// What a request asks, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestKind {
    /// 1 ALL_ROOMS (`io.of(nsp).adapter.allRooms()`): answered with
    /// [`Response::AllRooms`](super::Response::AllRooms).
    AllRooms {
        /// Matches the answers to the question.
        request_id: String,
    },
    /// 2 REMOTE_JOIN (`io.in(..).socketsJoin(rooms)`): no answer.
    Join {
        /// Whose sockets.
        select: Selection,
        /// The rooms they join.
        rooms: Vec<String>,
    },
    /// 3 REMOTE_LEAVE (`io.in(..).socketsLeave(rooms)`): no answer.
    Leave {
        /// Whose sockets.
        select: Selection,
        /// The rooms they leave.
        rooms: Vec<String>,
    },
    /// 4 REMOTE_DISCONNECT (`io.in(..).disconnectSockets(close)`): no answer.
    Disconnect {
        /// Whose sockets.
        select: Selection,
        /// Also close the underlying connection, not only the namespace.
        close: bool,
    },
    /// 5 REMOTE_FETCH (`io.in(..).fetchSockets()`): answered with
    /// [`Response::Fetch`](super::Response::Fetch).
    Fetch {
        /// Matches the answers to the question.
        request_id: String,
        /// Whose sockets.
        select: Selection,
    },
    /// 6 SERVER_SIDE_EMIT (`io.serverSideEmit(name, ...args)`): with a
    /// `request_id` the sender waits for one [`Response::ServerSideEmitAck`](super::Response::ServerSideEmitAck)
    /// from each other node.
    ServerSideEmit {
        /// Set when the sender waits for acks.
        request_id: Option<String>,
        /// The event name.
        name: String,
        /// Its arguments (plain JSON: this request is JSON).
        args: Vec<Value>,
    },
    /// 7 BROADCAST (`io.timeout(ms).emit(name, ..., callback)`): deliver
    /// the packet and answer with [`Response::BroadcastClientCount`](super::Response::BroadcastClientCount), then
    /// one [`Response::BroadcastAck`](super::Response::BroadcastAck) per client's ack. MessagePack.
    BroadcastWithAck {
        /// Matches the answers to the question.
        request_id: String,
        /// The event.
        packet: EventPacket,
        /// Who gets it; `flags.timeout_ms` is how long the sender waits.
        opts: BroadcastOpts,
    },
}

impl Request {
    /// Reads a request: JSON when it starts with `{`, else MessagePack.
    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        let value = json_or_msgpack(bytes)?;
        let f = Fields::of(&value, "request")?;
        let uid = f.str("uid")?;
        let kind = match f.u64("type")? {
            kind::ALL_ROOMS => RequestKind::AllRooms { request_id: f.str("requestId")? },
            kind::REMOTE_JOIN => {
                RequestKind::Join { select: Selection::decode(f.get("opts"), "REMOTE_JOIN")?, rooms: f.rooms("rooms")? }
            }
            kind::REMOTE_LEAVE => RequestKind::Leave {
                select: Selection::decode(f.get("opts"), "REMOTE_LEAVE")?,
                rooms: f.rooms("rooms")?,
            },
            kind::REMOTE_DISCONNECT => RequestKind::Disconnect {
                select: Selection::decode(f.get("opts"), "REMOTE_DISCONNECT")?,
                close: f.opt_bool("close")?.unwrap_or(false),
            },
            kind::REMOTE_FETCH => RequestKind::Fetch {
                request_id: f.str("requestId")?,
                select: Selection::decode(f.get("opts"), "REMOTE_FETCH")?,
            },
            kind::SERVER_SIDE_EMIT => {
                let mut data = match f.get("data") {
                    Some(Value::Array(items)) if !items.is_empty() => items.clone(),
                    _ => return Err(WireError::new("SERVER_SIDE_EMIT data must be an array [name, ...args]")),
                };
                let Value::String(name) = data.remove(0) else {
                    return Err(WireError::new("an event name must be a string"));
                };
                RequestKind::ServerSideEmit { request_id: f.opt_str("requestId")?, name, args: data }
            }
            kind::BROADCAST => RequestKind::BroadcastWithAck {
                request_id: f.str("requestId")?,
                packet: EventPacket::decode(f.get("packet").unwrap_or(&Value::Null))?,
                opts: BroadcastOpts::decode(f.get("opts").unwrap_or(&Value::Null))?,
            },
            0 => return Err(WireError::new("request type 0 (SOCKETS, adapters before 8.x) is not supported")),
            other => return Err(WireError::new(format!("unknown request type {other}"))),
        };
        Ok(Request { uid, kind })
    }

    /// The bytes Node would publish on the request channel.
    pub fn encode(&self) -> Vec<u8> {
        let uid = &self.uid;
        let value = match &self.kind {
            RequestKind::AllRooms { request_id } => {
                json!({ "uid": uid, "requestId": request_id, "type": kind::ALL_ROOMS })
            }
            RequestKind::Join { select, rooms } => {
                json!({ "uid": uid, "type": kind::REMOTE_JOIN, "opts": select.to_json(), "rooms": rooms })
            }
            RequestKind::Leave { select, rooms } => {
                json!({ "uid": uid, "type": kind::REMOTE_LEAVE, "opts": select.to_json(), "rooms": rooms })
            }
            RequestKind::Disconnect { select, close } => {
                json!({ "uid": uid, "type": kind::REMOTE_DISCONNECT, "opts": select.to_json(), "close": close })
            }
            RequestKind::Fetch { request_id, select } => {
                json!({ "uid": uid, "requestId": request_id, "type": kind::REMOTE_FETCH, "opts": select.to_json() })
            }
            RequestKind::ServerSideEmit { request_id, name, args } => {
                let mut data = vec![Value::from(name.as_str())];
                data.extend(args.iter().cloned());
                let mut value = json!({ "uid": uid, "type": kind::SERVER_SIDE_EMIT, "data": data });
                if let Some(id) = request_id {
                    value["requestId"] = Value::from(id.as_str());
                }
                value
            }
            // MessagePack, because the packet may hold bytes.
            RequestKind::BroadcastWithAck { request_id, packet, opts } => {
                return write(&map(vec![
                    ("uid", Mp::from(uid.as_str())),
                    ("requestId", Mp::from(request_id.as_str())),
                    ("type", Mp::from(kind::BROADCAST)),
                    ("packet", packet.to_msgpack()),
                    ("opts", opts.to_msgpack()),
                ]));
            }
        };
        value.to_string().into_bytes()
    }
}
