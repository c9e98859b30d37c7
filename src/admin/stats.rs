//! `server_stats`, every 2 s from every node: who this server is, how many
//! clients it has, and what happened since the last report, aggregated per
//! second as the UI's dashboard charts it (`aggregatedEvents`: connections,
//! disconnections by reason, packets and bytes in and out).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::hub::observe::Counts;
use crate::hub::outlet::sent_totals;

/// `(unix second, type, subtype)`: what one count is of.
type Key = (u64, &'static str, Option<String>);

/// Counts of events per second, type and subtype since the last report
/// (Node's `EventBuffer`): added to from the hub thread and the clients'
/// threads, taken by the `admin` thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    buffer: Mutex<BTreeMap<Key, u64>>,
}

impl Counters {
    /// Counts `count` of `kind` (with `sub`, e.g. a disconnect's reason) now.
    pub fn add(&self, kind: &'static str, sub: Option<&str>, count: u64) {
        let second = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        *buffer.entry((second, kind, sub.map(str::to_string))).or_default() += count;
    }

    /// Everything counted since the last call, as the UI reads it.
    fn take(&self) -> Vec<Value> {
        let buffer = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        buffer
            .into_iter()
            .map(|((second, kind, sub), count)| {
                let mut event = json!({"timestamp": second * 1000, "type": kind, "count": count});
                if let Some(sub) = sub {
                    event["subType"] = json!(sub);
                }
                event
            })
            .collect()
    }
}

/// What the `admin` thread keeps between two reports.
pub(crate) struct Stats {
    server_id: String,
    hostname: String,
    started: Instant,
    counters: Arc<Counters>,
    /// The process's write totals at the last report (`packetsOut`,
    /// `bytesOut` are what was added since).
    sent: (u64, u64),
}

impl Stats {
    pub fn new(server_id: String, counters: Arc<Counters>) -> Stats {
        Stats { server_id, hostname: hostname(), started: Instant::now(), counters, sent: sent_totals() }
    }

    /// One `server_stats`: this server now, with the hub's `counts` and
    /// the namespaces it serves (those with no socket show 0).
    pub fn report(&mut self, counts: &Counts, namespaces: &[String]) -> Value {
        let (packets, bytes) = sent_totals();
        let (last_packets, last_bytes) = std::mem::replace(&mut self.sent, (packets, bytes));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() * 1000;
        let mut aggregated = self.counters.take();
        for (kind, count) in [("packetsOut", packets - last_packets), ("bytesOut", bytes - last_bytes)] {
            if count > 0 {
                aggregated.push(json!({"timestamp": now, "type": kind, "count": count}));
            }
        }
        let mut sockets: BTreeMap<&str, usize> = namespaces.iter().map(|n| (n.as_str(), 0)).collect();
        for (nsp, count) in &counts.namespaces {
            sockets.insert(nsp, *count);
        }
        let namespaces: Vec<Value> =
            sockets.into_iter().map(|(name, count)| json!({"name": name, "socketsCount": count})).collect();
        json!({
            "serverId": self.server_id,
            "hostname": self.hostname,
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": counts.connections,
            "pollingClientsCount": counts.polling,
            "aggregatedEvents": aggregated,
            "namespaces": namespaces,
        })
    }
}

/// This machine's name (`gethostname(2)`), or `localhost` if it has none.
pub(crate) fn hostname() -> String {
    let mut name = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is passed.
    let ok = unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) } == 0;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    match std::str::from_utf8(&name[..end]) {
        Ok(host) if ok && !host.is_empty() => host.to_string(),
        _ => "localhost".to_string(),
    }
}
