//! TLS: https and wss with `Server::builder().tls(cert, key)`. Each test
//! makes a self-signed certificate for 127.0.0.1 at run time (rcgen) and
//! trusts it in its clients: rustls and tungstenite here, Python
//! `websockets` with an SSL context, socket.io-client and engine.io-client
//! with their `ca`, and Chromium with certificate errors ignored.
//!
//! Python needs `.venv-clients` with `websockets` (`.ci/run` makes it; by
//! hand: `python3 -m venv .venv-clients && .venv-clients/bin/pip install
//! websockets==17.4`); Node needs `npm ci`. Without them those tests skip
//! loudly (or fail under `WSHUB_NO_SKIP=1`).
mod common;

#[allow(dead_code)]
#[path = "../examples/socketio_reference.rs"]
mod reference;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};
use tungstenite::Message;
use wshub::{Server, ServerBuilder, ServerHandle};

/// A self-signed certificate for 127.0.0.1 and its key, as PEM, and the
/// certificate written to a file (for clients that take a CA file).
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
    file: PathBuf,
}

fn cert() -> Cert {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert_pem = made.cert.pem();
    let file = std::env::temp_dir().join(format!("wshub-tls-{}-{}.pem", std::process::id(), rand_suffix()));
    std::fs::write(&file, &cert_pem).unwrap();
    Cert { cert_pem, key_pem: made.signing_key.serialize_pem(), der: made.cert.der().clone(), file }
}

impl Drop for Cert {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `builder` with TLS, the greeting of the seed, an echo on `on_message`
/// for clients of `/ws` that send raw frames (`?raw`), bound and spawned.
fn start_tls(cert: &Cert, builder: ServerBuilder) -> ServerHandle {
    watchdog(240);
    let server = builder.tls(cert.cert_pem.clone(), cert.key_pem.clone()).bind(("127.0.0.1", 0)).expect("bind");
    server.on_connection(|socket| {
        if socket.info().query == "raw" {
            socket.on_message(|socket, message| socket.send(message));
            return;
        }
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on_with_ack("echo", |_, data, ack| ack.send(data));
    });
    server.spawn().expect("spawn")
}

/// A rustls client connection to `addr` that trusts `cert` only.
fn tls_client(cert: &Cert, addr: SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let session = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    StreamOwned::new(session, tcp)
}

/// A page over https, and `/ws` over wss (tungstenite over rustls): the
/// welcome, an event with an ack, raw frames echoed both ways.
#[test]
fn https_page_and_wss() {
    let cert = cert();
    let server = start_tls(&cert, Server::builder().page("/", "<h1>over TLS</h1>"));
    let addr = server.local_addr;

    let mut https = tls_client(&cert, addr);
    write!(https, "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut page = String::new();
    let _ = https.read_to_string(&mut page); // ends at close_notify or FIN
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.ends_with("<h1>over TLS</h1>"), "{page}");

    let (mut ws, _) = tungstenite::client(format!("wss://{addr}/ws"), tls_client(&cert, addr)).expect("wss upgrade");
    let next = |ws: &mut tungstenite::WebSocket<_>| loop {
        match ws.read().expect("read") {
            Message::Text(text) => return serde_json::from_str::<Value>(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(next(&mut ws), json!({"event": "server-message", "data": "Welcome to WebSocket"}));
    ws.send(Message::text(json!({"event": "echo", "data": [1, "two"], "ack": 7}).to_string())).unwrap();
    assert_eq!(next(&mut ws), json!({"ack": 7, "data": [1, "two"]}));
    ws.close(None).unwrap();

    let (mut raw, _) = tungstenite::client(format!("wss://{addr}/ws?raw"), tls_client(&cert, addr)).unwrap();
    let big = vec![7u8; 300_000]; // many TLS records, and more than one send
    raw.send(Message::binary(big.clone())).unwrap();
    assert_eq!(raw.read().unwrap(), Message::binary(big));
}

/// A broadcast of 2,000 messages of 4 KiB over wss reaches a reading
/// client whole and in order: TLS records that the socket could not take
/// at once wait in the session and go first.
#[test]
fn a_burst_over_wss_arrives_whole_and_in_order() {
    let cert = cert();
    // Room for the whole burst, and patience for a reader on a loaded machine:
    // this is about order, not about slow clients.
    let builder = Server::builder().backlog_bytes(64 << 20).backlog_capacity(4096);
    let server = start_tls(&cert, builder.slow_client_timeout(Duration::from_secs(60)));
    let addr = server.local_addr;
    let (mut ws, _) = tungstenite::client(format!("wss://{addr}/ws"), tls_client(&cert, addr)).unwrap();
    assert!(ws.read().unwrap().to_text().unwrap().contains("Welcome"));
    let pad = "x".repeat(4096);
    for n in 0..2000 {
        server.io.emit("tick", (n, &pad));
    }
    for expected in 0..2000 {
        match ws.read().expect("a tick") {
            Message::Text(text) => assert_eq!(tick_number(text.as_str()), Some(expected)),
            other => panic!("tick {expected}: {other:?}"),
        }
    }
}

/// A plain-HTTP request to the TLS port gets a plain `400` that says so,
/// and the connection closes; it never hangs.
#[test]
fn plain_http_to_the_tls_port_gets_a_clear_400() {
    let cert = cert();
    let server = start_tls(&cert, Server::builder());
    let addr = server.local_addr;
    let answer = raw_request_until_eof(addr, format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes());
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(answer.contains("this port speaks TLS: use https:// or wss://"), "{answer}");
    // And a WebSocket upgrade in the clear, the same.
    let answer = raw_request_until_eof(addr, upgrade_request(addr, "").as_bytes());
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400 "));
}

/// The handshake timeout covers the TLS handshake: a client that opens TCP
/// and sends nothing, and one that stops in the middle of its ClientHello,
/// are both dropped.
#[test]
fn a_silent_or_stalled_tls_client_is_dropped_at_the_handshake_timeout() {
    let cert = cert();
    let server = start_tls(&cert, Server::builder().handshake_timeout(Duration::from_millis(300)));
    let mut silent = TcpStream::connect(server.local_addr).unwrap();
    silent.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    assert!(read_until_eof(&mut silent).is_empty());
    let mut stalled = TcpStream::connect(server.local_addr).unwrap();
    stalled.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap(); // a record header, then nothing
    read_until_eof(&mut stalled);
}

/// A certificate or key that is not what it should be is an error at
/// `bind`, and it says what is wrong.
#[test]
fn a_bad_certificate_is_a_clear_error_at_bind() {
    let cert = cert();
    let other = self::cert();
    let cases: [(&str, &str, &str); 4] = [
        ("not a certificate", &cert.key_pem, "no certificate"),
        (&cert.cert_pem, "", "no private key"),
        (&cert.cert_pem, &cert.cert_pem, "no private key"),
        (&cert.cert_pem, &other.key_pem, "do not go together"),
    ];
    for (chain, key, says) in cases {
        let error = Server::builder().tls(chain, key).bind(("127.0.0.1", 0)).err().expect("bind fails");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains(says), "{error} (expected: {says})");
    }
}

/// Python `websockets` with an SSL context that trusts the certificate:
/// text, binary and 100 KB messages echoed over wss.
#[test]
fn python_websockets_over_wss() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-clients/bin/python");
    let ready = Command::new(&python).args(["-c", "import websockets"]).status().is_ok_and(|s| s.success());
    if !require(".venv-clients with websockets (see tests/tls.rs)", ready) {
        return;
    }
    let cert = cert();
    let server = start_tls(&cert, Server::builder());
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/python_wss.py"))
        .arg(format!("wss://127.0.0.1:{}/ws?raw", server.local_addr.port()))
        .arg(&cert.file)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && text.contains("3 passed, 0 failed"), "{text}");
}

fn node_ready(package: &str) -> bool {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules").join(package);
    require("node", has_program("node")) && require(&format!("node_modules/{package} (`npm ci`)"), modules.exists())
}

/// socket.io-client with its `ca`: polling, WebSocket, and the upgrade
/// over https/wss against the reference server; and engine.io-client the
/// same against an Engine.IO echo.
#[test]
fn socketio_and_engineio_clients_over_tls() {
    if !node_ready("socket.io-client") || !node_ready("engine.io-client") {
        return;
    }
    let cert = cert();
    watchdog(240);
    // The reference handlers, with a heartbeat a loaded machine can keep
    // (the suites' 200 ms pingTimeout is for protocol tests, not for TLS).
    let builder = reference::builder().socketio_ping(Duration::from_secs(5), Duration::from_secs(10));
    let server = builder.tls(cert.cert_pem.clone(), cert.key_pem.clone()).bind(("127.0.0.1", 0)).unwrap();
    reference::install(&server);
    server.on_engineio(|socket| socket.on_message(|socket, message| socket.send(message)));
    let server = server.spawn().unwrap();
    let url = format!("https://127.0.0.1:{}", server.local_addr.port());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let output = Command::new("node").arg(root.join("tests/tls/socketio.mjs")).arg(&url).arg(&cert.file).output();
    let output = output.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && text.matches("ok - ").count() == 3, "socket.io-client:\n{text}");

    let output = Command::new("node")
        .arg(root.join("tests/engineio/echo.mjs"))
        .arg(&url)
        .env("TLS_CA_PEM", &cert.cert_pem)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && text.matches("ok - ").count() == 13, "engine.io-client:\n{text}");
}

/// Chromium (certificate errors ignored) opens an https page that connects
/// to `/ws` over wss and to socket.io over https/wss: both messages reach
/// the server, and the page itself saw `https:`.
#[test]
fn chromium_over_https_and_wss() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/socket.io-client/dist/socket.io.min.js");
    if !require("chromium", has_program("chromium")) || !require("socket.io.min.js (`npm ci`)", script.exists()) {
        return;
    }
    const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><script src="/socket.io.min.js"></script><script>
      const ws = new WebSocket(`wss://${location.host}/ws`);
      ws.onmessage = () => ws.send(JSON.stringify({ event: "client-message", data: `ws ${location.protocol}` }));
      const socket = io();
      socket.on("server-message", () => socket.emit("client-message", `socket.io ${location.protocol}`));
    </script>"#;
    let cert = cert();
    watchdog(240);
    let (tx, rx) = mpsc::channel::<Value>();
    let tx = Mutex::new(tx);
    let server = Server::builder()
        .tls(cert.cert_pem.clone(), cert.key_pem.clone())
        .page("/", PAGE)
        .asset("/socket.io.min.js", "text/javascript", std::fs::read(script).unwrap())
        .bind(("127.0.0.1", 0))
        .unwrap();
    server.on_connection(move |socket| {
        let tx = tx.lock().unwrap().clone();
        socket.on("client-message", move |_, data| {
            let _ = tx.send(data);
        });
        socket.emit("server-message", "Welcome to WebSocket");
    });
    let server = server.spawn().unwrap();
    let profile = std::env::temp_dir().join(format!("wshub-chromium-tls-{}", std::process::id()));
    let mut chromium = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--no-first-run", "--ignore-certificate-errors"])
        .arg(format!("--user-data-dir={}", profile.display()))
        // Stays open (no --dump-dom, whose time budget may run out before a
        // loaded machine connects) until the test has both messages.
        .arg("--remote-debugging-port=0")
        .arg(format!("https://127.0.0.1:{}/", server.local_addr.port()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = chromium.stderr.take().unwrap();
    let log = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let mut got = vec![rx.recv_timeout(Duration::from_secs(60)), rx.recv_timeout(Duration::from_secs(60))];
    let _ = chromium.kill();
    let _ = chromium.wait();
    let _ = std::fs::remove_dir_all(&profile);
    let log = log.join().unwrap_or_default().join("\n");
    let mut got: Vec<String> = got.drain(..).map(|m| m.map(|v| v.to_string()).unwrap_or_default()).collect();
    got.sort();
    assert_eq!(got, [r#""socket.io https:""#, r#""ws https:""#], "chromium log:\n{log}");
}

/// Over wss as over ws: a client that stops reading while a burst fills
/// its socket, its TLS session and its small backlog is closed with 1013
/// (after the frames that were already on their way).
#[test]
fn a_stalled_wss_client_gets_1013() {
    let cert = cert();
    let minute = Duration::from_secs(60);
    let builder = Server::builder().backlog_capacity(8).heartbeat(minute, 2 * minute);
    let server = start_tls(&cert, builder);
    let addr = server.local_addr;
    let (mut stalled, _) = tungstenite::client(format!("wss://{addr}/ws"), tls_client(&cert, addr)).unwrap();
    assert!(stalled.read().unwrap().to_text().unwrap().contains("Welcome"));
    let pad = "x".repeat(64 * 1024);
    for n in 0..(4 * send_buffer_limit() / pad.len()).max(64) {
        server.io.emit("tick", (n, &pad));
    }
    let code = loop {
        match stalled.read().expect("the stalled client's frames, then its Close") {
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            _ => continue,
        }
    };
    assert_eq!(code, Some(1013));
}

/// Shutdown right after a burst: a client reading over wss gets every
/// frame of it, then Close 1001 (queued frames go first, TLS records too).
#[test]
fn shutdown_over_wss_delivers_what_was_queued_then_1001() {
    let cert = cert();
    let builder = Server::builder().backlog_bytes(64 << 20).backlog_capacity(4096);
    let server = start_tls(&cert, builder.slow_client_timeout(Duration::from_secs(60)));
    let addr = server.local_addr;
    let (mut reading, _) = tungstenite::client(format!("wss://{addr}/ws"), tls_client(&cert, addr)).unwrap();
    assert!(reading.read().unwrap().to_text().unwrap().contains("Welcome"));
    let pad = "x".repeat(64 * 1024);
    let burst = 256;
    for n in 0..burst {
        server.io.emit("tick", (n, &pad));
    }
    // `shutdown` returns once the client has answered our Close: it reads meanwhile.
    let stopping = std::thread::spawn(move || server.shutdown());
    let mut ticks = 0;
    let code = loop {
        match reading.read().expect("the burst, then the Close") {
            Message::Text(text) => {
                assert_eq!(tick_number(text.as_str()), Some(ticks));
                ticks += 1;
            }
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!((ticks, code), (burst, Some(1001)));
    let _ = reading.close(None); // (tungstenite may have answered it already)
    while reading.read().is_ok() {} // our Close reply goes out; the server ends
    stopping.join().unwrap().expect("shutdown");
}
