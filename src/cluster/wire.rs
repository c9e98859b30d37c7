//! The messages of `@socket.io/redis-adapter` 8.x, as Rust types, with the
//! exact bytes the Node adapter reads and writes.
//!
//! Three kinds of channel carry three kinds of message ([`super::channels`]):
//!
//! ```text
//! <prefix>#<nsp>#[<room>#]    a Broadcast: MessagePack [uid, packet, opts]
//!                             [ "Ab3x_9",
//!                               {type: 2, data: ["chat", "hi", <bin 01 02>], nsp: "/"},
//!                               {rooms: ["r1"], except: [], flags: {}} ]
//! <prefix>-request#<nsp>#     a Request: JSON {"uid":..,"type":N,..}, except a broadcast
//!                             that waits for acks (type 7), which is MessagePack
//! <prefix>-response#<nsp>#    a Response: JSON {"requestId":..,..}, except a client's
//!                             ack to such a broadcast (type 9), which is MessagePack
//! ```
//!
//! A receiver tells JSON from MessagePack by the first byte: `{` (0x7b) is
//! JSON. Request types (the adapter's own numbering, not the cluster
//! adapter's of `socket.io-adapter`): 1 ALL_ROOMS, 2 REMOTE_JOIN, 3
//! REMOTE_LEAVE, 4 REMOTE_DISCONNECT, 5 REMOTE_FETCH, 6 SERVER_SIDE_EMIT, 7
//! BROADCAST (with acks), and the answers 8 BROADCAST_CLIENT_COUNT and 9
//! BROADCAST_ACK. Type 0 (SOCKETS) and the single-socket forms of 2–4 come
//! from adapters before 8.x and are refused here.
//!
//! Event data is wshub's JSON: bytes are `{"$binary":"<base64>"}` markers
//! ([`crate::wire::args`]), turned into MessagePack `bin` and back by
//! the private `msgpack` module. Inside the JSON messages (requests and most
//! responses) data is plain JSON, as Node writes it: a `Buffer` there is
//! `{"type":"Buffer","data":[...]}`.
//!
//! Decoding never panics: anything that is not one of these shapes is a
//! [`WireError`] saying what is wrong.

use rmpv::Value as Mp;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::msgpack;
use crate::wire::args::{args_inner, Args};
use crate::wire::{payload, Outgoing, Payload};

pub use super::msgpack::WireError;

/// Which kind of channel a message came on: that decides how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// `<prefix>#<nsp>#` or a room's channel under it.
    Broadcast,
    /// `<prefix>-request#<nsp>#`.
    Request,
    /// `<prefix>-response#<nsp>#`, or a node's own response channel.
    Response,
}

/// One message between nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// An event for the matching sockets of every node.
    Broadcast(Broadcast),
    /// A question or an order for the other nodes.
    Request(Request),
    /// One node's answer to a request.
    Response(Response),
}

impl Message {
    /// Reads a message that came on a channel of `kind`.
    pub fn decode(kind: ChannelKind, payload: &[u8]) -> Result<Message, WireError> {
        match kind {
            ChannelKind::Broadcast => Broadcast::decode(payload).map(Message::Broadcast),
            ChannelKind::Request => Request::decode(payload).map(Message::Request),
            ChannelKind::Response => Response::decode(payload).map(Message::Response),
        }
    }

    /// The bytes Node's adapter would publish for this message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Broadcast(b) => b.encode(),
            Message::Request(r) => r.encode(),
            Message::Response(r) => r.encode(),
        }
    }
}

/// A socket.io event packet as it travels between nodes:
/// `{type: 2, data: [name, ...args], nsp}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPacket {
    /// The namespace; a node ignores a packet for another namespace than the
    /// channel's (Node: a missing `nsp` means `/`).
    pub nsp: String,
    /// The event name, `data[0]`.
    pub name: String,
    /// The arguments, `data[1..]`, bytes as `{"$binary":..}` markers.
    pub args: Vec<Value>,
}

impl EventPacket {
    /// The packet for a wshub event: `data` as a handler emits it (one
    /// value, or several in an [`Args`]), the way the hub's encoders read it.
    pub fn from_event(nsp: &str, name: &str, data: &Payload) -> EventPacket {
        let args = match args_inner(data.get()) {
            Some(inner) => serde_json::from_str(inner).unwrap_or_default(),
            None => vec![serde_json::from_str(data.get()).unwrap_or(Value::Null)],
        };
        EventPacket { nsp: nsp.to_string(), name: name.to_string(), args }
    }

    /// The event as wshub's hub sends it to its own sockets: one argument as
    /// itself, none or several as [`Args`] (so a socket.io client gets
    /// `42["name",a,b]` exactly as from Node).
    pub fn to_outgoing(&self) -> Outgoing {
        let data = match self.args.as_slice() {
            [one] => payload(one),
            many => payload(&Args(many.to_vec())),
        };
        // Serializing a JSON value cannot fail; `null` is only a fallback.
        let data = data.unwrap_or_else(|_| RawValue::NULL.to_owned());
        Outgoing::Event { name: self.name.clone(), data, ack: None }
    }

    fn decode(value: &Value) -> Result<EventPacket, WireError> {
        let f = Fields::of(value, "packet")?;
        match f.u64("type")? {
            // 2 EVENT is what socket.io 4 publishes; 5 BINARY_EVENT came from
            // older versions that set the type before encoding.
            2 | 5 => {}
            other => return Err(WireError::new(format!("packet type {other} is not an EVENT"))),
        }
        let nsp = f.opt_str("nsp")?.unwrap_or_else(|| "/".to_string());
        let mut data = match f.get("data") {
            Some(Value::Array(items)) => items.clone(),
            _ => return Err(WireError::new("packet.data must be an array [name, ...args]")),
        };
        if data.is_empty() {
            return Err(WireError::new("packet.data is empty: an event needs a name"));
        }
        let Value::String(name) = data.remove(0) else {
            return Err(WireError::new("an event name must be a string"));
        };
        Ok(EventPacket { nsp, name, args: data })
    }

    /// `{type: 2, data: [name, ...args], nsp}`, keys in Node's order.
    fn to_msgpack(&self) -> Mp {
        let mut data = Vec::with_capacity(self.args.len() + 1);
        data.push(Mp::from(self.name.as_str()));
        data.extend(self.args.iter().map(msgpack::from_json));
        map(vec![("type", Mp::from(2)), ("data", Mp::Array(data)), ("nsp", Mp::from(self.nsp.as_str()))])
    }
}

/// Which sockets a broadcast reaches, and how (socket.io's
/// `BroadcastOptions`, with its sets as arrays).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastOpts {
    /// Sockets in any of these rooms; none means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Minus the sockets in any of these (a socket's own id is a room, so
    /// `socket.broadcast` puts the sender here).
    pub except: Vec<String>,
    /// How to send it.
    pub flags: Flags,
}

/// socket.io's broadcast flags that matter to a receiving node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `volatile`: a socket that cannot take it now may miss it.
    pub volatile: bool,
    /// `compress`: whether to compress, when the sender chose.
    pub compress: Option<bool>,
    /// `timeout` (ms): how long the sender waits for acks (broadcasts with acks).
    pub timeout_ms: Option<u64>,
    /// `expectSingleResponse`: set by a `RemoteSocket.emit` with an ack,
    /// which expects one answer rather than a list.
    pub expect_single_response: bool,
}

impl Flags {
    fn decode(value: Option<&Value>) -> Result<Flags, WireError> {
        let Some(value) = value else { return Ok(Flags::default()) }; // Node: `opts.flags || {}`
        let f = Fields::of(value, "flags")?;
        Ok(Flags {
            volatile: f.opt_bool("volatile")?.unwrap_or(false),
            compress: f.opt_bool("compress")?,
            timeout_ms: match f.get("timeout") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| WireError::new("flags.timeout must be a whole number"))?),
            },
            expect_single_response: f.opt_bool("expectSingleResponse")?.unwrap_or(false),
            // `local` never leaves a node, and flags this code does not know
            // change nothing for it: both are ignored.
        })
    }

    fn to_msgpack(&self) -> Mp {
        // Node's keys come in the order the sender chained the calls
        // (`io.volatile.compress(false)`); this is one such order.
        let mut pairs = Vec::new();
        if self.volatile {
            pairs.push(("volatile", Mp::from(true)));
        }
        if let Some(compress) = self.compress {
            pairs.push(("compress", Mp::from(compress)));
        }
        if let Some(ms) = self.timeout_ms {
            pairs.push(("timeout", Mp::from(ms)));
        }
        if self.expect_single_response {
            pairs.push(("expectSingleResponse", Mp::from(true)));
        }
        map(pairs)
    }
}

impl BroadcastOpts {
    fn decode(value: &Value) -> Result<BroadcastOpts, WireError> {
        let f = Fields::of(value, "opts")?;
        Ok(BroadcastOpts {
            rooms: f.rooms("rooms")?,
            except: f.rooms("except")?,
            flags: Flags::decode(f.get("flags"))?,
        })
    }

    fn to_msgpack(&self) -> Mp {
        map(vec![
            ("rooms", strings(&self.rooms)),
            ("except", strings(&self.except)),
            ("flags", self.flags.to_msgpack()),
        ])
    }
}

/// A broadcast published by node `uid`.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The sending node's id: a node skips its own broadcasts, which Redis
    /// echoes back to it.
    pub uid: String,
    /// The event.
    pub packet: EventPacket,
    /// Who gets it.
    pub opts: BroadcastOpts,
}

impl Broadcast {
    /// Reads `[uid, packet, opts]` (MessagePack).
    pub fn decode(bytes: &[u8]) -> Result<Broadcast, WireError> {
        let value = msgpack::decode(bytes)?;
        let Value::Array(items) = value else {
            return Err(WireError::new("a broadcast must be an array [uid, packet, opts]"));
        };
        let [uid, packet, opts] = <[Value; 3]>::try_from(items).map_err(|items| {
            WireError::new(format!("a broadcast has 3 items [uid, packet, opts], not {}", items.len()))
        })?;
        let Value::String(uid) = uid else {
            return Err(WireError::new("a broadcast's uid must be a string"));
        };
        Ok(Broadcast { uid, packet: EventPacket::decode(&packet)?, opts: BroadcastOpts::decode(&opts)? })
    }

    /// The bytes Node would publish: MessagePack `[uid, packet, opts]`.
    pub fn encode(&self) -> Vec<u8> {
        write(&Mp::Array(vec![Mp::from(self.uid.as_str()), self.packet.to_msgpack(), self.opts.to_msgpack()]))
    }
}

/// The sockets a request is about: `{rooms, except}` (no flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Sockets in any of these rooms; none means all of the namespace.
    pub rooms: Vec<String>,
    /// Minus those in any of these.
    pub except: Vec<String>,
}

impl Selection {
    fn decode(value: Option<&Value>, what: &str) -> Result<Selection, WireError> {
        let Some(value) = value else {
            return Err(WireError::new(format!(
                "{what} without opts (the single-socket form of adapters before 8.x) is not supported"
            )));
        };
        let f = Fields::of(value, "opts")?;
        Ok(Selection { rooms: f.rooms("rooms")?, except: f.rooms("except")? })
    }

    fn to_json(&self) -> Value {
        json!({ "rooms": self.rooms, "except": self.except })
    }
}

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
    /// [`Response::AllRooms`].
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
    /// [`Response::Fetch`].
    Fetch {
        /// Matches the answers to the question.
        request_id: String,
        /// Whose sockets.
        select: Selection,
    },
    /// 6 SERVER_SIDE_EMIT (`io.serverSideEmit(name, ...args)`): with a
    /// `request_id` the sender waits for one [`Response::ServerSideEmitAck`]
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
    /// the packet and answer with [`Response::BroadcastClientCount`], then
    /// one [`Response::BroadcastAck`] per client's ack. MessagePack.
    BroadcastWithAck {
        /// Matches the answers to the question.
        request_id: String,
        /// The event.
        packet: EventPacket,
        /// Who gets it; `flags.timeout_ms` is how long the sender waits.
        opts: BroadcastOpts,
    },
}

/// Request and response type numbers of `@socket.io/redis-adapter`.
mod kind {
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
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

/// One node's answer to a [`Request`], matched by `request_id`.
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
    fn decode(value: &Value) -> Result<RemoteSocket, WireError> {
        let f = Fields::of(value, "socket")?;
        Ok(RemoteSocket {
            id: f.str("id")?,
            handshake: f.get("handshake").cloned().unwrap_or(Value::Null),
            rooms: f.rooms("rooms")?,
            data: f.get("data").cloned().unwrap_or(Value::Null),
        })
    }
}

/// Node's rule: a payload starting with `{` is JSON, anything else MessagePack.
fn json_or_msgpack(bytes: &[u8]) -> Result<Value, WireError> {
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| WireError::new(format!("not JSON: {e}")))
    } else {
        msgpack::decode(bytes)
    }
}

/// A MessagePack map with keys in the given order.
fn map(pairs: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(pairs.into_iter().map(|(k, v)| (Mp::from(k), v)).collect())
}

fn strings(items: &[String]) -> Mp {
    Mp::Array(items.iter().map(|s| Mp::from(s.as_str())).collect())
}

fn write(value: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    out
}

/// Typed access to the fields of one object of a message, with errors
/// that name the object and the field.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, what: &'static str) -> Result<Fields<'a>, WireError> {
        match value {
            Value::Object(map) => Ok(Fields { map, what }),
            _ => Err(WireError::new(format!("{what} must be an object"))),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn str(&self, key: &str) -> Result<String, WireError> {
        self.opt_str(key)?.ok_or_else(|| WireError::new(format!("{}.{key} is missing", self.what)))
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, WireError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(WireError::new(format!("{}.{key} must be a string", self.what))),
        }
    }

    fn u64(&self, key: &str) -> Result<u64, WireError> {
        self.map
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| WireError::new(format!("{}.{key} must be a whole number", self.what)))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, WireError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(WireError::new(format!("{}.{key} must be true or false", self.what))),
        }
    }

    /// A list of rooms. Missing means none (Node: `new Set(undefined)`); a
    /// number is a room too (JavaScript allows `socket.join(42)`).
    fn rooms(&self, key: &str) -> Result<Vec<String>, WireError> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(WireError::new(format!("{}.{key} must hold room names", self.what))),
                })
                .collect(),
            Some(_) => Err(WireError::new(format!("{}.{key} must be an array of rooms", self.what))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::args::binary;

    fn packet(name: &str, args: Vec<Value>) -> EventPacket {
        EventPacket { nsp: "/".into(), name: name.into(), args }
    }

    #[test]
    fn a_broadcast_is_the_documented_array() {
        let b = Broadcast {
            uid: "Ab3x_9".into(),
            packet: packet("chat", vec![json!("hi"), binary(&[1, 2])]),
            opts: BroadcastOpts { rooms: vec!["r1".into()], ..BroadcastOpts::default() },
        };
        let bytes = b.encode();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x93,                                           // array of 3
            0xa6, b'A', b'b', b'3', b'x', b'_', b'9',       // uid
            0x83,                                           // packet: map of 3
            0xa4, b't', b'y', b'p', b'e', 0x02,             //   type: 2
            0xa4, b'd', b'a', b't', b'a', 0x93,             //   data: array of 3
            0xa4, b'c', b'h', b'a', b't',                   //     "chat"
            0xa2, b'h', b'i',                               //     "hi"
            0xc4, 0x02, 0x01, 0x02,                         //     bin 01 02
            0xa3, b'n', b's', b'p', 0xa1, b'/',             //   nsp: "/"
            0x83,                                           // opts: map of 3
            0xa5, b'r', b'o', b'o', b'm', b's', 0x91, 0xa2, b'r', b'1',
            0xa6, b'e', b'x', b'c', b'e', b'p', b't', 0x90,
            0xa5, b'f', b'l', b'a', b'g', b's', 0x80,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(Broadcast::decode(&bytes).unwrap(), b);
    }

    #[test]
    fn every_request_and_response_round_trips() {
        let select = Selection { rooms: vec!["a".into()], except: vec!["b".into()] };
        let requests = [
            RequestKind::AllRooms { request_id: "q1".into() },
            RequestKind::Join { select: select.clone(), rooms: vec!["c".into()] },
            RequestKind::Leave { select: select.clone(), rooms: vec!["c".into()] },
            RequestKind::Disconnect { select: select.clone(), close: true },
            RequestKind::Fetch { request_id: "q2".into(), select },
            RequestKind::ServerSideEmit { request_id: None, name: "hello".into(), args: vec![json!(1)] },
            RequestKind::ServerSideEmit { request_id: Some("q3".into()), name: "ping".into(), args: vec![] },
            RequestKind::BroadcastWithAck {
                request_id: "q4".into(),
                packet: packet("ask", vec![binary(&[7])]),
                opts: BroadcastOpts {
                    flags: Flags { timeout_ms: Some(1500), ..Flags::default() },
                    ..BroadcastOpts::default()
                },
            },
        ];
        for kind in requests {
            let request = Request { uid: "node01".into(), kind };
            assert_eq!(Request::decode(&request.encode()).unwrap(), request);
        }
        let responses = [
            Response::AllRooms { request_id: "q1".into(), rooms: vec!["r".into()] },
            Response::Fetch {
                request_id: "q2".into(),
                sockets: vec![RemoteSocket {
                    id: "s1".into(),
                    handshake: json!({"address": "127.0.0.1"}),
                    rooms: vec!["s1".into()],
                    data: json!({"user": 1}),
                }],
            },
            Response::Fetch { request_id: "q2".into(), sockets: vec![] },
            Response::ServerSideEmitAck { request_id: "q3".into(), data: json!("pong") },
            Response::BroadcastClientCount { request_id: "q4".into(), client_count: 2 },
            Response::BroadcastAck { request_id: "q4".into(), data: binary(&[8]) },
        ];
        for response in responses {
            assert_eq!(Response::decode(&response.encode()).unwrap(), response);
        }
    }

    #[test]
    fn json_requests_are_what_node_writes() {
        let node = br#"{"uid":"xY1_-z","type":2,"opts":{"rooms":["r1"],"except":[]},"rooms":["r2"]}"#;
        let request = Request::decode(node).unwrap();
        assert_eq!(request.uid, "xY1_-z");
        assert_eq!(
            request.kind,
            RequestKind::Join {
                select: Selection { rooms: vec!["r1".into()], except: vec![] },
                rooms: vec!["r2".into()]
            }
        );
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
    }

    #[test]
    fn events_map_to_wshub_outgoing_and_back() {
        let one = EventPacket::from_event("/", "e", &payload(&json!({"a": 1})).unwrap());
        assert_eq!(one.args, vec![json!({"a": 1})]);
        let many = EventPacket::from_event("/x", "e", &payload(&Args(vec![json!(1), json!(2)])).unwrap());
        assert_eq!((many.nsp.as_str(), many.args.clone()), ("/x", vec![json!(1), json!(2)]));
        let Outgoing::Event { name, data, ack } = many.to_outgoing() else { panic!("an event") };
        assert_eq!((name.as_str(), data.get(), ack), ("e", r#"{"$args":[1,2]}"#, None));
        let Outgoing::Event { data, .. } = one.to_outgoing() else { panic!("an event") };
        assert_eq!(data.get(), r#"{"a":1}"#);
    }

    #[test]
    fn refuses_foreign_shapes_with_a_reason() {
        let bad_broadcasts: [Vec<u8>; 5] = [
            msgpack::encode(&json!({"not": "an array"})),
            msgpack::encode(&json!(["uid", {"type": 2, "data": ["e"], "nsp": "/"}])),
            msgpack::encode(&json!([1, {"type": 2, "data": ["e"]}, {}])),
            msgpack::encode(&json!(["u", {"type": 3, "data": ["e"]}, {}])),
            msgpack::encode(&json!(["u", {"type": 2, "data": [1]}, {"rooms": "r"}])),
        ];
        for bytes in bad_broadcasts {
            let e = Broadcast::decode(&bytes).unwrap_err();
            assert!(e.to_string().starts_with("invalid cluster message: "), "{e}");
        }
        for text in [
            r#"{"uid":"u","type":0,"requestId":"x","rooms":[]}"#,
            r#"{"uid":"u","type":2,"sid":"s","room":"r","requestId":"x"}"#,
            r#"{"uid":"u","type":42}"#,
            r#"{"type":1,"requestId":"x"}"#,
            r#"{"uid":"u","type":6,"data":[]}"#,
            r#"{"uid":"u","type":5,"requestId":"x","opts":{"rooms":[null]}}"#,
            "{oops",
        ] {
            assert!(Request::decode(text.as_bytes()).is_err(), "{text}");
        }
        for text in [r#"{"requestId":"x"}"#, r#"{"requestId":"x","sockets":["s1"]}"#, r#"{"requestId":"x","type":8}"#] {
            assert!(Response::decode(text.as_bytes()).is_err(), "{text}");
        }
    }
}
