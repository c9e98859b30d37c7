//! The Socket.IO layer of one client: the namespaces it joined.
//!
//! Each namespace a client joins (`40/admin,`) gets its own [`Socket`] with
//! its own id, registered with the hub as its own member, so rooms and
//! broadcasts are scoped per namespace exactly as for `/ws` clients (who
//! live in `/`). All of a client's sockets write through its one outlet: one
//! connection carries them all, in order.
//!
//! Leaving a namespace (`41`, from either side) does not end the client's
//! Engine.IO session: it stays open, pinged, until the client closes it or
//! joins again (as Node's socket.io does).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};
use tungstenite::Message;

use super::client::{parse_error, send, Client, SessionEnd};
use crate::context::Context;
use crate::hub::socket::Parts;
use crate::hub::{Credits, Outlet, Socket, SocketInfo};
use crate::wire::engineio::Packet;
use crate::wire::socketio::{self, Assembler, Kind};
use crate::wire::{Encoded, Wire};

/// One client's namespace sockets and the binary attachments still to
/// come for its last packet.
pub(crate) struct Namespaces {
    /// Namespace → the socket joined there. `BTreeMap`: stable order in logs.
    sockets: BTreeMap<String, Socket>,
    assembler: Assembler,
    /// Shared by its sockets: how many of this client's commands may wait
    /// for the hub at once (one connection, one budget).
    credits: Arc<Credits>,
}

impl Namespaces {
    /// No namespace yet; a packet may announce at most `max_attachments`
    /// attachments, holding at most `max_bytes` between them.
    pub fn new(max_attachments: usize, max_bytes: usize) -> Namespaces {
        let assembler = Assembler::new(max_attachments, max_bytes);
        Namespaces { sockets: BTreeMap::new(), assembler, credits: Credits::new() }
    }

    /// True when the client has joined no namespace (or left them all).
    pub fn is_empty(&self) -> bool {
        self.sockets.values().all(Socket::is_gone)
    }

    /// The text of an Engine.IO message: one Socket.IO packet, or the head
    /// of one whose binary attachments follow.
    pub fn on_text(
        &mut self,
        text: &str,
        ctx: &Context,
        outlet: &Arc<Outlet>,
        client: &Client,
    ) -> Result<(), SessionEnd> {
        let packet = socketio::decode(text).map_err(|e| parse_error(e.to_string()))?;
        match self.assembler.text(packet).map_err(assembly_error)? {
            Some(packet) => self.on_packet(packet, ctx, outlet, client),
            None => Ok(()), // attachments follow
        }
    }

    /// A binary Engine.IO message: an attachment of the packet before it.
    pub fn on_binary(
        &mut self,
        bytes: Vec<u8>,
        ctx: &Context,
        outlet: &Arc<Outlet>,
        client: &Client,
    ) -> Result<(), SessionEnd> {
        match self.assembler.binary(bytes).map_err(assembly_error)? {
            Some(packet) => self.on_packet(packet, ctx, outlet, client),
            None => Ok(()),
        }
    }

    // ANCHOR: on_packet
    /// One complete Socket.IO packet.
    fn on_packet(
        &mut self,
        packet: socketio::Packet,
        ctx: &Context,
        outlet: &Arc<Outlet>,
        client: &Client,
    ) -> Result<(), SessionEnd> {
        self.sockets.retain(|_, socket| !socket.is_gone()); // left by `disconnect()` meanwhile
        match packet.kind {
            Kind::Connect => {
                self.connect(packet.nsp, packet.data.unwrap_or_else(|| json!({})), ctx, outlet, client);
                Ok(())
            }
            Kind::Disconnect => {
                if let Some(socket) = self.sockets.remove(&packet.nsp) {
                    log::info!("socket {}: left namespace {:?} (client namespace disconnect)", socket.id(), packet.nsp);
                    leave(&socket, "client namespace disconnect", false);
                }
                Ok(())
            }
            Kind::Event | Kind::Ack => {
                let nsp = packet.nsp.clone();
                let Some(inbound) = socketio::to_inbound(packet) else { return Ok(()) };
                let Some(socket) = self.sockets.get(&nsp) else {
                    // In flight after a disconnect, or never joined: nobody listens.
                    log::debug!("conn {}: packet for namespace {nsp:?} it has not joined", outlet.id);
                    return Ok(());
                };
                run_handler(socket, |socket| socket.dispatch(inbound))
            }
            _ => Err(parse_error(format!("a client may not send {:?}", packet.kind))),
        }
    }
    // ANCHOR_END: on_packet

    // ANCHOR: connect
    /// CONNECT: join a namespace, or refuse an unknown one or one whose
    /// connect checks say no. A refusal is a CONNECT_ERROR for that
    /// namespace only: the session stays open for others. With recovery
    /// on, a client that names a session it can resume (`pid` and `offset`
    /// beside its auth) gets that socket back, with its id, rooms and data.
    fn connect(&mut self, nsp: String, auth: Value, ctx: &Context, outlet: &Arc<Outlet>, client: &Client) {
        let Some(handler) = ctx.namespace_handler(&nsp, &auth) else {
            log::info!("conn {}: refused unknown namespace {nsp:?}", outlet.id);
            send(outlet, connect_error(nsp, "Invalid namespace"));
            return;
        };
        if self.sockets.contains_key(&nsp) {
            log::debug!("conn {}: already in namespace {nsp:?}", outlet.id);
            return;
        }
        let (auth, resume) = split_resume(auth, ctx.io.keeps_sessions());
        let id = ctx.next_id();
        let info = SocketInfo {
            id,
            peer: client.peer,
            path: client.path.clone(),
            query: client.query.clone(),
            origin: client.origin.clone(),
            headers: client.headers.clone(),
            protocol: Wire::SocketIo.name(),
            connected_at: SystemTime::now(),
        };
        // A recovered socket skips the checks only with `skip_middlewares`;
        // otherwise they run first, and the session is taken only if they pass.
        let skip = ctx.config.recovery.is_some_and(|r| r.skip_middlewares);
        let restore = |(pid, offset): &(String, String)| ctx.io.restore(&nsp, pid, offset);
        let mut restored = if skip { resume.as_ref().and_then(restore) } else { None };
        if restored.is_none() {
            if let Err(message) = ctx.check_connect(&nsp, &auth, &info) {
                log::info!("socket {id}: refused by the connect check of {nsp:?}: {message:?} (conn {})", outlet.id);
                send(outlet, connect_error(nsp, &message));
                return;
            }
            if !skip {
                restored = resume.as_ref().and_then(restore);
            }
        }
        let (held, replaced) = match restored {
            Some(restored) => (Some(restored.held), restored.replaced),
            None => (None, None),
        };
        if let Some(old) = replaced {
            // Its client is here now: the old socket's handlers learn it left.
            leave(&old, "transport close (the client came back on another connection)", false);
        }
        let replay = held.as_ref().map(|held| held.offset);
        let parts = Parts {
            info,
            wire: Wire::SocketIo,
            io: ctx.io.of(&nsp).for_client(self.credits.clone()),
            outlet: outlet.clone(),
            auth,
            secure: ctx.tls.is_some(),
            restored: held,
        };
        let socket = Socket::new(parts);
        // The CONNECT answer goes first, before the socket is in the hub:
        // the client must know its socket before any event for it arrives
        // (a recovered one's missed packets included).
        // `{"sid":…,"pid":…}` in Node's order (a JSON map would sort them).
        let mut ids = format!("{{\"sid\":{}", json!(socket.sid()));
        if let Some(pid) = socket.pid() {
            ids.push_str(&format!(",\"pid\":{}", json!(pid)));
        }
        ids.push('}');
        let accepted = format!("{}{ids}", socketio::header(Kind::Connect, 0, &nsp, None));
        let greeting = Encoded::new(vec![Packet::Message(accepted).to_message()]);
        socket.register(replay, Some(greeting));
        let how = if socket.recovered() { "recovered" } else { "joined" };
        log::info!("socket {id}: {how} namespace {nsp:?} as {} (conn {})", socket.sid(), outlet.id);
        self.sockets.insert(nsp, socket.clone());
        if let Some(handler) = handler {
            // A panic here ends only this namespace socket's handler call;
            // the session decides what that means.
            let _ = run_handler(&socket, |socket| handler(socket));
        }
    }
    // ANCHOR_END: connect

    /// The session ends: every socket leaves, with the session's reason
    /// (and is held for recovery when the reason allows).
    pub fn leave_all(&mut self, end: &SessionEnd) {
        let reason = end.to_string();
        for (nsp, socket) in std::mem::take(&mut self.sockets) {
            if !socket.is_gone() {
                log::info!("socket {}: left namespace {nsp:?} ({reason})", socket.id());
            }
            leave(&socket, &reason, end.recoverable());
        }
    }
}

/// Takes a recovering client's `pid` and `offset` out of its CONNECT
/// payload (they are not its auth: the pid is a secret that must not show
/// up in `handshake().auth` or `fetch_sockets`).
fn split_resume(mut auth: Value, recovery: bool) -> (Value, Option<(String, String)>) {
    if !recovery {
        return (auth, None);
    }
    let Some(map) = auth.as_object_mut() else { return (auth, None) };
    let (pid, offset) = (map.remove("pid"), map.remove("offset"));
    match (pid, offset) {
        (Some(Value::String(pid)), Some(Value::String(offset))) => (auth, Some((pid, offset))),
        _ => (auth, None),
    }
}

/// Too many attachments or bytes in them: 1009; a broken packet: 1002.
fn assembly_error(e: socketio::AssemblyError) -> SessionEnd {
    SessionEnd::ParseError(e.close_code(), e.to_string())
}

/// Runs handler code for `socket`. A panic ends the whole session.
fn run_handler(socket: &Socket, f: impl FnOnce(&Socket)) -> Result<(), SessionEnd> {
    Context::guard(socket, f).map_err(|()| SessionEnd::HandlerPanicked)
}

/// A namespace socket leaves: out of the hub (held for recovery with
/// `keep`), then its handlers.
fn leave(socket: &Socket, reason: &str, keep: bool) {
    if Context::guard(socket, |socket| socket.finish(reason, keep)).is_err() {
        log::error!("socket {}: an on_disconnect handler panicked", socket.id());
    }
}

/// A CONNECT_ERROR: the client's `connect_error` event for `nsp`, with `message`.
fn connect_error(nsp: String, message: &str) -> Message {
    let refusal = socketio::Packet {
        kind: Kind::ConnectError,
        nsp,
        id: None,
        attachments: 0,
        data: Some(json!({ "message": message })),
    };
    Packet::Message(refusal.encode()).to_message()
}
