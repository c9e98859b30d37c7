//! [`Session`]: one socket.io client's Engine.IO session, as state.
//!
//! A session is not a thread. It is a value that whoever has something for
//! it drives, under its lock:
//!
//! ```text
//! over WebSocket:   the client's conn-N thread   → packets from its frames, timers from its read deadline
//! over polling:     the thread of each POST      → packets from the body
//!                   the engine-timers thread     → the ping, the pong and connect deadlines
//! ```
//!
//! Everything a session sends goes into its client's outlet, which writes it
//! to the WebSocket or keeps it for the next long-poll: a session never
//! knows which transport carries it, and the hub never knows either.
//!
//! A session is Engine.IO; what its messages mean is its upper layer,
//! chosen by the endpoint it was opened on: Socket.IO's namespaces
//! (`/socket.io/`, `namespaces.rs`) or the application's raw messages
//! (`/engine.io/`, `raw.rs`).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tungstenite::Message;

use super::client::{parse_error, send, short_sid, Client, SessionEnd};
use super::namespaces::Namespaces;
use super::raw::{EngineHandler, RawMessages};
use crate::config::SocketIoConfig;
use crate::context::Context;
use crate::hub::{Command, ConnId, Outlet};
use crate::websocket::rate::Rate;
use crate::wire::engineio::Packet;

/// One socket.io client. See the [module docs](self).
pub(crate) struct Session {
    /// The Engine.IO session id (the `sid` of every polling request).
    pub sid: String,
    /// The connection id of this client's outlet (for logs and the hub).
    pub conn: ConnId,
    /// Where everything for this client goes.
    pub outlet: Arc<Outlet>,
    ctx: Arc<Context>,
    client: Client,
    /// What the session carries: Socket.IO, or the application's raw messages.
    layer: Layer,
    /// When the next ping is due (v4: the server pings).
    ping_at: Option<Instant>,
    /// When the pong to the last ping is overdue.
    pong_by: Option<Instant>,
    /// When a client that has joined no namespace is closed.
    connect_by: Option<Instant>,
    /// The client's message budget, when the server sets one.
    rate: Option<Rate>,
    /// The WebSocket probing an upgrade of this polling session, if one
    /// is open: closed with the session's reason when the session ends
    /// first (its thread waits for `5` and would not know).
    pub probe: Option<Arc<Outlet>>,
}

/// Which upper layer a session carries: the endpoint it was opened on
/// decides (`/socket.io/` or `/engine.io/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upper {
    /// Socket.IO: namespaces, events, acks (`engine/namespaces.rs`).
    SocketIo,
    /// Engine.IO alone: raw messages to the application (`engine/raw.rs`).
    EngineIo,
}

/// The upper layer of one session.
enum Layer {
    SocketIo(Namespaces),
    EngineIo(RawMessages),
}

impl Session {
    /// A new session with id `sid`, writing through `outlet`, carrying
    /// `upper`. For Engine.IO-only, the application's handler runs now.
    pub fn new(
        sid: String,
        outlet: Arc<Outlet>,
        ctx: Arc<Context>,
        client: Client,
        upper: Upper,
        engineio: Option<&EngineHandler>,
    ) -> Session {
        let sio = &ctx.config.socketio;
        let now = Instant::now();
        let (layer, connect_by) = match upper {
            Upper::SocketIo => (
                Layer::SocketIo(Namespaces::new(sio.max_attachments, sio.max_payload)),
                Some(now + sio.connect_timeout),
            ),
            // No namespace to join: no connect timeout.
            Upper::EngineIo => (Layer::EngineIo(RawMessages::open(&sid, &ctx, &outlet, &client, engineio)), None),
        };
        Session {
            sid,
            conn: outlet.id,
            ping_at: Some(now + sio.ping_interval),
            pong_by: None,
            connect_by,
            probe: None,
            rate: ctx.config.max_message_rate.map(Rate::new),
            outlet,
            client,
            layer,
            ctx,
        }
    }

    /// The session's id as logs show it: enough to follow it, not enough to
    /// use it (a sid is all a polling request needs to act as the client).
    pub fn short_sid(&self) -> &str {
        short_sid(&self.sid)
    }

    // ANCHOR: on_packet
    /// One Engine.IO packet from the client, over either transport.
    pub fn on_packet(&mut self, packet: Packet) -> Result<(), SessionEnd> {
        if matches!(packet, Packet::Message(_) | Packet::Binary(_)) {
            if let Some(reason) = Rate::exceeded(&mut self.rate) {
                return Err(SessionEnd::Flooding(reason));
            }
        }
        match packet {
            Packet::Pong(_) => {
                // The client is alive: next ping after pingInterval.
                self.pong_by = None;
                self.ping_at = Some(Instant::now() + self.ctx.config.socketio.ping_interval);
                Ok(())
            }
            // Clients of Engine.IO 3 pinged the server; answering costs nothing.
            Packet::Ping(data) => {
                send(&self.outlet, Packet::Pong(data).to_message());
                Ok(())
            }
            Packet::Message(text) => match &mut self.layer {
                Layer::SocketIo(namespaces) => {
                    let result = namespaces.on_text(&text, &self.ctx, &self.outlet, &self.client);
                    if !namespaces.is_empty() {
                        self.connect_by = None;
                    }
                    result
                }
                Layer::EngineIo(raw) => raw.on_message(Message::text(text)),
            },
            Packet::Binary(bytes) => match &mut self.layer {
                Layer::SocketIo(namespaces) => namespaces.on_binary(bytes, &self.ctx, &self.outlet, &self.client),
                Layer::EngineIo(raw) => raw.on_message(Message::binary(bytes)),
            },
            Packet::Close => Err(SessionEnd::TransportClose("client sent close".into())),
            Packet::Noop | Packet::Upgrade => Ok(()),
            Packet::Open(_) => Err(parse_error("a client may not send open".into())),
        }
    }
    // ANCHOR_END: on_packet

    /// One WebSocket data frame: an Engine.IO packet.
    pub fn on_message(&mut self, message: &Message) -> Result<(), SessionEnd> {
        let packet = Packet::from_message(message).map_err(|e| parse_error(e.to_string()))?;
        self.on_packet(packet)
    }

    // ANCHOR: on_timers
    /// Whatever is due at `now`: ping, and expect a pong within pingTimeout;
    /// no pong in time; no namespace joined in time.
    pub fn on_timers(&mut self, now: Instant) -> Result<(), SessionEnd> {
        if self.pong_by.is_some_and(|at| now >= at) {
            return Err(SessionEnd::PingTimeout);
        }
        if self.connect_by.is_some_and(|at| now >= at) {
            self.connect_by = None;
            if matches!(&self.layer, Layer::SocketIo(namespaces) if namespaces.is_empty()) {
                return Err(SessionEnd::ConnectTimeout);
            }
        }
        if self.ping_at.is_some_and(|at| now >= at) {
            send(&self.outlet, Packet::Ping(String::new()).to_message());
            self.ping_at = None;
            self.pong_by = Some(now + self.ctx.config.socketio.ping_timeout);
        }
        Ok(())
    }
    // ANCHOR_END: on_timers

    /// True until the client joined a namespace (socket.io's CONNECT),
    /// which it must do within the connect timeout.
    pub fn awaits_connect(&self) -> bool {
        self.connect_by.is_some()
    }

    /// The next time [`on_timers`](Self::on_timers) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.ping_at, self.pong_by, self.connect_by].into_iter().flatten().min()
    }

    /// The end: every socket leaves with the reason, and the hub forgets the
    /// connection. Closing the transport is the caller's job.
    pub fn finish(&mut self, end: &SessionEnd) {
        match end {
            SessionEnd::ParseError(..) | SessionEnd::TransportError(_) | SessionEnd::PingTimeout => {
                log::warn!("session {}: closed: {:?}", self.short_sid(), end.to_string())
            }
            _ => log::info!("session {}: closed: {:?}", self.short_sid(), end.to_string()),
        }
        match &mut self.layer {
            Layer::SocketIo(namespaces) => namespaces.leave_all(end),
            Layer::EngineIo(raw) => raw.finish(&end.to_string()),
        }
        self.ctx.io.send(Command::Gone(self.conn));
        if let Some(probe) = self.probe.take() {
            let (code, reason) = end.close_code();
            let reason = if reason.is_empty() { end.to_string() } else { reason };
            probe.close(code, &reason, false);
        }
    }
}

/// The Engine.IO open packet: the session id, whether it may upgrade, and
/// the heartbeat the client must expect.
pub(crate) fn open_packet(sio: &SocketIoConfig, sid: &str, polling: bool) -> Packet {
    let upgrades: &[&str] = if polling { &["websocket"] } else { &[] };
    Packet::Open(
        json!({
            "sid": sid,
            "upgrades": upgrades,
            "pingInterval": sio.ping_interval.as_millis() as u64,
            "pingTimeout": sio.ping_timeout.as_millis() as u64,
            "maxPayload": sio.max_payload,
        })
        .to_string(),
    )
}
