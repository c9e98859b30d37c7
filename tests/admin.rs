//! The socket.io admin UI (`@socket.io/admin-ui` 0.5) managing wshub:
//!
//! - its protocol with the real npm socket.io-client, as the UI speaks it
//!   (`tests/admin/protocol.mjs`): auth refused and accepted, the session id
//!   on reconnect, `config`, `server_stats`, `all_sockets`, the socket and
//!   room events and the aggregated counts while `/ws` and socket.io clients
//!   come and go, and each command's effect on those clients; production mode;
//! - the UI itself in Chromium, served by wshub (`tests/admin/ui.mjs`);
//! - two wshub nodes on one redis-server: the UI on one sees both.
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
