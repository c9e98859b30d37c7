//! Ctrl+C and `kill`: the server of `examples/socketio_reference.rs`, run as
//! its own process (the example binary itself, built by cargo), stops
//! gracefully on SIGTERM or SIGINT (`Server::stop_on_signals`), and a second
//! signal ends it at once.
//!
//! Needs `node` and `node_modules` (`npm ci`) for the socket.io clients;
//! without them the test skips loudly (or fails under `WSHUB_NO_SKIP=1`).
mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use serde_json::json;
use tungstenite::Message;

/// Builds an example with the cargo running this test (a no-op when
/// `cargo test` built it already) and returns its path.
fn example(name: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --example {name}");
    // This test runs as target/<profile>/deps/signals-…; examples are in target/<profile>/examples/.
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join("examples").join(name)
}

/// The reference server as a child process on a free port, and its address
/// (from its first line, `listening on …`).
fn start_reference() -> (Child, SocketAddr) {
    watchdog(240);
    let mut child = Command::new(example("socketio_reference"))
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the reference server");
    let lines = lines_of(child.stdout.take().unwrap());
    let line = lines.recv_timeout(Duration::from_secs(120)).expect("its first line");
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}"));
    // Its log lines go on coming on stdout: `lines_of` reads them until it exits.
    (child, addr.parse().expect("an address"))
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) with the pid of our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Lines a child prints, read on a thread so its pipe never fills.
fn lines_of(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    rx
}

/// SIGTERM while a `/ws` client and two socket.io-client 4.8 clients (one on
/// WebSocket, one on long-polling) are connected and 1,000 broadcasts are on
/// their way:
/// - the `/ws` client gets every broadcast the hub took before the signal,
///   in order, then Close 1001 "server shutting down" (what the chat page
///   shows as "server stopped, reconnecting");
/// - the socket.io clients get theirs too and then disconnect with
///   "transport close", as from Node's `io.close()` (no `41`: their library
///   would reconnect); the WebSocket one got exactly what the `/ws` client
///   got (the hub closes both at the same point of its queue), the polling
///   one a prefix of it that holds at least broadcast 0, which all three
///   had before the signal (polling sessions end first, and one that falls
///   more than 256 packets behind is dropped as too slow);
/// - the process exits with status 0.
#[test]
fn sigterm_stops_gracefully_for_every_kind_of_client() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/socket.io-client");
    if !require("node", has_program("node")) || !require("node_modules (run `npm ci`)", modules.exists()) {
        return;
    }
    let (mut server, addr) = start_reference();
    let mut ws = connect(addr);
    assert_eq!(ws.recv_event().0, "auth");
    let mut node = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/signals/clients.mjs"))
        .arg(format!("http://{addr}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node");
    let lines = lines_of(node.stdout.take().unwrap());
    assert_eq!(lines.recv_timeout(Duration::from_secs(20)).as_deref(), Ok("ready"));

    // Broadcast 0 reaches all three clients first, so that each one's
    // prefix below is at least 0..0 (a poll in flight at the signal could
    // otherwise leave the polling client with nothing, which says little).
    ws.emit("broadcast", json!(0));
    assert_eq!(ws.recv_event(), ("broadcast".into(), json!(0)));
    let mut firsts: Vec<String> =
        (0..2).map(|_| lines.recv_timeout(Duration::from_secs(20)).expect("`<transport> first`")).collect();
    firsts.sort();
    assert_eq!(firsts, ["polling first", "websocket first"]);
    for n in 1..1000 {
        ws.emit("broadcast", json!(n));
    }
    // The second one is back: the rest are queued or on their way.
    assert_eq!(ws.recv_event(), ("broadcast".into(), json!(1)));
    signal(&server, libc::SIGTERM);
    let mut got = 2;
    let close = loop {
        match ws.recv() {
            Message::Text(text) => {
                let event: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(event, json!({ "event": "broadcast", "data": got }), "lost or out of order");
                got += 1;
            }
            Message::Close(frame) => break frame.expect("a Close with a code"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1001, "server shutting down"));
    ws.finish_close();
    eprintln!("the /ws client got broadcasts 0..{} of 1000, then Close 1001", got - 1);

    let mut by_transport = std::collections::HashMap::new();
    for _ in 0..2 {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("a client's last line");
        eprintln!("socket.io-client: {line}");
        let (transport, rest) = line.split_once(' ').unwrap();
        by_transport.insert(transport.to_string(), rest.to_string());
    }
    assert_eq!(by_transport["websocket"], format!("0..{} transport close", got - 1));
    let polling = &by_transport["polling"];
    let last: usize = polling
        .strip_prefix("0..")
        .and_then(|rest| rest.strip_suffix(" transport close"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("polling: {polling}"));
    assert!(last < got, "polling got a prefix of what the hub sent: 0..{last}");
    assert!(node.wait().unwrap().success());

    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the server exits 0 after a graceful stop: {status}");
}

/// SIGINT starts the graceful stop; a client that never answers our Close
/// would hold it for the close timeout (5 s), but a second signal (SIGTERM)
/// ends the process at once: it dies of that signal.
#[test]
fn a_second_signal_exits_at_once() {
    let (mut server, addr) = start_reference();
    // A raw client: it reads, but never answers the Close.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    std::io::Write::write_all(&mut silent, upgrade_request(addr, "").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(silent.read(&mut byte).expect("the 101"), 1);
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    assert_eq!(read_frame(&mut silent).0, 0x1, "the `auth` event");
    signal(&server, libc::SIGINT);
    // Its Close 1001 shows that the first signal was handled.
    let (opcode, payload) = read_frame(&mut silent);
    assert_eq!((opcode, &payload[..2]), (0x8, &1001u16.to_be_bytes()[..]));
    signal(&server, libc::SIGTERM);
    let status = server.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "the second signal ends the process: {status}");
}

/// One small unmasked server frame: (opcode, payload).
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("a frame header");
    assert!(head[1] < 126, "a small frame");
    let mut payload = vec![0u8; head[1] as usize];
    stream.read_exact(&mut payload).expect("its payload");
    (head[0] & 0x0F, payload)
}
