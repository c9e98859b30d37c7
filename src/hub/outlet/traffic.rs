//! What this process has written to its clients, for the admin UI.

use std::sync::atomic::{AtomicU64, Ordering};

/// What this process wrote to its clients: writes (one per event and
/// client; a run of broadcasts written to a client together is one) and
/// their bytes, WebSocket frames or polling packets. Counted in the
/// outlets, where every write passes, with one relaxed add each; the admin
/// UI's `packetsOut` and `bytesOut` are the differences between two
/// readings. Process-wide: every server of the process adds here.
pub(crate) static SENT: Traffic = Traffic { packets: AtomicU64::new(0), bytes: AtomicU64::new(0) };

/// Two running totals.
#[derive(Debug)]
pub struct Traffic {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Traffic {
    /// Counts `packets` events of `bytes` bytes.
    pub(crate) fn add(&self, packets: u64, bytes: usize) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `(packets, bytes)` so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.packets.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// Events and bytes this process has written to clients so far (every
/// server in it together).
pub fn sent_totals() -> (u64, u64) {
    SENT.totals()
}
