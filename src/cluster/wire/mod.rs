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
use serde_json::{Map, Value};

use super::msgpack;
use crate::wire::args::{args_inner, Args};
use crate::wire::{payload, Outgoing, Payload};

pub use super::msgpack::WireError;

mod broadcast;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use broadcast::{Broadcast, BroadcastOpts, Flags, Selection};
pub use request::{Request, RequestKind};
pub use response::{RemoteSocket, Response};

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
