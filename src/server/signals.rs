//! Ctrl+C and `kill`: SIGINT and SIGTERM stop the server gracefully.
//!
//! [`Server::stop_on_signals`](super::Server::stop_on_signals) starts a
//! thread named `signals` that sleeps until one of them arrives. The first
//! starts the same shutdown as [`ServerHandle::shutdown`](super::ServerHandle::shutdown):
//! every `/ws` client gets Close 1001 behind what it was already sent,
//! socket.io clients are disconnected as Node's `io.close()` does it (no
//! `41`: their client library reconnects), every thread is joined and
//! `run()` returns `Ok`. A second signal, while that shutdown runs, ends the
//! process at once, as if the server had installed no handler.
//!
//! ```text
//! signal handler (signal-hook's): writes one byte into a pipe, and after the
//!                                 first signal runs the signal's default action
//! thread `signals`:               reads the pipe → arms the default action,
//!                                 stops the server (flag + self-connect)
//! ```
//!
//! No wshub code runs inside the signal handler: the stop happens on the
//! `signals` thread, where anything may be done.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::context::Context;
use crate::Result;

/// The `signals` thread and the way to end it.
pub(crate) struct SignalWatch {
    handle: Handle,
    thread: JoinHandle<()>,
    /// The handlers run the signal's default action once this is set.
    armed: Arc<AtomicBool>,
}

/// The signals this module handles.
const STOP_SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// Installs the handlers and starts the `signals` thread for the server of
/// `ctx`, listening on `addr`.
pub(crate) fn watch(ctx: Arc<Context>, addr: SocketAddr) -> Result<SignalWatch> {
    // Set once the first signal has been seen: from then on the handler
    // itself runs the default action, so a second Ctrl+C always works.
    let armed = Arc::new(AtomicBool::new(false));
    for signal in STOP_SIGNALS {
        signal_hook::flag::register_conditional_default(signal, armed.clone())?;
    }
    let mut signals = Signals::new(STOP_SIGNALS)?;
    let handle = signals.handle();
    let thread_armed = armed.clone();
    let thread = thread::Builder::new().name("signals".into()).spawn(move || {
        // Runs until `SignalWatch::finish` closes the handle, even after the
        // first signal: closing writes to the iterator's pipe, which must
        // still have its reader then (else the write fails with EPIPE, and a
        // debugger stops at the SIGPIPE).
        for signal in signals.forever() {
            if thread_armed.swap(true, Ordering::SeqCst) {
                continue; // already stopping (the handler now ends the process)
            }
            let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
            log::info!("{name}: shutting down (send it again to stop at once)");
            super::stop(&ctx, addr);
        }
    })?;
    Ok(SignalWatch { handle, thread, armed })
}

impl SignalWatch {
    /// The server has stopped: end the thread. A signal from now on ends
    /// the process as it would without wshub (the handler stays armed).
    pub fn finish(self) {
        self.armed.store(true, Ordering::SeqCst);
        self.handle.close();
        let _ = self.thread.join();
    }
}
