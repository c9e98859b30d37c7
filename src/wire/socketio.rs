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

use serde_json::{Map, Value};
use tungstenite::Message;

use super::args::{self, BINARY_KEY};
use super::{Inbound, Outgoing};

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

/// Collects a binary packet's attachments as they arrive, one message each.
/// One per connection: attachments of different packets never interleave.
///
/// What it holds is bounded: a packet may announce at most
/// `max_attachments`, and the attachments of the unfinished packet may hold
/// at most `max_bytes` together. Otherwise one client could announce many
/// attachments, send all but the last, and pin their memory for as long as
/// it answers pings.
#[derive(Debug)]
pub struct Assembler {
    /// The packet waiting for attachments, and those received so far.
    pending: Option<(Packet, Vec<Vec<u8>>)>,
    /// Bytes held in `pending`'s attachments.
    held: usize,
    max_attachments: usize,
    max_bytes: usize,
}

/// Why attachments cannot be put together. The connection is closed with
/// [`AssemblyError::close_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssemblyError {
    /// The client broke the protocol (an attachment nobody announced, a
    /// placeholder naming none): close 1002.
    Malformed(DecodeError),
    /// More attachments, or more bytes in them, than the limits allow:
    /// close 1009, as for a message over maxPayload.
    TooBig(String),
}

impl AssemblyError {
    /// The WebSocket close code for this error: 1002 or 1009.
    pub fn close_code(&self) -> u16 {
        match self {
            AssemblyError::Malformed(_) => 1002,
            AssemblyError::TooBig(_) => 1009,
        }
    }
}

impl fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssemblyError::Malformed(e) => e.fmt(f),
            AssemblyError::TooBig(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for AssemblyError {}

impl From<DecodeError> for AssemblyError {
    fn from(e: DecodeError) -> Self {
        AssemblyError::Malformed(e)
    }
}

fn malformed<T>(why: &str) -> Result<T, AssemblyError> {
    Err(AssemblyError::Malformed(DecodeError(why.into())))
}

/// Node's limits: 10 attachments (socket.io-parser), 1,000,000 bytes (maxPayload).
impl Default for Assembler {
    fn default() -> Self {
        Assembler::new(10, 1_000_000)
    }
}

impl Assembler {
    /// An assembler that lets a packet announce at most `max_attachments`
    /// and hold at most `max_bytes` in them.
    pub fn new(max_attachments: usize, max_bytes: usize) -> Assembler {
        Assembler { pending: None, held: 0, max_attachments, max_bytes }
    }

    /// A text packet arrived. Returns it when it is complete, or keeps it
    /// until its attachments arrive.
    pub fn text(&mut self, packet: Packet) -> Result<Option<Packet>, AssemblyError> {
        if self.pending.is_some() {
            return malformed("a new packet arrived before the attachments of the previous one");
        }
        if packet.attachments > self.max_attachments {
            return Err(AssemblyError::TooBig(format!(
                "a packet announces {} attachments; at most {} are allowed",
                packet.attachments, self.max_attachments
            )));
        }
        if packet.kind.is_binary() && packet.attachments > 0 {
            self.pending = Some((packet, Vec::new()));
            self.held = 0;
            return Ok(None);
        }
        if packet.kind.is_binary() {
            return Ok(Some(reconstruct(packet, Vec::new())?));
        }
        Ok(Some(packet))
    }

    /// A binary message arrived: the next attachment of the waiting packet.
    pub fn binary(&mut self, bytes: Vec<u8>) -> Result<Option<Packet>, AssemblyError> {
        let Some((packet, mut buffers)) = self.pending.take() else {
            return malformed("a binary message arrived that no packet announced");
        };
        self.held += bytes.len();
        if self.held > self.max_bytes {
            // `pending` is already empty: what was held is let go now.
            return Err(AssemblyError::TooBig(format!(
                "the attachments of one packet hold over maxPayload ({} bytes)",
                self.max_bytes
            )));
        }
        buffers.push(bytes);
        if buffers.len() < packet.attachments {
            self.pending = Some((packet, buffers));
            return Ok(None);
        }
        self.held = 0;
        Ok(Some(reconstruct(packet, buffers)?))
    }
}

/// Puts each attachment where its placeholder is, as a `{"$binary":..}` marker.
fn reconstruct(mut packet: Packet, buffers: Vec<Vec<u8>>) -> Result<Packet, DecodeError> {
    fn walk(value: &mut Value, buffers: &[Vec<u8>]) -> Result<(), DecodeError> {
        match value {
            Value::Array(items) => items.iter_mut().try_for_each(|v| walk(v, buffers)),
            Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
                let num = map.get("num").and_then(Value::as_u64).unwrap_or(u64::MAX);
                match buffers.get(num as usize) {
                    Some(bytes) => {
                        *value = args::binary(bytes);
                        Ok(())
                    }
                    None => bad(format!("placeholder {num} names no attachment")),
                }
            }
            Value::Object(map) => map.values_mut().try_for_each(|v| walk(v, buffers)),
            _ => Ok(()),
        }
    }
    if let Some(data) = packet.data.as_mut() {
        walk(data, &buffers)?;
    }
    packet.kind = match packet.kind {
        Kind::BinaryEvent => Kind::Event,
        Kind::BinaryAck => Kind::Ack,
        other => other,
    };
    packet.attachments = 0;
    Ok(packet)
}

/// Takes every `{"$binary":..}` marker out of `value`, leaving placeholders,
/// and returns the bytes in placeholder order (depth first, like the JS parser).
fn deconstruct(value: &mut Value, buffers: &mut Vec<Vec<u8>>) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| deconstruct(v, buffers)),
        Value::Object(_) => {
            if let Some(bytes) = args::as_binary(value) {
                let mut placeholder = Map::new();
                placeholder.insert("_placeholder".into(), Value::Bool(true));
                placeholder.insert("num".into(), buffers.len().into());
                buffers.push(bytes);
                *value = Value::Object(placeholder);
            } else if let Value::Object(map) = value {
                map.values_mut().for_each(|v| deconstruct(v, buffers));
            }
        }
        _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::args::{binary, Args};
    use crate::wire::payload;
    use serde_json::json;

    fn p(kind: Kind, nsp: &str, id: Option<u64>, data: Option<Value>) -> Packet {
        Packet { kind, nsp: nsp.into(), id, attachments: 0, data }
    }

    #[test]
    fn decodes_the_documented_examples() {
        assert_eq!(decode("0").unwrap(), p(Kind::Connect, "/", None, None));
        assert_eq!(decode("0/admin,").unwrap(), p(Kind::Connect, "/admin", None, None));
        assert_eq!(decode("0/admin").unwrap(), p(Kind::Connect, "/admin", None, None));
        assert_eq!(
            decode(r#"0/admin,{"token":"123"}"#).unwrap(),
            p(Kind::Connect, "/admin", None, Some(json!({"token":"123"})))
        );
        assert_eq!(decode("1/admin,").unwrap(), p(Kind::Disconnect, "/admin", None, None));
        assert_eq!(decode(r#"2["foo"]"#).unwrap(), p(Kind::Event, "/", None, Some(json!(["foo"]))));
        assert_eq!(decode(r#"2/admin,13["foo"]"#).unwrap(), p(Kind::Event, "/admin", Some(13), Some(json!(["foo"]))));
        assert_eq!(decode("312[]").unwrap(), p(Kind::Ack, "/", Some(12), Some(json!([]))));
        let bin = decode(r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).unwrap();
        assert_eq!((bin.kind, bin.attachments, bin.nsp.as_str()), (Kind::BinaryEvent, 2, "/admin"));
        assert_eq!(decode(r#"61-15["bar",{"_placeholder":true,"num":0}]"#).unwrap().id, Some(15));
    }

    #[test]
    fn refuses_malformed_packets() {
        for text in [
            "",
            "abc",
            "7",
            "42",
            "2{}",
            "2[]",
            "2[1]",
            r#"2abc["x"]"#,
            r#"2["connect"]"#,
            r#"2["disconnect"]"#,
            r#"2["newListener"]"#,
            "3[1]",
            "31",
            r#"0"str""#,
            "1[1]",
            r#"5["x"]"#,
            r#"5x-["x"]"#,
            r#"51-["x"#,
            r#"5+1-["x"]"#,
            r#"599999999999999999999999-["x"]"#,
            r#"299999999999999999999999["x"]"#,
        ] {
            assert!(decode(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn encode_is_the_inverse_of_decode() {
        for text in [
            "0",
            "0/admin,",
            r#"0/admin,{"sid":"x"}"#,
            "1",
            r#"2["a",1,{"b":[true]}]"#,
            r#"2/x,7["a"]"#,
            "37[]",
            r#"4{"message":"Invalid namespace"}"#,
            r#"4/random,{"message":"Invalid namespace"}"#,
            r#"51-["b",{"_placeholder":true,"num":0}]"#,
        ] {
            assert_eq!(decode(text).unwrap().encode(), text);
        }
    }

    #[test]
    fn attachments_are_put_back_where_their_placeholders_are() {
        let mut asm = Assembler::default();
        let first = decode(r#"52-789["m",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]"#).unwrap();
        assert_eq!(asm.text(first).unwrap(), None);
        assert_eq!(asm.binary(vec![1]).unwrap(), None);
        let done = asm.binary(vec![2, 3]).unwrap().unwrap();
        assert_eq!(done.kind, Kind::Event);
        assert_eq!(done.id, Some(789));
        assert_eq!(done.data, Some(json!(["m", binary(&[2, 3]), [binary(&[1])]])));
        // an unannounced binary message, and a placeholder naming nothing
        assert!(asm.binary(vec![9]).is_err());
        let bad = decode(r#"51-["m",{"_placeholder":true,"num":3}]"#).unwrap();
        asm.text(bad).unwrap();
        assert_eq!(asm.binary(vec![1]).unwrap_err().close_code(), 1002);
    }

    #[test]
    fn attachments_are_bounded_in_number_and_bytes() {
        let announce = |n: usize| decode(&format!(r#"5{n}-["m",{{"_placeholder":true,"num":0}}]"#)).unwrap();
        let mut asm = Assembler::new(2, 10);
        let too_many = asm.text(announce(3)).unwrap_err();
        assert_eq!((too_many.close_code(), too_many.to_string().contains("3 attachments")), (1009, true));
        assert_eq!(asm.text(announce(2)).unwrap(), None);
        assert_eq!(asm.binary(vec![0; 6]).unwrap(), None);
        let too_big = asm.binary(vec![0; 5]).unwrap_err();
        assert_eq!((too_big.close_code(), too_big.to_string().contains("maxPayload")), (1009, true));
        // Nothing is held after the refusal; exactly the limit fits.
        assert_eq!(asm.text(announce(2)).unwrap(), None);
        assert_eq!(asm.binary(vec![0; 5]).unwrap(), None);
        assert!(asm.binary(vec![0; 5]).unwrap().is_some());
        assert_eq!(Assembler::default().text(announce(11)).unwrap_err().close_code(), 1009);
    }

    #[test]
    fn maps_arguments_to_one_value() {
        let inbound = |t: &str| to_inbound(decode(t).unwrap()).unwrap();
        assert_eq!(inbound(r#"2["a"]"#), Inbound::Event { name: "a".into(), data: Value::Null, ack: None });
        assert_eq!(inbound(r#"24["a",1]"#), Inbound::Event { name: "a".into(), data: json!(1), ack: Some(4) });
        assert_eq!(inbound(r#"2["a",1,"2"]"#), Inbound::Event { name: "a".into(), data: json!([1, "2"]), ack: None });
        assert_eq!(inbound(r#"30["x"]"#), Inbound::Ack { id: 0, data: json!("x") });
    }

    fn texts(frames: Vec<Message>) -> Vec<String> {
        frames
            .into_iter()
            .map(|m| match m {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => format!("<{b:?}>"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn encodes_outgoing_events_acks_args_and_binary() {
        let ev = |data: Value, ack| Outgoing::Event { name: "hi".into(), data: payload(&data).unwrap(), ack };
        assert_eq!(texts(encode_outgoing("/", &ev(json!("there"), None))), [r#"42["hi","there"]"#]);
        assert_eq!(texts(encode_outgoing("/admin", &ev(json!(1), Some(3)))), [r#"42/admin,3["hi",1]"#]);
        let args =
            Outgoing::Event { name: "hi".into(), data: payload(&Args(vec![json!(1), json!("2")])).unwrap(), ack: None };
        assert_eq!(texts(encode_outgoing("/", &args)), [r#"42["hi",1,"2"]"#]);
        let none = Outgoing::Event { name: "hi".into(), data: payload(&Args(vec![])).unwrap(), ack: None };
        assert_eq!(texts(encode_outgoing("/", &none)), [r#"42["hi"]"#]);
        let ack = Outgoing::Ack { id: 456, data: payload(&Args(vec![json!(1), json!("2")])).unwrap() };
        assert_eq!(texts(encode_outgoing("/", &ack)), [r#"43456[1,"2"]"#]);
        let ack = Outgoing::Ack { id: 1, data: payload(&json!(null)).unwrap() };
        assert_eq!(texts(encode_outgoing("/", &ack)), ["431[null]"]);
        let logged = Outgoing::Event { name: "hi".into(), data: payload(&Args(vec![])).unwrap(), ack: None };
        assert_eq!(texts(encode_outgoing_at("/", &logged, Some("7"))), [r#"42["hi","7"]"#]);
        assert_eq!(texts(encode_outgoing_at("/a", &ev(json!(1), None), Some("8"))), [r#"42/a,["hi",1,"8"]"#]);
        let bin = ev(json!({"file": binary(&[1, 2])}), None);
        assert_eq!(
            texts(encode_outgoing("/", &bin)),
            [r#"451-["hi",{"file":{"_placeholder":true,"num":0}}]"#.to_string(), format!("<{:?}>", bytes(&[1, 2]))]
        );
    }

    fn bytes(b: &[u8]) -> tungstenite::Bytes {
        tungstenite::Bytes::copy_from_slice(b)
    }

    /// Property-ish: generated events survive encode → decode → inbound,
    /// with binary markers turned into attachments and back.
    #[test]
    fn generated_events_round_trip() {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for round in 0..200 {
            let mut args = Vec::new();
            for _ in 0..1 + next() % 3 {
                args.push(match next() % 4 {
                    0 => json!(next()),
                    1 => json!(format!("s{}", next() % 100)),
                    2 => binary(&(0..next() % 5).map(|_| next() as u8).collect::<Vec<_>>()),
                    _ => json!({"k": [next() % 7, binary(&[next() as u8])]}),
                });
            }
            let nsp = if round % 2 == 0 { "/" } else { "/admin" };
            let ack = (round % 3 == 0).then_some(round as u64);
            let out = Outgoing::Event { name: "e".into(), data: payload(&Args(args.clone())).unwrap(), ack };
            let mut asm = Assembler::default();
            let mut result = None;
            for frame in encode_outgoing(nsp, &out) {
                result = match frame {
                    Message::Text(t) => asm.text(decode(&t.as_str()[1..]).unwrap()).unwrap(),
                    Message::Binary(b) => asm.binary(b.to_vec()).unwrap(),
                    _ => unreachable!(),
                };
            }
            let packet = result.expect("complete after the last frame");
            assert_eq!(packet.nsp, nsp);
            let expected = if args.len() == 1 { args[0].clone() } else { Value::Array(args) };
            assert_eq!(to_inbound(packet), Some(Inbound::Event { name: "e".into(), data: expected, ack }));
        }
    }
}
