//! The four measures. Each one is bounded in count and in time, and returns
//! rows `(measure, value)` for the CSV.
//!
//! - [`echo`]: one client, N sequential `client-message` round trips after a
//!   warm-up: p50 / p99 in µs.
//! - [`broadcast`]: R receivers on non-blocking sockets behind one `mio`
//!   poller; one of them emits `broadcast` with a sequence number; the time
//!   from just before that write to the moment the last receiver has the
//!   message, p50 / p95 over the rounds, in ms.
//! - [`idle`]: VmRSS of the server before and after opening idle connections.
//! - [`scale`]: thousands of idle clients held (pings answered) for a while,
//!   then timed broadcasts to all of them.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::client::{bad, find_seq, is_event, Conn, Proto, Seen};

/// Filler that makes each message about 60–70 bytes, a typical chat event.
const PAD: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
/// The longest a broadcast round may take before the measure fails.
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);

fn data(seq: u64) -> String {
    format!("{{\"seq\":{seq},\"pad\":\"{PAD}\"}}")
}

/// The `p`-quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Echo round trips of one client, in µs: p50 and p99.
pub fn echo(addr: SocketAddr, proto: Proto, n: usize, warmup: usize) -> io::Result<Vec<(String, f64)>> {
    let mut conn = Conn::open(addr, proto, 1)?;
    let mut samples = Vec::with_capacity(n);
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..(warmup + n) as u64 {
        if Instant::now() > deadline {
            return Err(bad("echo: took longer than 120 s".into()));
        }
        let text = crate::client::event_text(proto, "client-message", &data(i));
        let start = Instant::now();
        conn.send_text(text.as_bytes())?;
        if proto == Proto::Tcp {
            conn.read_exact_tcp(text.len())?;
        } else {
            loop {
                let m = conn.next_message()?;
                if is_event(proto, &m, "client-message") && find_seq(&m) == Some(i) {
                    break;
                }
            }
        }
        let took = start.elapsed();
        if i as usize >= warmup {
            samples.push(took.as_secs_f64() * 1e6);
        }
    }
    let s = sorted(samples);
    Ok(vec![("echo_p50_us".into(), quantile(&s, 0.5)), ("echo_p99_us".into(), quantile(&s, 0.99))])
}

/// Opens `n` connections one after the other (each fully set up, welcome
/// received) and returns them.
fn open_many(addr: SocketAddr, proto: Proto, n: usize) -> io::Result<Vec<Conn>> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        if Instant::now() > deadline {
            return Err(bad(format!("opening connections: only {i} of {n} in 300 s")));
        }
        let conn = Conn::open(addr, proto, i as u32 + 1).map_err(|e| bad(format!("connection {i}: {e}")))?;
        conns.push(conn);
    }
    Ok(conns)
}

/// Receivers multiplexed on one poller.
struct Fleet {
    conns: Vec<Conn>,
    poll: Poll,
    events: Events,
    /// One read buffer for everyone: no per-read allocation or zeroing.
    scratch: Vec<u8>,
    /// Spin on the poller during a timed broadcast instead of sleeping in it
    /// (`--busy-poll`). On loopback, every frame the server writes must wake
    /// a sleeping receiver, and the server's CPU pays for that wake-up; over
    /// a real network it would not. Spinning takes that cost out for every
    /// server alike.
    busy: bool,
}

impl Fleet {
    fn new(conns: Vec<Conn>) -> io::Result<Fleet> {
        let poll = Poll::new()?;
        let mut fleet = Fleet {
            conns: Vec::with_capacity(conns.len()),
            poll,
            events: Events::with_capacity(1024),
            scratch: vec![0; 64 * 1024],
            busy: false,
        };
        for (i, conn) in conns.into_iter().enumerate() {
            let conn = conn.into_nonblocking()?;
            fleet.poll.registry().register(&mut SourceFd(&conn.stream.as_raw_fd()), Token(i), Interest::READABLE)?;
            fleet.conns.push(conn);
        }
        Ok(fleet)
    }

    /// Waits up to `timeout` for readiness and processes every frame that
    /// arrived, calling `on` for each (connection index, what it saw).
    fn turn(&mut self, timeout: Duration, mut on: impl FnMut(usize, Seen)) -> io::Result<()> {
        self.poll.poll(&mut self.events, Some(timeout))?;
        for event in self.events.iter() {
            let i = event.token().0;
            let conn = &mut self.conns[i];
            let alive = conn.fill(&mut self.scratch);
            while let Some(seen) = conn.take_one()? {
                on(i, seen);
            }
            if !alive {
                on(i, Seen::Closed);
            }
        }
        Ok(())
    }
}

/// Broadcast to `receivers` clients (the sender is one of them): time from the
/// emit to the last receiver, in ms, p50 and p95 over `rounds`.
pub fn broadcast(
    addr: SocketAddr,
    proto: Proto,
    receivers: usize,
    rounds: usize,
    warmup: usize,
    burst: usize,
    busy: bool,
) -> io::Result<Vec<(String, f64)>> {
    let mut fleet = Fleet::new(open_many(addr, proto, receivers)?)?;
    fleet.busy = busy;
    // Let the server finish whatever the connects started (Node's GC, threads).
    settle(&mut fleet, Duration::from_millis(500))?;
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..(warmup + rounds) as u64 {
        let took = broadcast_round(&mut fleet, proto, round, burst)?;
        if round as usize >= warmup {
            samples.push(took.as_secs_f64() * 1e3);
        }
        settle(&mut fleet, Duration::from_millis(20))?;
    }
    let s = sorted(samples);
    let name = if burst > 1 { format!("bcast{receivers}x{burst}") } else { format!("bcast{receivers}") };
    Ok(vec![(format!("{name}_p50_ms"), quantile(&s, 0.5)), (format!("{name}_p95_ms"), quantile(&s, 0.95))])
}

/// One timed broadcast (or `burst` of them back to back): returns the time
/// from the first emit to the moment the last receiver has the last one.
fn broadcast_round(fleet: &mut Fleet, proto: Proto, round: u64, burst: usize) -> io::Result<Duration> {
    let burst = burst.max(1) as u64;
    let seq = round * burst + burst - 1; // the last of the burst; each connection delivers in order
    let n = fleet.conns.len();
    let mut got = vec![false; n];
    let mut count = 0;
    let mut closed = 0;
    let start = Instant::now();
    let mut last = start;
    for s in round * burst..=seq {
        fleet.conns[0].emit("broadcast", &data(s))?;
    }
    while count < n {
        let left = ROUND_TIMEOUT.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(bad(format!("broadcast {seq}: only {count} of {n} receivers within {ROUND_TIMEOUT:?}")));
        }
        let wait = if fleet.busy { Duration::ZERO } else { left };
        fleet.turn(wait, |i, seen| match seen {
            Seen::Message(m) if !got[i] && is_event(proto, &m, "broadcast") && find_seq(&m) == Some(seq) => {
                got[i] = true;
                count += 1;
                last = Instant::now();
            }
            Seen::Closed => closed += 1,
            _ => {}
        })?;
        if closed > 0 {
            return Err(bad(format!("broadcast {seq}: {closed} receivers were disconnected")));
        }
    }
    Ok(last - start)
}

/// Keeps answering pings for `how_long`; fails if a connection closes.
fn settle(fleet: &mut Fleet, how_long: Duration) -> io::Result<usize> {
    let start = Instant::now();
    let mut closed = 0;
    let mut pings = 0;
    while start.elapsed() < how_long {
        fleet.turn(how_long.saturating_sub(start.elapsed()), |_, seen| match seen {
            Seen::Closed => closed += 1,
            Seen::Ping => pings += 1,
            Seen::Message(_) => {}
        })?;
        if closed > 0 {
            return Err(bad(format!("{closed} connections were closed by the server while idle")));
        }
    }
    Ok(pings)
}

/// The server's resident memory (VmRSS) in KiB.
pub fn rss_kib(pid: u32) -> io::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| bad("no VmRSS".into()))?;
    let kib = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| bad("bad VmRSS".into()))?;
    Ok(kib)
}

/// Kernel stacks of the whole machine (`KernelStack` in /proc/meminfo), in
/// KiB: memory each thread costs that no process's RSS shows.
fn kernel_stack_kib() -> io::Result<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let line = meminfo.lines().find(|l| l.starts_with("KernelStack:")).ok_or_else(|| bad("no KernelStack".into()))?;
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| bad("bad KernelStack".into()))
}

/// Waits for the server to go quiet, asks Node to collect garbage (`--gc`:
/// the peer runs `global.gc()` on SIGUSR2), then reads VmRSS.
fn quiet_rss(pid: u32, gc: bool) -> io::Result<f64> {
    if gc {
        let _ = std::process::Command::new("kill").args(["-USR2", &pid.to_string()]).status();
    }
    std::thread::sleep(Duration::from_millis(1000));
    rss_kib(pid)
}

/// Idle memory: RSS before any client, after `step` clients and after `total`
/// clients. Reports KiB per connection for the first `step`, and for the
/// connections after it (the steady cost, without one-time warm-up).
pub fn idle(
    addr: SocketAddr,
    proto: Proto,
    pid: u32,
    step: usize,
    total: usize,
    gc: bool,
) -> io::Result<Vec<(String, f64)>> {
    let before = quiet_rss(pid, gc)?;
    let mut conns = open_many(addr, proto, step)?;
    let at_step = quiet_rss(pid, gc)?;
    conns.extend(open_many(addr, proto, total - step)?);
    let at_total = quiet_rss(pid, gc)?;
    eprintln!("  rss: {before} KiB with no client, {at_step} KiB with {step}, {at_total} KiB with {total}");
    drop(conns);
    Ok(vec![
        ("rss_first_kib_per_conn".into(), (at_step - before) / step as f64),
        ("rss_kib_per_conn".into(), (at_total - at_step) / (total - step) as f64),
    ])
}

/// The scale run: `n` idle clients held for `hold` (every ping answered), then
/// `rounds` broadcasts to all of them, timed to the last receiver.
pub fn scale(
    addr: SocketAddr,
    proto: Proto,
    pid: u32,
    n: usize,
    hold: Duration,
    rounds: usize,
) -> io::Result<Vec<(String, f64)>> {
    let before = rss_kib(pid)?;
    let kernel_before = kernel_stack_kib()?;
    let opened = Instant::now();
    let mut fleet = Fleet::new(open_many(addr, proto, n)?)?;
    let open_secs = opened.elapsed().as_secs_f64();
    eprintln!("  scale: {n} clients connected in {open_secs:.1} s; holding them for {hold:?}");
    let pings = settle(&mut fleet, hold)?;
    let after = rss_kib(pid)?;
    let kernel_after = kernel_stack_kib()?;
    eprintln!("  scale: held; {pings} pings answered; server RSS {before} KiB -> {after} KiB");
    eprintln!("  scale: kernel stacks (whole machine) {kernel_before} KiB -> {kernel_after} KiB");
    let mut samples = Vec::new();
    for round in 0..rounds as u64 {
        let took = broadcast_round(&mut fleet, proto, round, 1)?;
        eprintln!("  scale: broadcast to {n}: last receiver after {:.1} ms", took.as_secs_f64() * 1e3);
        samples.push(took.as_secs_f64() * 1e3);
        settle(&mut fleet, Duration::from_millis(200))?;
    }
    let s = sorted(samples);
    Ok(vec![
        ("scale_clients".into(), n as f64),
        ("scale_open_s".into(), open_secs),
        ("scale_pings_answered".into(), pings as f64),
        ("scale_rss_kib_per_conn".into(), (after - before) / n as f64),
        ("scale_kernel_stack_kib_per_conn".into(), (kernel_after - kernel_before) / n as f64),
        ("scale_bcast_p50_ms".into(), quantile(&s, 0.5)),
        ("scale_bcast_max_ms".into(), quantile(&s, 1.0)),
    ])
}

/// The thread-per-connection floor for a broadcast, with no I/O at all: one
/// thread hands a message to `receivers` sleeping threads (256 KiB stacks,
/// like wshub's `conn-N`) through channels, and each answers "done". It is
/// what waking a thread per client costs on this machine, before any socket
/// write; run it pinned to the server's CPU.
pub fn thread_floor(receivers: usize, rounds: usize, warmup: usize) -> io::Result<Vec<(String, f64)>> {
    use std::sync::mpsc::{channel, Sender};
    let (done_tx, done_rx) = channel::<()>();
    let mut outboxes: Vec<Sender<u64>> = Vec::with_capacity(receivers);
    let mut threads = Vec::with_capacity(receivers);
    for i in 0..receivers {
        let (tx, rx) = channel::<u64>();
        let done = done_tx.clone();
        let thread =
            std::thread::Builder::new().name(format!("floor-{i}")).stack_size(256 * 1024).spawn(move || {
                for _ in rx.iter() {
                    if done.send(()).is_err() {
                        return;
                    }
                }
            })?;
        outboxes.push(tx);
        threads.push(thread);
    }
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..(warmup + rounds) as u64 {
        std::thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        for outbox in &outboxes {
            let _ = outbox.send(round);
        }
        for _ in 0..receivers {
            done_rx.recv_timeout(ROUND_TIMEOUT).map_err(|_| bad("thread floor: a thread did not answer".into()))?;
        }
        if round as usize >= warmup {
            samples.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    drop(outboxes);
    for thread in threads {
        let _ = thread.join();
    }
    let s = sorted(samples);
    let name = format!("bcast{receivers}");
    Ok(vec![(format!("{name}_p50_ms"), quantile(&s, 0.5)), (format!("{name}_p95_ms"), quantile(&s, 0.95))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), 50.0);
        assert_eq!(quantile(&s, 0.99), 99.0);
        assert_eq!(quantile(&s, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.5), 3.0);
    }
}
