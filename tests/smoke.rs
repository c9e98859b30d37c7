//! The smallest end-to-end check: connect, get the welcome, send an event.
mod common;

use common::*;
use serde_json::json;

/// A client connecting to `/ws` is greeted with `server-message`.
#[test]
fn welcome_event_on_connect() {
    let server = start_default();
    let mut client = connect(server.local_addr);
    assert_eq!(client.recv_event(), ("server-message".to_string(), json!("Welcome to WebSocket")));
}
