//! How connections end, and what they leave behind: nothing. Clean closes and
//! abrupt resets free every thread; `on_disconnect` hears why; `disconnect()`
//! closes with 1000; a panicking handler costs only its own client (1011);
//! the heartbeat drops silent peers; shutdown closes everyone with 1001.
//!
//! The other tests here take the [`serial`] lock, so only one server runs in
//! this test binary at a time and the count of server threads left after a
//! shutdown cannot be disturbed by another test's server. The whole-process
//! thread count is measured in a child process (see [`in_own_process`]).
mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use common::*;
use crossbeam_channel::unbounded;
use serde_json::json;
use tungstenite::Message;
use wshub::Server;

/// Runs the tests of this file one at a time (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next test may still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Clients that close cleanly and clients that vanish (their TCP stream
/// dropped or shut down, no close handshake) are all removed from the hub, so
/// `io.client_count()` returns to 0, and every thread they used ends: the
/// process's thread count returns to where it was before they came, and to
/// where it was before the server after shutdown. Each upgraded client costs
/// one thread, `conn-N`; the server itself three, `listener`, `hub` and
/// `engine-timers`.
///
/// The count is of the whole process, so the steps run in a child process
/// that runs only this test (see [`in_own_process`]): here, the test harness
/// starts and ends a thread per test, which would disturb it. Thread exit
/// cannot be waited on from outside, so this is where the test polls
/// (`wait_until`, bounded).
#[test]
fn client_close_and_abrupt_reset_free_every_thread() {
    if !in_own_process("client_close_and_abrupt_reset_free_every_thread") {
        return;
    }
    watchdog(120);
    let before_server = thread_count();
    let server = start_default();
    assert!(wait_until(READ_TIMEOUT, || thread_count() == before_server + 3), "{}", thread_count());
    let idle = thread_count();

    let mut clients: Vec<Client> = (0..10).map(|_| connect_greeted(server.local_addr)).collect();
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 10));
    assert!(wait_until(READ_TIMEOUT, || thread_count() == idle + 10), "{}", thread_count());
    eprintln!("threads: {before_server} before the server, {idle} idle, {} with 10 clients", thread_count());

    // Five close cleanly, three vanish (stream dropped), two shut their socket down.
    for client in clients.drain(..5) {
        client.close();
    }
    for client in clients.drain(..3) {
        drop(client);
    }
    for client in clients.drain(..) {
        client.ws.get_ref().shutdown(Shutdown::Both).unwrap();
    }

    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 0), "count {}", server.io.client_count());
    assert!(wait_until(READ_TIMEOUT, || thread_count() == idle), "threads {}", thread_count());

    server.shutdown().expect("shutdown");
    assert!(wait_until(READ_TIMEOUT, || thread_count() == before_server), "{}", thread_count());
}

/// True in a child process started to run only `test` (this test binary,
/// `--exact test`). In the parent, runs that child, fails with its output if
/// it failed, and returns false. In the child the only threads are the
/// harness's main thread, the one thread running `test`, the watchdog and
/// the server's.
fn in_own_process(test: &str) -> bool {
    const CHILD: &str = "WSHUB_TEST_OWN_PROCESS";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // Output captured, not inherited: the child's own "test result" line would
    // be counted twice by tools that read `cargo test`'s output.
    let child = std::process::Command::new(exe)
        .args(["--exact", test, "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("start the child test process");
    assert!(
        child.status.success(),
        "{test} failed in its own process:\n{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    false
}

/// `on_disconnect` handlers run once when the connection ends, with the
/// reason: a clean close from the client, or a reset without a close.
#[test]
fn on_disconnect_receives_the_reason() {
    let _serial = serial();
    let (tx, rx) = unbounded();
    let server = start(Server::builder(), move |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        let tx = tx.clone();
        socket.on_disconnect(move |socket, reason| {
            let _ = tx.send((socket.id(), reason.to_string()));
        });
    });

    connect_greeted(server.local_addr).close();
    let (_, reason) = rx.recv_timeout(READ_TIMEOUT).expect("on_disconnect ran");
    assert_eq!(reason, "client closed with 1000");

    drop(connect_greeted(server.local_addr));
    let (_, reason) = rx.recv_timeout(READ_TIMEOUT).expect("on_disconnect ran");
    assert_eq!(reason, "connection reset without a close handshake");
}

/// `socket.disconnect()` in a handler closes that connection with 1000 once
/// the handler returns; `on_disconnect` hears that the server closed it.
#[test]
fn disconnect_closes_with_1000() {
    let _serial = serial();
    let (tx, rx) = unbounded();
    let server = start(Server::builder(), move |socket| {
        socket.on("bye", |socket, _data| socket.disconnect());
        let tx = tx.clone();
        socket.on_disconnect(move |_socket, reason| {
            let _ = tx.send(reason.to_string());
        });
    });
    let mut client = connect(server.local_addr);

    client.emit("bye", json!(null));
    assert_eq!(client.expect_close_code(), 1000);
    client.finish_close();
    assert_eq!(rx.recv_timeout(READ_TIMEOUT).unwrap(), "server closed with 1000 (server disconnect)");
}

/// A handler that panics closes only its own connection, with 1011; another
/// client of the same server keeps working.
#[test]
fn panicking_handler_closes_only_its_client_with_1011() {
    let _serial = serial();
    let server = start(Server::builder(), |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("boom", |_socket, _data| panic!("a handler panicked (on purpose, in a test)"));
        socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
    });
    let mut victim = connect_greeted(server.local_addr);
    let mut bystander = connect_greeted(server.local_addr);

    victim.emit("boom", json!(null));
    assert_eq!(victim.expect_close_code(), 1011);
    victim.finish_close();

    assert_eq!(bystander.call("echo", json!("still fine"), 1), json!("still fine"));
    let mut newcomer = connect_greeted(server.local_addr);
    assert_eq!(newcomer.call("echo", json!("the server still accepts"), 2), json!("the server still accepts"));
}

/// `ServerHandle::shutdown()` sends every client Close 1001, joins every
/// thread (the listener's included) and returns `Ok`; afterwards nothing
/// listens on the port and no server thread is left.
#[test]
fn shutdown_closes_every_client_with_1001() {
    let _serial = serial();
    let before = server_thread_count();
    let server = start_default();
    let addr = server.local_addr;
    let io = server.io.clone();
    let mut clients: Vec<Client> = (0..5).map(|_| connect_greeted(addr)).collect();

    // shutdown() blocks until every connection has ended: run it aside while
    // the clients answer their Close.
    let stopping = thread::Builder::new().name("test-shutdown".into()).spawn(move || server.shutdown()).unwrap();
    for client in &mut clients {
        assert_eq!(client.expect_close_code(), 1001);
        client.finish_close();
    }
    stopping.join().expect("shutdown did not panic").expect("shutdown returned Ok");

    assert_eq!(io.client_count(), 0);
    assert!(TcpStream::connect(addr).is_err(), "the listener is gone");
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() == before), "{}", server_thread_count());
}

/// Handlers that emit while the server shuts down do not hold it up: here
/// each client's `on_disconnect` emits 5,000 events after the hub has stopped
/// (more than the hub's 4,096-command queue holds). Those emits are dropped
/// at once and `shutdown()` returns. (Regression test: a receiver left on
/// the hub's queue once let such commands fill it and block forever.)
#[test]
fn shutdown_is_not_blocked_by_handlers_emitting_during_it() {
    let _serial = serial();
    let server = start(Server::builder(), |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on_disconnect(|socket, _reason| {
            for n in 0..5000 {
                socket.io().emit("goodbye", n);
            }
        });
    });
    let mut clients: Vec<Client> = (0..2).map(|_| connect_greeted(server.local_addr)).collect();

    let (done_tx, done) = unbounded();
    thread::Builder::new()
        .name("test-shutdown".into())
        .spawn(move || done_tx.send(server.shutdown()).unwrap())
        .unwrap();
    for client in &mut clients {
        assert_eq!(client.expect_close_code(), 1001);
        client.finish_close();
    }
    done.recv_timeout(READ_TIMEOUT).expect("shutdown returned").expect("shutdown returned Ok");
}

/// Shutdown while clients are still arriving: twelve threads connect over and
/// over, and `shutdown()` lands among their handshakes at a different moment
/// each round. Every round it must return, with every connection closed.
/// (Regression test: a client that registered with the hub just after the
/// hub's Shutdown command was never closed, and shutdown waited for it forever.)
#[test]
fn shutdown_while_clients_are_arriving_returns() {
    let _serial = serial();
    for round in 0..100 {
        let server = start(Server::builder(), |socket| socket.emit("server-message", "Welcome to WebSocket"));
        let addr = server.local_addr;
        let stop = Arc::new(AtomicBool::new(false));
        let (connected_tx, connected) = unbounded();
        let arrivals: Vec<_> = (0..12)
            .map(|i| {
                let (stop, connected_tx) = (stop.clone(), connected_tx.clone());
                thread::Builder::new()
                    .name(format!("test-arrival-{i}"))
                    .spawn(move || {
                        // Bounded: the server stops accepting within the round.
                        for _ in 0..1000 {
                            if stop.load(Ordering::SeqCst) {
                                return;
                            }
                            let Ok(stream) = TcpStream::connect(addr) else { return };
                            stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
                            let request = format!("ws://{addr}/ws");
                            let Ok((mut ws, _)) = tungstenite::client(request, stream) else { continue };
                            let _ = connected_tx.send(());
                            // Stay until the server closes us (reading answers its Close).
                            for _ in 0..100 {
                                if ws.read().is_err() {
                                    break;
                                }
                            }
                        }
                    })
                    .unwrap()
            })
            .collect();

        // Shut down after a different number of arrivals each round.
        for _ in 0..round % 12 {
            connected.recv_timeout(READ_TIMEOUT).expect("a client connected");
        }
        let (done_tx, done) = unbounded();
        thread::Builder::new()
            .name("test-shutdown".into())
            .spawn(move || done_tx.send(server.shutdown()).unwrap())
            .unwrap();
        let result = done.recv_timeout(READ_TIMEOUT).unwrap_or_else(|_| panic!("round {round}: shutdown hung"));
        result.expect("shutdown returned Ok");
        stop.store(true, Ordering::SeqCst);
        for arrival in arrivals {
            arrival.join().unwrap();
        }
    }
}

/// The close code of the first Close frame in raw server → client bytes
/// (after the HTTP head), and how many Pings came before it.
fn close_code_and_pings(bytes: &[u8]) -> (Option<u16>, usize) {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP head") + 4;
    let mut frames = &bytes[head_end..];
    let mut pings = 0;
    // Server frames are unmasked; these are all short (length < 126).
    while frames.len() >= 2 {
        let (opcode, len) = (frames[0] & 0x0f, (frames[1] & 0x7f) as usize);
        assert!(len < 126 && frames.len() >= 2 + len, "unexpected frame: {frames:?}");
        let payload = &frames[2..2 + len];
        match opcode {
            0x8 => return (payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])), pings),
            0x9 => pings += 1,
            _ => {}
        }
        frames = &frames[2 + len..];
    }
    (None, pings)
}

/// Heartbeat: the server pings every `interval`. A client that answers (any
/// tungstenite client that keeps reading does) stays connected across many
/// intervals, longer than the idle timeout; a peer that upgraded and then went
/// silent (never reads, never writes: a vanished laptop) is closed once it has
/// not been heard from for the timeout.
#[test]
fn heartbeat_keeps_live_clients_and_drops_silent_ones() {
    let _serial = serial();
    const INTERVAL: Duration = Duration::from_millis(200);
    const TIMEOUT: Duration = Duration::from_millis(1500);
    /// 12 × 200 ms = 2.4 s of pings: well past the 1.5 s timeout.
    const PINGS: usize = 12;

    let server = start(Server::builder().heartbeat(INTERVAL, TIMEOUT), |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
    });
    let addr = server.local_addr;

    let live = thread::Builder::new()
        .name("test-live-client".into())
        .spawn(move || {
            let mut client = connect_greeted(addr);
            let mut pings = 0;
            while pings < PINGS {
                // Reading is what makes tungstenite send the Pong.
                match client.ws.read().expect("the live client stays connected") {
                    Message::Ping(_) => pings += 1,
                    other => panic!("unexpected message {other:?}"),
                }
            }
            assert_eq!(client.call("echo", json!("still here"), 1), json!("still here"));
            client
        })
        .unwrap();

    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    silent.write_all(upgrade_request(addr, "").as_bytes()).unwrap();
    // From here on the silent client neither reads nor writes. The hub counts
    // it, and forgets it once the heartbeat has given up on it.
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 2), "both clients are connected");
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 1), "the silent client was dropped");
    // Only now does it read what it was sent: the 101, pings, a Close, then EOF.
    let bytes = read_until_eof(&mut silent);
    assert!(bytes.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&bytes));
    let (code, pings) = close_code_and_pings(&bytes);
    assert!(pings >= 1, "the silent client was pinged before being dropped");
    assert_eq!(code, Some(1001), "closed with 1001 (going away: heartbeat timeout)");

    let live = live.join().expect("the live client stayed connected across the heartbeat");
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 1), "{}", server.io.client_count());
    live.close();
}

/// A raw HTTP exchange on its own connection (`Connection: close`): the body.
fn polling_request(addr: std::net::SocketAddr, method: &str, sid: &str, body: &str) -> String {
    let request = format!(
        "{method} /socket.io/?EIO=4&transport=polling{sid} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = raw_request(addr, request.as_bytes());
    assert_eq!(status_of(&response), 200, "{response}");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// One thread per client, whatever the protocol: N idle `/ws` clients add N
/// threads, N socket.io clients on WebSocket add N, and N socket.io clients
/// on long-polling, each with a long-poll waiting, add N (the thread of the
/// connection that waits; a polling session has no thread of its own).
/// After they leave, the count returns to where it started.
#[test]
fn idle_clients_of_each_protocol_cost_one_thread_each() {
    if !in_own_process("idle_clients_of_each_protocol_cost_one_thread_each") {
        return;
    }
    watchdog(120);
    const N: usize = 8;
    let server = start_default();
    let addr = server.local_addr;
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() == 3), "{}", server_thread_count());

    let ws: Vec<Client> = (0..N).map(|_| connect_greeted(addr)).collect();
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() == 3 + N), "/ws: {}", server_thread_count());

    let sio: Vec<Client> = (0..N)
        .map(|_| {
            let mut client = connect_with(addr, "/socket.io/?EIO=4&transport=websocket", &[]).expect("upgrade");
            assert!(client.recv().into_text().unwrap().starts_with("0{"), "the open packet");
            client.ws.send(Message::text("40")).unwrap();
            assert!(client.recv().into_text().unwrap().starts_with("40{"), "joined /");
            client
        })
        .collect();
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() == 3 + 2 * N), "socket.io: {}", server_thread_count());

    let mut sids = Vec::new();
    let waiting: Vec<TcpStream> = (0..N)
        .map(|_| {
            let open = polling_request(addr, "GET", "", "");
            let sid =
                serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"].as_str().unwrap().to_string();
            assert_eq!(polling_request(addr, "POST", &format!("&sid={sid}"), "40"), "ok");
            assert!(polling_request(addr, "GET", &format!("&sid={sid}"), "").starts_with("40{"), "joined /");
            // The next long-poll waits: nothing is queued for this client.
            let mut poll = TcpStream::connect(addr).unwrap();
            let request = format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            poll.write_all(request.as_bytes()).unwrap();
            sids.push(sid);
            poll
        })
        .collect();
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() == 3 + 3 * N), "polling: {}", server_thread_count());
    eprintln!("server threads with {N} clients of each protocol: {}", server_thread_count());

    drop(ws);
    drop(sio);
    for sid in &sids {
        // The client's Engine.IO close: the waiting long-poll is answered and its thread ends.
        assert_eq!(polling_request(addr, "POST", &format!("&sid={sid}"), "1"), "ok");
    }
    drop(waiting);
    assert!(wait_until(READ_TIMEOUT, || server_thread_count() == 3), "after: {}", server_thread_count());
    server.shutdown().expect("shutdown");
    assert_eq!(server_thread_count(), 0);
}
