//! [`Timers`]: the `timers` thread, which runs what must happen at a time
//! rather than when a client sends something: an ack that did not come in
//! time (`socket.timeout(d).emit_with_ack`), the end of a broadcast's wait
//! for its acks (`io.timeout(d).emit_with_ack`).
//!
//! Why a thread of its own: these jobs call the application's callbacks,
//! which may take their time, emit, or wait for the hub. The hub must never
//! run application code (it would wait for itself), and a client's thread
//! sleeps in `read` until that client speaks. The thread starts with the
//! first job, so a server that never sets a timeout never has it; shutdown
//! stops and joins it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, RecvTimeoutError, Sender};

/// Something to do at a given time, on the `timers` thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The timer thread, started on first use. See the [module docs](self).
#[derive(Default)]
pub(crate) struct Timers {
    thread: Mutex<Option<Running>>,
    /// After `shutdown`: jobs are dropped, not run, and no thread starts.
    stopped: Mutex<bool>,
}

struct Running {
    jobs: Sender<(Instant, Job)>,
    handle: JoinHandle<()>,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers").field("running", &lock(&self.thread).is_some()).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Timers {
    /// Runs `job` on the `timers` thread at `at` (at once if `at` has passed).
    pub fn schedule(&self, at: Instant, job: Job) {
        if *lock(&self.stopped) {
            return;
        }
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let (jobs, rx) = unbounded::<(Instant, Job)>();
            let spawned = thread::Builder::new().name("timers".into()).spawn(move || {
                // (when, sequence number): the number keeps jobs due at the
                // same time in the order they came, and names the job.
                let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
                let mut jobs: HashMap<u64, Job> = HashMap::new();
                let mut seq = 0u64;
                loop {
                    let wait = heap.peek().map_or(Duration::from_secs(3600), |Reverse((at, _))| {
                        at.saturating_duration_since(Instant::now())
                    });
                    match rx.recv_timeout(wait) {
                        Ok((at, job)) => {
                            seq += 1;
                            heap.push(Reverse((at, seq)));
                            jobs.insert(seq, job);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return, // shutdown
                    }
                    let now = Instant::now();
                    while heap.peek().is_some_and(|Reverse((at, _))| *at <= now) {
                        let Some(Reverse((_, n))) = heap.pop() else { break };
                        let Some(job) = jobs.remove(&n) else { continue };
                        // A callback that panics loses only itself.
                        if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                            log::error!("timers: a timed callback panicked");
                        }
                    }
                }
            });
            match spawned {
                Ok(handle) => *thread = Some(Running { jobs, handle }),
                Err(e) => {
                    log::error!("timers: cannot start the timer thread ({e}); the timeout is dropped");
                    return;
                }
            }
        }
        if let Some(running) = thread.as_ref() {
            let _ = running.jobs.send((at, job));
        }
    }

    /// Stops the thread (jobs not yet due are dropped) and joins it.
    pub fn shutdown(&self) {
        *lock(&self.stopped) = true;
        let running = lock(&self.thread).take();
        if let Some(Running { jobs, handle }) = running {
            drop(jobs);
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}
