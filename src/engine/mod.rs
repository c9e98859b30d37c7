//! socket.io's engine: the `/socket.io/` endpoint and its sessions.
//!
//! The seed tutorial's "How HTTP connection works" (request → response →
//! closed) and "How WebSocket connection works" (one upgrade, then a
//! permanent two-way connection) are both here, because socket.io-client
//! starts with the first and upgrades to the second:
//!
//! ```text
//! GET  /socket.io/?EIO=4&transport=polling            → 200 0{"sid":"S",...}   a session opens (no thread)
//! POST /socket.io/?EIO=4&transport=polling&sid=S 40   → 200 ok                 packets for the session
//! GET  /socket.io/?EIO=4&transport=polling&sid=S      → waits… 200 40{"sid":..} a long-poll
//! GET  /socket.io/?EIO=4&transport=websocket&sid=S    → 101; 2probe/3probe, 5   the upgrade
//! GET  /socket.io/?EIO=4&transport=websocket          → 101; a WebSocket-only session
//! ```
//!
//! Each HTTP request runs on its connection's own thread (`conn-N`), which
//! stays open for the next request (keep-alive, as browsers expect). A
//! waiting long-poll is that thread blocked on a channel until the session's
//! outlet has something for it. The files:
//!
//! - [`session`]: one client's Engine.IO session, as state (`client`: the
//!   words it shares with its namespaces);
//! - `namespaces`: its Socket.IO layer (the namespaces it joined);
//! - `sessions`: the registry, and the `engine-timers` thread of polling sessions;
//! - `polling`: the long-polling requests; `websocket`: the upgrade and the
//!   WebSocket loop of a session.

mod client;
mod namespaces;
mod polling;
mod raw;
pub(crate) mod session;
mod sessions;
mod websocket;

use std::sync::Arc;
use std::time::Instant;

use crate::conn::Conn;
use crate::context::Context;
use crate::http::{self, Request, Response};
pub(crate) use raw::EngineHandler;
pub use raw::EngineSocket;
pub(crate) use session::Upper;
pub(crate) use sessions::Engine;
pub(crate) use websocket::SessionLoop;

/// The connection a request came on, and the client's address.
pub(crate) type Peer = (crate::hub::ConnId, std::net::SocketAddr);

/// Which transport a request asks for, from its query string.
#[derive(Debug, PartialEq, Eq)]
enum Transport {
    Polling,
    WebSocket,
}

/// What became of one request.
enum Answer {
    /// Send this HTTP response.
    Http(Response),
    /// Send this HTTP response and close: the request's body was refused.
    Close(Response),
    /// A valid WebSocket upgrade: `serve` hands the socket over.
    Upgrade(websocket::Plan),
}

// ANCHOR: serve
/// The body of `conn-N` for requests under `/socket.io/` (or, for
/// Engine.IO alone, `/engine.io/`: `upper` says which): answers requests on
/// this connection until it closes (`None`) or becomes a WebSocket, whose
/// loop the thread then runs from its top frame (`src/stack.rs`).
pub(crate) fn serve(
    mut stream: Conn,
    first: Request,
    rest: Vec<u8>,
    (peer, upper): (Peer, Upper),
    ctx: &Arc<Context>,
    engine: &Arc<Engine>,
) -> Option<SessionLoop> {
    let config = &ctx.config;
    let id = peer.0;
    let mut buffer = rest;
    let mut request = first;
    loop {
        let keep_alive = request.version >= 1 && !request.header_has_token("Connection", "close");
        let (response, close) = match answer(&mut stream, &request, &mut buffer, (peer, upper), ctx, engine) {
            Answer::Http(response) => (response, false),
            Answer::Close(response) => (response, true),
            // The WebSocket takes this very socket (no second descriptor).
            Answer::Upgrade(plan) => return websocket::upgrade(stream, &request, buffer, peer, ctx, engine, plan),
        };
        let keep_alive = keep_alive && !ctx.is_stopping() && !close;
        match response.status {
            200 | 204 => log::debug!("conn {id}: {} {:?} → {}", request.method, request.path, response.status),
            status => {
                log::info!("conn {id}: {} {:?} → {status}: {:?}", request.method, request.path, response.reason())
            }
        }
        if response.write_with(&mut stream, request.method == "HEAD", keep_alive).is_err() {
            return None;
        }
        if !keep_alive {
            http::linger(&stream); // unread bytes must not turn our FIN into a RST
            return None;
        }
        // Keep-alive: wait for the next request on this connection. While
        // waiting, the listener may wake us for shutdown.
        let Ok(clone) = stream.tcp().try_clone() else { return None };
        ctx.handshake_started(id, clone);
        let deadline = Instant::now() + config.handshake_timeout;
        let next =
            http::read_next_head(&mut stream, &mut buffer, deadline, config.max_request_head, config.max_headers);
        ctx.handshake_done(id);
        match next {
            Ok(next) => request = next,
            Err(_) => return None, // closed, idle too long, or garbage: just close
        }
        // A browser reuses its connections for any path (the admin UI's
        // favicon after its long-polls). Not the engine's: closed
        // unanswered, and the client sends it again on a fresh connection,
        // which the front door routes (RFC 9112, 9.3.1: a request on a
        // reused connection that closed before an answer is retried).
        let prefix = match upper {
            Upper::SocketIo => &config.socketio.path,
            Upper::EngineIo => &config.socketio.engineio_path,
        };
        if !request.path.starts_with(prefix.as_str()) {
            log::debug!("conn {id}: {:?} after an engine request: closed for the client to retry", request.path);
            return None;
        }
        // Each request names its host, not only the connection's first.
        if let Err(response) = config.allowed_hosts.check(&request) {
            log::info!("conn {id}: refused {}: {:?}", response.status, response.reason());
            let _ = response.write_with(&mut stream, false, false);
            http::linger(&stream);
            return None;
        }
    }
}
// ANCHOR_END: serve

/// Decides and answers one request under `/socket.io/`.
fn answer(
    stream: &mut Conn,
    req: &Request,
    buffer: &mut Vec<u8>,
    (peer, upper): (Peer, Upper),
    ctx: &Arc<Context>,
    engine: &Arc<Engine>,
) -> Answer {
    let config = &ctx.config;
    // CORS first: a page from a foreign origin is refused, not half-served.
    let cors = config.origins.cors_headers(req);
    // Then the body, whatever the request: on a kept-alive connection its
    // bytes would otherwise be read as the next request.
    let deadline = Instant::now() + config.handshake_timeout;
    let body = match http::body::read(stream, req, buffer, config.socketio.max_payload, deadline) {
        Ok(body) => body,
        Err(http::body::BodyRefused(mut response)) => {
            response.headers.extend(cors.into_iter().flatten());
            return Answer::Close(response);
        }
    };
    let cors = match cors {
        Ok(headers) => headers,
        Err(response) => return Answer::Http(response),
    };
    let with_cors = |mut response: Response| {
        response.headers.extend(cors.iter().cloned());
        Answer::Http(response)
    };
    if req.method == "OPTIONS" {
        // The browser's preflight before a cross-origin POST.
        let mut response = Response { status: 204, headers: Vec::new(), content_type: "text/plain", body: Vec::new() };
        response.headers.push(("Access-Control-Allow-Methods", "GET, POST, OPTIONS".into()));
        if let Some(asked) = req.header("Access-Control-Request-Headers") {
            response.headers.push(("Access-Control-Allow-Headers", asked.to_string()));
        }
        return with_cors(response);
    }
    let query = Query::parse(&req.query);
    if query.get("EIO") != Some("4") {
        return with_cors(error(400, 5, "Unsupported protocol version: this server speaks EIO=4"));
    }
    let transport = match query.get("transport") {
        Some("polling") => Transport::Polling,
        Some("websocket") => Transport::WebSocket,
        _ => return with_cors(error(400, 0, "Transport unknown: use polling or websocket")),
    };
    let sid = query.get("sid");
    // Stopping: only a polling request of an existing session is answered
    // (it may come for its last packets and the close packet).
    if ctx.is_stopping() && (sid.is_none() || transport == Transport::WebSocket) {
        return with_cors(Response::refusal(503, "server is shutting down"));
    }

    match (transport, req.method.as_str(), sid) {
        (Transport::WebSocket, _, sid) => match websocket::plan(req, ctx, engine, sid, upper) {
            Ok(plan) => Answer::Upgrade(plan),
            Err(response) => Answer::Http(response),
        },
        (Transport::Polling, "GET", None) => with_cors(polling::open(req, peer, ctx, engine, upper)),
        (Transport::Polling, "GET", Some(sid)) => with_cors(polling::poll(engine, sid, upper)),
        (Transport::Polling, "POST", Some(sid)) => {
            let Ok(body) = String::from_utf8(body) else {
                return with_cors(Response::refusal(400, "a polling body must be UTF-8 text"));
            };
            with_cors(polling::post(engine, sid, &body, upper))
        }
        _ => with_cors(error(400, 2, "Bad handshake method")),
    }
}

/// A 200 with a polling body.
fn text(body: String) -> Response {
    Response { status: 200, headers: Vec::new(), content_type: "text/plain; charset=UTF-8", body: body.into_bytes() }
}

/// An Engine.IO error: Node answers these as JSON with a numeric code.
fn error(status: u16, code: u8, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    Response { status, headers: Vec::new(), content_type: "application/json", body: body.into_bytes() }
}

/// The query string as key/value pairs (the values we read need no decoding).
struct Query<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Query<'a> {
        Query(query.split('&').filter_map(|pair| pair.split_once('=')).collect())
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}
