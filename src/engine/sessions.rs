//! [`Engine`]: the open socket.io sessions, and the one thread that keeps
//! time for those on HTTP long-polling.
//!
//! A polling session has no thread of its own: between requests it is only
//! a [`Slot`] in this registry. Its timers (the next ping, the pong it waits
//! for, its connect timeout) are entries in one heap, served by one thread
//! for every session, `engine-timers`, which sleeps until the earliest one.
//! 12,000 abandoned sessions cost 12,000 entries, not 12,000 threads.
//!
//! Once a session upgrades to WebSocket its `conn-N` thread takes it out of
//! its slot and keeps time through its read deadline instead.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, unbounded, Receiver, Sender};

use super::client::SessionEnd;
use super::raw::EngineHandler;
use super::session::{Session, Upper};
use crate::context::Context;
use crate::hub::{ConnId, Outlet};
use crate::wire::engineio::Packet;

/// How soon the timer thread tries again when a session is busy (a POST is
/// running its handlers).
const BUSY_RETRY: Duration = Duration::from_millis(10);

/// Where a session is.
pub(crate) enum State {
    /// On HTTP long-polling: requests and timers take it here, in turn.
    Polling(Box<Session>),
    /// Upgraded: a `conn-N` thread owns it now.
    WebSocket,
    /// Ended, with packets still for the client (a last `41`, then the close
    /// packet): its next GET takes them.
    Closing,
}

/// One session in the registry.
pub(crate) struct Slot {
    pub state: Mutex<State>,
    /// The session's outlet (it outlives the session value, for the last GET).
    pub outlet: Arc<Outlet>,
    /// The endpoint it belongs to: a request on the other one does not find it.
    pub upper: Upper,
}

impl Slot {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The registry. See the [module docs](self).
pub(crate) struct Engine {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Outlet id → session id, for outlets that ask the timer thread for care.
    by_conn: Mutex<HashMap<ConnId, String>>,
    /// To the timer thread: "look at this session at this time".
    timers: Sender<(Instant, String)>,
    /// Where polling outlets ask for care (their client was closed as too
    /// slow, or the server is stopping): the timer thread ends the session.
    pub notices: Sender<Arc<Outlet>>,
    /// How long an ended session's last packets wait for their GET.
    close_timeout: Duration,
    /// Ended sessions whose client has yet to GET its last packets and the
    /// close packet (their slots are `Closing`). At shutdown the listener
    /// goes on serving them until this is empty.
    goodbyes: Mutex<HashSet<String>>,
    /// Called when the last goodbye is taken while the server stops: it
    /// wakes the listener.
    on_goodbyes_done: Mutex<Option<Box<dyn Fn() + Send>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The application's handler of Engine.IO-only sessions: without one,
    /// the Engine.IO endpoint does not exist (its path is a 404).
    pub engineio: Option<EngineHandler>,
}

impl Engine {
    /// An empty registry and its `engine-timers` thread; `engineio` serves
    /// the Engine.IO-only endpoint.
    pub fn start(ctx: Arc<Context>, engineio: Option<EngineHandler>) -> std::io::Result<Arc<Engine>> {
        let (timers, timers_rx) = unbounded();
        let (notices, notices_rx) = unbounded();
        let engine = Arc::new(Engine {
            slots: Mutex::default(),
            by_conn: Mutex::default(),
            timers,
            notices,
            close_timeout: ctx.config.close_timeout,
            goodbyes: Mutex::default(),
            on_goodbyes_done: Mutex::new(None),
            thread: Mutex::new(None),
            engineio,
        });
        let for_thread = engine.clone();
        let thread = thread::Builder::new()
            .name("engine-timers".into())
            .spawn(move || keep_time(&for_thread, &ctx, timers_rx, notices_rx))?;
        *engine.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok(engine)
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many sessions are open (they count against `max_clients`).
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Adds session `sid` writing through `outlet`, where `state` says; the
    /// timer thread looks at a polling one first at `deadline`.
    pub fn insert(&self, sid: String, upper: Upper, outlet: Arc<Outlet>, state: State, deadline: Option<Instant>) {
        let polling = matches!(state, State::Polling(_));
        let slot = Arc::new(Slot { state: Mutex::new(state), outlet: outlet.clone(), upper });
        self.slots().insert(sid.clone(), slot.clone());
        self.by_conn.lock().unwrap_or_else(|e| e.into_inner()).insert(outlet.id, sid.clone());
        if let (true, Some(at)) = (polling, deadline) {
            self.schedule(at, sid);
        }
    }

    pub fn get(&self, sid: &str) -> Option<Arc<Slot>> {
        self.slots().get(sid).cloned()
    }

    /// The session `sid` of endpoint `upper`, for a request that names it.
    pub fn find(&self, sid: &str, upper: Upper) -> Option<Arc<Slot>> {
        self.get(sid).filter(|slot| slot.upper == upper)
    }

    /// Forgets a session: later requests with its sid get 400.
    pub fn remove(&self, sid: &str) {
        if let Some(slot) = self.slots().remove(sid) {
            self.by_conn.lock().unwrap_or_else(|e| e.into_inner()).remove(&slot.outlet.id);
        }
        let mut goodbyes = self.goodbyes.lock().unwrap_or_else(|e| e.into_inner());
        if goodbyes.remove(sid) && goodbyes.is_empty() {
            drop(goodbyes);
            if let Some(done) = &*self.on_goodbyes_done.lock().unwrap_or_else(|e| e.into_inner()) {
                done();
            }
        }
    }

    /// True while an ended session waits for its client to come for its
    /// last packets.
    pub fn has_goodbyes(&self) -> bool {
        !self.goodbyes.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// `done` is called when the last goodbye has been taken (or timed out).
    pub fn on_goodbyes_done(&self, done: Box<dyn Fn() + Send>) {
        *self.on_goodbyes_done.lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
    }

    /// Asks the timer thread to look at session `sid` at `at`.
    pub fn schedule(&self, at: Instant, sid: String) {
        let _ = self.timers.send((at, sid));
    }

    // ANCHOR: end_polling
    /// Ends a polling session (its lock is held by the caller, in `state`):
    /// its sockets leave, and the client hears of it the way the reason asks.
    pub fn end_polling(&self, state: &mut State, mut session: Box<Session>, end: SessionEnd) {
        session.finish(&end);
        let outlet = &session.outlet;
        if end.by_client() {
            // The client closed or broke the session: a waiting poll gets a noop.
            outlet.detach(Some(Packet::Noop.text()));
            *state = State::Closing;
            return self.remove(&session.sid);
        }
        let (code, reason) = end.close_code();
        outlet.close(code, &reason, false); // the close packet follows what is queued
        *state = State::Closing;
        if outlet.has_unsent() {
            // Keep the slot until the client's next GET takes the rest and
            // the close packet, or the close timeout passes.
            self.goodbyes.lock().unwrap_or_else(|e| e.into_inner()).insert(session.sid.clone());
            let at = Instant::now() + self.close_timeout;
            self.schedule(at, session.sid.clone());
        } else {
            self.remove(&session.sid); // a waiting GET took the close packet
        }
    }
    // ANCHOR_END: end_polling

    /// Shutdown, first step: ends every polling session. A waiting GET
    /// gets the close packet; a session whose client is between two GETs
    /// keeps its last packets for the next one ([`Engine::has_goodbyes`]).
    /// WebSocket sessions are closed by the hub, like `/ws` clients.
    pub fn close_sessions(&self) {
        let slots: Vec<(String, Arc<Slot>)> = self.slots().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (_, slot) in slots {
            let mut state = slot.lock();
            if let State::Polling(_) = &*state {
                if let State::Polling(session) = std::mem::replace(&mut *state, State::Closing) {
                    self.end_polling(&mut state, session, SessionEnd::ServerShutdown);
                }
            }
        }
    }

    /// Shutdown, last step: stops and joins the timer thread.
    pub fn stop(&self) {
        let _ = self.timers.send((Instant::now(), String::new())); // an empty sid: stop
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

// ANCHOR: keep_time
/// The `engine-timers` thread: sleeps until the earliest deadline of any
/// polling session, then lets that session do what is due.
fn keep_time(engine: &Engine, ctx: &Context, timers: Receiver<(Instant, String)>, notices: Receiver<Arc<Outlet>>) {
    let mut heap: BinaryHeap<Reverse<(Instant, String)>> = BinaryHeap::new();
    loop {
        let next = heap.peek().map(|Reverse((at, _))| *at);
        let wait = next.map_or(Duration::from_secs(3600), |at| at.saturating_duration_since(Instant::now()));
        select! {
            recv(timers) -> timer => match timer {
                Ok((_, sid)) if sid.is_empty() => return, // shutdown
                Ok(timer) => heap.push(Reverse(timer)),
                Err(_) => return,
            },
            recv(notices) -> outlet => if let Ok(outlet) = outlet { on_notice(engine, ctx, &outlet) },
            default(wait) => {}
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            let Some(Reverse((_, sid))) = heap.pop() else { break };
            if let Some(at) = on_timer(engine, &sid, now) {
                heap.push(Reverse((at, sid)));
            }
        }
    }
}
// ANCHOR_END: keep_time

/// A session's timer came: returns when to look again, if ever.
fn on_timer(engine: &Engine, sid: &str, now: Instant) -> Option<Instant> {
    let slot = engine.get(sid)?;
    let mut state = match slot.state.try_lock() {
        Ok(state) => state,
        Err(TryLockError::WouldBlock) => return Some(now + BUSY_RETRY),
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
    };
    match std::mem::replace(&mut *state, State::Closing) {
        State::Polling(mut session) => match session.on_timers(now) {
            Ok(()) => {
                let next = session.next_deadline();
                *state = State::Polling(session);
                next
            }
            Err(end) => {
                engine.end_polling(&mut state, session, end);
                None
            }
        },
        State::Closing => {
            // The client never came for its last packets.
            engine.remove(sid);
            None
        }
        other => {
            *state = other; // upgraded: its own thread keeps time now
            None
        }
    }
}

/// A polling outlet was closed by someone else (the hub at shutdown, a
/// backlog that overflowed): end its session.
fn on_notice(engine: &Engine, ctx: &Context, outlet: &Arc<Outlet>) {
    let _ = outlet.drain(ctx.config.slow_client_timeout); // acknowledges the close
    let Some((code, reason)) = outlet.our_close() else { return };
    let sid = engine.by_conn.lock().unwrap_or_else(|e| e.into_inner()).get(&outlet.id).cloned();
    let Some(slot) = sid.as_deref().and_then(|sid| engine.get(sid)) else { return };
    let mut state = slot.lock();
    if let State::Polling(_) = &*state {
        if let State::Polling(session) = std::mem::replace(&mut *state, State::Closing) {
            engine.end_polling(&mut state, session, SessionEnd::from_our_close(code, &reason));
        }
    }
}
