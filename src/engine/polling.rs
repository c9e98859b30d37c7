//! HTTP long-polling: the session opens, the client GETs and POSTs.
//!
//! ```text
//! GET  (no sid)  → a session opens: a slot in the registry, no thread
//! GET  sid       → what the outlet holds, or wait on this thread until it holds something
//! POST sid       → the body's packets, handled on this thread, under the session's lock
//! ```

use std::sync::Arc;

use super::client::{parse_error, random_id, short_sid, Client, SessionEnd};
use super::session::{open_packet, Session, Upper};
use super::sessions::{Engine, State};
use super::Peer;
use super::{error, text};
use crate::context::Context;
use crate::http::{Request, Response};
use crate::hub::outlet::Poll;
use crate::hub::{Command, Outlet};
use crate::wire::engineio::{self, Packet};

// ANCHOR: open
/// The polling handshake: a new session, which is only state in the
/// registry; the response is its open packet.
pub(super) fn open(req: &Request, (id, peer): Peer, ctx: &Arc<Context>, engine: &Engine, upper: Upper) -> Response {
    if engine.len() >= ctx.config.max_clients {
        log::warn!("conn {id}: refusing a new session: {} sessions is the limit", ctx.config.max_clients);
        return Response::refusal(503, "too many clients, try again later");
    }
    let sid = random_id();
    let open = open_packet(&ctx.config.socketio, &sid, true).text();
    // The session's outlet has an id of its own: it outlives this connection.
    let outlet = Outlet::polling(ctx.next_id(), ctx.limits(), engine.notices.clone());
    ctx.io.send(Command::Open(outlet.clone()));
    let session = Session::new(sid, outlet, ctx.clone(), client_of(req, peer), upper, engine.engineio.as_ref());
    log::info!("session {}: opened over HTTP long-polling (conn {id})", session.short_sid());
    let deadline = session.next_deadline();
    let (sid, outlet) = (session.sid.clone(), session.outlet.clone());
    engine.insert(sid, upper, outlet, State::Polling(Box::new(session)), deadline);
    text(open)
}
// ANCHOR_END: open

// ANCHOR: poll
/// A long-poll GET: answered at once with what waits, or this thread waits
/// until the session's outlet has something (at the latest its next ping).
pub(super) fn poll(engine: &Engine, sid: &str, upper: Upper) -> Response {
    let Some(slot) = engine.find(sid, upper) else { return error(400, 1, "Session ID unknown") };
    let body = match slot.outlet.poll() {
        Poll::Ready(body) => body,
        Poll::Wait(body) => match body.recv() {
            Ok(body) => body,
            Err(_) => return error(400, 1, "Session ID unknown"), // it ended meanwhile
        },
        Poll::Overlap => {
            // Two long-polls at once: the protocol says the session is broken.
            let mut state = slot.lock();
            if let State::Polling(_) = &*state {
                if let State::Polling(session) = std::mem::replace(&mut *state, State::Closing) {
                    let end = SessionEnd::TransportError("overlapping long-poll requests".into());
                    engine.end_polling(&mut state, session, end);
                }
            }
            return error(400, 3, "overlapping long-poll requests");
        }
        Poll::Gone => return error(400, 3, "Bad request: this session is on WebSocket now"),
    };
    if body == Packet::Close.text() && matches!(*slot.lock(), State::Closing) {
        engine.remove(sid); // the last thing this session had to say
    }
    text(body)
}
// ANCHOR_END: poll

// ANCHOR: post
/// A POST: its packets, handled here, on this connection's thread.
pub(super) fn post(engine: &Engine, sid: &str, body: &str, upper: Upper) -> Response {
    let Some(slot) = engine.find(sid, upper) else { return error(400, 1, "Session ID unknown") };
    let mut state = slot.lock();
    let State::Polling(session) = &mut *state else {
        return match &*state {
            State::WebSocket => error(400, 3, "Bad request: this session is on WebSocket now"),
            _ => Response::refusal(400, "the session is closing"),
        };
    };
    let outcome = engineio::decode_payload(body)
        .map_err(|e| parse_error(e.to_string()))
        .and_then(|packets| packets.into_iter().try_for_each(|packet| session.on_packet(packet)));
    let Err(end) = outcome else { return text("ok".into()) };
    log::debug!("session {}: POST ended it: {:?}", short_sid(sid), end.to_string());
    let answer = match &end {
        SessionEnd::ParseError(_, why) => Response::refusal(400, why.clone()),
        _ => text("ok".into()),
    };
    if let State::Polling(session) = std::mem::replace(&mut *state, State::Closing) {
        engine.end_polling(&mut state, session, end);
    }
    answer
}
// ANCHOR_END: post

pub(super) fn client_of(req: &Request, peer: std::net::SocketAddr) -> Client {
    Client {
        peer,
        path: req.path.clone(),
        query: req.query.clone(),
        origin: req.header("Origin").map(str::to_string),
        headers: req.headers.clone(),
    }
}
