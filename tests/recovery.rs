//! Connection state recovery (chapter 14): the real socket.io-client 4.8
//! against `examples/recovery.rs`, a `/ws` client speaking the envelope's
//! extension, a client that comes back before its old connection was seen
//! to go, and 10,000 disconnected sessions held and swept, with what they
//! cost in memory.
//!
//! ```sh
//! npm ci && cargo test --test recovery -- --nocapture     # the memory figures are printed
//! ```
mod common;

#[allow(dead_code)]
#[path = "../examples/recovery.rs"]
mod recovery;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use wshub::{Server, ServerHandle};

/// `examples/recovery.rs` in-process on 127.0.0.1 port 0, keeping sessions
/// `max_disconnection`.
fn start_recovery(max_disconnection: Duration) -> ServerHandle {
    watchdog(240);
    let server = recovery::builder(max_disconnection).bind(("127.0.0.1", 0)).expect("bind");
    recovery::install(&server);
    server.spawn().expect("spawn")
}

fn url(server: &ServerHandle) -> String {
    format!("http://{}", server.local_addr)
}

/// socket.io-client over WebSocket: A's transport drops while B broadcasts
/// 40 packets to it (to everyone, to A's room, to A's own id): it comes
/// back recovered, with the same id, all 40 in order and none twice, none
/// for a room it is not in, and still in its room.
#[test]
fn socketio_client_recovers_over_websocket_with_all_40_packets_in_order() {
    if !node_ready() {
        return;
    }
    let server = start_recovery(Duration::from_secs(120));
    let out = run_node("tests/socketio/recovery.mjs", &[&url(&server), "websocket", "recover"]);
    assert!(out.contains("ok - A came back recovered (socket.recovered)"), "{out}");
    assert!(out.contains("ok - A got all 40 packets, in order, none twice"), "{out}");
    assert!(out.contains("done"), "{out}");
}

/// The same over HTTP long-polling alone.
#[test]
fn socketio_client_recovers_over_polling_with_all_40_packets_in_order() {
    if !node_ready() {
        return;
    }
    let server = start_recovery(Duration::from_secs(120));
    let out = run_node("tests/socketio/recovery.mjs", &[&url(&server), "polling", "recover"]);
    assert!(out.contains("ok - A got all 40 packets, in order, none twice"), "{out}");
}

/// A client away for longer than the maximum disconnection duration (here
/// 300 ms; it stays away 1.2 s) gets a fresh session: not recovered, a new id.
#[test]
fn socketio_client_gets_a_fresh_session_after_the_maximum_duration() {
    if !node_ready() {
        return;
    }
    let server = start_recovery(Duration::from_millis(300));
    let out = run_node("tests/socketio/recovery.mjs", &[&url(&server), "websocket", "expire", "1200"]);
    assert!(out.contains("a fresh session"), "{out}");
    assert!(out.contains("ok - with a new id"), "{out}");
}

/// The next JSON frame of a `/ws` client.
fn json(client: &mut Client) -> Value {
    client.recv_json()
}

/// `/ws`: the first frame names the session, every logged event carries
/// `"offset"`; a client that drops and connects again with `?pid=…&offset=…`
/// gets `"recovered":true`, the same id, and what was sent to its rooms
/// meanwhile, in order, each with its offset, before anything newer. A pid
/// nobody knows gets a fresh session.
#[test]
fn ws_client_recovers_with_pid_and_offset_in_the_query() {
    let server = start_recovery(Duration::from_secs(120));
    let addr = server.local_addr;
    let mut a = connect(addr);
    let session = json(&mut a)["session"].clone();
    assert_eq!(session["recovered"], json!(false), "{session}");
    let (sid, pid) = (session["sid"].as_str().unwrap().to_string(), session["pid"].as_str().unwrap().to_string());
    let welcome = json(&mut a);
    assert_eq!(welcome["event"], json!("server-message"));
    assert!(welcome["offset"].is_string(), "a logged event carries its offset: {welcome}");
    a.emit("join", json!("r1"));
    a.emit("to-room", json!({ "room": "r1", "data": "joined" }));
    let marker = json(&mut a);
    assert_eq!((marker["event"].clone(), marker["data"].clone()), (json!("to-room"), json!("joined")));
    let last = marker["offset"].as_str().unwrap().to_string();

    // The connection breaks (no Close): the session is held.
    a.ws.get_ref().shutdown(Shutdown::Both).unwrap();
    drop(a);
    assert!(wait_until(READ_TIMEOUT, || server.io.recovery_stats().sessions == 1), "the session is held");
    for n in 0..5 {
        server.io.to("r1").emit("to-room", n);
        server.io.to("elsewhere").emit("to-room", "not for a");
        server.io.to(sid.as_str()).emit("to-room", 100 + n);
    }

    let mut back = connect_with(addr, &format!("/ws?pid={pid}&offset={last}"), &[]).expect("upgrade");
    let session = json(&mut back)["session"].clone();
    assert_eq!(session["recovered"], json!(true), "{session}");
    assert_eq!(session["sid"], json!(sid), "the same public id");
    let mut missed = Vec::new();
    let mut offsets = Vec::new();
    for _ in 0..10 {
        let frame = json(&mut back);
        missed.push(frame["data"].clone());
        offsets.push(frame["offset"].as_str().unwrap().parse::<u64>().unwrap());
    }
    assert_eq!(missed, [0, 100, 1, 101, 2, 102, 3, 103, 4, 104].map(|n| json!(n)), "in order, only its rooms'");
    assert!(offsets.windows(2).all(|w| w[0] < w[1]) && offsets[0] > last.parse().unwrap(), "{offsets:?}");
    assert_eq!(json(&mut back)["event"], json!("server-message"), "then what is new: the welcome");
    back.emit("to-room", json!({ "room": "r1", "data": "still in r1" }));
    assert_eq!(json(&mut back)["data"], json!("still in r1"), "its room came back");

    let mut stranger = connect_with(addr, "/ws?pid=nobody&offset=1", &[]).expect("upgrade");
    let session = json(&mut stranger)["session"].clone();
    assert_eq!(session["recovered"], json!(false), "an unknown pid: a fresh session");
    assert_ne!(session["sid"], json!(sid));
}

/// A client whose old connection the server has not yet seen go (a
/// half-open TCP connection: no FIN, no RST) comes back on a new one with
/// its pid: it takes its session over at once instead of waiting for the
/// old one's ping timeout. The old connection is closed (1000), and the new
/// socket gets what was sent to the old one after the client's offset.
#[test]
fn a_client_back_before_its_old_connection_was_seen_to_go_takes_it_over() {
    let server = start_recovery(Duration::from_secs(120));
    let addr = server.local_addr;
    let (mut old, _) = Raw::open(addr);
    old.send("40");
    let connected: Value = serde_json::from_str(&old.recv()[2..]).unwrap();
    let (sid, pid) = (connected["sid"].as_str().unwrap(), connected["pid"].as_str().unwrap());
    assert!(old.recv().starts_with(r#"42["server-message","Welcome to WebSocket","#));
    old.send(r#"42["join","r1"]"#);
    old.send(r#"42["to-room",{"room":"r1","data":"joined"}]"#);
    let joined = old.recv();
    let offset = joined.rsplit('"').nth(1).unwrap().to_string();
    assert!(joined.starts_with(r#"42["to-room","joined",""#), "{joined}");
    // Sent to the old connection, which the client no longer reads.
    server.io.to("r1").emit("to-room", "missed");

    let (mut new, _) = Raw::open(addr);
    new.send(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let connected: Value = serde_json::from_str(&new.recv()[2..]).unwrap();
    assert_eq!((connected["sid"].as_str(), connected["pid"].as_str()), (Some(sid), Some(pid)));
    assert!(new.recv().starts_with(r#"42["to-room","missed",""#), "the missed packet is replayed");
    assert!(new.recv().starts_with(r#"42["server-message","Welcome to WebSocket","#));
    // The old connection: what it was written, then Close 1000.
    assert_eq!(old.until_closed(false), Some(1000));
    new.send(r#"42["to-room",{"room":"r1","data":"here"}]"#);
    assert!(new.recv().starts_with(r#"42["to-room","here",""#), "in r1 on the new connection");
}

/// Counts the bytes the whole process has allocated and not freed, so the
/// test can say what held sessions cost on the heap (resident memory also
/// counts what the allocator keeps after frees, and thread stacks).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only a counter is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes allocated and not freed, in the whole process.
fn heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// This process's resident memory, in bytes (Linux: VmRSS).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    kb * 1024
}

/// Opens a socket.io session over WebSocket, joins `/` (a socket with data
/// and two rooms, its own and `lobby`), reads the welcome, and drops the
/// TCP connection: the server holds the session.
fn connect_and_drop(addr: SocketAddr) {
    let (mut raw, _) = Raw::open(addr);
    raw.send("40");
    let connected = raw.recv();
    assert!(connected.starts_with("40{\"sid\":"), "{connected}");
    assert_eq!(raw.recv().split(',').next(), Some(r#"42["server-message""#));
    raw.client.ws.get_ref().shutdown(Shutdown::Both).unwrap();
}

/// 10,000 socket.io clients each connect, join a room, get some data, and
/// drop: the server holds 10,000 sessions (bounded by `max_sessions`; a
/// 10,001st would push out the oldest), and after the maximum
/// disconnection duration (30 s here: opening 10,000 must fit in it) it has swept every one of them. The
/// accounting of what they hold and this process's resident memory are
/// printed; the test checks the counts, that the accounting comes back to
/// zero, and that the heap gives back what the sessions took.
#[test]
fn ten_thousand_disconnected_sessions_are_held_then_swept() {
    const SESSIONS: usize = 10_000;
    const THREADS: usize = 4;
    watchdog(240);
    let max = Duration::from_secs(30);
    let server = Server::builder()
        .connection_state_recovery(max, true)
        .recovery_limits(SESSIONS, 10_000, 16 << 20)
        .bind(("127.0.0.1", 0))
        .expect("bind");
    server.on_connection(|socket| {
        socket.set_data(json!({ "user": format!("user-{}", socket.id()), "plan": "free" }));
        socket.join("lobby");
        socket.emit("server-message", "Welcome to WebSocket");
    });
    let server = server.spawn().expect("spawn");
    let addr = server.local_addr;
    let (before, before_heap) = (rss(), heap());

    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..SESSIONS / THREADS {
                    connect_and_drop(addr);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a client thread");
    }
    assert!(
        wait_until(Duration::from_secs(30), || server.io.recovery_stats().sessions == SESSIONS),
        "held: {:?}",
        server.io.recovery_stats()
    );
    let held = server.io.recovery_stats();
    // The clients' threads are done and the server's have ended: what the
    // heap holds beyond the start is the held sessions and the log.
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() <= 3), "the connection threads end");
    let (held_rss, held_heap) = (rss(), heap());
    let took = started.elapsed();

    assert!(wait_until(max + Duration::from_secs(30), || server.io.recovery_stats().sessions == 0), "not swept");
    let swept = server.io.recovery_stats();
    assert_eq!((swept.sessions, swept.session_bytes), (0, 0), "{swept:?}");
    assert!(wait_until(max + Duration::from_secs(30), || server.io.recovery_stats().packets == 0));
    let (after_rss, after_heap) = (rss(), heap());
    // Swept means given back: the maps and the log shrink once emptied.
    assert!(after_heap.saturating_sub(before_heap) < 1 << 20, "{} bytes stay", after_heap - before_heap);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "recovery memory: {SESSIONS} sessions held ({took:.1?} to open and drop them); accounted: \
             {} bytes of sessions ({} each), {} packets logged in {} bytes; heap: +{} bytes held \
             ({} per session with its logged packet), +{} bytes after the sweep; RSS: {} MiB before, \
             {} MiB held, {} MiB after the sweep\n",
            held.session_bytes,
            held.session_bytes / SESSIONS,
            held.packets,
            held.packet_bytes,
            held_heap.saturating_sub(before_heap),
            held_heap.saturating_sub(before_heap) / SESSIONS,
            after_heap.saturating_sub(before_heap),
            before >> 20,
            held_rss >> 20,
            after_rss >> 20,
        )
        .as_bytes(),
    );
}

/// The accounting is the one the docs quote: a session with a 20-character
/// id, a pid, two rooms and a small data object holds a few hundred bytes.
#[test]
fn a_held_session_is_accounted_in_hundreds_of_bytes() {
    let server = start_recovery(Duration::from_secs(120));
    let addr = server.local_addr;
    let mut client = connect(addr);
    let _session = client.recv_json();
    client.ws.get_ref().shutdown(Shutdown::Both).unwrap();
    assert!(wait_until(READ_TIMEOUT, || server.io.recovery_stats().sessions == 1));
    let stats = server.io.recovery_stats();
    assert!((200..1000).contains(&stats.session_bytes), "{stats:?}");
}
