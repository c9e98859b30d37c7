//! The front door: the first thing thread `conn-N` does with its client.
//!
//! [`serve`] reads the request head under the handshake deadline and sends
//! it where it belongs:
//!
//! ```text
//! GET /            → a page (200), and the connection closes
//! GET /nope, bad   → a refusal with its status and reason (400, 403, 404, 405, 408, 426, 431)
//! GET /ws + Upgrade → 101, then this thread becomes the client's connection (connection.rs)
//! /socket.io/…     → socket.io's endpoint: long-polling or its own upgrade (engine/)
//! ```

use std::net::TcpStream;
use std::sync::Arc;

use crate::conn::Conn;
use std::time::{Instant, SystemTime};

use crate::connection;
use crate::context::Context;
use crate::engine::{self, Engine, Upper};
use crate::http::files::{self, Found};
use crate::http::handshake::{self, Route};
use crate::http::{self, HeadError, Response};
use crate::hub::{ConnId, SocketInfo};
use crate::Value;

/// A client past its setup (the upgrade, the hub's registration, the
/// application's `on_connection`), with its loop still to run.
// One per thread, in its top frame, whose stack page is resident anyway:
// boxing the larger variant would add a heap allocation per client and
// save nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Upgraded {
    /// A `/ws` client.
    Ws(connection::Connection),
    /// A socket.io (or Engine.IO) session over WebSocket.
    Session(engine::SessionLoop),
}

impl Upgraded {
    /// The client's loop, until it leaves.
    pub(crate) fn run(&mut self) {
        match self {
            Upgraded::Ws(connection) => connection.run(),
            Upgraded::Session(session) => session.run(),
        }
    }
}

// ANCHOR: serve
/// The body of thread `conn-N`: read the request, then answer or upgrade
/// it. An upgraded client comes back to the thread's top frame to run its
/// loop (`Upgraded::run`): the setup's deep frames are gone by then, and so
/// are their stack pages (`src/stack.rs`).
pub(crate) fn serve(tcp: TcpStream, id: ConnId, ctx: Arc<Context>, engine: Arc<Engine>) -> Option<Upgraded> {
    let config = &ctx.config;
    let Ok(peer) = tcp.peer_addr() else {
        ctx.handshake_done(id);
        return None; // already gone
    };
    log::info!("conn {id}: accepted from {peer}");
    // The connection's bytes: plain, or TLS (its handshake happens in the
    // first reads below, under the same deadline as the request head).
    let mut stream = match &ctx.tls {
        None => Conn::plain(tcp),
        Some(tls) => match Conn::tls(tcp, tls.clone()) {
            Ok(conn) => conn,
            Err(e) => {
                log::error!("conn {id}: no TLS session: {e}");
                return None;
            }
        },
    };
    let _ = stream.set_write_timeout(Some(config.write_timeout));

    // Step 1: read the request head, under the handshake deadline.
    let deadline = Instant::now() + config.handshake_timeout;
    let head = http::read_head(&mut stream, deadline, config.max_request_head, config.max_headers);
    ctx.handshake_done(id);
    let (request, rest) = match head {
        Ok(head) => head,
        Err(HeadError::Gone(e)) => {
            log::info!("conn {id}: gone before sending a request ({e})");
            return None;
        }
        Err(HeadError::Timeout) => {
            return respond(stream, id, Response::refusal(408, "request head not received in time"), false)
        }
        Err(HeadError::TooLarge(what)) => return respond(stream, id, Response::refusal(431, what), false),
        Err(HeadError::Malformed(why)) => return respond(stream, id, Response::refusal(400, why), false),
    };
    // socket.io's endpoint, or Engine.IO's alone (when the application
    // handles it): both are the engine's.
    let upper = if request.path.starts_with(config.socketio.path.as_str()) {
        Some(Upper::SocketIo)
    } else if request.path.starts_with(config.socketio.engineio_path.as_str()) && engine.engineio.is_some() {
        Some(Upper::EngineIo)
    } else {
        None
    };
    // Stopping: only the engine's polling clients still come for their last
    // packets (the engine refuses everything else).
    if ctx.is_stopping() && upper.is_none() {
        return respond(stream, id, Response::refusal(503, "server is shutting down"), false);
    }
    // The host name first, for every path: pages, `/ws` and socket.io.
    if let Err(response) = config.allowed_hosts.check(&request) {
        return respond(stream, id, response, false);
    }

    // socket.io has its own endpoint: HTTP long-polling and its own upgrades.
    if let Some(upper) = upper {
        return engine::serve(stream, request, rest, ((id, peer), upper), &ctx, &engine).map(Upgraded::Session);
    }

    // A file of a static folder (a page given with `.page()` comes first).
    let plain_get =
        matches!(request.method.as_str(), "GET" | "HEAD") && !request.header_has_token("Upgrade", "websocket");
    if plain_get && !ctx.pages.contains_key(&request.path) {
        match ctx.files.find(&request.path) {
            Some(Found::File(file)) => return send_file(stream, id, &request, &file, config.write_timeout),
            Some(Found::Answer(response)) => return respond(stream, id, response, request.method == "HEAD"),
            None => {}
        }
    }

    // Step 2: decide. A page or a refusal ends here; an upgrade goes on.
    let head_only = request.method == "HEAD";
    match handshake::route(&request, config, &ctx.pages) {
        Route::Respond(response) => respond(stream, id, response, head_only),
        Route::Upgrade { key, wire, origin } => {
            // Recovery: a `/ws` client that comes back names its session in
            // the query (`?pid=…&offset=…`); handlers never see those two.
            let (query, resume) = split_resume(&request.query, ctx.io.keeps_sessions());
            let info = SocketInfo {
                id,
                peer,
                path: request.path.clone(),
                query,
                origin: request.header("Origin").map(str::to_string),
                headers: request.headers.clone(),
                protocol: wire.name(),
                connected_at: SystemTime::now(),
            };
            let skip = config.recovery.is_some_and(|r| r.skip_middlewares);
            let restore = |(pid, offset): &(String, String)| ctx.io.restore("/", pid, offset);
            let mut restored = if skip { resume.as_ref().and_then(restore) } else { None };
            // The application's connect checks for `/`, where `/ws` clients
            // live. Why before the 101 and not an error event after it: a
            // refused client then costs no hub member, and gets a real HTTP
            // answer with the reason, like a refused Origin. (A browser page
            // sees only a failed connection; the reason is in its console
            // and in our log.)
            if restored.is_none() {
                if let Err(message) = ctx.check_connect("/", &Value::Null, &info) {
                    return respond(stream, id, Response::refusal(403, message), false);
                }
                if !skip {
                    restored = resume.as_ref().and_then(restore);
                }
            }
            if let Err(e) = handshake::switch_protocols(&mut stream, &key, config.write_timeout) {
                log::info!("conn {id}: gone during the handshake ({e})");
                return None;
            }
            log::info!("socket {id}: upgraded on {:?} ({}, origin: {origin:?})", request.path, wire.name());
            Some(Upgraded::Ws(connection::run_websocket(stream, rest, info, &ctx, restored)))
        }
    }
}
// ANCHOR_END: serve

/// Sends a static file and closes the connection gracefully: nothing to
/// run after it (`None`).
fn send_file(
    mut stream: Conn,
    id: ConnId,
    request: &http::Request,
    file: &std::path::Path,
    write_timeout: std::time::Duration,
) -> Option<Upgraded> {
    let _ = stream.set_write_timeout(Some(write_timeout));
    match files::send_file(&mut stream, request, file) {
        Ok(status) => {
            log::info!("conn {id}: {status} {:?}", request.path);
            http::linger(&stream);
        }
        Err(e) => log::info!("conn {id}: sending {:?} failed: {e}", request.path),
    }
    None
}

/// Takes `pid` and `offset` out of a `/ws` upgrade's query string: the
/// session a recovering client names, and the query its handlers see.
fn split_resume(query: &str, recovery: bool) -> (String, Option<(String, String)>) {
    if !recovery {
        return (query.to_string(), None);
    }
    let (mut pid, mut offset) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pid", value)) => pid = Some(value.to_string()),
            Some(("offset", value)) => offset = Some(value.to_string()),
            _ => kept.push(pair),
        }
    }
    (kept.join("&"), pid.zip(offset))
}

/// Sends an HTTP response and closes the connection gracefully: nothing to
/// run after it (`None`).
fn respond(mut stream: Conn, id: ConnId, response: Response, head_only: bool) -> Option<Upgraded> {
    match response.status {
        200 => log::info!("conn {id}: served a page"),
        403 => log::warn!("conn {id}: refused 403: {:?}", response.reason()),
        status => log::info!("conn {id}: refused {status}: {:?}", response.reason()),
    }
    if response.write_to(&mut stream, head_only).is_ok() {
        http::linger(&stream);
    }
    None
}
