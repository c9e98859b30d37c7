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

use super::client::{parse_error, random_id, send, Client, SessionEnd};
use crate::context::Context;
use crate::hub::{Command, Credits, Member, Outlet, Socket, SocketInfo};
use crate::wire::engineio::Packet;
use crate::wire::socketio::{self, Assembler, Kind};
use crate::wire::Wire;

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
                    leave(&socket, "client namespace disconnect");
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

    /// CONNECT: join a namespace, or refuse an unknown one or one whose
    /// connect check says no. A refusal is a CONNECT_ERROR for that
    /// namespace only: the session stays open for others.
    fn connect(&mut self, nsp: String, auth: Value, ctx: &Context, outlet: &Arc<Outlet>, client: &Client) {
        let Some(handler) = ctx.namespace_handler(&nsp) else {
            log::info!("conn {}: refused unknown namespace {nsp:?}", outlet.id);
            send(outlet, connect_error(nsp, "Invalid namespace"));
            return;
        };
        if self.sockets.contains_key(&nsp) {
            log::debug!("conn {}: already in namespace {nsp:?}", outlet.id);
            return;
        }
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
        if let Err(message) = ctx.check_connect(&nsp, &auth, &info) {
            log::info!("socket {id}: refused by the connect check of {nsp:?}: {message:?} (conn {})", outlet.id);
            send(outlet, connect_error(nsp, &message));
            return;
        }
        let io = ctx.io.of(&nsp).for_client(self.credits.clone());
        let socket = Socket::new(info, Wire::SocketIo, io, outlet.clone(), auth);
        ctx.io.send(Command::Register(Member { id, wire: Wire::SocketIo, nsp: nsp.clone(), outlet: outlet.clone() }));
        log::info!("socket {id}: joined namespace {nsp:?} (conn {})", outlet.id);
        // The CONNECT answer goes first: the client must know its socket
        // before the handler's first emit arrives.
        let accepted = socketio::Packet {
            kind: Kind::Connect,
            nsp: nsp.clone(),
            id: None,
            attachments: 0,
            data: Some(json!({ "sid": random_id() })),
        };
        send(outlet, Packet::Message(accepted.encode()).to_message());
        self.sockets.insert(nsp, socket.clone());
        if let Some(handler) = handler {
            // A panic here ends only this namespace socket's handler call;
            // the session decides what that means.
            let _ = run_handler(&socket, |socket| handler(socket));
        }
    }

    /// The session ends: every socket leaves, with the session's reason.
    pub fn leave_all(&mut self, reason: &str) {
        for (nsp, socket) in std::mem::take(&mut self.sockets) {
            if !socket.is_gone() {
                log::info!("socket {}: left namespace {nsp:?} ({reason})", socket.id());
            }
            leave(&socket, reason);
        }
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

/// A namespace socket leaves: out of the hub, then its handlers.
fn leave(socket: &Socket, reason: &str) {
    if Context::guard(socket, |socket| socket.finish(reason)).is_err() {
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
