//! Faults and load, bounded and on loopback only: slowloris, silent peers,
//! thousands of connect/close cycles and resets, 5,000 clients at once, slow
//! consumers under a broadcast storm, handlers that panic or block.
//!
//! The figures (threads, RSS, times) are printed: run with `--nocapture` to
//! see them. Only generous bounds are asserted.
mod common;
mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::{bounded, unbounded};
use raw::*;
use serde_json::json;
use tungstenite::Message;
use wshub::{Server, ServerBuilder, ServerHandle};

/// A raw echo server on `/`.
fn echo_server(builder: ServerBuilder) -> ServerHandle {
    start(builder.ws_path("/"), |socket| socket.on_message(|socket, message| socket.send(message)))
}

/// A client that echoes one message through the server, or panics.
fn echo_once(addr: std::net::SocketAddr) {
    let mut client = connect_with(addr, "/", &[]).expect("upgrade");
    client.ws.send(Message::text("ping?")).unwrap();
    assert_eq!(client.recv(), Message::text("ping?"));
    client.ws.close(None).unwrap();
}

/// Slowloris: 500 connections send their request head one byte per second.
/// Each is answered 408 and dropped at the handshake timeout, and normal
/// clients connect and are served all the while.
#[test]
fn slowloris_is_dropped_at_the_handshake_timeout() {
    let _serial = serial();
    let timeout = Duration::from_secs(2);
    let server = echo_server(Server::builder().handshake_timeout(timeout));
    let request = upgrade_head("/").into_bytes();
    let started = Instant::now();
    // Each sends its first byte at once: a client that sent nothing at all
    // is dropped without an answer, one that started a request gets 408.
    let mut slow: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut stream = TcpStream::connect(server.local_addr).unwrap();
            stream.write_all(&request[..1]).unwrap();
            stream
        })
        .collect();
    let connected = started.elapsed();
    let mut served = 0;
    // One more byte per second until the last one's deadline has passed.
    for second in 1..=10 {
        if started.elapsed() > connected + timeout + Duration::from_secs(1) {
            break;
        }
        let tick = Instant::now();
        for stream in &mut slow {
            let _ = stream.write_all(&request[second..second + 1]); // fails once the server closed
        }
        echo_once(server.local_addr); // a normal client, during the attack
        served += 1;
        println!("t={:?}: conn threads {}, a normal client served", started.elapsed(), conn_threads());
        // Pacing the attack (one byte per second), not waiting for the server.
        thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    let mut answered = 0;
    for stream in &mut slow {
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        if status_of(&String::from_utf8_lossy(&response)) == 408 {
            answered += 1;
        }
    }
    println!("{answered}/500 slow clients got 408; {served} normal clients served; {:?}", started.elapsed());
    assert_eq!(answered, 500);
    assert!(wait_until(Duration::from_secs(10), || conn_threads() == 0), "{} conn threads left", conn_threads());
}

/// A client that stops answering (it never reads, so it never sends a
/// pong) is closed by the heartbeat with 1001; a client that keeps reading
/// stays connected.
#[test]
fn silent_peers_are_closed_by_the_heartbeat() {
    let _serial = serial();
    let server = echo_server(Server::builder().heartbeat(Duration::from_millis(100), Duration::from_millis(400)));
    let mut silent = upgrade(server.local_addr, "/");
    let mut alive = connect_with(server.local_addr, "/", &[]).unwrap();
    alive.ws.get_ref().set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = Instant::now();
    // The live client reads (and so answers pings) for a second; the silent one does nothing.
    while started.elapsed() < Duration::from_secs(1) {
        match alive.ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("the live client was dropped: {e}"),
        }
    }
    let (opcodes, code) = read_raw_frames(&mut silent);
    let pings = opcodes.iter().filter(|&&op| op == 0x9).count();
    println!("silent client: {pings} pings, then Close {code:?}");
    assert_eq!(code, Some(1001));
    alive.ws.get_ref().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    alive.ws.send(Message::text("still here")).unwrap();
    assert_eq!(alive.recv(), Message::text("still here"));
}

/// 10,000 connect/upgrade/close cycles, then 10,000 upgrades ended by a TCP
/// reset: afterwards no connection thread is left, the hub is empty, and
/// memory has not grown by more than a bound.
#[test]
fn ten_thousand_cycles_and_resets_leave_nothing_behind() {
    let _serial = serial();
    let server = echo_server(Server::builder());
    let addr = server.local_addr;
    for _ in 0..200 {
        echo_once(addr); // warm up the allocator before measuring
    }
    assert!(wait_until(Duration::from_secs(10), || conn_threads() == 0 && server.io.client_count() == 0));
    let (threads, rss) = (thread_count(), rss_kib());
    println!("start: {threads} threads, {} in the hub, RSS {rss} KiB", server.io.client_count());

    let started = Instant::now();
    for _ in 0..10_000 {
        let mut client = connect_with(addr, "/", &[]).expect("upgrade");
        client.ws.close(None).unwrap();
        while client.ws.read().is_ok() {} // until the server's Close and FIN
    }
    assert!(wait_until(Duration::from_secs(10), || conn_threads() == 0 && server.io.client_count() == 0));
    let rss_cycles = rss_kib();
    println!("10,000 close cycles in {:?}: {} threads, RSS {rss_cycles} KiB", started.elapsed(), thread_count());

    let started = Instant::now();
    for _ in 0..10_000 {
        reset(upgrade(addr, "/"));
    }
    assert!(wait_until(Duration::from_secs(10), || conn_threads() == 0 && server.io.client_count() == 0));
    let rss_resets = rss_kib();
    println!("10,000 resets in {:?}: {} threads, RSS {rss_resets} KiB", started.elapsed(), thread_count());

    assert_eq!(thread_count(), threads);
    assert_eq!(server.io.client_count(), 0);
    // Bound: 8 MiB over the start for 20,000 connections (< 420 bytes each).
    assert!(rss_resets < rss + 8 * 1024, "RSS grew from {rss} to {rss_resets} KiB");
    echo_once(addr);
}

/// 5,000 clients connected at once, then one broadcast that reaches every
/// one of them. Each connection costs the server two threads and two
/// descriptors, and the client side one more, all in this process.
#[test]
fn a_broadcast_reaches_five_thousand_clients() {
    let _serial = serial();
    const CLIENTS: usize = 5_000;
    raise_open_files_limit(3 * CLIENTS as u64 + 500);
    let server = start(Server::builder(), |_socket| {});
    let (started, rss) = (Instant::now(), rss_kib());
    // Blocking clients, connected one after the other: no client thread needed.
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| connect(server.local_addr)).collect();
    let grown = rss_kib().saturating_sub(rss);
    println!(
        "{CLIENTS} clients connected in {:?}; {} threads; RSS +{grown} KiB ({} KiB per client, both ends)",
        started.elapsed(),
        thread_count(),
        grown / CLIENTS as u64
    );
    assert!(wait_until(Duration::from_secs(30), || server.io.client_count() == CLIENTS));

    let sent = Instant::now();
    server.io.emit("news", "to everyone");
    for client in &mut clients {
        assert_eq!(client.recv_event(), ("news".to_string(), json!("to everyone")));
    }
    println!("the broadcast reached all {CLIENTS} clients in {:?}", sent.elapsed());
}

/// Raises the soft RLIMIT_NOFILE of this process to `wanted` (at most the
/// hard limit).
fn raise_open_files_limit(wanted: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_cur.max(wanted.min(limit.rlim_max));
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    assert!(limit.rlim_cur >= wanted, "RLIMIT_NOFILE hard limit {} is below {wanted}", limit.rlim_max);
}

/// A broadcast storm with two clients that stopped reading: the hub closes
/// those two with 1013 (after what was already on its way), and the ten
/// others receive every message, in order.
#[test]
fn slow_consumers_are_closed_with_1013_and_the_rest_get_everything() {
    let _serial = serial();
    const MESSAGES: usize = 3_000;
    const READERS: usize = 10;
    let server = start(Server::builder().backlog_capacity(64), |_| {});
    let addr = server.local_addr;
    // The stalled clients: they do not read until the storm is over.
    let stalled: Vec<_> = (0..2).map(|_| client(upgrade(addr, "/ws"))).collect();

    // Each reader checks the order and reports its progress, so that the
    // storm never runs more than 32 messages ahead of the slowest reader.
    let (progress_tx, progress_rx) = unbounded::<(usize, usize)>();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let mut client = connect(addr);
            let progress = progress_tx.clone();
            thread::spawn(move || {
                for i in 0..MESSAGES {
                    let (_, data) = client.recv_event();
                    assert_eq!(data["i"], json!(i), "reader {r}: out of order");
                    let _ = progress.send((r, i + 1));
                }
                client // kept connected until the checks below
            })
        })
        .collect();
    assert!(wait_until(Duration::from_secs(10), || server.io.client_count() == READERS + 2));

    let padding = "x".repeat(4096);
    let mut seen = [0usize; READERS];
    let started = Instant::now();
    for i in 0..MESSAGES {
        while i >= seen.iter().min().unwrap() + 32 {
            let (r, n) = progress_rx.recv_timeout(READ_TIMEOUT).expect("a reader stopped");
            seen[r] = n;
        }
        server.io.emit("tick", json!({ "i": i, "padding": padding }));
    }
    let _readers: Vec<Client> = readers.into_iter().map(|r| r.join().expect("a reader missed a message")).collect();
    println!("{MESSAGES} x 4 KiB to {READERS} readers in {:?}", started.elapsed());
    assert_eq!(server.io.client_count(), READERS, "the stalled clients are still registered");

    for (n, mut ws) in stalled.into_iter().enumerate() {
        let mut received = 0;
        let code = loop {
            match ws.read().expect("read") {
                Message::Text(text) => {
                    let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                    assert_eq!(v["data"]["i"], json!(received), "stalled client {n}: out of order");
                    received += 1;
                }
                Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
                _ => {}
            }
        };
        println!("stalled client {n}: {received} messages, then Close {code:?}");
        assert_eq!(code, Some(1013));
        assert!(received < MESSAGES);
    }
}

/// A handler that panics closes only its own connection (1011); a handler
/// that blocks holds only its own client; the others are served meanwhile.
#[test]
fn a_panicking_or_blocking_handler_affects_only_its_client() {
    let _serial = serial();
    let (release_tx, release_rx) = bounded::<()>(1);
    let release_rx = Arc::new(Mutex::new(release_rx));
    let server = start(Server::builder(), move |socket| {
        socket.on("boom", |_, _| panic!("a handler bug"));
        let release = release_rx.clone();
        socket.on_with_ack("block", move |_, _, ack| {
            let _ = release.lock().unwrap().recv_timeout(Duration::from_secs(30));
            ack.send("released");
        });
        socket.on_with_ack("echo", |_, data, ack| ack.send(data));
    });
    let addr = server.local_addr;

    let mut panicking = connect(addr);
    panicking.emit("boom", json!(null));
    let frame = panicking.expect_close().expect("a Close frame");
    assert_eq!(u16::from(frame.code), 1011);

    let mut blocked = connect(addr);
    blocked.send_json(json!({ "event": "block", "ack": 1 }));
    let started = Instant::now();
    for _ in 0..20 {
        let mut other = connect(addr);
        other.send_json(json!({ "event": "echo", "data": "hi", "ack": 7 }));
        assert_eq!(other.recv_json(), json!({ "ack": 7, "data": "hi" }));
    }
    println!("20 other clients served in {:?} while one handler blocked", started.elapsed());
    release_tx.send(()).unwrap();
    assert_eq!(blocked.recv_json(), json!({ "ack": 1, "data": "released" }));
}
