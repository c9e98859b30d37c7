//! The socket.io admin UI (`@socket.io/admin-ui` 0.5) managing wshub:
//!
//! - its protocol with the real npm socket.io-client, as the UI speaks it
//!   (`tests/admin/protocol.mjs`): auth refused and accepted, the session id
//!   on reconnect, `config`, `server_stats`, `all_sockets`, the socket and
//!   room events and the aggregated counts while `/ws` and socket.io clients
//!   come and go, and each command's effect on those clients; production mode;
//! - the UI itself in Chromium, served by wshub (`tests/admin/ui.mjs`);
//! - two wshub nodes on one redis-server: the UI on one sees both;
//! - a Node socket.io server instrumented by the admin UI's own
//!   `instrument()` beside a wshub node: the UI on wshub manages it too.
//!
//! ```sh
//! npm ci && cargo test --test admin -- --nocapture
//! ```
mod common;

use common::*;
use serde_json::Value;
use wshub::admin::{AdminUi, Mode};
use wshub::{Server, ServerHandle};

/// The password of the tests' admin (hashed at cost 4: the tests log in often).
const PASSWORD: &str = "s3cret pass";

/// A server with the admin UI (`mode`, basic auth as `admin`): `hello`
/// is answered with `hi`, `join` puts the sender in a room.
fn server(mode: Mode) -> ServerHandle {
    let hash = bcrypt::hash(PASSWORD, 4).expect("hash");
    let builder = Server::builder().admin_ui(AdminUi::new().basic_auth("admin", &hash).mode(mode));
    start(builder, |socket| {
        socket.on("hello", |socket, _| socket.emit("hi", "from wshub"));
        socket.on("join", |socket, room: Value| socket.join(room.as_str().unwrap_or_default()));
    })
}

/// Development mode: everything, see the module docs and `protocol.mjs`.
#[test]
fn the_protocol_in_development_mode() {
    watchdog(60);
    if !node_ready() {
        return;
    }
    let server = server(Mode::Development);
    let url = format!("http://{}", server.local_addr);
    let out = run_node("tests/admin/protocol.mjs", &[&url, PASSWORD, "development"]);
    assert!(out.contains("ok - aggregatedEvents: 4 connections") && out.ends_with("done\n"), "{out}");
}

/// Production mode: `config` without `ALL_EVENTS`, stats with their
/// counts, and nothing per socket.
#[test]
fn the_protocol_in_production_mode() {
    watchdog(60);
    if !node_ready() {
        return;
    }
    let server = server(Mode::Production);
    let url = format!("http://{}", server.local_addr);
    let out = run_node("tests/admin/protocol.mjs", &[&url, PASSWORD, "production"]);
    assert!(out.contains("ok - production: no all_sockets") && out.ends_with("done\n"), "{out}");
}

/// A password that is not a bcrypt hash is refused at `bind`, saying why.
#[test]
fn a_hash_that_is_not_bcrypt_is_an_error_at_bind() {
    let error = Server::builder()
        .admin_ui(AdminUi::new().basic_auth("admin", "plain text"))
        .bind(("127.0.0.1", 0))
        .err()
        .expect("bind fails");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("bcrypt hash"), "{error}");
}

// The example itself, so that what the browser test runs is what
// `cargo run --example admin` runs (its `main` is unused here).
#[path = "../examples/admin.rs"]
#[allow(dead_code)]
mod example;

/// Chromium opens `/admin/` of `examples/admin.rs`: the UI (from
/// `node_modules/@socket.io/admin-ui/ui/dist`, served by `static_dir`)
/// connects, lists a `/ws` chat client and a socket.io client on its
/// Sockets page and the chat's room on its Rooms page, and its disconnect
/// button disconnects the `/ws` client. Screenshots are saved under
/// `target/screenshots/` (`admin-sockets.png`, `admin-rooms.png`,
/// `admin-servers.png`, `admin-dashboard.png`).
#[test]
fn the_ui_in_chromium() {
    watchdog(180);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium =
        std::env::var_os("CHROMIUM").map(std::path::PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    if !node_ready()
        || !require(&format!("chromium at {}", chromium.display()), chromium.exists())
        || !require(
            "node_modules/@socket.io/admin-ui (run `npm ci`)",
            root.join("node_modules/@socket.io/admin-ui/ui/dist").exists(),
        )
        || !require("node_modules/playwright-core (run `npm ci`)", root.join("node_modules/playwright-core").exists())
    {
        return;
    }
    let server = example::bind(("127.0.0.1", 0), AdminUi::new()).expect("bind").spawn().expect("spawn");
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/").join("screenshots");
    let url = format!("http://{}", server.local_addr);
    let out = run_node("tests/admin/ui.mjs", &[&url, shots.to_str().expect("a path")]);
    println!("{out}");
    assert!(out.contains("checks ok"), "{out}");
    let shots: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("screenshot: ")).collect();
    assert!(shots.len() == 4 && shots.iter().all(|p| std::path::Path::new(p).exists()), "{shots:?}");
}

/// Two wshub nodes on one redis-server, each with the admin UI; the UI
/// connects to node A only and sees node B's sockets (`all_sockets`, with
/// B's transports), B's `server_stats` and socket events, and its commands
/// reach B's clients (`tests/admin/cluster.mjs`).
#[test]
fn the_ui_on_one_node_sees_and_manages_the_cluster() {
    watchdog(120);
    if !node_ready() {
        return;
    }
    let Some(redis) = common::redis_server::RedisServer::start() else { return };
    let node = || {
        let builder = Server::builder().redis(&redis.url()).admin_ui(AdminUi::new());
        start(builder, |_| {})
    };
    let (a, b) = (node(), node());
    for (server, nsp) in [(&a, "/"), (&b, "/"), (&a, "/admin"), (&b, "/admin")] {
        let io = server.io.of(nsp);
        assert!(
            wait_until(std::time::Duration::from_secs(20), || io.server_count() == 2),
            "{nsp}: {}",
            io.server_count()
        );
    }
    let (url_a, url_b) = (format!("http://{}", a.local_addr), format!("http://{}", b.local_addr));
    let out = run_node("tests/admin/cluster.mjs", &[&url_a, &url_b]);
    assert!(out.contains("ok - _disconnect: node B's client is disconnected") && out.ends_with("done\n"), "{out}");
}

/// With connection state recovery on, the admin namespace's events are
/// never logged: they tell what happens now, and would otherwise crowd
/// the clients' packets out of the log. (A raw socket.io client as the UI,
/// no node needed.)
#[test]
fn admin_events_stay_out_of_the_recovery_log() {
    watchdog(30);
    let builder =
        Server::builder().connection_state_recovery(std::time::Duration::from_secs(60), true).admin_ui(AdminUi::new());
    let server = start(builder, |_| {});
    let (mut ui, _) = Raw::open(server.local_addr);
    ui.send("40/admin,");
    assert!(ui.recv().starts_with("40/admin,{\"sid\":"));
    let client = connect(server.local_addr);
    // Everything the UI hears until it hears of the /ws client.
    let mut heard = Vec::new();
    while !heard.last().is_some_and(|f: &String| f.contains("socket_connected") && f.contains("\"/ws\"")) {
        heard.push(ui.recv());
    }
    for frame in &heard {
        let event: Value = serde_json::from_str(frame.strip_prefix("42/admin,").expect("an admin event")).unwrap();
        let last = event.as_array().and_then(|a| a.last()).cloned().unwrap_or_default();
        // An offset would be the last argument: a short string of digits.
        assert!(!last.as_str().is_some_and(|s| s.chars().all(|c| c.is_ascii_digit())), "an offset in {frame}");
    }
    assert_eq!(server.io.recovery_stats().packets, 0, "admin events in the log: {heard:?}");
    drop(client);
}

/// Read-only: `config` announces no command, and a command is not taken
/// (the UI's `_disconnect`, sent asking for an ack, is answered as an
/// event nobody handles; the `/ws` client it names stays connected).
#[test]
fn readonly_takes_no_command() {
    watchdog(30);
    let server = start(Server::builder().admin_ui(AdminUi::new().readonly(true)), |socket| {
        socket.on("hello", |socket, _| socket.emit("hi", "still here"));
    });
    let mut client = connect(server.local_addr);
    let (mut ui, _) = Raw::open(server.local_addr);
    ui.send("40/admin,");
    assert!(ui.recv().starts_with("40/admin,{\"sid\":"));
    // Broadcasts to the admin namespace (`server_stats`, `socket_connected`)
    // may come before it: they are the `admin` thread's, on their own time.
    let config = std::iter::repeat_with(|| ui.recv()).find(|f| f.contains(r#"["config""#)).expect("a frame");
    assert_eq!(config, r#"42/admin,["config",{"supportedFeatures":["AGGREGATED_EVENTS","ALL_EVENTS"]}]"#);
    ui.send(r#"42/admin,7["_disconnect","/",true,null]"#);
    loop {
        let frame = ui.recv();
        if frame.contains(r#"["error""#) {
            assert!(frame.contains("no handler for event"), "{frame}");
            break;
        }
    }
    client.emit("hello", Value::Null);
    assert_eq!(client.recv_event(), ("hi".to_string(), serde_json::json!("still here")));
}

/// A Node socket.io server instrumented by `@socket.io/admin-ui`'s own
/// `instrument()`, in one Redis cluster with a wshub node: the UI on the
/// wshub node lists the Node server's clients, gets its `server_stats` and
/// socket events, and disconnects one of them (`tests/admin/node-interop.mjs`).
#[test]
fn the_ui_on_wshub_sees_and_manages_a_node_server_of_the_cluster() {
    watchdog(120);
    if !node_ready() {
        return;
    }
    let Some(redis) = common::redis_server::RedisServer::start() else { return };
    let wshub = start(Server::builder().redis(&redis.url()).admin_ui(AdminUi::new()), |_| {});
    let url = format!("http://{}", wshub.local_addr);
    let out = run_node("tests/admin/node-interop.mjs", &[&redis.url(), &url]);
    assert!(out.contains("ok - _disconnect from the UI on wshub") && out.ends_with("done\n"), "{out}");
}

/// The settings' `Debug` (and so the builder's) never shows the hash.
#[test]
fn the_hash_is_never_shown() {
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let shown = format!("{:?}", Server::builder().admin_ui(AdminUi::new().basic_auth("admin", &hash)));
    assert!(shown.contains("admin") && !shown.contains(&hash[7..]), "{shown}");
}
