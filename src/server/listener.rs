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
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::unbounded;

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
    // Why the listener keeps the handles: shutdown must join every thread.
    let mut threads: HashMap<ConnId, JoinHandle<()>> = HashMap::new();
    // Each connection thread sends its id here as its last act.
    let (done_tx, done_rx) = unbounded::<ConnId>();
    // One file descriptor held in reserve: when the process runs out, the
    // listener frees it to accept one client and tell it 503, instead of
    // leaving everyone hanging in the backlog.
    let mut spare = File::open("/dev/null").ok();
    let mut backoff = MIN_BACKOFF;

    while !ctx.is_stopping() {
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                backoff = MIN_BACKOFF;
                stream
            }
            Err(e) if is_out_of_descriptors(&e) => {
                spare = None;
                let refused = match listener.accept() {
                    Ok((stream, _)) => {
                        refuse_now(stream, 503, "server out of file descriptors, try again later");
                        true
                    }
                    Err(_) => false,
                };
                spare = spare.or_else(|| File::open("/dev/null").ok());
                // Never spin. But a refusal was useful work: pause only
                // briefly after one, so that a queue of waiting clients gets
                // its 503s within a fraction of a second instead of one per
                // second. Only when not even that worked, wait longer each time.
                let pause = if refused { MIN_BACKOFF } else { backoff };
                let what = if refused { "refused a client with 503" } else { "could not refuse a client" };
                log::warn!("accept: {e}; {what}, backing off {pause:?}");
                thread::sleep(pause);
                if !refused {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                continue;
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => continue,
            Err(e) => {
                log::error!("accept: {e}");
                thread::sleep(backoff);
                continue;
            }
        };
        if ctx.is_stopping() {
            break; // the self-connect of `shutdown`, or a client arriving too late
        }

        // Reap finished threads, so the count below is the number alive.
        for id in done_rx.try_iter() {
            if let Some(handle) = threads.remove(&id) {
                let _ = handle.join();
            }
        }
        if threads.len() >= ctx.config.max_clients {
            log::warn!("refusing a client: {} connections is the limit", ctx.config.max_clients);
            refuse_now(stream, 503, "too many clients, try again later");
            continue;
        }

        let id = ctx.next_id();
        // Kept so that shutdown can wake a thread still waiting for its request.
        let Ok(clone) = stream.try_clone() else {
            // Out of descriptors between accept and here: still answer.
            refuse_now(stream, 503, "server out of file descriptors, try again later");
            continue;
        };
        ctx.handshake_started(id, clone);
        let (thread_ctx, thread_engine) = (ctx.clone(), engine.clone());
        let done = done_tx.clone();
        // ANCHOR: spawn
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(ctx.config.connection_stack_size)
            .spawn(move || {
                front::serve(stream, id, thread_ctx, thread_engine);
                let _ = done.send(id);
            });
        // ANCHOR_END: spawn
        match spawned {
            Ok(handle) => {
                threads.insert(id, handle);
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

    // Shutdown: polling sessions end first (a waiting GET gets the close
    // packet); the hub closes every WebSocket with 1001; connections still
    // reading a request head are woken up; then every thread is joined.
    log::info!("listener: stopping; closing {} connections", threads.len());
    engine.shutdown();
    ctx.io.send(Command::Shutdown);
    ctx.wake_handshakes();
    for (_, handle) in threads {
        let _ = handle.join();
    }
    drop(spare);
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
