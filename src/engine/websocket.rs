//! A session over WebSocket: the upgrade of a polling session, a
//! WebSocket-only session, and the loop on `conn-N` that reads either.
//!
//! ```text
//! transport=websocket&sid=S   101 → 2probe / 3probe (the waiting long-poll gets a noop) → 5:
//!                             the session leaves its slot for this thread; its outlet writes here now
//! transport=websocket         101 → the open packet → a new session, on this thread from the start
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{random_id, send, SessionEnd};
use super::error;
use super::polling::client_of;
use super::session::{open_packet, Session, Upper};
use super::sessions::{Engine, Slot, State};
use super::Peer;
use crate::conn::Conn;
use crate::context::Context;
use crate::http::handshake;
use crate::http::{Request, Response};
use crate::hub::{Command, Outlet};
use crate::websocket::{Link, LinkEnd};
use crate::wire::engineio::Packet;

/// How long a probing WebSocket may take to send `5` (Node's `upgradeTimeout`).
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// A checked `transport=websocket` request: the client's key, and the
/// polling session it upgrades, if any.
pub(super) struct Plan {
    key: String,
    slot: Option<Arc<Slot>>,
    upper: Upper,
}

/// Checks a `transport=websocket` request without touching the socket.
pub(super) fn plan(
    req: &Request,
    ctx: &Context,
    engine: &Engine,
    sid: Option<&str>,
    upper: Upper,
) -> Result<Plan, Response> {
    let (key, _origin) = handshake::check_upgrade(req, &ctx.config)?;
    let slot = match sid {
        Some(sid) => Some(engine.find(sid, upper).ok_or_else(|| error(400, 1, "Session ID unknown"))?),
        None if engine.len() >= ctx.config.max_clients => {
            return Err(Response::refusal(503, "too many clients, try again later"))
        }
        None => None,
    };
    Ok(Plan { key, slot, upper })
}

/// `transport=websocket`: the 101, then a new WebSocket-only session on
/// this thread, or the probe of an existing polling session. Returns the
/// session's loop, to run from the thread's top frame (`src/stack.rs`).
pub(super) fn upgrade(
    mut stream: Conn,
    req: &Request,
    rest: Vec<u8>,
    peer: Peer,
    ctx: &Arc<Context>,
    engine: &Arc<Engine>,
    plan: Plan,
) -> Option<SessionLoop> {
    let id = peer.0;
    if let Err(e) = handshake::switch_protocols(&mut stream, &plan.key, ctx.config.write_timeout) {
        log::info!("conn {id}: gone during the handshake ({e})");
        return None;
    }
    let socket = Arc::new(stream);
    let max = ctx.config.socketio.max_payload;
    let ws_config = ctx.config.websocket().max_message_size(Some(max)).max_frame_size(Some(max));
    let Some(slot) = plan.slot else {
        let sid = random_id();
        let outlet = Outlet::websocket(id, socket.clone(), ctx.limits(), ctx.hub_notices.clone());
        ctx.io.send(Command::Open(outlet.clone()));
        // WebSocket-only: the open packet is the first frame, at once (the
        // client says nothing until it has it).
        send(&outlet, open_packet(&ctx.config.socketio, &sid, false).to_message());
        let session = Session::new(
            sid.clone(),
            outlet.clone(),
            ctx.clone(),
            client_of(req, peer.1),
            plan.upper,
            engine.engineio.as_ref(),
        );
        engine.insert(sid, plan.upper, outlet.clone(), State::WebSocket, None);
        if ctx.is_stopping() {
            outlet.close(1001, "server shutting down", false);
        }
        log::info!("session {}: opened over WebSocket (conn {id})", session.short_sid());
        let link = Link::new(socket, rest, outlet, ws_config);
        return Some(SessionLoop { link, session, ctx: ctx.clone(), engine: engine.clone() });
    };

    let probe_outlet = Outlet::websocket(id, socket.clone(), ctx.limits(), ctx.hub_notices.clone());
    let mut link = Link::new(socket.clone(), rest, probe_outlet.clone(), ws_config);
    // The session learns of its probe, so that if it ends first (a ping
    // timeout, a shutdown) it closes the probe with its reason.
    let refused = match &mut *slot.lock() {
        State::Polling(session) if session.probe.is_none() => {
            session.probe = Some(probe_outlet.clone());
            None
        }
        State::Polling(_) => Some("an upgrade is already in progress"),
        _ => Some("session already upgraded"),
    };
    if let Some(why) = refused {
        log::info!("conn {id}: refusing a second WebSocket for a session: {why}");
        probe_outlet.close(1008, why, false);
        link.finish(false, Duration::ZERO);
        return None;
    }
    let deadline = Instant::now() + UPGRADE_TIMEOUT;
    loop {
        let message = match link.next(Some(deadline)) {
            Ok(Some(message)) => message,
            Ok(None) => {
                log::info!("conn {id}: the probing WebSocket sent no upgrade in time");
                probe_outlet.close(1000, "upgrade timeout", false);
                break;
            }
            Err(end) => {
                log::info!("conn {id}: the probing WebSocket ended: {end:?}");
                break;
            }
        };
        // ANCHOR: probe
        match Packet::from_message(&message) {
            Ok(Packet::Ping(data)) if data == "probe" => {
                send(&probe_outlet, Packet::Pong(data).to_message());
                // Release the waiting long-poll so the client can send `5`.
                slot.outlet.upgrading();
            }
            Ok(Packet::Upgrade) => {
                let mut state = slot.lock();
                let State::Polling(mut session) = std::mem::replace(&mut *state, State::WebSocket) else {
                    log::info!("conn {id}: the session ended before its upgrade");
                    probe_outlet.close(1000, "session closed", false);
                    break;
                };
                drop(state);
                session.probe = None;
                // Packets still queued for polling go out first, as frames.
                session.outlet.upgrade(socket.clone(), ctx.hub_notices.clone());
                link.set_outlet(session.outlet.clone());
                ctx.io.upgraded(session.outlet.id); // for the admin UI's `socket_updated`
                probe_outlet.detach(None);
                log::info!("session {}: upgraded to WebSocket (conn {id})", session.short_sid());
                return Some(SessionLoop { link, session: *session, ctx: ctx.clone(), engine: engine.clone() });
            }
            // ANCHOR_END: probe
            _ => {
                log::info!("conn {id}: unexpected packet while probing; dropping the WebSocket");
                probe_outlet.close(1002, "unexpected packet while probing", false);
                break;
            }
        }
    }
    // The probe failed: the session (if it still polls) forgets it.
    if let State::Polling(session) = &mut *slot.lock() {
        if session.probe.as_ref().is_some_and(|probe| Arc::ptr_eq(probe, &probe_outlet)) {
            session.probe = None;
        }
    }
    link.finish(false, ctx.config.close_timeout);
    None
}

/// A session over WebSocket with its loop still to run (see [`SessionLoop::run`]).
pub(crate) struct SessionLoop {
    link: Link,
    session: Session,
    ctx: Arc<Context>,
    engine: Arc<Engine>,
}

impl SessionLoop {
    /// Runs the session's loop until it ends. By reference: the session
    /// stays where the thread's top frame keeps it, and the loop's frame
    /// holds no copy of it (src/stack.rs).
    pub(crate) fn run(&mut self) {
        run(&mut self.link, &mut self.session, &self.ctx, &self.engine);
    }
}

// ANCHOR: run
/// A session's WebSocket loop: frames → Engine.IO packets → Socket.IO
/// packets → handlers, on this thread; timers from the read deadline.
fn run(link: &mut Link, session: &mut Session, ctx: &Context, engine: &Engine) {
    let outlet = link.outlet().clone();
    let close_timeout = ctx.config.close_timeout;
    // The setup's stack pages (the upgrade, and the socket.io CONNECT with
    // the application's `on_connection`, which come as the first packets)
    // go back to the kernel once the session has joined its namespace:
    // from then on the thread touches only what the loop uses (`src/stack.rs`).
    let mut setup = true;
    let end = loop {
        if setup && !session.awaits_connect() {
            crate::stack::release_unused();
            setup = false;
        }
        let deadline = match outlet.closing_since() {
            Some(since) => Some(since + close_timeout + Duration::from_secs(1)),
            None => session.next_deadline(),
        };
        match link.next(deadline) {
            Ok(Some(message)) => {
                if outlet.is_closing() {
                    continue; // after a Close, data is dropped
                }
                if let Err(end) = session.on_message(&message) {
                    break end;
                }
            }
            Ok(None) => {
                if let Some((code, reason)) = outlet.our_close() {
                    break SessionEnd::from_our_close(code, &reason);
                }
                if let Err(end) = session.on_timers(Instant::now()) {
                    break end;
                }
            }
            Err(end) => break ended(end, outlet.our_close()),
        }
    };
    session.finish(&end);
    engine.remove(&session.sid);
    // Close the transport as the reason asks, and wait for the client's answer.
    let failed = matches!(end, SessionEnd::ParseError(..));
    if !matches!(end, SessionEnd::TransportClose(_) | SessionEnd::TransportError(_)) {
        let (code, reason) = end.close_code();
        outlet.close(code, &reason, false);
        if !end.by_client() {
            let until = outlet.closing_since().unwrap_or_else(Instant::now) + close_timeout;
            while let Ok(Some(_)) = link.next(Some(until)) {}
        }
    }
    link.finish(failed, close_timeout);
}
// ANCHOR_END: run

/// How the link ended, as a session's reason.
fn ended(end: LinkEnd, ours: Option<(u16, String)>) -> SessionEnd {
    match (end, ours) {
        (LinkEnd::Failed(code, why), _) => SessionEnd::ParseError(code, why),
        (_, Some((code, reason))) => SessionEnd::from_our_close(code, &reason),
        (LinkEnd::Closed(Some(code)), None) => SessionEnd::TransportClose(format!("client closed with {code}")),
        (LinkEnd::Closed(None), None) => SessionEnd::TransportClose("client closed".into()),
        (LinkEnd::Gone(why), None) => SessionEnd::TransportError(why),
    }
}
