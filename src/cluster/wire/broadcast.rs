//! A broadcast between nodes: `[uid, packet, opts]` and the options that say
//! which sockets it reaches.

use rmpv::Value as Mp;
use serde_json::{json, Value};

use crate::cluster::msgpack;

use super::{map, strings, write, EventPacket, Fields, WireError};

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
    pub(super) fn decode(value: Option<&Value>) -> Result<Flags, WireError> {
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

    pub(super) fn to_msgpack(&self) -> Mp {
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
    pub(super) fn decode(value: &Value) -> Result<BroadcastOpts, WireError> {
        let f = Fields::of(value, "opts")?;
        Ok(BroadcastOpts {
            rooms: f.rooms("rooms")?,
            except: f.rooms("except")?,
            flags: Flags::decode(f.get("flags"))?,
        })
    }

    pub(super) fn to_msgpack(&self) -> Mp {
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
    pub(super) fn decode(value: Option<&Value>, what: &str) -> Result<Selection, WireError> {
        let Some(value) = value else {
            return Err(WireError::new(format!(
                "{what} without opts (the single-socket form of adapters before 8.x) is not supported"
            )));
        };
        let f = Fields::of(value, "opts")?;
        Ok(Selection { rooms: f.rooms("rooms")?, except: f.rooms("except")? })
    }

    pub(super) fn to_json(&self) -> Value {
        json!({ "rooms": self.rooms, "except": self.except })
    }
}
