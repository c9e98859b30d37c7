//! Helpers shared by the integration tests: a watchdog, a server on port 0,
//! a small blocking WebSocket client, raw HTTP requests, and the skip rule for
//! tests that need tools outside Rust ([`redis_server`]: a real Redis).
#![allow(dead_code)]

pub mod nginx;
pub mod node_node;
pub mod redis_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};
use wshub::{Server, ServerBuilder, ServerHandle, Socket};

/// How long any single blocking read in a test may wait before it fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts (once per test binary) a thread that ends the process if the tests
/// take longer than `secs`: a hung blocking test fails instead of hanging CI.
pub fn watchdog(secs: u64) {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(secs));
                eprintln!("watchdog: the tests did not finish within {secs} s; aborting");
                std::process::exit(101);
            })
            .expect("watchdog thread");
    });
}

/// Binds `builder` on 127.0.0.1 port 0, installs `on_connection`, spawns it.
pub fn start(builder: ServerBuilder, on_connection: impl Fn(&Socket) + Send + Sync + 'static) -> ServerHandle {
    watchdog(120);
    let server = builder.bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    server.on_connection(on_connection);
    server.spawn().expect("spawn server")
}

/// A server with default settings that greets each client like the seed does.
pub fn start_default() -> ServerHandle {
    start(Server::builder(), |socket| socket.emit("server-message", "Welcome to WebSocket"))
}

/// A blocking test client over tungstenite.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

/// Connects to `/ws` with no Origin header.
pub fn connect(addr: SocketAddr) -> Client {
    connect_with(addr, "/ws", &[]).expect("WebSocket upgrade")
}

/// Connects to `path` with extra request headers; `Err` holds the HTTP status.
pub fn connect_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Client, u16> {
    let stream = TcpStream::connect(addr).expect("tcp connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{addr}{path}")).unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    match tungstenite::client(request, stream) {
        Ok((ws, _response)) => Ok(Client { ws }),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

impl Client {
    /// Sends a JSON envelope `{"event":..,"data":..}`.
    pub fn emit(&mut self, event: &str, data: Value) {
        self.send_json(json!({ "event": event, "data": data }));
    }

    /// Sends any JSON value as one text frame.
    pub fn send_json(&mut self, value: Value) {
        self.ws.send(Message::text(value.to_string())).expect("send");
    }

    /// The next data or close message (pings and pongs are skipped).
    pub fn recv(&mut self) -> Message {
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
                Ok(message) => return message,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next text message, parsed as JSON.
    pub fn recv_json(&mut self) -> Value {
        match self.recv() {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("server sent JSON"),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next event envelope: returns (event name, data).
    pub fn recv_event(&mut self) -> (String, Value) {
        let v = self.recv_json();
        let name = v["event"].as_str().unwrap_or_else(|| panic!("not an event: {v}")).to_string();
        (name, v["data"].clone())
    }

    /// Reads until the server's Close frame and returns it (answering it).
    pub fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(e) => panic!("expected a Close frame, got error: {e}"),
            }
        }
    }
}

/// Sends raw bytes, reads the whole response until the server closes, and
/// returns it as text (lossy).
pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("tcp connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.write_all(bytes).expect("write request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// The status code of a raw HTTP response.
pub fn status_of(response: &str) -> u16 {
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Threads in this process now (Linux: entries of /proc/self/task).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// Polls `condition` until it holds or `timeout` passes. Only for state that
/// no channel or read can wait on (thread counts, the hub's client count).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// For tests that need an outside tool (node, chromium, python): returns
/// false and prints a loud SKIP when `available` is false, unless
/// `WSHUB_NO_SKIP=1` (set by CI), in which case the test fails.
pub fn require(tool: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if std::env::var("WSHUB_NO_SKIP").is_ok_and(|v| v == "1") {
        panic!("{tool} is required (WSHUB_NO_SKIP=1) but was not found; .ci/run installs it");
    }
    // Not `eprintln!`: libtest captures the print macros of a passing test, so
    // the banner would never be seen. Writing to the stderr handle is not captured.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!! SKIPPED: {tool} not found; this test did not run. CI sets WSHUB_NO_SKIP=1 to fail instead. !!!!\n"
    );
    record_skip(tool);
    false
}

/// Where the test binaries of one `cargo test` run note their skips:
/// `target/tmp/skipped/<cargo's pid>/`. Every test binary of a run is a
/// child of the same `cargo` process, so its pid names the run, and
/// `tests/zz_skipped.rs`, the last binary of the run, finds exactly this
/// run's notes there.
pub fn skips_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("skipped")
        .join(std::os::unix::process::parent_id().to_string())
}

/// Notes that the running test skipped because `tool` is missing: one file
/// in [`skips_dir`], holding `tests/<binary>.rs <test name>\t<tool>`.
fn record_skip(tool: &str) {
    let exe = std::env::current_exe().ok();
    let binary = exe.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    // Cargo names test binaries `<name>-<hash>`.
    let binary = binary.rsplit_once('-').map_or(binary.as_str(), |(name, _)| name).to_string();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let dir = skips_dir();
    let file: String = format!("{binary}-{test}").chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect();
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(file), format!("tests/{binary}.rs {test}\t{tool}"));
}

/// True when `program --version` runs.
pub fn has_program(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---- added with the integration suite (tests/handshake.rs, events.rs, hub.rs, lifecycle.rs) ----

/// Connects to `/ws` and reads the welcome `server-message` the test servers
/// emit. Once it has arrived, the hub has registered this client (the
/// connection thread registers before it runs `on_connection`), so a
/// broadcast sent after this call reaches it.
pub fn connect_greeted(addr: SocketAddr) -> Client {
    let mut client = connect(addr);
    assert_eq!(client.recv_event().0, "server-message", "expected the welcome event first");
    client
}

/// The request head of a valid upgrade to `/ws`, for raw-TCP tests
/// (`extra`: more header lines, each ending in `\r\n`).
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Like [`raw_request`], but fails unless the server really closed the
/// connection (EOF): a read timeout would also end `raw_request` with what it
/// had, which cannot tell "dropped" from "still hanging". Returns the bytes.
pub fn raw_request_until_eof(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("tcp connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.write_all(bytes).expect("write request");
    read_until_eof(&mut stream)
}

/// Reads until the peer closes; fails on a read timeout.
pub fn read_until_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => response,
        // A reset after the server's answer still means "the server dropped us".
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => response,
        Err(e) => panic!("the server did not close the connection: {e} (got {} bytes)", response.len()),
    }
}

/// The threads the server started (`listener`, `hub`, `engine-timers`, `conn-N`),
/// counted by name in /proc/self/task. Counting only these, rather than every
/// thread, keeps the test harness's own threads (one per running test, spawned
/// and reaped as tests start and finish) out of the measurement.
pub fn server_thread_count() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| {
            let name = name.trim_end();
            name == "listener" || name == "hub" || name == "engine-timers" || name.starts_with("conn-")
        })
        .count()
}

impl Client {
    /// Sends `{"event":..,"data":..,"ack":id}` and returns the data of the
    /// `{"ack":id,"data":..}` reply (events arriving before it are skipped).
    pub fn call(&mut self, event: &str, data: Value, id: u64) -> Value {
        self.send_json(json!({ "event": event, "data": data, "ack": id }));
        for _ in 0..100 {
            let reply = self.recv_json();
            if reply.get("event").is_none() && reply["ack"] == json!(id) {
                return reply["data"].clone();
            }
        }
        panic!("no reply to ack {id}");
    }

    /// Reads until the server's Close frame and returns its code.
    pub fn expect_close_code(&mut self) -> u16 {
        let frame = self.expect_close().expect("the Close frame carries a code");
        frame.code.into()
    }

    /// After a Close: keeps reading, which sends tungstenite's queued Close
    /// reply, until the connection is over.
    pub fn finish_close(&mut self) {
        for _ in 0..100 {
            match self.ws.read() {
                Ok(_) => continue,
                Err(_) => return, // ConnectionClosed, or a reset after the close: either way, over
            }
        }
        panic!("the connection did not end after the close handshake");
    }

    /// Starts a clean close with code 1000 and completes the handshake.
    pub fn close(mut self) {
        let normal = CloseFrame { code: 1000.into(), reason: "bye".into() };
        self.ws.close(Some(normal)).expect("send Close");
        self.finish_close();
    }
}

/// The number `n` of a `tick` broadcast with data `[n, "xxx…"]`, in either
/// wire format (`/ws`: `{"event":"tick","data":[n,…]}`, socket.io:
/// `42["tick",[n,…]]`), found without parsing the large payload.
pub fn tick_number(text: &str) -> Option<usize> {
    let rest = text.strip_prefix(r#"{"event":"tick","data":["#).or_else(|| text.strip_prefix(r#"42["tick",["#))?;
    rest[..rest.find(',')?].parse().ok()
}

/// The most a TCP socket's send buffer may grow to (Linux: the last field of
/// `tcp_wmem`; 4 MiB, the usual default, where it cannot be read). Slow-
/// consumer tests size their bursts from it so a stalled socket surely fills.
pub fn send_buffer_limit() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().last()?.parse().ok())
        .unwrap_or(4 << 20)
}

// ---- socket.io: the npm client in node, and a raw Engine.IO client ----

/// True when node and the npm packages (`npm ci`) are there; else a loud skip.
pub fn node_ready() -> bool {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/socket.io-client");
    require("node", has_program("node")) && require("node_modules/socket.io-client (run `npm ci`)", modules.exists())
}

pub fn node(script: &str, args: &[&str]) -> Child {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node")
}

/// Runs a node script to its end (it bounds itself to 20 s) and returns its
/// output; panics with that output if it failed.
pub fn run_node(script: &str, args: &[&str]) -> String {
    let output = node(script, args).wait_with_output().expect("node output");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{script} {args:?} failed:\n{text}");
    text
}

/// A raw Engine.IO WebSocket client: text frames in and out, pings skipped.
pub struct Raw {
    pub client: Client,
}

impl Raw {
    pub fn connect(addr: SocketAddr, query: &str) -> Raw {
        let path = format!("/socket.io/?EIO=4&transport=websocket{query}");
        Raw { client: connect_with(addr, &path, &[]).expect("upgrade") }
    }

    /// Connects and reads the open packet.
    pub fn open(addr: SocketAddr) -> (Raw, Value) {
        let mut raw = Raw::connect(addr, "");
        let open = raw.recv();
        let handshake = serde_json::from_str(open.strip_prefix('0').expect("open packet")).expect("JSON");
        (raw, handshake)
    }

    /// Connects and joins namespace `/`: returns after `40{sid}` and the auth echo.
    pub fn joined(addr: SocketAddr) -> Raw {
        let (mut raw, _) = Raw::open(addr);
        raw.send("40");
        assert!(raw.recv().starts_with("40{\"sid\":"));
        assert_eq!(raw.recv(), r#"42["auth",{}]"#);
        raw
    }

    pub fn send(&mut self, text: &str) {
        self.client.ws.send(Message::text(text)).expect("send");
    }

    pub fn send_binary(&mut self, bytes: &[u8]) {
        self.client.ws.send(Message::binary(bytes.to_vec())).expect("send");
    }

    /// The next frame that is not an Engine.IO ping (answered with a pong, as
    /// a live client would): text as is, binary as `<bytes>`.
    pub fn recv(&mut self) -> String {
        loop {
            match self.client.recv() {
                Message::Text(t) if t.as_str() == "2" => self.send("3"),
                Message::Text(t) => return t.to_string(),
                Message::Binary(b) => return format!("<{:?}>", b.to_vec()),
                other => panic!("expected a data frame, got {other:?}"),
            }
        }
    }

    /// Reads (answering pings unless `silent`) until the server closes;
    /// returns the close code (None: the TCP connection just ended).
    pub fn until_closed(&mut self, silent: bool) -> Option<u16> {
        for _ in 0..10_000 {
            match self.client.ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code.into()),
                Ok(Message::Text(t)) if t.as_str() == "2" && !silent => self.send("3"),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        panic!("the server never closed");
    }
}
