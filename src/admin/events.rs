//! What the admin UI is told about sockets: the hub's observer, which turns
//! what the hub sees into admin events (`socket_connected`, `room_joined`,
//! …), the listeners it puts on every socket (events in and out, the
//! disconnect and its reason), and a socket as the UI reads it
//! (`SerializedSocket` in the UI's `typed-events.ts`).
//!
//! The observer runs on the `hub` thread: it builds each event's JSON and
//! hands it to the `admin` thread with `try_send`, never waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Sender, TrySendError};
use serde_json::{json, Map, Value};

use super::stats::Counters;
use super::Note;
use crate::hub::observe::{client_id, Observer, Seen};
use crate::hub::Handshake;
use crate::{Io, Socket};

/// Admin events dropped because the `admin` thread's queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Where admin events go: the `admin` thread's queue, without waiting.
#[derive(Clone)]
struct Tell(Sender<Note>);

impl Tell {
    fn note(&self, event: &'static str, args: Vec<Value>) {
        if let Err(TrySendError::Full(_)) = self.0.try_send((event, args)) {
            // The UI misses this one; a reload (all_sockets) shows the truth again.
            let dropped = DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                log::warn!("admin: {dropped} admin event(s) dropped so far: the admin thread cannot keep up");
            }
        }
    }
}

/// The hub's observer for the admin UI on namespace `admin_nsp`. In
/// development mode it tells everything; in production it only counts.
pub(super) fn observer(admin_nsp: &str, development: bool, notes: Sender<Note>, counters: Arc<Counters>) -> Observer {
    let admin_nsp = admin_nsp.to_string();
    let tell = Tell(notes);
    Box::new(move |seen| match seen {
        Seen::Connected(socket) => {
            counters.add("rawConnection", None, 1);
            watch(socket, development, development && socket.namespace() != admin_nsp, &tell, &counters);
            if development {
                tell.note("socket_connected", vec![serialize_local(socket), now()]);
            }
        }
        Seen::Joined(socket, room) if development => {
            tell.note("room_joined", vec![json!(socket.namespace()), json!(room), json!(socket.sid()), now()]);
        }
        Seen::Left(socket, room) if development => {
            tell.note("room_left", vec![json!(socket.namespace()), json!(room), json!(socket.sid()), now()]);
        }
        Seen::Upgraded(socket) if development => {
            let update = json!({"id": socket.sid(), "nsp": socket.namespace(), "transport": socket.transport()});
            tell.note("socket_updated", vec![update]);
        }
        _ => {}
    })
}

/// Listeners on a socket that has just registered (its thread waits for
/// the hub meanwhile, so they are there before its first event): events
/// in are counted (and, with `verbose`, told, as are events out), and its
/// disconnect is counted with its reason (and told, in `development`).
fn watch(socket: &Socket, development: bool, verbose: bool, tell: &Tell, counters: &Arc<Counters>) {
    let (incoming, counting) = (tell.clone(), counters.clone());
    socket.on_any(move |socket, event, data| {
        // Bytes of the event as JSON: what its packet carries, near enough.
        counting.add("packetsIn", None, 1);
        counting.add("bytesIn", None, (event.len() + data.to_string().len() + 4) as u64);
        if verbose {
            incoming.note("event_received", vec![nsp_of(socket), json!(socket.sid()), args(event, data), now()]);
        }
    });
    if verbose {
        let outgoing = tell.clone();
        socket.on_any_outgoing(move |socket, event, data| {
            outgoing.note("event_sent", vec![nsp_of(socket), json!(socket.sid()), args(event, data), now()]);
        });
    }
    let (leaving, counting) = (tell.clone(), counters.clone());
    socket.on_disconnect(move |socket, reason| {
        counting.add("rawDisconnection", Some(reason), 1);
        if development {
            leaving.note("socket_disconnected", vec![nsp_of(socket), json!(socket.sid()), json!(reason), now()]);
        }
    });
}

fn nsp_of(socket: &Socket) -> Value {
    json!(socket.namespace())
}

/// An event as the UI lists it: `[name, ...args]` (a handler's one value
/// is one argument; several arguments reach it as one array, shown so).
fn args(event: &str, data: &Value) -> Value {
    match data {
        Value::Null => json!([event]),
        data => json!([event, data]),
    }
}

/// Every socket of every namespace, on every node of a cluster, as the UI
/// reads them (`all_sockets`). Asked on the admin socket's own thread:
/// a cluster's answers may take up to the request timeout.
pub(super) fn all_sockets(io: &Io, namespaces: &[String]) -> Vec<Value> {
    let mut sockets = Vec::new();
    for nsp in namespaces {
        for fetched in io.of(nsp).fetch_sockets() {
            let value = match fetched.local_socket() {
                Some(socket) => serialize_local(socket),
                None => {
                    // Another node's: its transport and client are in `_admin`,
                    // where that node put them (Node's admin UI does the same).
                    let admin = fetched.data.get("_admin").cloned().unwrap_or_default();
                    let described = Described {
                        id: &fetched.id,
                        client_id: admin["clientId"].as_str().unwrap_or_default(),
                        transport: admin["transport"].as_str().unwrap_or_default(),
                        nsp,
                        data: fetched.data.clone(),
                        handshake: &fetched.handshake,
                        rooms: &fetched.rooms,
                    };
                    described.to_json()
                }
            };
            sockets.push(value);
        }
    }
    sockets
}

/// A socket of this server as the UI reads it.
fn serialize_local(socket: &Socket) -> Value {
    let rooms = socket.rooms();
    let described = Described {
        id: socket.sid(),
        client_id: &client_id(socket),
        transport: socket.transport(),
        nsp: socket.namespace(),
        data: socket.data_json(),
        handshake: socket.handshake(),
        rooms: &rooms,
    };
    described.to_json()
}

/// What the UI shows of one socket, wherever it is connected.
struct Described<'a> {
    id: &'a str,
    client_id: &'a str,
    transport: &'a str,
    nsp: &'a str,
    data: Value,
    handshake: &'a Handshake,
    rooms: &'a [String],
}

impl Described<'_> {
    fn to_json(&self) -> Value {
        let h = self.handshake;
        // The client's address as a proxy in front saw it, as Node's UI shows it.
        let header = |name: &str| h.headers.get(name).map(|v| v.split(',').next().unwrap_or(v).trim().to_string());
        let address = header("cf-connecting-ip").or_else(|| header("x-forwarded-for")).unwrap_or(h.address.clone());
        // `socket.data` without the `_admin` the UI keeps there; never `auth` (secrets).
        let data = match &self.data {
            Value::Object(map) => Value::Object(map.iter().filter(|(k, _)| *k != "_admin").map(clone_entry).collect()),
            Value::Null => Value::Object(Map::new()),
            other => other.clone(),
        };
        json!({
            "id": self.id,
            "clientId": self.client_id,
            "transport": self.transport,
            "nsp": self.nsp,
            "data": data,
            "handshake": {
                "address": address,
                "headers": h.headers,
                "query": h.query,
                "issued": h.issued,
                "secure": h.secure,
                "time": h.time,
                "url": h.url,
                "xdomain": h.xdomain,
            },
            "rooms": self.rooms,
        })
    }
}

fn clone_entry((k, v): (&String, &Value)) -> (String, Value) {
    (k.clone(), v.clone())
}

/// Now, as JavaScript's `new Date()` travels in JSON: `2024-03-05T14:03:09.123Z`.
pub(super) fn now() -> Value {
    json!(iso_time(SystemTime::now()))
}

/// `time` in ISO 8601, UTC, to the millisecond.
pub(super) fn iso_time(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::cluster::civil_from_days(days as i64);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso_time_is_javascripts() {
        let at = |ms: u64| iso_time(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_709_647_389_123), "2024-03-05T14:03:09.123Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
