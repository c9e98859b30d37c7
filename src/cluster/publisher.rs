//! The `redis-pub` thread: the one connection that PUBLISHes, fed by a
//! bounded channel so that no caller ever waits on Redis.
//!
//! Pub/sub promises nothing to a publisher: a message published while no
//! one listens is gone. So while Redis is away this thread drops what it is
//! given (and says so in the log) instead of queueing it for later, and
//! reconnects with back-off in the meantime.

use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::retry::{Backoff, Tally};
use super::Settings;

/// What the thread is asked to do.
pub(super) enum Job {
    /// PUBLISH `payload` on `channel`.
    Publish {
        /// The channel name.
        channel: String,
        /// The message's bytes.
        payload: Vec<u8>,
    },
    /// The subscriber just (re)subscribed, so Redis is there: if this
    /// thread is waiting out a back-off, it connects now instead. A message
    /// queued after this one thus finds a connection.
    Wake,
    /// `PUBSUB NUMSUB channel`, answered on `reply` (`None`: no connection).
    NumSub {
        /// The channel whose subscribers to count.
        channel: String,
        /// Where the count goes.
        reply: Sender<Option<usize>>,
    },
}

/// The thread's loop. It ends when every sender of `jobs` is dropped (the
/// `Cluster`'s and the subscriber's), after publishing what was still queued.
pub(super) fn run(client: redis::Client, jobs: Receiver<Job>, settings: Settings) {
    let mut link = Link {
        client,
        con: None,
        backoff: Backoff::new(settings.first_retry, settings.max_retry),
        retry_at: Instant::now(),
        dropped: Tally::default(),
        settings,
    };
    loop {
        if link.con.is_none() && Instant::now() >= link.retry_at {
            link.connect();
        }
        // While disconnected, wake up for the next attempt; else only for jobs.
        let wait = match link.con {
            None => link.retry_at.saturating_duration_since(Instant::now()),
            Some(_) => Duration::from_secs(3600),
        };
        select! {
            recv(jobs) -> job => match job {
                Ok(Job::Wake) => {
                    if link.con.is_none() {
                        link.connect();
                    }
                }
                Ok(job) => link.run(job),
                Err(_) => break, // the Cluster was shut down and the queue is empty
            },
            default(wait) => {}
        }
    }
    log::info!("redis-pub: stopped");
}

/// The publishing connection and its state.
struct Link {
    client: redis::Client,
    con: Option<redis::Connection>,
    backoff: Backoff,
    /// When to try connecting again, while `con` is `None`.
    retry_at: Instant,
    /// Messages dropped because Redis was away.
    dropped: Tally,
    settings: Settings,
}

impl Link {
    fn connect(&mut self) {
        let result = self.client.get_connection_with_timeout(self.settings.connect_timeout).and_then(|con| {
            // Bounded, so that a Redis that stopped answering cannot hold this
            // thread (and through the full queue, the callers' messages) for ever.
            con.set_write_timeout(Some(self.settings.command_timeout))?;
            con.set_read_timeout(Some(self.settings.command_timeout))?;
            Ok(con)
        });
        match result {
            Ok(con) => {
                log::info!("redis-pub: connected to {}", self.settings.address);
                self.con = Some(con);
                self.backoff.succeeded();
            }
            Err(e) => {
                let delay =
                    self.backoff.failed("redis-pub", &format!("cannot connect to {}", self.settings.address), &e);
                self.retry_at = Instant::now() + delay;
            }
        }
    }

    /// Runs one job; a job that fails on a connection that has just died
    /// is tried once more on a new one (the first publish after Redis
    /// restarted is the one that finds out).
    fn run(&mut self, job: Job) {
        for attempt in 0..2 {
            if self.con.is_none() {
                if attempt == 0 && Instant::now() < self.retry_at {
                    break;
                }
                self.connect();
            }
            let Some(con) = self.con.as_mut() else { break };
            let result = match &job {
                Job::Publish { channel, payload } => {
                    redis::cmd("PUBLISH").arg(channel).arg(payload).query::<i64>(con).map(|_| ())
                }
                Job::Wake => Ok(()),
                Job::NumSub { channel, reply } => {
                    redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query::<(String, usize)>(con).map(|(_, n)| {
                        let _ = reply.send(Some(n));
                    })
                }
            };
            match result {
                Ok(()) => return,
                Err(e) => {
                    log::warn!("redis-pub: lost the connection to {}: {e}", self.settings.address);
                    self.con = None;
                }
            }
        }
        // No connection: pub/sub semantics, the message is gone.
        match job {
            Job::Publish { channel, .. } => {
                if let Some(n) = self.dropped.count() {
                    log::warn!("redis-pub: Redis is unreachable; dropped a message for {channel} ({n} dropped so far)");
                } else {
                    log::debug!("redis-pub: Redis is unreachable; dropped a message for {channel}");
                }
            }
            Job::NumSub { reply, .. } => {
                let _ = reply.send(None);
            }
            Job::Wake => {}
        }
    }
}
