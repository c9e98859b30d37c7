//! MessagePack as the Node adapter writes it (the `notepack.io` library),
//! read into and written from wshub's JSON event model.
//!
//! | MessagePack (notepack.io)        | JSON in wshub                               |
//! |----------------------------------|---------------------------------------------|
//! | nil, bool, str, array, map       | the same                                    |
//! | int (smallest form that fits)    | a number                                    |
//! | float 64 (any non-integer)       | a number; NaN and ±Infinity become `null`   |
//! | bin (a `Buffer`, `ArrayBuffer`)  | `{"$binary":"<base64>"}`                    |
//! | timestamp ext −1 (a `Date`)      | its ISO 8601 text, `"2024-05-01T12:00:00.000Z"` |
//!
//! The last two rows are what a socket.io client would have received had
//! the event been emitted on this node: bytes as an attachment, a `Date` as
//! `JSON.stringify` writes it. Writing goes the other way, and like
//! notepack.io writes every number that is a whole number as an integer, so
//! re-encoding a message decoded from Node gives Node's bytes back.

use std::fmt;

use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

use crate::wire::args::{as_binary, binary, BINARY_KEY};

/// Why some bytes are not a message of the Node adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(String);

impl WireError {
    pub(crate) fn new(why: impl Into<String>) -> WireError {
        WireError(why.into())
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cluster message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// How deeply a message may nest. Node's messages nest 4 levels plus the
/// user's data; this leaves room for that and keeps the recursion bounded.
pub const MAX_DEPTH: usize = 128;

/// Decodes one whole MessagePack value; trailing bytes are an error, as
/// they are for notepack.io.
pub fn decode(bytes: &[u8]) -> Result<Value, WireError> {
    let mut rest = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH)
        .map_err(|e| WireError::new(format!("not MessagePack: {e}")))?;
    if !rest.is_empty() {
        return Err(WireError::new(format!("{} trailing bytes after the MessagePack value", rest.len())));
    }
    to_json(value, MAX_DEPTH)
}

/// Encodes a JSON value as MessagePack (the messages build theirs with
/// keys in Node's order instead).
#[cfg(test)]
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &from_json(value));
    out
}

/// A MessagePack value as wshub's JSON (see the table above).
fn to_json(value: Mp, depth: usize) -> Result<Value, WireError> {
    let depth = depth.checked_sub(1).ok_or_else(|| WireError::new("nested too deeply"))?;
    Ok(match value {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(s)) => Value::from(s),
            (None, None) => Value::Null, // unreachable: an Integer is one of the two
        },
        Mp::F32(f) => number(f64::from(f)),
        Mp::F64(f) => number(f),
        Mp::String(s) => Value::String(text(s)),
        Mp::Binary(bytes) => binary(&bytes),
        Mp::Array(items) => Value::Array(items.into_iter().map(|v| to_json(v, depth)).collect::<Result<_, _>>()?),
        Mp::Map(pairs) => {
            let mut map = Map::new();
            for (key, value) in pairs {
                // A JavaScript object's keys are strings; notepack.io writes
                // nothing else, but JS would turn a number key into its text.
                let key = match key {
                    Mp::String(s) => text(s),
                    Mp::Integer(i) => i.to_string(),
                    other => return Err(WireError::new(format!("a map key must be a string, not {other}"))),
                };
                map.insert(key, to_json(value, depth)?);
            }
            Value::Object(map)
        }
        Mp::Ext(-1, data) => timestamp(&data)?,
        Mp::Ext(kind, _) => return Err(WireError::new(format!("unsupported MessagePack extension type {kind}"))),
    })
}

/// A MessagePack string as text, lossy like Node's `buffer.toString()`:
/// a byte that is not UTF-8 becomes U+FFFD.
fn text(s: rmpv::Utf8String) -> String {
    match String::from_utf8(s.into_bytes()) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// A float as a JSON number; `null` for NaN and the infinities, as
/// `JSON.stringify` writes them.
fn number(f: f64) -> Value {
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// JSON as MessagePack, the way notepack.io writes the same JavaScript value.
pub(super) fn from_json(value: &Value) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // JavaScript has one number type; notepack.io writes a whole
                // number as an integer, so 2.0 goes out as the integer 2.
                const SAFE: f64 = 9_007_199_254_740_991.0; // 2^53 - 1
                if f.fract() == 0.0 && f.abs() <= SAFE {
                    if f >= 0.0 {
                        Mp::from(f as u64)
                    } else {
                        Mp::from(f as i64)
                    }
                } else {
                    Mp::F64(f)
                }
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(items.iter().map(from_json).collect()),
        Value::Object(map) => {
            if map.contains_key(BINARY_KEY) {
                if let Some(bytes) = as_binary(value) {
                    return Mp::Binary(bytes);
                }
            }
            Mp::Map(map.iter().map(|(k, v)| (Mp::from(k.as_str()), from_json(v))).collect())
        }
    }
}

/// A MessagePack timestamp (ext type −1, 4, 8 or 12 bytes) as
/// `Date.prototype.toJSON` writes it: milliseconds, UTC, `Z`.
fn timestamp(data: &[u8]) -> Result<Value, WireError> {
    let (seconds, nanos): (i64, u32) = match data.len() {
        4 => (i64::from(u32::from_be_bytes([data[0], data[1], data[2], data[3]])), 0),
        8 => {
            let word = u64::from_be_bytes(data.try_into().unwrap_or([0; 8]));
            ((word & 0x3_ffff_ffff) as i64, (word >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..12].try_into().unwrap_or([0; 8])),
            u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
        ),
        n => return Err(WireError::new(format!("a timestamp has 4, 8 or 12 bytes, not {n}"))),
    };
    if nanos >= 1_000_000_000 {
        return Err(WireError::new("a timestamp's nanoseconds must be under 10^9"));
    }
    let millis = i128::from(seconds) * 1000 + i128::from(nanos / 1_000_000);
    // A JavaScript Date holds at most ±8.64e15 ms; past that it is an
    // "Invalid Date", which JSON.stringify writes as null.
    if millis.abs() > 8_640_000_000_000_000 {
        return Ok(Value::Null);
    }
    Ok(Value::String(iso8601(millis as i64)))
}

/// `1970-01-01T00:00:00.000Z` for 0. Years outside 0..=9999 get the
/// extended form JavaScript uses, `+275760-09-13T00:00:00.000Z`.
fn iso8601(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", -year)
    } else {
        format!("+{year:06}")
    };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// The proleptic Gregorian date of a day number (0 = 1970-01-01), by the
/// well-known days-to-civil algorithm (400-year eras of 146,097 days).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::BASE64;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        BASE64.encode(bytes)
    }

    #[test]
    fn round_trips_what_notepack_writes() {
        // Bytes notepack.io 3.0.1 writes for [1, -1, 300, 1.5, "é", null, true, {"a":[]}]
        let bytes = [
            0x98, 0x01, 0xff, 0xcd, 0x01, 0x2c, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa2, 0xc3, 0xa9, 0xc0, 0xc3, 0x81,
            0xa1, b'a', 0x90,
        ];
        let value = decode(&bytes).unwrap();
        assert_eq!(value, json!([1, -1, 300, 1.5, "é", null, true, {"a": []}]));
        assert_eq!(encode(&value), bytes);
        assert_eq!(encode(&json!(2.0)), [0x02]);
        assert_eq!(encode(&json!(-40.0)), [0xd0, 0xd8]);
    }

    #[test]
    fn bytes_are_binary_markers() {
        let value = decode(&[0x91, 0xc4, 0x03, 1, 2, 3]).unwrap();
        assert_eq!(value, json!([{"$binary": b64(&[1, 2, 3])}]));
        assert_eq!(encode(&value), [0x91, 0xc4, 0x03, 1, 2, 3]);
        // An object that only looks like a marker stays an object.
        assert_eq!(decode(&encode(&json!({"$binary": "not base64!"}))).unwrap(), json!({"$binary": "not base64!"}));
    }

    #[test]
    fn dates_read_as_javascript_writes_them() {
        // new Date(0): timestamp 32
        assert_eq!(decode(&[0xd6, 0xff, 0, 0, 0, 0]).unwrap(), json!("1970-01-01T00:00:00.000Z"));
        // new Date(1714564800123): timestamp 64, 123 ms = 123,000,000 ns
        let (s, ns) = (1_714_564_800u64, 123_000_000u64);
        let word = (ns << 34) | s;
        let mut bytes = vec![0xd7, 0xff];
        bytes.extend_from_slice(&word.to_be_bytes());
        assert_eq!(decode(&bytes).unwrap(), json!("2024-05-01T12:00:00.123Z"));
        // new Date(-1): timestamp 96 (negative seconds)
        let mut bytes = vec![0xc7, 12, 0xff];
        bytes.extend_from_slice(&999_000_000u32.to_be_bytes());
        bytes.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(decode(&bytes).unwrap(), json!("1969-12-31T23:59:59.999Z"));
        assert_eq!(iso8601(8_640_000_000_000_000), "+275760-09-13T00:00:00.000Z");
        assert_eq!(iso8601(-62_198_755_200_000), "-000001-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn refuses_what_notepack_would_not_write() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0x01, 0x02]).unwrap_err().to_string().contains("trailing"));
        assert!(decode(&[0x92, 0x01]).is_err()); // an array missing an item
        assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err()); // 4 billion items announced, none there
        assert!(decode(&[0xd4, 0x05, 0x00]).unwrap_err().to_string().contains("extension type 5"));
        assert!(decode(&[0x81, 0xc0, 0x01]).unwrap_err().to_string().contains("map key"));
        assert_eq!(decode(&[0xa1, 0xff]).unwrap(), json!("\u{fffd}"));
        let deep: Vec<u8> = std::iter::repeat_n(0x91, 1000).chain([0xc0]).collect();
        assert!(decode(&deep).is_err());
    }
}
