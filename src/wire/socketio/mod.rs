//! Socket.IO 5 packets (socket.io v4): events, acks and namespaces inside
//! Engine.IO messages.
//!
//! A Socket.IO packet is the text of one Engine.IO `4` message:
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]
//!
//! 0/admin,{"token":"abc"}     CONNECT to /admin with an auth payload
//! 1                           DISCONNECT from /
//! 2["chat","hi"]              EVENT "chat" with one argument
//! 212["chat","hi"]            EVENT that wants ACK 12
//! 312["ok"]                   ACK 12 with one argument
//! 4{"message":"no"}           CONNECT_ERROR
//! 51-["file",{"_placeholder":true,"num":0}]   BINARY_EVENT, 1 attachment follows
//! 61-12[{"_placeholder":true,"num":0}]         BINARY_ACK
//! ```
//!
//! The namespace is left out for `/`. Binary packets are followed by their
//! attachments, one Engine.IO binary message each; the JSON holds a
//! placeholder where each one belongs. Collecting them is per-connection
//! state: see [`Assembler`], which the session owns.
//!
//! This module maps packets to wshub's event model ([`Inbound`],
//! [`Outgoing`]) and back. Several arguments become one JSON array, bytes
//! become `{"$binary":...}` markers; see [`crate::wire::args`] for why.

use std::fmt;

use serde_json::Value;
use tungstenite::Message;

use super::args::{self, BINARY_KEY};
use super::{Inbound, Outgoing};

mod attachments;
#[cfg(test)]
mod tests;

use attachments::deconstruct;
pub use attachments::{Assembler, AssemblyError};
/// Event names a client may not send: the client library uses them itself.
pub const RESERVED_EVENTS: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

/// The packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`: join a namespace (client) / accepted (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event.
    Event = 2,
    /// `3`: the reply to an event that asked for one.
    Ack = 3,
    /// `4`: joining a namespace was refused.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl Kind {
    fn from_digit(c: char) -> Option<Kind> {
        Some(match c {
            '0' => Kind::Connect,
            '1' => Kind::Disconnect,
            '2' => Kind::Event,
            '3' => Kind::Ack,
            '4' => Kind::ConnectError,
            '5' => Kind::BinaryEvent,
            '6' => Kind::BinaryAck,
            _ => return None,
        })
    }

    fn is_binary(self) -> bool {
        matches!(self, Kind::BinaryEvent | Kind::BinaryAck)
    }
}

/// One Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// What it is.
    pub kind: Kind,
    /// The namespace, `/` when the packet names none.
    pub nsp: String,
    /// The ack id, for events that want a reply and for acks.
    pub id: Option<u64>,
    /// How many binary messages follow (binary kinds only).
    pub attachments: usize,
    /// The JSON payload, if any.
    pub data: Option<Value>,
}

/// Why a text is not a valid Socket.IO packet. The connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Socket.IO packet: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn bad<T>(why: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(why.into()))
}

/// Decodes and validates one packet (the text after the Engine.IO `4`).
pub fn decode(text: &str) -> Result<Packet, DecodeError> {
    let mut rest = text;
    let kind = match rest.chars().next().and_then(Kind::from_digit) {
        Some(kind) => kind,
        None => return bad(format!("unknown packet type in {:?}", preview(text))),
    };
    rest = &rest[1..];

    let mut attachments = 0;
    if kind.is_binary() {
        let Some((count, after)) = rest.split_once('-') else {
            return bad("a binary packet must start with <attachments>-");
        };
        // How many may follow is the Assembler's limit, not the syntax's.
        attachments = match count.parse::<usize>() {
            Ok(n) if count.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return bad(format!("bad attachment count {count:?}")),
        };
        rest = after;
    }

    // A namespace starts with '/' and ends at ',' (or at the end: "40/admin").
    let mut nsp = "/".to_string();
    if rest.starts_with('/') {
        let (name, after) = rest.split_once(',').unwrap_or((rest, ""));
        nsp = name.to_string();
        rest = after;
    }

    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits > 0 {
        match rest[..digits].parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return bad("ack id out of range"),
        }
    } else {
        None
    };
    rest = &rest[digits..];

    let data = if rest.is_empty() {
        None
    } else {
        match serde_json::from_str::<Value>(rest) {
            Ok(value) => Some(value),
            Err(e) => return bad(format!("payload is not JSON ({e}): {:?}", preview(rest))),
        }
    };

    let packet = Packet { kind, nsp, id, attachments, data };
    validate(&packet)?;
    Ok(packet)
}

/// The shape each packet type must have.
fn validate(p: &Packet) -> Result<(), DecodeError> {
    match p.kind {
        Kind::Connect => match &p.data {
            None | Some(Value::Object(_)) => Ok(()),
            Some(_) => bad("CONNECT payload must be an object"),
        },
        Kind::Disconnect => match p.data {
            None => Ok(()),
            Some(_) => bad("DISCONNECT carries no payload"),
        },
        Kind::Event | Kind::BinaryEvent => match &p.data {
            Some(Value::Array(items)) => match items.first() {
                Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
                    bad(format!("event name {name:?} is reserved"))
                }
                Some(Value::String(_)) => Ok(()),
                Some(_) => bad("an event name must be a string"),
                None => bad("an EVENT payload must be a non-empty array"),
            },
            _ => bad("an EVENT payload must be a non-empty array"),
        },
        Kind::Ack | Kind::BinaryAck => match (&p.data, p.id) {
            (Some(Value::Array(_)), Some(_)) => Ok(()),
            (_, None) => bad("an ACK needs an id"),
            _ => bad("an ACK payload must be an array"),
        },
        Kind::ConnectError => match &p.data {
            Some(Value::Object(_)) | Some(Value::String(_)) => Ok(()),
            _ => bad("CONNECT_ERROR payload must be an object"),
        },
    }
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

/// `<type>[<attachments>-][<nsp>,][<id>]`: everything before the JSON.
pub fn header(kind: Kind, attachments: usize, nsp: &str, id: Option<u64>) -> String {
    let mut s = (kind as u8).to_string();
    if kind.is_binary() {
        s.push_str(&format!("{attachments}-"));
    }
    if nsp != "/" {
        s.push_str(nsp);
        s.push(',');
    }
    if let Some(id) = id {
        s.push_str(&id.to_string());
    }
    s
}

impl Packet {
    /// The packet's text (without the Engine.IO `4`). Binary attachments
    /// are not included: see [`encode_outgoing`].
    pub fn encode(&self) -> String {
        let mut s = header(self.kind, self.attachments, &self.nsp, self.id);
        if let Some(data) = &self.data {
            s.push_str(&data.to_string());
        }
        s
    }
}

/// The arguments of an event or ack as wshub hands them to a handler: none
/// → `null`, one → itself, several → an array.
fn arguments(mut items: Vec<Value>) -> Value {
    match items.len() {
        0 => Value::Null,
        1 => items.pop().unwrap_or(Value::Null),
        _ => Value::Array(items),
    }
}

/// A complete EVENT or ACK packet as the event layer sees it. `None` for the
/// other types, which the session handles itself.
pub fn to_inbound(packet: Packet) -> Option<Inbound> {
    match (packet.kind, packet.data) {
        (Kind::Event, Some(Value::Array(mut items))) => {
            let Value::String(name) = items.remove(0) else { return None };
            Some(Inbound::Event { name, data: arguments(items), ack: packet.id })
        }
        (Kind::Ack, Some(Value::Array(items))) => Some(Inbound::Ack { id: packet.id?, data: arguments(items) }),
        _ => None,
    }
}

/// Encodes an outgoing event or ack for namespace `nsp`: one Engine.IO text
/// frame (`4` + packet), followed by one binary frame per attachment.
pub fn encode_outgoing(nsp: &str, out: &Outgoing) -> Vec<Message> {
    encode_outgoing_at(nsp, out, None)
}

/// The same, for an event that connection state recovery logged: its
/// `offset` is appended as the last argument, where socket.io-client looks
/// for it (`42["tick",1,"17"]`).
pub fn encode_outgoing_at(nsp: &str, out: &Outgoing, offset: Option<&str>) -> Vec<Message> {
    let (kind, id, array) = match out {
        Outgoing::Event { name, data, ack } => {
            let name = Value::from(name.as_str()).to_string();
            let mut array = match args::args_inner(data.get()) {
                Some("[]") => format!("[{name}]"),
                Some(inner) => format!("[{name},{}", &inner[1..]),
                None => format!("[{name},{}]", data.get()),
            };
            if let Some(offset) = offset {
                array.pop();
                array.push_str(&format!(",{}]", Value::from(offset)));
            }
            (Kind::Event, *ack, array)
        }
        Outgoing::Ack { id, data } => {
            let array = match args::args_inner(data.get()) {
                Some(inner) => inner.to_string(),
                None => format!("[{}]", data.get()),
            };
            (Kind::Ack, Some(*id), array)
        }
        Outgoing::Error { message } => {
            let array = serde_json::json!(["error", { "message": message }]).to_string();
            (Kind::Event, None, array)
        }
        // A raw frame (`Socket::send`) goes out exactly as the handler gave it.
        Outgoing::Raw(message) => return vec![message.clone()],
    };
    // Why a text search first: parsing every broadcast to look for bytes
    // would cost every event; the marker's key is rare in real data.
    if array.contains(&format!("\"{BINARY_KEY}\"")) {
        if let Ok(mut value) = serde_json::from_str::<Value>(&array) {
            let mut buffers = Vec::new();
            deconstruct(&mut value, &mut buffers);
            if !buffers.is_empty() {
                let kind = if kind == Kind::Event { Kind::BinaryEvent } else { Kind::BinaryAck };
                let text = format!("4{}{value}", header(kind, buffers.len(), nsp, id));
                let mut frames = vec![Message::text(text)];
                frames.extend(buffers.into_iter().map(Message::binary));
                return frames;
            }
        }
    }
    vec![Message::text(format!("4{}{array}", header(kind, 0, nsp, id)))]
}
