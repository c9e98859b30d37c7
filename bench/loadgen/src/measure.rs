//! The measures. Each one is bounded in count and in time, and returns rows
//! `(measure, value)` for the CSV.
//!
//! - [`echo`]: one client, N sequential `client-message` round trips after a
//!   warm-up: p50 / p99 in µs.
//! - [`broadcast`]: R receivers on non-blocking sockets behind one `mio`
//!   poller; one of them emits `broadcast` with a sequence number; the time
//!   from just before that write to the moment the last receiver has the
//!   message, p50 / p95 / p99 over the rounds, in ms. `--burst B`: B
//!   broadcasts back to back, timed to the last receiver of the last one.
//!   `--stall`: one more client that stopped reading, its socket full.
//! - [`idle`]: VmRSS, threads and kernel stacks before and after opening
//!   idle connections.
//! - [`scale`]: thousands of idle clients held (pings answered) for a while,
//!   then timed broadcasts to all of them.
//! - [`thread_floor`]: waking N sleeping threads, no I/O (what the first,
//!   two-threads-per-client design paid per broadcast; kept for reference).

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
pub fn open_many(addr: SocketAddr, proto: Proto, n: usize) -> io::Result<Vec<Conn>> {
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
pub struct Fleet {
    pub conns: Vec<Conn>,
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
    pub fn new(conns: Vec<Conn>) -> io::Result<Fleet> {
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
            fleet.poll.registry().register(
                &mut SourceFd(&conn.stream.tcp().as_raw_fd()),
                Token(i),
                Interest::READABLE,
            )?;
            fleet.conns.push(conn);
        }
        Ok(fleet)
    }

    /// Waits up to `timeout` for readiness and processes every frame that
    /// arrived, calling `on` for each (connection index, what it saw).
    pub fn turn(&mut self, timeout: Duration, mut on: impl FnMut(usize, Seen<'_>)) -> io::Result<()> {
        self.poll.poll(&mut self.events, Some(timeout))?;
        for event in self.events.iter() {
            let i = event.token().0;
            let conn = &mut self.conns[i];
            let alive = conn.fill(&mut self.scratch);
            let mut closed = false;
            conn.take_frames(|seen| {
                closed |= matches!(seen, Seen::Closed(_));
                on(i, seen);
                true
            })?;
            if !alive && !closed {
                on(i, Seen::Closed(None));
            }
            if !alive || closed {
                // Nothing more will come: stop polling it (a closed socket
                // stays readable and would spin the poller).
                let _ = self.poll.registry().deregister(&mut SourceFd(&conn.stream.tcp().as_raw_fd()));
            }
        }
        Ok(())
    }
}

/// What one `loadgen broadcast` measures.
pub struct BroadcastOpts {
    pub receivers: usize,
    pub rounds: usize,
    pub warmup: usize,
    pub burst: usize,
    pub busy: bool,
    /// One more client, beside the receivers, that stopped reading.
    pub stall: bool,
    /// The client that emits connects here instead (another node of a
    /// cluster): the receivers' server gets the broadcast over Redis. It
    /// receives the broadcast too (from its own node), and counts.
    pub sender: Option<SocketAddr>,
}

/// The stalled client's receive buffer: small, so that its socket is full
/// after a few KiB of the server's send queue has nowhere to go.
const STALL_RCVBUF: usize = 4 * 1024;
/// One echo request of the stalled client (it never reads the answers).
const STALL_CHUNK: usize = 32 * 1024;

/// Broadcast to `receivers` clients (the sender is one of them): time from the
/// emit to the last receiver, in ms, p50 / p95 / p99 over `rounds`.
pub fn broadcast(addr: SocketAddr, proto: Proto, o: &BroadcastOpts) -> io::Result<Vec<(String, f64)>> {
    let mut conns = match o.sender {
        Some(sender) => {
            let mut conns = open_many(sender, proto, 1)?;
            conns.extend(open_many(addr, proto, o.receivers + usize::from(o.stall))?);
            conns
        }
        None => open_many(addr, proto, o.receivers + usize::from(o.stall))?,
    };
    let mut stalled = if o.stall { conns.pop() } else { None };
    let mut fleet = Fleet::new(conns)?;
    fleet.busy = o.busy;
    // Let the server finish whatever the connects started (Node's GC, threads).
    settle(&mut fleet, Duration::from_millis(500))?;
    if let Some(conn) = stalled.as_mut() {
        stop_reading(conn)?;
        // Let the server read the requests and queue its answers.
        settle(&mut fleet, Duration::from_millis(50))?;
    }
    let mut samples = Vec::with_capacity(o.rounds);
    for round in 0..(o.warmup + o.rounds) as u64 {
        let took = broadcast_round(&mut fleet, proto, round, o.burst)?;
        if round as usize >= o.warmup {
            samples.push(took.as_secs_f64() * 1e3);
        }
        settle(&mut fleet, Duration::from_millis(20))?;
    }
    let s = sorted(samples);
    let mut name = format!("bcast{}", o.receivers);
    if o.burst > 1 {
        name += &format!("x{}", o.burst);
    }
    if o.stall {
        name += "stall";
    }
    let mut rows = vec![
        (format!("{name}_p50_ms"), quantile(&s, 0.5)),
        (format!("{name}_p95_ms"), quantile(&s, 0.95)),
        (format!("{name}_p99_ms"), quantile(&s, 0.99)),
    ];
    if let Some(conn) = stalled {
        let closed = closed_by_server(&conn, Duration::from_secs(8))?;
        eprintln!(
            "  stalled client: {}",
            if closed {
                "closed by the server"
            } else {
                "still open 8 s after the rounds (the server keeps its bytes)"
            }
        );
        rows.push((format!("{name}_closed"), f64::from(u8::from(closed))));
    }
    Ok(rows)
}

/// Makes `conn` a client that stopped reading with a full socket: a small
/// receive buffer, then batches of echo requests whose answers it never
/// reads, until a batch no longer fits the server's kernel send buffer for
/// it (autotuned on loopback, it holds up to ~4 MB): once the server has
/// handled a batch (its send queue in `/proc/net/tcp` is quiet), the queue
/// grew by less than half the batch. Then 128 KiB more: what the server now
/// has to keep itself (wshub: in the client's backlog, well inside its
/// 1 MiB and 256 frames).
fn stop_reading(conn: &mut Conn) -> io::Result<()> {
    const BATCH: usize = 8;
    conn.set_receive_buffer(STALL_RCVBUF)?;
    let (local, server) = (conn.stream.tcp().local_addr()?, conn.stream.tcp().peer_addr()?);
    let pad = "x".repeat(STALL_CHUNK - 64);
    let send = |conn: &mut Conn, n: usize| -> io::Result<()> {
        for i in 0..n {
            conn.emit("client-message", &format!("{{\"seq\":{i},\"pad\":\"{pad}\"}}"))?;
        }
        Ok(())
    };
    let queued = || -> io::Result<u64> { Ok(server_socket(server, local)?.map_or(0, |(_, q)| q)) };
    // The queue once the server is done with what it was sent: two equal
    // readings 30 ms apart (at most 3 s).
    let quiet = || -> io::Result<u64> {
        let mut last = queued()?;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(30));
            let now = queued()?;
            if now == last {
                return Ok(now);
            }
            last = now;
        }
        Ok(last)
    };
    let mut last = 0;
    // Bounded: 64 batches of 256 KiB, 16 MiB at most.
    for _ in 0..64 {
        send(conn, BATCH)?;
        let now = quiet()?;
        if now > 0 && now < last + (BATCH * STALL_CHUNK / 2) as u64 {
            send(conn, 4)?;
            std::thread::sleep(Duration::from_millis(30));
            eprintln!("  stalled client: the server's send queue to it is full at {now} bytes");
            return Ok(());
        }
        last = now;
    }
    Err(bad(format!("stalled client: the server's send queue kept growing ({last} bytes)")))
}

/// `st` of an established socket in `/proc/net/tcp`.
const TCP_ESTABLISHED: u8 = 1;

/// The state and send queue (bytes, `tx_queue`) of the server's socket from
/// `server` to `client`, from `/proc/net/tcp`; `None` if there is none.
fn server_socket(server: SocketAddr, client: SocketAddr) -> io::Result<Option<(u8, u64)>> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port()),
        SocketAddr::V6(_) => String::new(),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && f[1] == local && f[2] == remote {
            let state = u8::from_str_radix(f[3], 16).unwrap_or(0);
            let tx = f[4].split(':').next().unwrap_or("0");
            return Ok(Some((state, u64::from_str_radix(tx, 16).unwrap_or(0))));
        }
    }
    Ok(None)
}

/// Did the server close the stalled client within `within` (polled every
/// 100 ms)? Its socket to the client is gone from `/proc/net/tcp` or has
/// left ESTABLISHED (a server that closes a socket with unsent bytes leaves
/// it in FIN-WAIT-1). Reading would not tell in time: after MiBs that a
/// zero window held back, the sender only probes the window now and then.
/// (wshub closes a client whose backlog has not moved for
/// `slow_client_timeout` with 1013, and drops it when no Close reply came
/// within `close_timeout`, 5 s: the 1013 cannot pass a full socket.)
fn closed_by_server(conn: &Conn, within: Duration) -> io::Result<bool> {
    let (local, server) = (conn.stream.tcp().local_addr()?, conn.stream.tcp().peer_addr()?);
    let deadline = Instant::now() + within;
    loop {
        match server_socket(server, local)? {
            Some((state, _)) if state == TCP_ESTABLISHED => {}
            _ => return Ok(true),
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
            Seen::Message(m) if !got[i] && is_event(proto, m, "broadcast") && find_seq(m) == Some(seq) => {
                got[i] = true;
                count += 1;
                last = Instant::now();
            }
            Seen::Closed(_) => closed += 1,
            _ => {}
        })?;
        if closed > 0 {
            return Err(bad(format!("broadcast {seq}: {closed} receivers were disconnected")));
        }
    }
    Ok(last - start)
}

/// Keeps answering pings for `how_long`; fails if a connection closes.
pub fn settle(fleet: &mut Fleet, how_long: Duration) -> io::Result<usize> {
    let start = Instant::now();
    let mut closed = 0;
    let mut pings = 0;
    while start.elapsed() < how_long {
        fleet.turn(how_long.saturating_sub(start.elapsed()), |_, seen| match seen {
            Seen::Closed(_) => closed += 1,
            Seen::Ping => pings += 1,
            Seen::Message(_) => {}
        })?;
        if closed > 0 {
            return Err(bad(format!("{closed} connections were closed by the server while idle")));
        }
    }
    Ok(pings)
}

/// A process's resident memory (VmRSS, KiB) and thread count, from
/// `/proc/PID/status`.
pub fn proc_status(pid: u32) -> io::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<f64> {
        let line = status.lines().find(|l| l.starts_with(name)).ok_or_else(|| bad(format!("no {name}")))?;
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| bad(format!("bad {name}")))
    };
    Ok((field("VmRSS:")?, field("Threads:")?))
}

/// Kernel stacks of the whole machine (`KernelStack` in /proc/meminfo), in
/// KiB: memory each thread costs that no process's RSS shows. Machine-wide,
/// so other processes starting threads meanwhile add noise.
pub fn kernel_stack_kib() -> io::Result<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let line = meminfo.lines().find(|l| l.starts_with("KernelStack:")).ok_or_else(|| bad("no KernelStack".into()))?;
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| bad("bad KernelStack".into()))
}

/// Waits for the server to go quiet, asks Node to collect garbage (`--gc`:
/// the peer runs `global.gc()` on SIGUSR2), then reads VmRSS and threads.
fn quiet_status(pid: u32, gc: bool) -> io::Result<(f64, f64)> {
    if gc {
        let _ = std::process::Command::new("kill").args(["-USR2", &pid.to_string()]).status();
    }
    std::thread::sleep(Duration::from_millis(1000));
    proc_status(pid)
}

/// Idle cost: RSS and threads before any client, after `step` clients and
/// after `total` clients, and the machine's kernel stacks around it.
/// Reports KiB per connection for the first `step`, and for the connections
/// after it (the steady cost, without one-time warm-up); threads per
/// connection and the constant (threads minus clients); kernel stack per
/// connection. Rows are named after the protocol (`idle_ws_…`,
/// `idle_socketio_…`): one run measures wshub on both.
pub fn idle(
    addr: SocketAddr,
    proto: Proto,
    pid: u32,
    step: usize,
    total: usize,
    gc: bool,
) -> io::Result<Vec<(String, f64)>> {
    let (before, threads_before) = quiet_status(pid, gc)?;
    let kernel_before = kernel_stack_kib()?;
    let mut conns = open_many(addr, proto, step)?;
    let (at_step, _) = quiet_status(pid, gc)?;
    conns.extend(open_many(addr, proto, total - step)?);
    let (at_total, threads) = quiet_status(pid, gc)?;
    let kernel_after = kernel_stack_kib()?;
    eprintln!(
        "  rss: {before} KiB with no client, {at_step} KiB with {step}, {at_total} KiB with {total}; \
         threads {threads_before} -> {threads}; kernel stacks (machine) {kernel_before} -> {kernel_after} KiB"
    );
    drop(conns);
    let p = match proto {
        Proto::Ws => "ws",
        Proto::SocketIo => "socketio",
        Proto::Tcp => "tcp",
    };
    Ok(vec![
        (format!("idle_{p}_rss_first_kib_per_conn"), (at_step - before) / step as f64),
        (format!("idle_{p}_rss_kib_per_conn"), (at_total - at_step) / (total - step) as f64),
        (format!("idle_{p}_threads_per_conn"), (threads - threads_before) / total as f64),
        (format!("idle_{p}_threads"), threads),
        (format!("idle_{p}_threads_minus_clients"), threads - total as f64),
        (format!("idle_{p}_kstack_kib_per_conn"), (kernel_after - kernel_before) / total as f64),
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
    let (before, threads_before) = proc_status(pid)?;
    let kernel_before = kernel_stack_kib()?;
    let opened = Instant::now();
    let mut fleet = Fleet::new(open_many(addr, proto, n)?)?;
    let open_secs = opened.elapsed().as_secs_f64();
    eprintln!("  scale: {n} clients connected in {open_secs:.1} s; holding them for {hold:?}");
    let pings = settle(&mut fleet, hold)?;
    let (after, threads) = proc_status(pid)?;
    let kernel_after = kernel_stack_kib()?;
    eprintln!("  scale: held; {pings} pings answered; server RSS {before} KiB -> {after} KiB");
    eprintln!("  scale: threads {threads_before} -> {threads}; kernel stacks (machine) {kernel_before} KiB -> {kernel_after} KiB");
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
        ("scale_threads".into(), threads),
        ("scale_threads_minus_clients".into(), threads - n as f64),
        ("scale_kernel_stack_kib_per_conn".into(), (kernel_after - kernel_before) / n as f64),
        ("scale_bcast_p50_ms".into(), quantile(&s, 0.5)),
        ("scale_bcast_max_ms".into(), quantile(&s, 1.0)),
    ])
}

/// Waking threads, with no I/O at all: one thread hands a message to
/// `receivers` sleeping threads (256 KiB stacks) through channels, and each
/// answers "done". It is what a design that wakes a thread per client (the
/// first wshub, two threads per client) paid per broadcast on this machine,
/// before any socket write. Not a floor any more (the write floor is, see
/// `write_floor.rs`); kept as a labelled reference row. Run it pinned to the
/// server's CPU.
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
