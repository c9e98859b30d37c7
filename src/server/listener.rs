//! The listener loop: accept, count, spawn `conn-N`, and shut down.
//!
//! `accept_loop` runs on the thread that called [`Server::run`](crate::Server::run)
//! (named `listener` under [`Server::spawn`](crate::Server::spawn)). It does as
//! little as possible per client, so that accepting never waits on a client:
//! refusals that need reading (bad requests, bad origins) happen on the
//! client's own thread.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::context::Context;
use crate::engine::Engine;
use crate::front;
use crate::http::Response;
use crate::hub::{Command, ConnId};

/// Shortest and longest pause when the process is out of file descriptors.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts until the server is stopping, then closes every client and joins
/// every connection thread.
pub(crate) fn accept_loop(listener: &TcpListener, ctx: &Arc<Context>, engine: &Arc<Engine>) {
    let mut conns = Connections::new();
    while !ctx.is_stopping() {
        let Some(stream) = conns.accept(listener) else { continue };
        if ctx.is_stopping() {
            break; // the self-connect of `shutdown`, or a client arriving too late
        }
        conns.start(stream, ctx, engine);
    }

    // ANCHOR: shutdown
    // Shutdown: polling sessions end first (a waiting GET gets the close
    // packet); the hub closes every WebSocket with 1001; polling clients
    // between two GETs come back for their last packets; connections
    // still reading a request head are woken up; then every thread is joined.
    log::info!("listener: stopping; closing {} connections", conns.threads.len());
    engine.close_sessions();
    ctx.io.send(Command::Shutdown);
    serve_goodbyes(listener, ctx, engine, &mut conns);
    engine.stop();
    ctx.wake_handshakes();
    for (_, handle) in conns.threads {
        let _ = handle.join();
    }
    // ANCHOR_END: shutdown
}

/// Shutdown, the step for long-polling: a client whose GET was on its way
/// when its session ended comes back, on a new connection or a kept-alive
/// one, for its last packets and the close packet. The listener goes on
/// accepting for them (any other request gets 503) until every such
/// session has had its goodbye, or the close timeout passes.
fn serve_goodbyes(listener: &TcpListener, ctx: &Arc<Context>, engine: &Arc<Engine>, conns: &mut Connections) {
    if !engine.has_goodbyes() {
        return;
    }
    let addr = listener.local_addr().ok();
    // The last goodbye wakes `accept` the way `shutdown` does.
    engine.on_goodbyes_done(Box::new(move || addr.into_iter().for_each(wake)));
    let until = Instant::now() + ctx.config.close_timeout;
    log::info!("listener: waiting up to {:?} for polling clients to take their last packets", ctx.config.close_timeout);
    while engine.has_goodbyes() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || set_accept_timeout(listener, left).is_err() {
            break;
        }
        match listener.accept() {
            Ok((stream, _)) if engine.has_goodbyes() => conns.start(stream, ctx, engine),
            Ok(_) => break, // the wake-up
            Err(e) if crate::http::is_timeout(&e) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("accept: {e}; not waiting for the last polling clients");
                break;
            }
        }
    }
}

/// The connection threads the listener started, and what it needs to
/// start more.
struct Connections {
    /// Why the listener keeps the handles: shutdown must join every thread.
    threads: HashMap<ConnId, JoinHandle<()>>,
    /// Each connection thread sends its id here as its last act.
    done_tx: Sender<ConnId>,
    done_rx: Receiver<ConnId>,
    /// One file descriptor held in reserve: when the process runs out, the
    /// listener frees it to accept one client and tell it 503, instead of
    /// leaving everyone hanging in the backlog.
    spare: Option<File>,
    backoff: Duration,
}

impl Connections {
    fn new() -> Connections {
        let (done_tx, done_rx) = unbounded::<ConnId>();
        let spare = File::open("/dev/null").ok();
        Connections { threads: HashMap::new(), done_tx, done_rx, spare, backoff: MIN_BACKOFF }
    }

    /// The next client, or `None` after an error (handled here: refused,
    /// logged, backed off).
    fn accept(&mut self, listener: &TcpListener) -> Option<TcpStream> {
        match listener.accept() {
            Ok((stream, _)) => {
                self.backoff = MIN_BACKOFF;
                Some(stream)
            }
            Err(e) if is_out_of_descriptors(&e) => {
                self.spare = None;
                let refused = match listener.accept() {
                    Ok((stream, _)) => {
                        refuse_now(stream, 503, "server out of file descriptors, try again later");
                        true
                    }
                    Err(_) => false,
                };
                self.spare = self.spare.take().or_else(|| File::open("/dev/null").ok());
                // Never spin. But a refusal was useful work: pause only
                // briefly after one, so that a queue of waiting clients gets
                // its 503s within a fraction of a second instead of one per
                // second. Only when not even that worked, wait longer each time.
                let pause = if refused { MIN_BACKOFF } else { self.backoff };
                let what = if refused { "refused a client with 503" } else { "could not refuse a client" };
                log::warn!("accept: {e}; {what}, backing off {pause:?}");
                thread::sleep(pause);
                if !refused {
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
                None
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => None,
            Err(e) => {
                log::error!("accept: {e}");
                thread::sleep(self.backoff);
                None
            }
        }
    }

    /// Starts thread `conn-N` for a new client, or refuses it with 503.
    fn start(&mut self, stream: TcpStream, ctx: &Arc<Context>, engine: &Arc<Engine>) {
        // Reap finished threads, so the count below is the number alive.
        for id in self.done_rx.try_iter() {
            if let Some(handle) = self.threads.remove(&id) {
                let _ = handle.join();
            }
        }
        if self.threads.len() >= ctx.config.max_clients {
            log::warn!("refusing a client: {} connections is the limit", ctx.config.max_clients);
            return refuse_now(stream, 503, "too many clients, try again later");
        }

        let id = ctx.next_id();
        // Kept so that shutdown can wake a thread still waiting for its request.
        let Ok(clone) = stream.try_clone() else {
            // Out of descriptors between accept and here: still answer.
            return refuse_now(stream, 503, "server out of file descriptors, try again later");
        };
        ctx.handshake_started(id, clone);
        let (thread_ctx, thread_engine) = (ctx.clone(), engine.clone());
        let done = self.done_tx.clone();
        // ANCHOR: spawn
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(ctx.config.connection_stack_size)
            .spawn(move || {
                // The setup returns before the loop runs, so that the loop
                // runs from this frame, near the top of the stack (src/stack.rs).
                if let Some(mut upgraded) = front::serve(stream, id, thread_ctx, thread_engine) {
                    upgraded.run();
                }
                let _ = done.send(id);
            });
        // ANCHOR_END: spawn
        match spawned {
            Ok(handle) => {
                self.threads.insert(id, handle);
            }
            Err(e) => {
                // The OS would not give us a thread: refuse this one client.
                log::error!("cannot start a thread for socket {id}: {e}");
                if let Some(stream) = ctx.handshake_done(id) {
                    refuse_now(stream, 503, "server cannot take more clients now");
                }
            }
        }
    }
}

/// Wakes a listener blocked in `accept` (which nothing can interrupt) by
/// connecting to it. A wildcard address (0.0.0.0) cannot be connected to:
/// loopback is used instead.
pub(crate) fn wake(addr: SocketAddr) {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

/// Makes `accept` on `listener` give up after `timeout` (Linux honours a
/// listening socket's receive timeout in `accept`).
fn set_accept_timeout(listener: &TcpListener, timeout: Duration) -> io::Result<()> {
    let timeout = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros().max(1) as libc::suseconds_t,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// EMFILE (this process) or ENFILE (the whole system): out of descriptors.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23) | Some(24))
}

/// Answers a client from the listener thread without reading its request:
/// a short write to a fresh socket never blocks.
fn refuse_now(mut stream: TcpStream, status: u16, reason: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = Response::refusal(status, reason).write_to(&mut stream, false);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}
