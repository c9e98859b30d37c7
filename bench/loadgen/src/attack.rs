//! Attacks, measured beside a healthy client (`bench/attacks.sh`).
//!
//! Each attack runs on loopback against one server while a healthy
//! socket.io client (the [`Probe`]) does an ack round trip every 100 ms, and
//! a sampler reads the server's threads and RSS from `/proc` every 50 ms.
//! Nothing here asserts: the rows are what happened. Every loop is bounded
//! in count and in time.
//!
//! - [`polling_sessions`]: one keep-alive HTTP connection opens N Engine.IO
//!   long-polling sessions and abandons each one (it never polls, never
//!   joins a namespace). What does each cost the server, in threads and
//!   memory, and does the healthy client notice?
//! - [`flood`]: one client sends N `broadcast` events as fast as its socket
//!   takes them, each one fanned out to everybody, while R healthy readers
//!   read. Does any reader lose a message or get dropped, and how long does
//!   the healthy client's round trip get?

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::client::{bad, event_text, find_seq, is_event, Conn, Proto, Seen, SETUP_TIMEOUT};
use crate::measure::{kernel_stack_kib, open_many, proc_status, quantile, settle, Fleet};

/// How often the healthy client asks for an ack.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A round trip longer than this is counted apart (it is still measured).
const PROBE_SLOW: Duration = Duration::from_secs(1);

/// The healthy client's log: when each round trip started and how long it took.
#[derive(Default)]
struct ProbeLog {
    samples: Vec<(Instant, f64)>,
    /// Round trips over [`PROBE_SLOW`].
    slow: usize,
    /// An ack still awaited when the probe stopped.
    unanswered: usize,
    /// The server closed the healthy client.
    dropped: bool,
}

impl ProbeLog {
    /// p50 / p99 / max round trip in ms of the round trips started in `[from, to)`.
    fn stats(&self, from: Instant, to: Instant) -> (f64, f64, f64, usize) {
        let mut v: Vec<f64> = self.samples.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, ms)| *ms).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        (quantile(&v, 0.5), quantile(&v, 0.99), quantile(&v, 1.0), v.len())
    }
}

/// A healthy socket.io client: an ack round trip (`42N["ack",…]` →
/// `43N[…]`) every 100 ms, one at a time, reading its socket all the time
/// in between (it receives whatever the server broadcasts, as a real client
/// in the namespace would).
struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<io::Result<ProbeLog>>,
}

impl Probe {
    fn start(addr: SocketAddr, limit: Duration) -> io::Result<Probe> {
        let conn = Conn::open(addr, Proto::SocketIo, 0x5eed)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::Builder::new().name("probe".into()).spawn(move || probe_loop(conn, &flag, limit))?;
        Ok(Probe { stop, handle })
    }

    fn finish(self) -> io::Result<ProbeLog> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().map_err(|_| bad("the probe thread panicked".into()))?
    }
}

fn probe_loop(mut conn: Conn, stop: &AtomicBool, limit: Duration) -> io::Result<ProbeLog> {
    let mut log = ProbeLog::default();
    let deadline = Instant::now() + limit;
    let mut scratch = vec![0u8; 64 * 1024];
    let mut next_send = Instant::now();
    let mut pending: Option<(u64, Instant)> = None;
    let mut id = 0u64;
    // A round trip is waited for however long it takes (within `limit`):
    // its true length is the measure. One at a time, so a slow server
    // stretches the interval.
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let now = Instant::now();
        if pending.is_none() && now >= next_send {
            conn.send_text(format!("42{id}[\"ack\",{{\"seq\":{id}}}]").as_bytes())?;
            pending = Some((id, Instant::now()));
            next_send = now + PROBE_EVERY;
            id += 1;
        }
        let wait = match pending {
            Some(_) => Duration::from_millis(20),
            None => next_send.saturating_duration_since(Instant::now()),
        };
        let alive = conn.read_within(&mut scratch, wait)?;
        let mut closed = !alive;
        conn.take_frames(|seen| {
            match seen {
                Seen::Message(m) => {
                    if let Some((want, sent)) = pending {
                        if ack_id(m) == Some(want) {
                            let took = sent.elapsed();
                            log.samples.push((sent, took.as_secs_f64() * 1e3));
                            log.slow += usize::from(took > PROBE_SLOW);
                            pending = None;
                        }
                    }
                }
                Seen::Closed(_) => closed = true,
                Seen::Ping => {}
            }
            true
        })?;
        if closed {
            log.dropped = true;
            break;
        }
    }
    log.unanswered = usize::from(pending.is_some());
    Ok(log)
}

/// The id of a socket.io ack packet, `43<id>[…]`.
fn ack_id(m: &[u8]) -> Option<u64> {
    let rest = m.strip_prefix(b"43")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Reads the server's threads and RSS every 50 ms and keeps the peaks.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(f64, f64)>,
}

impl Sampler {
    fn start(pid: u32) -> io::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::Builder::new().name("sampler".into()).spawn(move || {
            let (mut rss, mut threads) = (0.0f64, 0.0f64);
            // Bounded: the attacks stop it long before; 30 min at most.
            for _ in 0..36_000 {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok((r, t)) = proc_status(pid) {
                    rss = rss.max(r);
                    threads = threads.max(t);
                }
                thread::sleep(Duration::from_millis(50));
            }
            (rss, threads)
        })?;
        Ok(Sampler { stop, handle })
    }

    /// Peak RSS (KiB) and peak threads.
    fn finish(self) -> (f64, f64) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or((f64::NAN, f64::NAN))
    }
}

/// Attack (a): one keep-alive connection opens `sessions` Engine.IO polling
/// sessions (`GET /socket.io/?EIO=4&transport=polling`, one after the
/// other) and abandons each; then the sessions are left alone for `hold`.
pub fn polling_sessions(addr: SocketAddr, pid: u32, sessions: usize, hold: Duration) -> io::Result<Vec<(String, f64)>> {
    let probe = Probe::start(addr, Duration::from_secs(600))?;
    thread::sleep(Duration::from_secs(2)); // the probe's baseline
    let (rss0, threads0) = proc_status(pid)?;
    let kernel0 = kernel_stack_kib()?;
    let sampler = Sampler::start(pid)?;
    let attack = Instant::now();
    let outcome = open_sessions(addr, sessions, Duration::from_secs(120))?;
    let open_secs = attack.elapsed().as_secs_f64();
    let (rss1, threads1) = proc_status(pid)?;
    let kernel1 = kernel_stack_kib()?;
    eprintln!(
        "  polling: {} sessions opened ({} refused, {} reconnects) in {open_secs:.1} s; \
         threads {threads0} -> {threads1}, RSS {rss0} -> {rss1} KiB",
        outcome.opened, outcome.refused, outcome.reconnects
    );
    thread::sleep(hold);
    let (rss2, threads2) = proc_status(pid)?;
    let end = Instant::now();
    let log = probe.finish()?;
    let (peak_rss, peak_threads) = sampler.finish();
    eprintln!(
        "  polling: after {hold:?} more: threads {threads2}, RSS {rss2} KiB (peaks {peak_threads}, {peak_rss} KiB)"
    );
    let (b50, _, bmax, _) = log.stats(attack - Duration::from_secs(2), attack);
    let (p50, p99, max, n) = log.stats(attack, end);
    let opened = outcome.opened.max(1) as f64;
    Ok(vec![
        ("poll_sessions_opened".into(), outcome.opened as f64),
        ("poll_sessions_refused".into(), outcome.refused as f64),
        ("poll_open_s".into(), open_secs),
        ("poll_threads_before".into(), threads0),
        ("poll_threads_per_session".into(), (threads1 - threads0) / opened),
        ("poll_threads_peak".into(), peak_threads),
        ("poll_rss_kib_per_session".into(), (rss1 - rss0) / opened),
        ("poll_kstack_kib_per_session".into(), (kernel1 - kernel0) / opened),
        ("poll_rss_peak_mib".into(), peak_rss / 1024.0),
        ("poll_probe_base_p50_ms".into(), b50),
        ("poll_probe_base_max_ms".into(), bmax),
        ("poll_probe_p50_ms".into(), p50),
        ("poll_probe_p99_ms".into(), p99),
        ("poll_probe_max_ms".into(), max),
        ("poll_probe_round_trips".into(), n as f64),
        ("poll_probe_slow".into(), log.slow as f64),
        ("poll_probe_unanswered".into(), log.unanswered as f64),
        ("poll_probe_dropped".into(), f64::from(u8::from(log.dropped))),
    ])
}

struct Opened {
    opened: usize,
    refused: usize,
    reconnects: usize,
}

/// The polling handshakes, one after the other on one keep-alive connection
/// (a new one if the server closes it, at most 1,000 times).
fn open_sessions(addr: SocketAddr, n: usize, limit: Duration) -> io::Result<Opened> {
    let deadline = Instant::now() + limit;
    let mut out = Opened { opened: 0, refused: 0, reconnects: 0 };
    let mut http = Http::connect(addr)?;
    for i in 0..n {
        if Instant::now() > deadline {
            eprintln!("  polling: stopped after {i} requests: {limit:?} is the limit");
            break;
        }
        let request = format!(
            "GET /socket.io/?EIO=4&transport=polling&t=b{i} HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n"
        );
        let response = match http.round_trip(request.as_bytes()) {
            Ok(r) => r,
            Err(_) if out.reconnects < 1000 => {
                out.reconnects += 1;
                http = Http::connect(addr)?;
                http.round_trip(request.as_bytes())?
            }
            Err(e) => return Err(e),
        };
        if response.status == 200 && response.body.starts_with(b"0{") {
            out.opened += 1;
        } else {
            out.refused += 1;
        }
        if response.close {
            out.reconnects += 1;
            if out.reconnects > 1000 {
                return Err(bad("the server closed the connection more than 1,000 times".into()));
            }
            http = Http::connect(addr)?;
        }
    }
    Ok(out)
}

/// A minimal HTTP/1.1 client for the polling handshake: one request at a
/// time, `Content-Length` or chunked bodies.
struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct HttpResponse {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

impl Http {
    fn connect(addr: SocketAddr) -> io::Result<Http> {
        let stream = TcpStream::connect_timeout(&addr, SETUP_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
        stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
        Ok(Http { stream, buf: Vec::with_capacity(4096) })
    }

    fn more(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn round_trip(&mut self, request: &[u8]) -> io::Result<HttpResponse> {
        self.stream.write_all(request)?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(bad("response head too long".into()));
            }
            self.more()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        self.buf.drain(..head_end);
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let header = |name: &str| {
            head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_string()))
        };
        let close = header("connection").is_some_and(|v| v == "close");
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            self.chunked()?
        } else {
            let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            if len > 1 << 20 {
                return Err(bad(format!("a body of {len} bytes")));
            }
            while self.buf.len() < len {
                self.more()?;
            }
            self.buf.drain(..len).collect()
        };
        Ok(HttpResponse { status, body, close })
    }

    fn chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        // Bounded: at most 1,000 chunks, 1 MiB in all.
        for _ in 0..1000 {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.more()?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
            self.buf.drain(..line_end + 2);
            if body.len() + size > 1 << 20 {
                return Err(bad("chunked body over 1 MiB".into()));
            }
            while self.buf.len() < size + 2 {
                self.more()?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
        Err(bad("more than 1,000 chunks".into()))
    }
}

/// Who reads in the flood.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Half `/ws`, half socket.io (wshub serves both).
    Mixed,
    /// All socket.io (the Node peer has no `/ws`).
    SocketIo,
}

/// Attack (b): one client (`attacker`, either protocol) sends `events`
/// `broadcast` events as fast as its socket takes them, and reads and
/// discards what it is sent; each event goes to everybody. Meanwhile
/// `readers` healthy clients read everything. Rows are named after the
/// attacker's protocol (`flood_ws_…`, `flood_socketio_…`).
pub fn flood(
    addr: SocketAddr,
    pid: u32,
    attacker: Proto,
    readers: usize,
    who: Readers,
    events: usize,
) -> io::Result<Vec<(String, f64)>> {
    let mut conns = Vec::with_capacity(readers);
    let mut protos = Vec::with_capacity(readers);
    for i in 0..readers {
        let proto = if who == Readers::Mixed && i % 2 == 0 { Proto::Ws } else { Proto::SocketIo };
        conns.extend(open_many(addr, proto, 1)?);
        protos.push(proto);
    }
    let mut fleet = Fleet::new(conns)?;
    let probe = Probe::start(addr, Duration::from_secs(900))?;
    let flooder = Conn::open(addr, attacker, 0xf100d)?;
    settle(&mut fleet, Duration::from_secs(2))?; // the probe's baseline
    let (rss0, threads0) = proc_status(pid)?;
    let sampler = Sampler::start(pid)?;

    let attack = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let hang_up = Arc::new(AtomicBool::new(false));
    let flood = {
        let (sent, done, hang_up) = (sent.clone(), done.clone(), hang_up.clone());
        thread::Builder::new()
            .name("flooder".into())
            .spawn(move || send_flood(flooder, events, &sent, &done, &hang_up))?
    };

    // The readers: every broadcast, per reader, in order.
    let mut received = vec![0u64; readers];
    let mut next_seq = vec![0u64; readers];
    let mut out_of_order = 0u64;
    let mut dropped: Vec<Option<Option<u16>>> = vec![None; readers];
    let mut max_seq: Option<u64> = None;
    let mut last_progress = Instant::now();
    let mut all_in = None;
    let deadline = attack + Duration::from_secs(600);
    let debug = std::env::var_os("LOADGEN_DEBUG").is_some();
    let mut last_report = Instant::now();
    loop {
        let mut progress = false;
        fleet.turn(Duration::from_millis(50), |i, seen| match seen {
            Seen::Message(m) if is_event(protos[i], m, "broadcast") => {
                if let Some(seq) = find_seq(m) {
                    received[i] += 1;
                    if seq != next_seq[i] {
                        out_of_order += 1;
                    }
                    next_seq[i] = seq + 1;
                    max_seq = Some(max_seq.map_or(seq, |s: u64| s.max(seq)));
                    progress = true;
                }
            }
            Seen::Closed(code) if dropped[i].is_none() => dropped[i] = Some(code),
            _ => {}
        })?;
        if progress {
            last_progress = Instant::now();
        }
        if debug && last_report.elapsed() > Duration::from_secs(1) {
            last_report = Instant::now();
            let min = received.iter().min().copied().unwrap_or(0);
            eprintln!(
                "  flood: {:.1} s: max seq {max_seq:?}, fewest received {min}, sent {}",
                attack.elapsed().as_secs_f64(),
                sent.load(Ordering::SeqCst)
            );
        }
        let finished = done.load(Ordering::SeqCst);
        let expected = max_seq.map_or(0, |s| s + 1);
        let everyone =
            (0..readers).all(|i| dropped[i].is_some() || received[i] >= expected) && expected as usize >= events;
        if finished && everyone {
            all_in = Some(last_progress);
            break;
        }
        if finished && last_progress.elapsed() > Duration::from_secs(5) {
            break; // nothing more is coming
        }
        if Instant::now() > deadline {
            eprintln!("  flood: stopped waiting after 600 s");
            break;
        }
    }
    let flood_end = Instant::now();
    hang_up.store(true, Ordering::SeqCst);
    let outcome = flood.join().map_err(|_| bad("the flooder thread panicked".into()))??;
    settle_quietly(&mut fleet, Duration::from_secs(1))?; // the probe after the flood
    let log = probe.finish()?;
    let (peak_rss, peak_threads) = sampler.finish();

    let expected = max_seq.map_or(0, |s| s + 1);
    let lost: u64 = received.iter().map(|r| expected.saturating_sub(*r)).sum();
    let dropped_count = dropped.iter().filter(|d| d.is_some()).count();
    let codes: Vec<String> = dropped.iter().flatten().map(|c| c.map_or("no code".into(), |c| c.to_string())).collect();
    let (b50, _, bmax, _) = log.stats(attack - Duration::from_secs(2), attack);
    let (p50, p99, max, n) = log.stats(attack, flood_end);
    eprintln!(
        "  flood ({}): {} of {events} events sent in {:.1} s ({}); the readers got {expected} broadcasts; \
         {lost} lost, {dropped_count} readers dropped {codes:?}, {out_of_order} out of order; \
         all in after {:.1} s; probe p50 {p50:.1} / p99 {p99:.1} / max {max:.1} ms ({n} round trips, \
         {} over 1 s{}); peaks: {peak_threads} threads, {:.0} MiB",
        proto_name(attacker),
        outcome.sent,
        outcome.secs,
        outcome.end,
        all_in.map_or(f64::NAN, |t| (t - attack).as_secs_f64()),
        log.slow,
        if log.dropped { ", the probe was dropped" } else { "" },
        peak_rss / 1024.0,
    );
    let p = format!("flood_{}", proto_name(attacker));
    Ok(vec![
        (format!("{p}_events_sent"), outcome.sent as f64),
        (format!("{p}_send_s"), outcome.secs),
        (format!("{p}_attacker_closed"), f64::from(u8::from(outcome.closed))),
        (format!("{p}_broadcasts_seen"), expected as f64),
        (format!("{p}_all_in_s"), all_in.map_or(f64::NAN, |t| (t - attack).as_secs_f64())),
        (format!("{p}_readers"), readers as f64),
        (format!("{p}_lost"), lost as f64),
        (format!("{p}_out_of_order"), out_of_order as f64),
        (format!("{p}_dropped"), dropped_count as f64),
        (format!("{p}_probe_base_p50_ms"), b50),
        (format!("{p}_probe_base_max_ms"), bmax),
        (format!("{p}_probe_p50_ms"), p50),
        (format!("{p}_probe_p99_ms"), p99),
        (format!("{p}_probe_max_ms"), max),
        (format!("{p}_probe_slow"), log.slow as f64),
        (format!("{p}_probe_unanswered"), log.unanswered as f64),
        (format!("{p}_probe_dropped"), f64::from(u8::from(log.dropped))),
        (format!("{p}_threads_before"), threads0),
        (format!("{p}_threads_peak"), peak_threads),
        (format!("{p}_rss_before_mib"), rss0 / 1024.0),
        (format!("{p}_rss_peak_mib"), peak_rss / 1024.0),
    ])
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Ws => "ws",
        Proto::SocketIo => "socketio",
        Proto::Tcp => "tcp",
    }
}

/// Like `settle`, but a reader closed earlier (already counted) is no error.
fn settle_quietly(fleet: &mut Fleet, how_long: Duration) -> io::Result<()> {
    let start = Instant::now();
    while start.elapsed() < how_long {
        fleet.turn(how_long.saturating_sub(start.elapsed()), |_, _| {})?;
    }
    Ok(())
}

struct FloodOutcome {
    sent: usize,
    secs: f64,
    closed: bool,
    end: String,
}

/// The flooder: `events` broadcasts, 64 frames per `write`, blocking (the
/// server's reading paces it); a thread beside it reads and discards what
/// the server sends back. Stops writing at the first failed write (the
/// server closed it, or a write blocked for 10 s), then sets `done`, and
/// stays connected, still reading, until `hang_up`: a client that closes
/// with unread bytes sends a reset, and the server may then drop events it
/// has not read yet.
fn send_flood(
    mut conn: Conn,
    events: usize,
    sent: &AtomicU64,
    done: &AtomicBool,
    hang_up: &AtomicBool,
) -> io::Result<FloodOutcome> {
    let mut reader = conn.stream.tcp().try_clone()?; // plain only: the flood never uses --tls
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    let discard = thread::Builder::new().name("flood-rx".into()).spawn(move || {
        reader.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let mut chunk = vec![0u8; 64 * 1024];
        // Bounded in time (15 min), not in reads: a flood is many reads.
        let deadline = Instant::now() + Duration::from_secs(900);
        while Instant::now() < deadline {
            if stop_reader.load(Ordering::SeqCst) {
                return false;
            }
            match reader.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    })?;
    conn.stream.tcp().set_write_timeout(Some(Duration::from_secs(10)))?;
    let start = Instant::now();
    let mut batch = Vec::with_capacity(64 * 128);
    let mut count = 0;
    let mut end = "all written".to_string();
    while count < events {
        batch.clear();
        let upto = (count + 64).min(events);
        for seq in count..upto {
            let text = event_text(conn.proto, "broadcast", &format!("{{\"seq\":{seq},\"pad\":\"flood\"}}"));
            conn.frame_into(&mut batch, text.as_bytes());
        }
        if let Err(e) = conn.stream.write_all(&batch) {
            end = format!("write failed after {count}: {e}");
            break;
        }
        count = upto;
        sent.store(count as u64, Ordering::SeqCst);
    }
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    // Bounded: 15 min at most (the readers' loop gives up after 10). The
    // discard thread ends early only when the server closed the connection.
    let deadline = Instant::now() + Duration::from_secs(900);
    while !hang_up.load(Ordering::SeqCst) && !discard.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    let closed = discard.join().map_err(|_| bad("the discard thread panicked".into()))?;
    Ok(FloodOutcome { sent: count, secs, closed, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ack_ids() {
        assert_eq!(ack_id(br#"4317[{"seq":17}]"#), Some(17));
        assert_eq!(ack_id(br#"42["broadcast",{"seq":3}]"#), None);
        assert_eq!(ack_id(b"43"), None);
    }
}
