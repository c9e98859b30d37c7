//! The `redis-sub` thread: one connection in subscribed mode, as the Node
//! adapter's `subClient`. For each namespace it PSUBSCRIBEs to the
//! broadcast pattern and SUBSCRIBEs to the request channel, the shared
//! response channel and this node's own response channel; every message
//! that arrives is decoded and handed to the caller's callback.
//!
//! A subscribed connection can only wait for messages, so the thread reads
//! with a short timeout ([`Settings::poll`]) and looks at its control
//! channel in between: a new namespace to subscribe to, or the end.

use std::collections::HashMap;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::channels::Channels;
use super::publisher::Job;
use super::retry::{Backoff, Tally};
use super::wire::{ChannelKind, Message};
use super::{Event, Settings};

/// What the owner asks of the running thread.
pub(super) enum Control {
    /// Subscribe to one more namespace's channels.
    AddNamespace(Channels),
}

/// The thread's state across reconnections.
pub(super) struct Subscriber {
    pub(super) client: redis::Client,
    /// This node's uid: its own broadcasts and requests come back from
    /// Redis and are skipped here.
    pub(super) uid: String,
    pub(super) namespaces: Vec<Channels>,
    pub(super) control: Receiver<Control>,
    pub(super) on_event: Box<dyn FnMut(Event) + Send>,
    pub(super) settings: Settings,
    /// The publisher's queue, to wake it once Redis answers again.
    pub(super) wake: Sender<Job>,
    /// Subscribed now: a lost connection is then reported once.
    pub(super) up: bool,
}

/// Why a subscribed session ended.
enum End {
    /// The owner dropped the control channel: stop.
    Stop,
    /// The connection failed: reconnect.
    Lost(redis::RedisError),
}

impl Subscriber {
    /// The thread's loop: connect, subscribe, read until the connection
    /// fails (then again, after a back-off) or the owner stops it.
    pub(super) fn run(mut self) {
        let mut backoff = Backoff::new(self.settings.first_retry, self.settings.max_retry);
        let mut malformed = Tally::default();
        loop {
            let end = match self.client.get_connection_with_timeout(self.settings.connect_timeout) {
                Ok(mut con) => self.session(&mut con, &mut backoff, &mut malformed),
                Err(e) => End::Lost(e),
            };
            let error = match end {
                End::Stop => break,
                End::Lost(e) => e,
            };
            if std::mem::take(&mut self.up) {
                (self.on_event)(Event::Disconnected { reason: error.to_string() });
            }
            let delay = backoff.failed("redis-sub", &format!("no subscription at {}", self.settings.address), &error);
            // The back-off wait is also a wait for the owner's orders.
            let deadline = std::time::Instant::now() + delay;
            loop {
                match self.control.recv_deadline(deadline) {
                    Ok(Control::AddNamespace(channels)) => {
                        self.remember(channels);
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        log::info!("redis-sub: stopped");
                        return;
                    }
                }
            }
        }
        log::info!("redis-sub: stopped");
    }

    fn remember(&mut self, channels: Channels) -> bool {
        if self.namespaces.iter().any(|c| c.nsp == channels.nsp) {
            return false;
        }
        self.namespaces.push(channels);
        true
    }

    /// One connection's life: subscribe to everything, then read.
    fn session(&mut self, con: &mut redis::Connection, backoff: &mut Backoff, malformed: &mut Tally) -> End {
        if let Err(e) = con.set_read_timeout(Some(self.settings.poll)) {
            return End::Lost(e);
        }
        let mut pubsub = con.as_pubsub();
        // Orders that came while disconnected are already in `namespaces`.
        let mut routes = Routes::default();
        for channels in self.namespaces.clone() {
            if let Err(e) = subscribe(&mut pubsub, &mut routes, &channels, &self.uid) {
                return End::Lost(e);
            }
        }
        backoff.succeeded();
        // Before the event, so that what the owner publishes on hearing it
        // finds the publisher connected (or connecting) too.
        let _ = self.wake.try_send(Job::Wake);
        log::info!("redis-sub: subscribed at {} for {} namespace(s)", self.settings.address, self.namespaces.len());
        self.up = true;
        let namespaces = self.names();
        (self.on_event)(Event::Subscribed { namespaces });

        let mut idle = Duration::ZERO;
        loop {
            loop {
                match self.control.try_recv() {
                    Ok(Control::AddNamespace(channels)) => {
                        if self.remember(channels.clone()) {
                            if let Err(e) = subscribe(&mut pubsub, &mut routes, &channels, &self.uid) {
                                return End::Lost(e);
                            }
                            log::info!("redis-sub: subscribed to namespace {}", channels.nsp);
                            let namespaces = self.names();
                            (self.on_event)(Event::Subscribed { namespaces });
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return End::Stop,
                }
            }
            match pubsub.get_message() {
                Ok(msg) => {
                    idle = Duration::ZERO;
                    self.deliver(&routes, &msg, malformed);
                }
                Err(e) if e.is_timeout() => {
                    idle += self.settings.poll;
                    if idle >= self.settings.ping_after {
                        // A peer that vanished without closing the
                        // connection shows up here, as a PING unanswered.
                        idle = Duration::ZERO;
                        let pong = pubsub
                            .set_read_timeout(Some(self.settings.command_timeout))
                            .and_then(|()| pubsub.ping::<redis::Value>())
                            .and_then(|_| pubsub.set_read_timeout(Some(self.settings.poll)));
                        if let Err(e) = pong {
                            return End::Lost(e);
                        }
                    }
                }
                Err(e) => return End::Lost(e),
            }
        }
    }

    fn names(&self) -> Vec<String> {
        self.namespaces.iter().map(|c| c.nsp.clone()).collect()
    }

    /// Decodes one message and hands it on, unless it is this node's own
    /// or not a message of the adapter at all (logged, rarely).
    fn deliver(&mut self, routes: &Routes, msg: &redis::Msg, malformed: &mut Tally) {
        let route = if msg.from_pattern() {
            msg.get_pattern::<String>().ok().and_then(|p| routes.patterns.get(&p))
        } else {
            routes.channels.get(msg.get_channel_name())
        };
        let Some((nsp, kind)) = route else {
            log::debug!("redis-sub: a message on {} that no subscription asked for", msg.get_channel_name());
            return;
        };
        let payload = msg.get_payload_bytes();
        let decoded = if payload.len() > self.settings.max_message_bytes {
            Err(format!("{} bytes, over the limit of {}", payload.len(), self.settings.max_message_bytes))
        } else {
            Message::decode(*kind, payload).map_err(|e| e.to_string())
        };
        let message = match decoded {
            Ok(message) => message,
            Err(why) => {
                if let Some(n) = malformed.count() {
                    log::warn!("redis-sub: ignored a message on {}: {why} ({n} so far)", msg.get_channel_name());
                }
                return;
            }
        };
        match &message {
            Message::Broadcast(b) if b.uid == self.uid => return,
            Message::Request(r) if r.uid == self.uid => return,
            // Node drops a packet for another namespace than its channel's.
            Message::Broadcast(b) if b.packet.nsp != *nsp => {
                log::debug!("redis-sub: a broadcast for {} on {}'s channel", b.packet.nsp, nsp);
                return;
            }
            _ => {}
        }
        (self.on_event)(Event::Message { nsp: nsp.clone(), message });
    }
}

/// Which namespace, and which kind of channel, each subscription is.
#[derive(Default)]
struct Routes {
    patterns: HashMap<String, (String, ChannelKind)>,
    channels: HashMap<String, (String, ChannelKind)>,
}

/// Subscribes to one namespace's channels, as the Node adapter does.
fn subscribe(
    pubsub: &mut redis::PubSub<'_>,
    routes: &mut Routes,
    channels: &Channels,
    uid: &str,
) -> redis::RedisResult<()> {
    let nsp = &channels.nsp;
    let pattern = channels.pattern();
    let exact = [
        (channels.request.clone(), ChannelKind::Request),
        (channels.response.clone(), ChannelKind::Response),
        (channels.response_for(uid), ChannelKind::Response),
    ];
    pubsub.psubscribe(&pattern)?;
    pubsub.subscribe(exact.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())?;
    routes.patterns.insert(pattern, (nsp.clone(), ChannelKind::Broadcast));
    for (name, kind) in exact {
        routes.channels.insert(name, (nsp.clone(), kind));
    }
    Ok(())
}
