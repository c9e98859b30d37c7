//! [`Rate`]: how many messages a client may send per second.
//!
//! A token bucket: it holds up to one second's worth of messages, refills
//! continuously, and each message from the client takes one. A client that
//! finds it empty is flooding: it is closed with 1008 (policy violation).
//! Off by default (socket.io has no such limit); a flood is slowed down
//! anyway, because a client's handlers may have only a few commands waiting
//! for the hub (see `hub::io::CREDITS`), so its thread stops reading.

use std::time::Instant;

/// One client's bucket. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Rate {
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

impl Rate {
    /// A full bucket of `per_second` messages.
    pub fn new(per_second: u32) -> Rate {
        let per_second = f64::from(per_second.max(1));
        Rate { per_second, tokens: per_second, refilled: Instant::now() }
    }

    /// Takes one message; false when the client is over its rate.
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.per_second);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Takes one message from `rate`, if there is a limit: the close reason
    /// when the client is over it.
    pub fn exceeded(rate: &mut Option<Rate>) -> Option<String> {
        let rate = rate.as_mut()?;
        (!rate.take()).then(|| rate.reason())
    }

    /// The close reason a flooding client gets.
    pub fn reason(&self) -> String {
        format!("message rate over {} per second", self.per_second as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_one_seconds_worth_passes_and_the_next_does_not() {
        let mut rate = Rate::new(100);
        assert!((0..100).all(|_| rate.take()));
        assert!(!rate.take(), "the 101st message within the same instant is over the rate");
    }
}
