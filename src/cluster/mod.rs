//! Several servers as one, over Redis, speaking the wire format of Node's
//! `@socket.io/redis-adapter` 8.x: a wshub node and Node socket.io nodes
//! can share one Redis and see each other's broadcasts, rooms and requests.
//!
//! This module knows Redis and the adapter's bytes, not the hub: it hands
//! every message from the other nodes to a callback, and publishes what it
//! is given. The modules, in the order a message takes:
//!
//! 1. [`channels`]: the channel names of a namespace (`socket.io#/#`, ...).
//! 2. `msgpack`: MessagePack as Node's notepack.io writes it, in and out of
//!    wshub's JSON (bytes as `{"$binary":..}` markers).
//! 3. [`wire`]: the messages ([`Broadcast`], [`Request`], [`Response`])
//!    with their exact bytes.
//! 4. `subscriber`: the `redis-sub` thread, reading and decoding.
//! 5. `publisher`: the `redis-pub` thread, publishing from a bounded queue.
//!
//! ```no_run
//! use wshub::cluster::{BroadcastOpts, Cluster, ClusterConfig, Event, EventPacket};
//!
//! let cluster = Cluster::start(ClusterConfig::new("redis://127.0.0.1:6379/"), &["/"], |event| {
//!     if let Event::Message { nsp, message } = event {
//!         println!("{nsp}: {message:?}"); // the hub would act on it here
//!     }
//! })
//! .expect("spawn the Redis threads");
//! // Every Node socket.io client of the cluster gets `42["news","hi"]`.
//! let packet = EventPacket { nsp: "/".into(), name: "news".into(), args: vec!["hi".into()] };
//! cluster.broadcast(packet, BroadcastOpts::default());
//! cluster.shutdown();
//! ```
//!
//! Faults: Redis unreachable at start or gone later, both threads retry
//! with back-off (100 ms doubling to 2 s), log a warning, and the
//! subscriber subscribes again to every namespace. Messages published
//! meanwhile are lost, as pub/sub always loses them: [`Event::Disconnected`]
//! and the next [`Event::Subscribed`] tell the hub when that may have
//! happened.

pub mod channels;
mod msgpack;
// A date from a day number: also the socket handshake's `time` (hub::handshake).
pub(crate) use msgpack::civil_from_days;
mod publisher;
mod retry;
mod subscriber;
pub mod wire;

use std::io;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

pub use channels::Channels;
pub use wire::{
    Broadcast, BroadcastOpts, ChannelKind, EventPacket, Flags, Message, RemoteSocket, Request, RequestKind, Response,
    Selection, WireError,
};

use publisher::Job;
use subscriber::{Control, Subscriber};

/// Where Redis is and how this node behaves in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The Redis URL, e.g. `redis://127.0.0.1:6379/` (`redis://:password@host/`
    /// with a password).
    pub url: String,
    /// The channel prefix, Node's `key` option (default `socket.io`). Nodes
    /// with different prefixes do not see each other.
    pub prefix: String,
    /// Answer requests on the asking node's own response channel rather
    /// than the shared one: Node's `publishOnSpecificResponseChannel`
    /// (default false, as in Node). Saves every node decoding every answer.
    pub specific_response_channel: bool,
    /// Messages that may wait for the publisher (default 4096). When full,
    /// a publish is dropped rather than block the caller (the hub).
    pub publish_queue: usize,
    /// The biggest message accepted from Redis (default 16 MiB); a bigger
    /// one is ignored with a log line.
    pub max_message_bytes: usize,
    /// How long one connection attempt may take (default 2 s).
    pub connect_timeout: Duration,
    /// The longest wait between two connection attempts (default 2 s), so
    /// that a restarted Redis is used again within a few seconds.
    pub max_retry: Duration,
    /// After this long without a message the subscriber PINGs Redis
    /// (default 10 s): a Redis that vanished without closing the connection
    /// (a network cut) is found out this way, not never.
    pub ping_after: Duration,
}

impl ClusterConfig {
    /// The defaults, with Redis at `url`.
    pub fn new(url: &str) -> ClusterConfig {
        ClusterConfig {
            url: url.to_string(),
            prefix: "socket.io".to_string(),
            specific_response_channel: false,
            publish_queue: 4096,
            max_message_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(2),
            max_retry: Duration::from_secs(2),
            ping_after: Duration::from_secs(10),
        }
    }
}

/// What the two threads need of the configuration.
#[derive(Debug, Clone)]
struct Settings {
    /// `host:port`, for log lines (never the password).
    address: String,
    connect_timeout: Duration,
    /// How long one command (PUBLISH, PING) may take before the connection counts as dead.
    command_timeout: Duration,
    first_retry: Duration,
    max_retry: Duration,
    max_message_bytes: usize,
    /// How long the subscriber blocks in one read before it looks at its
    /// control channel: the most a shutdown or a new namespace waits.
    poll: Duration,
    /// After this long without a message, the subscriber PINGs Redis.
    ping_after: Duration,
}

/// What the subscriber reports to the callback given to [`Cluster::start`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Subscribed to the channels of these namespaces: after connecting,
    /// after every reconnection, and after [`Cluster::add_namespace`].
    /// From now on the other nodes' messages arrive.
    Subscribed {
        /// Every namespace subscribed to.
        namespaces: Vec<String>,
    },
    /// The subscription was lost; messages published until the next
    /// `Subscribed` are not seen by this node.
    Disconnected {
        /// What went wrong.
        reason: String,
    },
    /// A message from another node, in namespace `nsp`. This node's own
    /// broadcasts and requests are not reported; responses are, whoever
    /// asked (match them by their request id).
    Message {
        /// The namespace whose channel it came on.
        nsp: String,
        /// The message.
        message: Message,
    },
}

/// One node of a cluster: the `redis-sub` and `redis-pub` threads.
/// Dropping it (or [`shutdown`](Self::shutdown)) stops and joins both.
pub struct Cluster {
    /// This node's id in the cluster, 6 characters like Node's.
    uid: String,
    prefix: String,
    specific_response_channel: bool,
    /// The publisher's queue; dropping it stops the thread after it
    /// published what was queued.
    jobs: Mutex<Option<Sender<Job>>>,
    /// Orders for the subscriber; dropping it stops the thread.
    control: Mutex<Option<Sender<Control>>>,
    /// Behind locks so that a shared `Cluster` (the hub and every `Io`
    /// hold one) can still be shut down once, by whoever stops the server.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Cluster {
    /// Starts both threads for `namespaces` (more can be added with
    /// [`add_namespace`](Self::add_namespace)). Returns at once, whether or
    /// not Redis is there: [`Event::Subscribed`] says when it is. The
    /// callback runs on the `redis-sub` thread and should only hand the
    /// event on (e.g. into a channel to the hub): while it runs, nothing is
    /// read from Redis. `Err` only if the URL is not a Redis URL or a
    /// thread cannot be spawned.
    pub fn start(
        config: ClusterConfig,
        namespaces: &[&str],
        on_event: impl FnMut(Event) + Send + 'static,
    ) -> io::Result<Cluster> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("bad Redis URL: {e}")))?;
        let settings = Settings {
            address: client.get_connection_info().addr().to_string(),
            connect_timeout: config.connect_timeout,
            command_timeout: Duration::from_secs(5),
            first_retry: Duration::from_millis(100),
            max_retry: config.max_retry,
            max_message_bytes: config.max_message_bytes,
            poll: Duration::from_millis(200),
            ping_after: config.ping_after,
        };
        let uid = new_id();
        let (jobs, job_rx) = bounded(config.publish_queue.max(1));
        let (control, control_rx) = bounded(64);
        let subscriber = Subscriber {
            client: client.clone(),
            uid: uid.clone(),
            namespaces: namespaces.iter().map(|nsp| Channels::new(&config.prefix, nsp)).collect(),
            control: control_rx,
            on_event: Box::new(on_event),
            settings: settings.clone(),
            wake: jobs.clone(),
            up: false,
        };
        let mut threads = Vec::new();
        threads.push(std::thread::Builder::new().name("redis-sub".into()).spawn(move || subscriber.run())?);
        let publisher = std::thread::Builder::new()
            .name("redis-pub".into())
            .spawn(move || publisher::run(client, job_rx, settings));
        match publisher {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                drop(control); // stops the subscriber again
                for t in threads {
                    let _ = t.join();
                }
                return Err(e);
            }
        }
        log::info!("cluster: node {uid} started, prefix {:?}", config.prefix);
        Ok(Cluster {
            uid,
            prefix: config.prefix,
            specific_response_channel: config.specific_response_channel,
            jobs: Mutex::new(Some(jobs)),
            control: Mutex::new(Some(control)),
            threads: Mutex::new(threads),
        })
    }

    /// This node's uid: the `uid` of its broadcasts and requests.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The channel names of namespace `nsp` under this cluster's prefix.
    pub fn channels(&self, nsp: &str) -> Channels {
        Channels::new(&self.prefix, nsp)
    }

    /// Subscribes to one more namespace (a namespace created at run time);
    /// [`Event::Subscribed`] follows once it is done.
    pub fn add_namespace(&self, nsp: &str) {
        if let Some(control) = &*lock(&self.control) {
            let _ = control.send(Control::AddNamespace(self.channels(nsp)));
        }
    }

    /// Publishes a broadcast from this node to the others, on the room's
    /// own channel when it targets one room. False if the queue was full
    /// and the message dropped.
    pub fn broadcast(&self, packet: EventPacket, opts: BroadcastOpts) -> bool {
        let channel = self.channels(&packet.nsp).for_broadcast(&opts);
        let message = Broadcast { uid: self.uid.clone(), packet, opts };
        self.publish(channel, message.encode())
    }

    /// Publishes a request to the other nodes of namespace `nsp`. Use
    /// [`new_id`] for its request id, and [`server_count`](Self::server_count)
    /// to know how many answers to wait for.
    pub fn request(&self, nsp: &str, kind: RequestKind) -> bool {
        let message = Request { uid: self.uid.clone(), kind };
        self.publish(self.channels(nsp).request, message.encode())
    }

    /// Answers node `requester`'s request: on its own response channel with
    /// [`ClusterConfig::specific_response_channel`], else on the shared one.
    /// A server-side-emit ack always goes on the shared one, as Node sends it.
    pub fn respond(&self, nsp: &str, requester: &str, response: Response) -> bool {
        let channels = self.channels(nsp);
        let channel = match response {
            Response::ServerSideEmitAck { .. } => channels.response,
            _ if self.specific_response_channel => channels.response_for(requester),
            _ => channels.response,
        };
        self.publish(channel, response.encode())
    }

    /// How many servers listen to namespace `nsp`'s requests, this one
    /// included: `PUBSUB NUMSUB` of the request channel, which is how Node
    /// knows how many answers to wait for. The answer comes on the returned
    /// channel (`None`: Redis unreachable, or the queue full), after every
    /// message published before this call.
    pub fn server_count(&self, nsp: &str) -> Receiver<Option<usize>> {
        let (reply, answer) = bounded(1);
        let job = Job::NumSub { channel: self.channels(nsp).request, reply: reply.clone() };
        if !self.queue(job) {
            let _ = reply.send(None);
        }
        answer
    }

    fn publish(&self, channel: String, payload: Vec<u8>) -> bool {
        self.queue(Job::Publish { channel, payload })
    }

    fn queue(&self, job: Job) -> bool {
        let jobs = lock(&self.jobs);
        let Some(jobs) = &*jobs else { return false };
        match jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                log::warn!("cluster: the publish queue is full; a message was dropped");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Stops both threads and waits for them: the publisher first publishes
    /// what is still queued (if Redis is there), the subscriber unsubscribes.
    /// Later calls, and publishing afterwards, do nothing.
    pub fn shutdown(&self) {
        lock(&self.jobs).take();
        lock(&self.control).take();
        // The subscriber first: it holds a sender of the publisher's queue
        // too, and the publisher ends when the last one is gone.
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("uid", &self.uid).field("prefix", &self.prefix).finish()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A new random id of 6 characters from `A–Z a–z 0–9 - _`, the form Node's
/// adapter uses (`uid2(6)`) for node uids and request ids.
pub fn new_id() -> String {
    const CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): the clock and a counter.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let n = nanos as u64 ^ COUNTER.fetch_add(0x9e37_79b9, std::sync::atomic::Ordering::Relaxed);
        bytes.copy_from_slice(&n.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| CHARS[usize::from(b % 64)] as char).collect()
}
