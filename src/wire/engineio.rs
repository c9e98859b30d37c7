//! Engine.IO 4 packets: the transport layer under socket.io.
//!
//! socket.io is two protocols stacked. **Engine.IO** (this file) keeps a
//! session alive over one of two transports and carries opaque messages;
//! **Socket.IO** ([`crate::wire::socketio`]) gives those messages meaning (events,
//! acks, namespaces). An Engine.IO packet is one type digit and an optional
//! payload:
//!
//! ```text
//! 0{"sid":..}  open      server → client, first packet of a session
//! 1            close     either side ends the session
//! 2 / 2probe   ping      the server pings every pingInterval (v4); "probe" tests a new transport
//! 3 / 3probe   pong      the answer
//! 4<text>      message   a Socket.IO packet rides here, e.g. 42["hi"]
//! 5            upgrade   the client switches from polling to WebSocket
//! 6            noop      ends a waiting long-poll during an upgrade
//! ```
//!
//! Binary messages carry no type digit: over WebSocket they are binary
//! frames; over HTTP long-polling, where the body is text, they are written
//! as `b` + base64. Several packets in one polling body are joined by the
//! record separator `\x1e`, a byte that never appears in JSON text.
//!
//! Why everything here is a pure function: the codec can be tested without
//! sockets, and the session (`session.rs`) only deals with meaning.

use std::fmt;

use data_encoding::BASE64;
use tungstenite::Message;

/// Separates packets inside one HTTP long-polling body.
pub const SEPARATOR: char = '\x1e';

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0` + the handshake JSON (server → client only).
    Open(String),
    /// `1`: end the session.
    Close,
    /// `2` + optional payload (`probe` while upgrading).
    Ping(String),
    /// `3` + optional payload.
    Pong(String),
    /// `4` + text: a Socket.IO packet.
    Message(String),
    /// A binary message (a Socket.IO attachment).
    Binary(Vec<u8>),
    /// `5`: the new transport takes over.
    Upgrade,
    /// `6`: nothing; releases a waiting long-poll.
    Noop,
}

/// Why bytes are not an Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Engine.IO packet: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

impl Packet {
    /// Decodes a text packet (a WebSocket text frame, or one item of a
    /// polling body that is not `b`-prefixed).
    pub fn decode_text(text: &str) -> Result<Packet, DecodeError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or_else(|| DecodeError("empty packet".into()))?;
        let rest = chars.as_str();
        Ok(match kind {
            '0' => Packet::Open(rest.to_string()),
            '1' => Packet::Close,
            '2' => Packet::Ping(rest.to_string()),
            '3' => Packet::Pong(rest.to_string()),
            '4' => Packet::Message(rest.to_string()),
            '5' => Packet::Upgrade,
            '6' => Packet::Noop,
            other => return Err(DecodeError(format!("unknown packet type {other:?}"))),
        })
    }

    /// The WebSocket frame for this packet: text with the type digit, or a
    /// binary frame holding the raw bytes.
    pub fn to_message(&self) -> Message {
        match self {
            Packet::Binary(bytes) => Message::binary(bytes.clone()),
            text => Message::text(text.text()),
        }
    }

    /// The packet a WebSocket data frame holds.
    pub fn from_message(message: &Message) -> Result<Packet, DecodeError> {
        match message {
            Message::Text(text) => Packet::decode_text(text.as_str()),
            Message::Binary(bytes) => Ok(Packet::Binary(bytes.to_vec())),
            _ => Err(DecodeError("not a data frame".into())),
        }
    }

    /// The text form: type digit + payload; `b` + base64 for binary (the
    /// long-polling form).
    pub fn text(&self) -> String {
        match self {
            Packet::Open(json) => format!("0{json}"),
            Packet::Close => "1".into(),
            Packet::Ping(data) => format!("2{data}"),
            Packet::Pong(data) => format!("3{data}"),
            Packet::Message(data) => format!("4{data}"),
            Packet::Binary(bytes) => format!("b{}", BASE64.encode(bytes)),
            Packet::Upgrade => "5".into(),
            Packet::Noop => "6".into(),
        }
    }
}

/// Decodes an HTTP long-polling body: packets joined by `\x1e`, binary ones
/// as `b` + base64. One bad packet spoils the whole body.
pub fn decode_payload(body: &str) -> Result<Vec<Packet>, DecodeError> {
    body.split(SEPARATOR)
        .map(|item| match item.strip_prefix('b') {
            Some(b64) => BASE64
                .decode(b64.as_bytes())
                .map(Packet::Binary)
                .map_err(|e| DecodeError(format!("bad base64 in a binary packet: {e}"))),
            None => Packet::decode_text(item),
        })
        .collect()
}

/// Encodes frames queued for a client as one HTTP long-polling body. The
/// frames are the same [`Message`]s a WebSocket client would get, so the
/// hub and the session never need to know which transport a client uses.
pub fn encode_payload(frames: &[Message]) -> String {
    let mut body = String::new();
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            body.push(SEPARATOR);
        }
        match frame {
            Message::Text(text) => body.push_str(text.as_str()),
            Message::Binary(bytes) => {
                body.push('b');
                body.push_str(&BASE64.encode(bytes));
            }
            _ => {} // control frames never reach a polling client
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_packet_type() {
        let d = |s: &str| Packet::decode_text(s).unwrap();
        assert_eq!(d("0{\"sid\":\"x\"}"), Packet::Open("{\"sid\":\"x\"}".into()));
        assert_eq!(d("1"), Packet::Close);
        assert_eq!(d("2"), Packet::Ping(String::new()));
        assert_eq!(d("2probe"), Packet::Ping("probe".into()));
        assert_eq!(d("3probe"), Packet::Pong("probe".into()));
        assert_eq!(d("4hello"), Packet::Message("hello".into()));
        assert_eq!(d("4"), Packet::Message(String::new()));
        assert_eq!(d("5"), Packet::Upgrade);
        assert_eq!(d("6"), Packet::Noop);
    }

    #[test]
    fn refuses_unknown_and_empty_packets() {
        assert!(Packet::decode_text("").is_err());
        assert!(Packet::decode_text("7").is_err());
        assert!(Packet::decode_text("abc").is_err());
        assert!(Packet::decode_text("é").is_err());
    }

    #[test]
    fn text_is_the_inverse_of_decode_text() {
        let packets = [
            Packet::Open("{}".into()),
            Packet::Close,
            Packet::Ping("probe".into()),
            Packet::Pong(String::new()),
            Packet::Message("2[\"a\"]".into()),
            Packet::Upgrade,
            Packet::Noop,
        ];
        for p in packets {
            assert_eq!(Packet::decode_text(&p.text()).unwrap(), p);
        }
    }

    #[test]
    fn polling_payloads_join_with_the_record_separator() {
        let body = "4hello\x1ebAQIDBA==\x1e2";
        let packets = decode_payload(body).unwrap();
        assert_eq!(
            packets,
            vec![Packet::Message("hello".into()), Packet::Binary(vec![1, 2, 3, 4]), Packet::Ping(String::new())]
        );
        let frames: Vec<Message> = packets.iter().map(Packet::to_message).collect();
        assert_eq!(encode_payload(&frames), body);
        assert!(decode_payload("4a\x1eabc").is_err());
        assert!(decode_payload("b!!!").is_err());
        assert!(decode_payload("").is_err());
    }

    /// Property-ish: any list of messages, any text (the separator excluded,
    /// as JSON never contains it) and any bytes survive a round trip.
    #[test]
    fn payload_round_trips_for_generated_inputs() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..200 {
            let count = 1 + next() % 5;
            let mut packets = Vec::new();
            for _ in 0..count {
                let len = next() % 20;
                if next() % 3 == 0 {
                    packets.push(Packet::Binary((0..len).map(|_| next() as u8).collect()));
                } else {
                    let text: String = (0..len).map(|_| char::from_u32(32 + next() % 0x2000).unwrap_or('x')).collect();
                    packets.push(Packet::Message(text));
                }
            }
            let frames: Vec<Message> = packets.iter().map(Packet::to_message).collect();
            assert_eq!(decode_payload(&encode_payload(&frames)).unwrap(), packets);
        }
    }
}
