//! Polling sessions under attack: a session is state, not a thread, so
//! thousands of abandoned ones cost memory only (and little of it); they
//! count against `max_clients`; one that never joins a namespace is reaped
//! at `connect_timeout`; and what waits for a client that never polls is
//! bounded, so it is closed as too slow instead of growing without end.
//!
//! One test at a time (the [`serial`] lock): they measure the process's RSS.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::*;
use wshub::Server;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's resident memory, in KiB (Linux).
fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// One kept-alive HTTP connection, for many requests in a row.
struct KeepAlive {
    stream: TcpStream,
    addr: SocketAddr,
}

impl KeepAlive {
    fn new(addr: SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        KeepAlive { stream, addr }
    }

    /// Sends a request and reads its response: (status, body).
    fn request(&mut self, method: &str, query: &str, body: &str) -> (u16, String) {
        let head = format!(
            "{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        self.stream.write_all(head.as_bytes()).unwrap();
        self.stream.write_all(body.as_bytes()).unwrap();
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).expect("a response head");
            response.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&response).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).expect("the body");
        (status_of(&head), String::from_utf8_lossy(&body).into_owned())
    }

    /// Opens a session: its sid.
    fn open(&mut self) -> String {
        let (status, body) = self.request("GET", "", "");
        assert_eq!(status, 200, "{body}");
        let open: serde_json::Value = serde_json::from_str(&body[1..]).expect("the open packet");
        open["sid"].as_str().unwrap().to_string()
    }
}

/// 12,000 sessions opened on one kept-alive connection and abandoned cost no
/// thread at all and a few KiB each; at `connect_timeout` they are gone.
#[test]
fn twelve_thousand_abandoned_sessions_cost_no_thread() {
    let _serial = serial();
    const SESSIONS: usize = 12_000;
    let connect_timeout = Duration::from_secs(3);
    let server = start(Server::builder().max_clients(20_000).connect_timeout(connect_timeout), |_| {});
    let mut http = KeepAlive::new(server.local_addr);
    let first = http.open();
    let threads = server_thread_count(); // listener, hub, engine-timers, this connection
    let before = rss_kib();
    let sids: Vec<String> = (1..SESSIONS).map(|_| http.open()).collect();
    let after = rss_kib();
    let per_session = (after.saturating_sub(before)) as f64 / (SESSIONS - 1) as f64;
    println!(
        "{SESSIONS} abandoned sessions: threads {threads} → {}, RSS {before} → {after} KiB, {per_session:.2} KiB each",
        server_thread_count()
    );
    assert_eq!(server_thread_count(), threads, "a session costs no thread");
    assert!(per_session <= 10.0, "{per_session:.2} KiB per session");

    // Reaped at the connect timeout: their sids are unknown now.
    let reaped = wait_until(connect_timeout + Duration::from_secs(10), || {
        http.request("GET", &format!("&sid={first}"), "").0 == 400
    });
    assert!(reaped, "the first session outlived its connect timeout");
    assert!(wait_until(Duration::from_secs(10), || {
        http.request("GET", &format!("&sid={}", sids[sids.len() - 1]), "").0 == 400
    }));
}

/// Sessions count against `max_clients`: beyond it a new one gets 503.
#[test]
fn sessions_count_against_max_clients() {
    let _serial = serial();
    let server = start(Server::builder().max_clients(50), |_| {});
    let mut http = KeepAlive::new(server.local_addr);
    for _ in 0..50 {
        http.open();
    }
    let (status, body) = http.request("GET", "", "");
    assert_eq!(status, 503, "{body}");
}

/// A client that POSTs and never polls: the packets the server has for it
/// (here a CONNECT_ERROR for each of thousands of unknown namespaces) wait
/// in a bounded queue; past it the client is closed as too slow, its queue
/// dropped, and memory stays flat. Its next poll gets the close packet.
#[test]
fn a_client_that_never_polls_is_closed_with_bounded_memory() {
    let _serial = serial();
    let server = start(Server::builder(), |_| {});
    let mut http = KeepAlive::new(server.local_addr);
    let sid = http.open();
    // Just under maxPayload: 90,000 CONNECTs to namespaces nobody registered.
    let body: Vec<String> = (0..90_000).map(|n| format!("40/n{n},")).collect();
    let body = body.join("\u{1e}");
    let before = rss_kib();
    for _ in 0..40 {
        let (status, answer) = http.request("POST", &format!("&sid={sid}"), &body);
        if status != 200 {
            assert_eq!(status, 400, "{answer}"); // the session is closing or gone
            break;
        }
    }
    let after = rss_kib();
    println!("RSS {before} → {after} KiB after up to 40 POSTs of 90,000 refused CONNECTs");
    assert!(after < before + 64 * 1024, "RSS grew from {before} to {after} KiB");
    let (status, answer) = http.request("GET", &format!("&sid={sid}"), "");
    assert!(status == 400 || answer == "1", "{status} {:?}", &answer[..answer.len().min(80)]);
}
