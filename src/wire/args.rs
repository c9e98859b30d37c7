//! Event data beyond "one JSON value": several arguments, and bytes.
//!
//! A wshub handler receives one [`Value`] and emits one serializable value.
//! socket.io can do two things that one JSON value cannot say directly:
//!
//! - **several arguments**: `socket.emit("move", 3, 4)` in JavaScript. wshub
//!   hands a handler such an event as one JSON array `[3,4]` (one argument
//!   arrives as itself, none as `null`). To send several, wrap them in
//!   [`Args`]: `socket.emit("move", Args(vec![3.into(), 4.into()]))`.
//! - **bytes**: a `Buffer`/`ArrayBuffer` travels as a binary attachment.
//!   wshub shows it to handlers as the JSON object `{"$binary":"<base64>"}`
//!   (make one with [`binary`], read one with [`as_binary`]), so handler code
//!   stays "JSON in, JSON out" and the `/ws` protocol can carry it too.
//!
//! Both are markers in the serialized JSON, recognised by the wire encoders
//! ([`crate::wire`], [`crate::wire::socketio`]). They are found by a cheap text
//! check before any parsing, so ordinary events pay nothing for them.

use data_encoding::BASE64;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// The key of the marker object that stands for bytes.
pub const BINARY_KEY: &str = "$binary";
/// The key of the marker object that stands for several arguments.
pub const ARGS_KEY: &str = "$args";

/// Several event (or ack) arguments, sent as separate arguments to a
/// socket.io client (`42["name",a,b]`) and as a JSON array `[a,b]` on `/ws`.
#[derive(Debug, Clone, PartialEq)]
pub struct Args(pub Vec<Value>);

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(ARGS_KEY, &self.0)?;
        map.end()
    }
}

/// Bytes as event data: `{"$binary":"<base64>"}`. A socket.io client gets a
/// real binary attachment (a `Buffer` in Node, an `ArrayBuffer` in browsers).
pub fn binary(bytes: &[u8]) -> Value {
    let mut map = Map::new();
    map.insert(BINARY_KEY.to_string(), Value::String(BASE64.encode(bytes)));
    Value::Object(map)
}

/// The bytes a `{"$binary":...}` marker stands for, if `value` is one.
pub fn as_binary(value: &Value) -> Option<Vec<u8>> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    BASE64.decode(map.get(BINARY_KEY)?.as_str()?.as_bytes()).ok()
}

/// The arguments inside an [`Args`] marker (already serialized), if `json`
/// is one. Only the exact shape `Args` produces matches.
pub(crate) fn args_inner(json: &str) -> Option<&str> {
    let inner = json.strip_prefix("{\"$args\":")?.strip_suffix('}')?;
    inner.starts_with('[').then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_serialize_as_a_marker_that_args_inner_finds() {
        let text = serde_json::to_string(&Args(vec![json!(1), json!("2")])).unwrap();
        assert_eq!(text, r#"{"$args":[1,"2"]}"#);
        assert_eq!(args_inner(&text), Some(r#"[1,"2"]"#));
        assert_eq!(args_inner(r#"{"a":1}"#), None);
        assert_eq!(args_inner(r#"[1]"#), None);
    }

    #[test]
    fn binary_round_trips() {
        let v = binary(&[1, 2, 3]);
        assert_eq!(v, json!({"$binary": "AQID"}));
        assert_eq!(as_binary(&v), Some(vec![1, 2, 3]));
        assert_eq!(as_binary(&json!({"$binary": "AQID", "x": 1})), None);
        assert_eq!(as_binary(&json!("AQID")), None);
    }
}
