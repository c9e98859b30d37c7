//! Binary packets: their attachments come one Engine.IO binary message
//! each after the packet, and the [`Assembler`] puts them back where their
//! placeholders are; `deconstruct` takes them out for sending.

use std::fmt;

use serde_json::{Map, Value};

use super::{bad, DecodeError, Kind, Packet};
use crate::wire::args::{self};

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
pub(super) fn deconstruct(value: &mut Value, buffers: &mut Vec<Vec<u8>>) {
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
