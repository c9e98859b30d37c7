//! Back-off between connection attempts, and a warning that does not flood
//! the log while Redis stays away.

use std::time::{Duration, Instant};

/// Doubling delays from `first` up to `max`; reset after a success.
#[derive(Debug)]
pub(super) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
    /// When the last warning was logged, during this outage.
    warned: Option<Instant>,
}

/// How often a continuing outage is logged at `warn` (the other attempts at `debug`).
const WARN_EVERY: Duration = Duration::from_secs(30);

impl Backoff {
    pub(super) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max, next: first, warned: None }
    }

    /// One more failed attempt: logs it and returns how long to wait.
    pub(super) fn failed(&mut self, thread: &str, what: &str, error: &dyn std::fmt::Display) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        let now = Instant::now();
        if self.warned.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            self.warned = Some(now);
            log::warn!("{thread}: {what}: {error}; retrying every {:?} at most", self.max);
        } else {
            log::debug!("{thread}: {what}: {error}; next attempt in {delay:?}");
        }
        delay
    }

    /// The connection works again: the next outage starts from `first`.
    pub(super) fn succeeded(&mut self) {
        self.next = self.first;
        self.warned = None;
    }
}

/// Counts dropped or malformed messages and says whether this one should
/// be logged at `warn`: the 1st, 2nd, 4th, 8th... so a flood of them costs a
/// few log lines, not one each.
#[derive(Debug, Default)]
pub(super) struct Tally(u64);

impl Tally {
    pub(super) fn count(&mut self) -> Option<u64> {
        self.0 += 1;
        self.0.is_power_of_two().then_some(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<_> = (0..4).map(|_| b.failed("t", "x", &"e").as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        b.succeeded();
        assert_eq!(b.failed("t", "x", &"e").as_millis(), 100);
    }

    #[test]
    fn a_tally_logs_ever_more_rarely() {
        let mut t = Tally::default();
        let logged: Vec<_> = (0..10).filter_map(|_| t.count()).collect();
        assert_eq!(logged, [1, 2, 4, 8]);
    }
}
