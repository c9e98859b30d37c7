//! Wire formats: how events travel inside WebSocket frames and HTTP bodies.
//!
//! The rest of wshub speaks in events ([`Inbound`], [`Outgoing`]); only this
//! module and its children know bytes, and none of them does any I/O, so
//! every codec is tested without a socket:
//!
//! - [`Wire::Json`] on `/ws`: one JSON object per text frame (`json.rs`);
//! - [`Wire::SocketIo`] on `/socket.io/`: Socket.IO packets ([`socketio`])
//!   inside Engine.IO packets ([`engineio`]);
//! - [`args`]: several arguments and bytes as event data, for both.
//!
//! ```text
//! server → client   {"event":"server-message","data":"Welcome to WebSocket"}
//! client → server   {"event":"client-message","data":"hi"}
//! wants a reply     {"event":"echo","data":"hi","ack":1}   answered by   {"ack":1,"data":...}
//!                   (when the handler answers: an unanswered event is never acknowledged)
//! a bad frame       {"event":"error","data":{"message":"invalid JSON: ..."}}
//! ```
//!
//! With connection state recovery on, two more things travel on `/ws`
//! (chapter 14): the first frame names the session, and every logged
//! event carries its offset; the client comes back with both in the query
//! string of its upgrade, `/ws?pid=…&offset=…`.
//!
//! ```text
//! server → client   {"session":{"sid":"…","pid":"…","recovered":false}}
//!                   {"event":"chat-message","data":{…},"offset":"42"}
//! ```

pub mod args;
pub mod engineio;
pub mod frame;
mod json;
pub mod socketio;

use serde_json::value::RawValue;
use serde_json::Value;
use tungstenite::{Bytes, Message};

/// Which wire format a connection speaks, chosen by the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// One JSON object per text frame (the `/ws` path).
    Json,
    /// socket.io v4: Socket.IO packets inside Engine.IO messages (`/socket.io/`).
    SocketIo,
}

impl Wire {
    /// Every format, so the hub can keep one encoded copy per format.
    pub const ALL: [Wire; 2] = [Wire::Json, Wire::SocketIo];

    /// A short name for logs and `SocketInfo::protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Wire::Json => "wshub-json",
            Wire::SocketIo => "socket.io",
        }
    }

    /// Index into per-format caches.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Encodes one outgoing item as a frame (for socket.io: the first frame,
    /// in namespace `/`; use [`encode_frames`](Self::encode_frames)).
    pub fn encode(self, out: &Outgoing) -> Message {
        if let Outgoing::Raw(message) = out {
            return message.clone(); // cheap: the bytes are reference-counted
        }
        match self {
            Wire::Json => Message::text(json::encode(out)),
            Wire::SocketIo => self.encode_frames("/", out).swap_remove(0),
        }
    }

    /// Encodes one outgoing item for a socket in namespace `nsp`: one frame,
    /// or for socket.io binary data a text frame and its attachments.
    pub fn encode_frames(self, nsp: &str, out: &Outgoing) -> Vec<Message> {
        match self {
            Wire::Json => vec![self.encode(out)],
            Wire::SocketIo => socketio::encode_outgoing(nsp, out),
        }
    }

    /// Decodes one data frame from the client. `Err` is a human-readable
    /// reason; the connection reports it and stays open.
    pub fn decode(self, msg: &Message) -> Result<Inbound, String> {
        match self {
            Wire::Json => json::decode(msg),
            // A socket.io packet may span several frames: the session decodes.
            Wire::SocketIo => Err("socket.io frames are decoded by the session".into()),
        }
    }
}

/// The `/ws` session frame, `{"session":{"sid":…,"pid":…,"recovered":…}}`:
/// the first frame a `/ws` client gets when recovery is on.
pub fn json_session_frame(sid: &str, pid: &str, recovered: bool) -> Encoded {
    Encoded::new(vec![Message::text(json::session(sid, pid, recovered))])
}

/// One outgoing item encoded once for one wire format, ready for either
/// transport: the hub makes one of these per format for a broadcast and
/// hands the same one to every client.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The data messages: one, or a socket.io event and its binary
    /// attachments. What an HTTP long-polling body carries.
    pub messages: Vec<Message>,
    /// The same messages as WebSocket frames, one after another: what a
    /// socket is written, as one unit.
    pub frames: Bytes,
}

impl Encoded {
    /// Encodes `messages` as frames too.
    pub fn new(messages: Vec<Message>) -> Encoded {
        let frames = frame::data_frames(&messages);
        Encoded { messages, frames }
    }

    /// `out` for a socket of namespace `nsp` speaking `wire`.
    pub fn of(wire: Wire, nsp: &str, out: &Outgoing) -> Encoded {
        Encoded::new(wire.encode_frames(nsp, out))
    }

    /// The same, for an event that connection state recovery logged at
    /// `offset`: the offset travels with it (socket.io: as the last
    /// argument, `42["tick",1,"17"]`; `/ws`: `{"event":..,"data":..,"offset":"17"}`).
    pub fn logged(wire: Wire, nsp: &str, out: &Outgoing, offset: Option<u64>) -> Encoded {
        let Some(offset) = offset else { return Encoded::of(wire, nsp, out) };
        let offset = offset.to_string();
        let messages = match wire {
            Wire::Json => vec![Message::text(json::encode_at(out, Some(&offset)))],
            Wire::SocketIo => socketio::encode_outgoing_at(nsp, out, Some(&offset)),
        };
        Encoded::new(messages)
    }
}

/// An event's payload, serialized once as JSON text and never parsed again on
/// its way out: the hub copies these bytes into every frame.
pub type Payload = Box<RawValue>;

/// Serializes `data` into a [`Payload`].
pub fn payload<T: serde::Serialize + ?Sized>(data: &T) -> Result<Payload, serde_json::Error> {
    serde_json::value::to_raw_value(data)
}

/// What the server sends: the event layer's view.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A named event; `ack` asks the client to reply with that id.
    Event {
        /// The event name, e.g. `server-message`.
        name: String,
        /// The data, already JSON.
        data: Payload,
        /// Set when the server waits for the client's reply.
        ack: Option<u64>,
    },
    /// The server's reply to a client event that asked for one.
    Ack {
        /// The id the client chose.
        id: u64,
        /// The reply, already JSON.
        data: Payload,
    },
    /// A report that the client's last frame could not be understood.
    Error {
        /// What was wrong, in one line.
        message: String,
    },
    /// A text or binary message sent as it is, whatever the wire format
    /// ([`Socket::send`](crate::Socket::send)).
    Raw(Message),
}

/// What the client sent: the event layer's view.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A named event; `ack` means the client waits for a reply.
    Event {
        /// The event name.
        name: String,
        /// Its data (`null` when absent).
        data: Value,
        /// The id to reply to, if the client asked for a reply.
        ack: Option<u64>,
    },
    /// The client's reply to a server event sent with `emit_with_ack`.
    Ack {
        /// The id the server chose.
        id: u64,
        /// The reply.
        data: Value,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Message) -> String {
        m.into_text().unwrap().to_string()
    }

    #[test]
    fn encodes_the_documented_envelope() {
        let ev = Outgoing::Event { name: "server-message".into(), data: payload("Welcome").unwrap(), ack: None };
        assert_eq!(text(Wire::Json.encode(&ev)), r#"{"event":"server-message","data":"Welcome"}"#);
        let ev = Outgoing::Event { name: "q\"".into(), data: payload(&[1, 2]).unwrap(), ack: Some(7) };
        assert_eq!(text(Wire::Json.encode(&ev)), r#"{"event":"q\"","data":[1,2],"ack":7}"#);
        let ack = Outgoing::Ack { id: 3, data: payload(&true).unwrap() };
        assert_eq!(text(Wire::Json.encode(&ack)), r#"{"ack":3,"data":true}"#);
        let err = Outgoing::Error { message: "bad".into() };
        assert_eq!(text(Wire::Json.encode(&err)), r#"{"data":{"message":"bad"},"event":"error"}"#);
        let ev = Outgoing::Event { name: "tick".into(), data: payload(&1).unwrap(), ack: None };
        let logged = Encoded::logged(Wire::Json, "/", &ev, Some(17));
        assert_eq!(text(logged.messages[0].clone()), r#"{"event":"tick","data":1,"offset":"17"}"#);
    }

    #[test]
    fn decodes_events_acks_and_reports_bad_frames() {
        let d = |s: &str| Wire::Json.decode(&Message::text(s));
        assert_eq!(
            d(r#"{"event":"a","data":1,"ack":2}"#),
            Ok(Inbound::Event { name: "a".into(), data: 1.into(), ack: Some(2) })
        );
        assert_eq!(d(r#"{"event":"a"}"#), Ok(Inbound::Event { name: "a".into(), data: Value::Null, ack: None }));
        assert_eq!(d(r#"{"ack":5,"data":"x"}"#), Ok(Inbound::Ack { id: 5, data: "x".into() }));
        assert!(d("{not json").unwrap_err().starts_with("invalid JSON"));
        assert!(d("[1]").unwrap_err().starts_with("expected a JSON object"));
        assert!(d(r#"{"data":1}"#).unwrap_err().starts_with("missing \"event\""));
        assert!(d(r#"{"event":1}"#).is_err());
        assert!(d(r#"{"event":"a","ack":-1}"#).is_err());
        assert!(Wire::Json.decode(&Message::binary(vec![1u8])).unwrap_err().starts_with("binary"));
    }
}
