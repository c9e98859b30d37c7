//! The `/ws` JSON envelope: one JSON object per WebSocket text frame.
//!
//! ```text
//! {"event":"server-message","data":"Welcome to WebSocket"}   an event
//! {"event":"echo","data":"hi","ack":1}                        an event that wants a reply
//! {"ack":1,"data":"hi"}                                       the reply
//! ```

use serde_json::Value;
use tungstenite::Message;

use super::{Inbound, Outgoing, Payload};

/// [`Args`](crate::Args) become a plain JSON array here.
fn data_json(data: &Payload) -> &str {
    super::args::args_inner(data.get()).unwrap_or(data.get())
}

pub fn encode(out: &Outgoing) -> String {
    encode_at(out, None)
}

/// An event logged for recovery carries its offset: `"offset":"17"`.
pub fn encode_at(out: &Outgoing, offset: Option<&str>) -> String {
    match out {
        Outgoing::Event { name, data, ack } => {
            let name = Value::from(name.as_str());
            let mut s = format!("{{\"event\":{name},\"data\":{}", data_json(data));
            if let Some(id) = ack {
                s.push_str(&format!(",\"ack\":{id}"));
            }
            if let Some(offset) = offset {
                s.push_str(&format!(",\"offset\":{}", Value::from(offset)));
            }
            s.push('}');
            s
        }
        Outgoing::Ack { id, data } => format!("{{\"ack\":{id},\"data\":{}}}", data_json(data)),
        Outgoing::Error { message } => {
            serde_json::json!({ "event": "error", "data": { "message": message } }).to_string()
        }
        Outgoing::Raw(_) => unreachable!("Wire::encode sends raw messages as they are"),
    }
}

/// The first frame of a `/ws` socket when recovery is on: its public id,
/// its private id, and whether it took over a session.
pub fn session(sid: &str, pid: &str, recovered: bool) -> String {
    // In this order, for people reading it (a JSON map would sort the keys).
    let (sid, pid) = (Value::from(sid), Value::from(pid));
    format!("{{\"session\":{{\"sid\":{sid},\"pid\":{pid},\"recovered\":{recovered}}}}}")
}

pub fn decode(msg: &Message) -> Result<Inbound, String> {
    let text = match msg {
        Message::Text(text) => text.as_str(),
        Message::Binary(_) => return Err("binary frames are not part of the JSON protocol: send a text frame".into()),
        _ => return Err("not a data frame".into()),
    };
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err("expected a JSON object like {\"event\":\"name\",\"data\":...}".into());
    };
    let ack = match map.remove("ack") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        Some(_) => return Err("\"ack\" must be a non-negative integer".into()),
    };
    let data = map.remove("data").unwrap_or(Value::Null);
    match (map.remove("event"), ack) {
        (Some(Value::String(name)), ack) => Ok(Inbound::Event { name, data, ack }),
        (Some(_), _) => Err("\"event\" must be a string".into()),
        (None, Some(id)) => Ok(Inbound::Ack { id, data }),
        (None, None) => Err("missing \"event\": expected {\"event\":\"name\",\"data\":...}".into()),
    }
}
