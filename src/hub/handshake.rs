//! What a socket carries besides its connection: what is known of its
//! client when it connects ([`SocketInfo`]), socket.io's `handshake` object
//! made from it ([`Handshake`]), and the application's own per-socket data
//! (`socket.data`: [`Socket::set_data`](crate::Socket::set_data)).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SocketId;

/// What is known about a client when it connects (shown by `{socket:#?}`).
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket's number in this process (also in every log line about it).
    pub id: SocketId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The path it connected to, e.g. `/ws`.
    pub path: String,
    /// The query string of the upgrade request, without `?`.
    pub query: String,
    /// The page's origin, when a browser sent one.
    pub origin: Option<String>,
    /// Every header of the upgrade request.
    pub headers: Vec<(String, String)>,
    /// The wire format this socket speaks, e.g. `wshub-json`.
    pub protocol: &'static str,
    /// When the upgrade completed.
    pub connected_at: SystemTime,
}

/// socket.io's `socket.handshake`: what the client's connection request
/// said, with the same fields and meanings as Node's, so it serializes to
/// the object a Node server would show (and `fetch_sockets` hands around).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The request's headers, names in lower case (repeated headers joined
    /// with `, `).
    pub headers: BTreeMap<String, String>,
    /// When the socket connected, as JavaScript's `Date.toString()` writes
    /// it, in UTC: `Tue Mar 05 2024 14:03:09 GMT+0000 (Coordinated Universal Time)`.
    pub time: String,
    /// The client's IP address.
    pub address: String,
    /// The request came with an `Origin` header (a page, maybe of another site).
    pub xdomain: bool,
    /// The connection is encrypted (TLS).
    pub secure: bool,
    /// When the socket connected, in milliseconds since the Unix epoch.
    pub issued: u64,
    /// The request's path and query, e.g. `/socket.io/?EIO=4&transport=websocket`.
    pub url: String,
    /// The query string, decoded.
    pub query: BTreeMap<String, String>,
    /// The `auth` payload of the CONNECT packet (`io(url, { auth })`): `{}`
    /// when it sent none, `null` for `/ws` clients.
    pub auth: Value,
}

impl Handshake {
    /// A handshake as another server describes it (a `fetchSockets` answer
    /// over Redis, from wshub or Node): read leniently, since Node's may
    /// hold arrays where wshub has strings (repeated headers) or miss
    /// fields; what cannot be read is left empty.
    pub(crate) fn from_json(value: &Value) -> Handshake {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let map = |key: &str| -> BTreeMap<String, String> {
            value[key].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect()).unwrap_or_default()
        };
        Handshake {
            headers: map("headers"),
            time: text(&value["time"]),
            address: text(&value["address"]),
            xdomain: value["xdomain"].as_bool().unwrap_or(false),
            secure: value["secure"].as_bool().unwrap_or(false),
            issued: value["issued"].as_u64().unwrap_or(0),
            url: text(&value["url"]),
            query: map("query"),
            auth: value.get("auth").cloned().unwrap_or(Value::Null),
        }
    }

    /// The handshake of a socket that connected with `info` and `auth`.
    pub(crate) fn of(info: &SocketInfo, auth: &Value, secure: bool) -> Handshake {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &info.headers {
            headers
                .entry(name.to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        let since = info.connected_at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let url = if info.query.is_empty() { info.path.clone() } else { format!("{}?{}", info.path, info.query) };
        Handshake {
            headers,
            time: js_date(info.connected_at),
            address: info.peer.ip().to_string(),
            xdomain: info.origin.is_some(),
            secure,
            issued: since.as_millis() as u64,
            url,
            query: parse_query(&info.query),
            auth: auth.clone(),
        }
    }
}

/// A query string as key → value, `%XX` and `+` decoded (the last of
/// repeated keys wins).
pub(crate) fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `time` as JavaScript's `Date.prototype.toString()` writes it, in UTC.
fn js_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::cluster::civil_from_days(days as i64);
    format!(
        "{} {} {day:02} {year} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A value the application keeps with a socket: any type, serializable so
/// that `fetch_sockets` can show it (and other nodes can read it).
trait Stored: Any + Send {
    fn to_json(&self) -> Value;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Serialize + Send + 'static> Stored for T {
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `socket.data`: shared by a socket and, after a recoverable disconnect,
/// its held session, so a recovered socket finds what its predecessor had
/// (including what its `on_disconnect` handlers wrote).
#[derive(Clone, Default)]
pub(crate) struct Data(Arc<Mutex<Option<Box<dyn Stored>>>>);

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl Data {
    fn lock(&self) -> MutexGuard<'_, Option<Box<dyn Stored>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set<T: Serialize + Send + 'static>(&self, value: T) {
        *self.lock() = Some(Box::new(value));
    }

    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.lock().as_ref()?.as_any().downcast_ref::<T>().cloned()
    }

    pub fn with<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.lock().as_mut()?.as_any_mut().downcast_mut::<T>().map(f)
    }

    /// The data as JSON (`null` when there is none).
    pub fn to_json(&self) -> Value {
        self.lock().as_ref().map_or(Value::Null, |d| d.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_read_as_javascript_writes_them() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(js_date(at(0)), "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)");
        // new Date(1709647389000).toString() in a UTC zone
        assert_eq!(js_date(at(1_709_647_389)), "Tue Mar 05 2024 14:03:09 GMT+0000 (Coordinated Universal Time)");
        assert_eq!(js_date(at(951_782_400)), "Tue Feb 29 2000 00:00:00 GMT+0000 (Coordinated Universal Time)");
    }

    #[test]
    fn queries_are_decoded() {
        let q = parse_query("EIO=4&transport=websocket&name=a%20b+c&x&bad=%zz");
        assert_eq!(q["EIO"], "4");
        assert_eq!(q["name"], "a b c");
        assert_eq!(q["x"], "");
        assert_eq!(q["bad"], "%zz");
    }

    #[test]
    fn data_is_typed_and_serializable() {
        let data = Data::default();
        assert_eq!(data.to_json(), Value::Null);
        data.set(vec![1, 2]);
        assert_eq!(data.get::<Vec<i32>>(), Some(vec![1, 2]));
        assert_eq!(data.get::<String>(), None);
        data.with(|v: &mut Vec<i32>| v.push(3));
        assert_eq!(data.to_json(), serde_json::json!([1, 2, 3]));
    }
}
