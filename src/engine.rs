//! The `/socket.io/` endpoint: what each HTTP request asks of a session.
//!
//! The seed tutorial's "How HTTP connection works" (request → response →
//! closed) and "How WebSocket connection works" (one upgrade, then a
//! permanent two-way connection) are both here, because socket.io-client
//! starts with the first and upgrades to the second:
//!
//! ```text
//! GET  /socket.io/?EIO=4&transport=polling            → 200 0{"sid":"S",...}  (a session opens: thread session-N)
//! POST /socket.io/?EIO=4&transport=polling&sid=S 40   → 200 ok               (packets for the session)
//! GET  /socket.io/?EIO=4&transport=polling&sid=S      → waits… 200 40{"sid":..}  (a long-poll: blocked on the session)
//! GET  /socket.io/?EIO=4&transport=websocket&sid=S    → 101; 2probe/3probe, 5     (the upgrade)
//! GET  /socket.io/?EIO=4&transport=websocket          → 101; a WebSocket-only session on this thread
//! ```
//!
//! Each HTTP request runs on its connection's own thread (`conn-N`), which
//! stays open for the next request (HTTP keep-alive, as browsers expect) and
//! talks to the session thread through channels ([`ToSession`]). A waiting
//! long-poll is just that thread blocked on a channel until the session
//! answers.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{bounded, unbounded, Sender};

use crate::http::handshake;
use crate::http::{self, Request, Response};
use crate::server::Shared;
use crate::session::{open_packet, random_id, Client, Reply, Session, ToSession};
use crate::socket::SocketId;
use crate::wslink::WsLink;

/// Stack of a polling session thread: it runs handlers, like `conn-N`.
const SESSION_STACK: usize = 256 * 1024;

/// The open sessions, by Engine.IO session id: how a polling request or an
/// upgrade finds its session.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The session's request channel.
    tx: Sender<ToSession>,
    /// The `session-N` thread of a polling session (WebSocket-only sessions
    /// run on their `conn-N` thread, which the listener joins).
    thread: Option<JoinHandle<()>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, sid: String, tx: Sender<ToSession>) {
        self.lock().insert(sid, Entry { tx, thread: None });
    }

    fn set_thread(&self, sid: &str, thread: JoinHandle<()>) {
        if let Some(entry) = self.lock().get_mut(sid) {
            entry.thread = Some(thread);
        }
    }

    fn get(&self, sid: &str) -> Option<Sender<ToSession>> {
        self.lock().get(sid).map(|e| e.tx.clone())
    }

    /// Called by a session as it ends: later requests with its sid get 400.
    pub(crate) fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }

    /// Shutdown: tells every session to stop and joins the polling ones.
    pub(crate) fn shutdown(&self) {
        let entries: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        let mut threads = Vec::new();
        for entry in entries {
            let _ = entry.tx.send(ToSession::Shutdown);
            threads.extend(entry.thread);
        }
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Which transport a request asks for, from its query string.
#[derive(Debug, PartialEq, Eq)]
enum Transport {
    Polling,
    WebSocket,
}

/// The body of `conn-N` for requests under `/socket.io/`: answers requests
/// on this connection until it closes or becomes a WebSocket.
pub(crate) fn serve(
    mut stream: TcpStream,
    first: Request,
    rest: Vec<u8>,
    id: SocketId,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let config = &shared.config;
    let mut buffer = rest;
    let mut request = first;
    loop {
        let keep_alive = request.version >= 1 && !request.header_has_token("Connection", "close");
        let (response, close) = match answer(&mut stream, &request, &mut buffer, id, peer, &shared) {
            Answer::Http(response) => (response, false),
            Answer::Close(response) => (response, true),
            // The WebSocket takes this very socket (no second descriptor).
            Answer::Upgrade(plan) => return upgrade(stream, &request, buffer, (id, peer), &shared, plan),
        };
        let keep_alive = keep_alive && !shared.is_stopping() && !close;
        match response.status {
            200 | 204 => log::debug!("conn {id}: {} {} → {}", request.method, request.path, response.status),
            status => log::info!(
                "conn {id}: {} {}?{} → {status}: {}",
                request.method,
                request.path,
                request.query,
                response.reason()
            ),
        }
        if response.write_with(&mut stream, request.method == "HEAD", keep_alive).is_err() {
            return;
        }
        if !keep_alive {
            return http::linger(&mut stream); // unread bytes must not turn our FIN into a RST
        }
        // Keep-alive: wait for the next request on this connection. While
        // waiting, the listener may wake us for shutdown.
        let Ok(clone) = stream.try_clone() else { return };
        shared.handshake_started(id, clone);
        let deadline = Instant::now() + config.handshake_timeout;
        let next =
            http::read_next_head(&mut stream, &mut buffer, deadline, config.max_request_head, config.max_headers);
        shared.handshake_done(id);
        match next {
            Ok(next) => request = next,
            Err(_) => return, // closed, idle too long, or garbage: just close
        }
        // Each request names its host, not only the connection's first.
        if let Err(response) = config.allowed_hosts.check(&request) {
            log::info!("conn {id}: refused {}: {}", response.status, response.reason());
            let _ = response.write_with(&mut stream, false, false);
            return http::linger(&mut stream);
        }
    }
}

/// What became of one request.
enum Answer {
    /// Send this HTTP response.
    Http(Response),
    /// Send this HTTP response and close: the request's body was refused.
    Close(Response),
    /// A valid WebSocket upgrade: `serve` hands the socket over.
    Upgrade(Plan),
}

/// Decides and answers one request under `/socket.io/`.
fn answer(
    stream: &mut TcpStream,
    req: &Request,
    buffer: &mut Vec<u8>,
    id: SocketId,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Answer {
    let config = &shared.config;
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
    if shared.is_stopping() && sid.is_none() {
        return with_cors(Response::refusal(503, "server is shutting down"));
    }

    match (transport, req.method.as_str(), sid) {
        (Transport::WebSocket, _, sid) => plan_upgrade(req, shared, sid),
        (Transport::Polling, "GET", None) => with_cors(open_polling(req, id, peer, shared)),
        (Transport::Polling, "GET", Some(sid)) => {
            let (reply_tx, reply_rx) = bounded::<Reply>(1);
            with_cors(ask(shared, sid, ToSession::Poll(reply_tx), reply_rx))
        }
        (Transport::Polling, "POST", Some(sid)) => {
            let Ok(body) = String::from_utf8(body) else {
                return with_cors(Response::refusal(400, "a polling body must be UTF-8 text"));
            };
            let (reply_tx, reply_rx) = bounded::<Reply>(1);
            with_cors(ask(shared, sid, ToSession::Post(body, reply_tx), reply_rx))
        }
        _ => with_cors(error(400, 2, "Bad handshake method")),
    }
}

/// Sends a request to a session and waits for its answer. For a long-poll
/// this is where the thread waits, possibly for a whole pingInterval.
fn ask(shared: &Shared, sid: &str, request: ToSession, reply: crossbeam_channel::Receiver<Reply>) -> Response {
    let Some(session) = shared.sessions.get(sid) else {
        return error(400, 1, "Session ID unknown");
    };
    if session.send(request).is_err() {
        return error(400, 1, "Session ID unknown");
    }
    match reply.recv() {
        Ok(Ok(body)) => text(body),
        Ok(Err(why)) => Response::refusal(400, why),
        // The session ended while we waited.
        Err(_) => error(400, 1, "Session ID unknown"),
    }
}

/// The polling handshake: a new session on its own thread `session-N`; the
/// response is its open packet.
fn open_polling(req: &Request, id: SocketId, peer: SocketAddr, shared: &Arc<Shared>) -> Response {
    let sid = random_id();
    let open = open_packet(&shared.config.socketio, &sid, true).text();
    let (tx, rx) = unbounded();
    shared.sessions.insert(sid.clone(), tx);
    // The session is built on its own thread: its sockets are not `Send`.
    let (thread_shared, thread_sid, client) = (shared.clone(), sid.clone(), client_of(req, peer));
    let spawned = thread::Builder::new()
        .name(format!("session-{id}"))
        .stack_size(SESSION_STACK)
        .spawn(move || Session::new(thread_sid, id, thread_shared, client, None).run(rx));
    match spawned {
        Ok(thread) => {
            shared.sessions.set_thread(&sid, thread);
            log::info!("session {sid}: opened over HTTP long-polling (conn {id})");
            text(open)
        }
        Err(e) => {
            shared.sessions.remove(&sid);
            log::error!("conn {id}: cannot start a session thread: {e}");
            Response::refusal(503, "server cannot take more clients now")
        }
    }
}

/// A checked `transport=websocket` request: the client's key, and the
/// polling session it upgrades, if any.
struct Plan {
    key: String,
    existing: Option<Sender<ToSession>>,
}

/// Checks a `transport=websocket` request without touching the socket.
fn plan_upgrade(req: &Request, shared: &Arc<Shared>, sid: Option<&str>) -> Answer {
    let key = match handshake::check_upgrade(req, &shared.config) {
        Ok((key, _origin)) => key,
        Err(response) => return Answer::Http(response),
    };
    let existing = match sid {
        Some(sid) => match shared.sessions.get(sid) {
            Some(session) => Some(session),
            None => return Answer::Http(error(400, 1, "Session ID unknown")),
        },
        None => None,
    };
    Answer::Upgrade(Plan { key, existing })
}

/// `transport=websocket`: a new WebSocket-only session on this thread, or
/// the upgrade of an existing polling session (handed to its thread).
fn upgrade(
    stream: TcpStream,
    req: &Request,
    rest: Vec<u8>,
    (id, peer): (SocketId, SocketAddr),
    shared: &Arc<Shared>,
    plan: Plan,
) {
    let config = &shared.config;
    let mut writer = &stream;
    if std::io::Write::write_all(&mut writer, handshake::accept_response(&plan.key).as_bytes()).is_err() {
        return;
    }
    let max = config.socketio.max_payload;
    let ws_config = config.websocket().max_message_size(Some(max)).max_frame_size(Some(max));
    let link = match WsLink::start(stream, rest, id, ws_config, config.write_timeout, config.read_buffer_size) {
        Ok(link) => link,
        Err(e) => {
            log::warn!("conn {id}: cannot start the WebSocket: {e}");
            return;
        }
    };
    match plan.existing {
        Some(session) => {
            // The session thread probes it and switches over on `5`.
            let _ = session.send(ToSession::Upgrade(Box::new(link)));
        }
        None => {
            let sid = random_id();
            let (tx, rx) = unbounded();
            shared.sessions.insert(sid.clone(), tx);
            log::info!("session {sid}: opened over WebSocket (conn {id})");
            Session::new(sid, id, shared.clone(), client_of(req, peer), Some(link)).run(rx);
        }
    }
}

fn client_of(req: &Request, peer: SocketAddr) -> Client {
    Client {
        peer,
        path: req.path.clone(),
        query: req.query.clone(),
        origin: req.header("Origin").map(str::to_string),
        headers: req.headers.clone(),
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
