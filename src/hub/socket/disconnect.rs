//! How a [`Socket`] leaves: `disconnect` and `close` from any thread, and
//! `finish`, the one place where it leaves the hub and its `on_disconnect`
//! handlers run.

use std::sync::atomic::Ordering;

use tungstenite::Message;

use super::{lock, Socket};
use crate::hub::Command;
use crate::wire::socketio::{self, Kind};
use crate::wire::{Encoded, Wire};

impl Socket {
    /// Disconnects this socket, from any thread. A `/ws` client is closed
    /// with code 1000. A socket.io client leaves this namespace (it gets
    /// `41`, as from Node's `socket.disconnect()`); its connection stays
    /// for its other namespaces, and the client library closes it when it
    /// has none left. Either way the session is not kept for recovery.
    pub fn disconnect(&self) {
        if self.is_gone() {
            return;
        }
        match self.inner.wire {
            Wire::Json if self.inner.through_hub => {
                self.inner.io.send(Command::Close(self.id(), 1000, "server disconnect".into()))
            }
            Wire::Json => self.inner.outlet.close(1000, "server disconnect", false),
            Wire::SocketIo => {
                // Claimed before the client hears `41`: its library may then
                // close the connection at once, and that "transport close"
                // must not become this socket's reason.
                if self.inner.gone.swap(true, Ordering::Relaxed) {
                    return;
                }
                let nsp = self.namespace().to_string();
                let leave = socketio::Packet { kind: Kind::Disconnect, nsp, id: None, attachments: 0, data: None };
                let frames = Encoded::new(vec![Message::text(format!("4{}", leave.encode()))]);
                if self.inner.through_hub {
                    self.inner.io.send(Command::Write(self.id(), frames, false));
                } else {
                    self.inner.outlet.push(&frames);
                }
                self.end("server namespace disconnect", false);
            }
        }
    }

    /// Disconnects this socket and closes its client's whole connection
    /// (socket.io's `socket.disconnect(true)`): a socket.io client's other
    /// namespaces leave too.
    pub fn close(&self) {
        self.disconnect();
        if self.inner.wire == Wire::SocketIo {
            self.inner.outlet.close(1000, "server disconnect", false);
        }
    }

    /// The socket leaves: out of the hub first (no broadcast is written to
    /// it any more; with `keep`, and recovery on, its session is held for
    /// its client to come back to), then its `on_disconnect` handlers run,
    /// once.
    pub(crate) fn finish(&self, reason: &str, keep: bool) {
        if self.inner.gone.swap(true, Ordering::Relaxed) {
            return;
        }
        self.end(reason, keep);
    }

    /// What `finish` does once this thread has claimed the socket's end.
    fn end(&self, reason: &str, keep: bool) {
        self.inner.io.send(Command::Unregister(self.id(), keep));
        let handlers = std::mem::take(&mut *lock(&self.inner.on_disconnect));
        for handler in handlers {
            handler(self, reason);
        }
    }
}
