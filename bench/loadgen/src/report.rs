//! Turns `results.csv` into the tables `compare.sh` prints and `docs/bench.svg`,
//! and `attacks.csv` into the tables `attacks.sh` prints.
//!
//! Every number is the median over the rounds of one run; every ratio is
//! between two medians of the *same* run (servers alternated round by round),
//! because absolute numbers move with the machine's load and ratios move less.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

/// (server, measure) → values, one per round; plus the protocols seen.
struct Data {
    values: BTreeMap<(String, String), Vec<f64>>,
    protocols: BTreeMap<String, String>,
}

impl Data {
    fn median(&self, server: &str, measure: &str) -> Option<f64> {
        let mut v = self.values.get(&(server.to_string(), measure.to_string()))?.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        Some(v[(v.len() - 1) / 2] * 0.5 + v[v.len() / 2] * 0.5)
    }

    fn has(&self, measure: &str) -> bool {
        self.values.keys().any(|(_, m)| m == measure)
    }

    fn has_server(&self, server: &str) -> bool {
        self.values.keys().any(|(s, _)| s == server)
    }

    fn rounds(&self, server: &str, measure: &str) -> String {
        match self.values.get(&(server.to_string(), measure.to_string())) {
            Some(v) => v.iter().map(|x| fmt(*x)).collect::<Vec<_>>().join(" / "),
            None => "-".into(),
        }
    }
}

fn fmt(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn load(path: &str, run: Option<&str>) -> io::Result<(String, Data)> {
    let text = std::fs::read_to_string(path)?;
    let rows: Vec<Vec<&str>> =
        text.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).filter(|r| r.len() == 6).collect();
    let run = match run {
        Some(r) => r.to_string(),
        None => rows.last().map(|r| r[0].to_string()).ok_or_else(|| io::Error::other("no rows in the CSV"))?,
    };
    let mut data = Data { values: BTreeMap::new(), protocols: BTreeMap::new() };
    for r in rows.iter().filter(|r| r[0] == run) {
        let Ok(value) = r[5].parse::<f64>() else { continue };
        data.values.entry((r[2].to_string(), r[4].to_string())).or_default().push(value);
        // The rounds' protocol names the server; the scale run may use another.
        if r[1] != "scale" || !data.protocols.contains_key(r[2]) {
            data.protocols.insert(r[2].to_string(), r[3].to_string());
        }
    }
    Ok((run, data))
}

/// One table row: wshub, peer, the floor, and the ratios (`ratios`: false
/// for counts and flags, where a ratio means nothing).
fn row(out: &mut String, data: &Data, label: &str, measure: &str, ratios: bool) {
    let w = data.median("wshub", measure);
    let p = data.median("peer", measure);
    let t = data.median("floor", measure);
    let cell = |x: Option<f64>| x.map(fmt).unwrap_or_else(|| "-".into());
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && ratios => format!("{:.2}", a / b),
        _ => "-".into(),
    };
    let _ = writeln!(
        out,
        "| {label:<40} | {:>9} | {:>9} | {:>9} | {:>10} | {:>11} |",
        cell(w),
        cell(p),
        cell(t),
        ratio(w, p),
        ratio(w, t)
    );
}

/// A table: its title, and rows of (label, measure, ratios?).
type Table = (&'static str, &'static [(&'static str, &'static str, bool)]);

const TABLES: &[Table] = &[
    (
        "Echo round trip, 1 client (µs); floor: raw TCP echo",
        &[("p50", "echo_p50_us", true), ("p99", "echo_p99_us", true)],
    ),
    (
        "Broadcast to 100, emit → last receiver (ms); floor: write floor",
        &[("p50", "bcast100_p50_ms", true), ("p95", "bcast100_p95_ms", true), ("p99", "bcast100_p99_ms", true)],
    ),
    (
        "Broadcast to 1000, emit → last receiver (ms); floor: write floor",
        &[("p50", "bcast1000_p50_ms", true), ("p95", "bcast1000_p95_ms", true), ("p99", "bcast1000_p99_ms", true)],
    ),
    (
        "Burst: 100 broadcasts back to back to 1000, first emit → last receiver of the last (ms)",
        &[("p50", "bcast1000x100_p50_ms", true), ("p95", "bcast1000x100_p95_ms", true)],
    ),
    (
        "Broadcast to 1000 while a 1001st client has stopped reading (ms)",
        &[
            ("p50 (the 1000 readers)", "bcast1000stall_p50_ms", true),
            ("p99", "bcast1000stall_p99_ms", true),
            ("stalled client closed by server (1=yes)", "bcast1000stall_closed", false),
        ],
    ),
    (
        "Idle cost per client, /ws (fresh server, 3000 clients)",
        &[
            ("RSS, first 1000, incl. warm-up (KiB)", "idle_ws_rss_first_kib_per_conn", true),
            ("RSS, each one after (KiB)", "idle_ws_rss_kib_per_conn", true),
            ("threads per client", "idle_ws_threads_per_conn", false),
            ("server threads with all 3000", "idle_ws_threads", false),
            ("kernel stack per client (KiB)", "idle_ws_kstack_kib_per_conn", false),
        ],
    ),
    (
        "Idle cost per client, socket.io (fresh server, 3000 clients)",
        &[
            ("RSS, first 1000, incl. warm-up (KiB)", "idle_socketio_rss_first_kib_per_conn", true),
            ("RSS, each one after (KiB)", "idle_socketio_rss_kib_per_conn", true),
            ("threads per client", "idle_socketio_threads_per_conn", false),
            ("server threads with all 3000", "idle_socketio_threads", false),
            ("kernel stack per client (KiB)", "idle_socketio_kstack_kib_per_conn", false),
        ],
    ),
    (
        "Scale run",
        &[
            ("clients held", "scale_clients", false),
            ("seconds to connect them", "scale_open_s", true),
            ("pings answered while held", "scale_pings_answered", false),
            ("RSS per connection (KiB)", "scale_rss_kib_per_conn", true),
            ("server threads while held", "scale_threads", false),
            ("kernel stack per conn (KiB)", "scale_kernel_stack_kib_per_conn", false),
            ("broadcast to all, p50 (ms)", "scale_bcast_p50_ms", true),
            ("broadcast to all, max (ms)", "scale_bcast_max_ms", true),
        ],
    ),
];

pub fn run(csv: &str, svg: Option<&str>, run: Option<&str>) -> io::Result<()> {
    let (run, data) = load(csv, run)?;
    let mut out = String::new();
    let wp = data.protocols.get("wshub").cloned().unwrap_or_default();
    let pp = data.protocols.get("peer").cloned().unwrap_or_default();
    let compare = TABLES.iter().any(|(_, rows)| rows.iter().any(|(_, m, _)| data.has(m)));
    if !compare {
        let _ = writeln!(out, "run {run}: medians over the rounds");
    } else {
        let _ = writeln!(out, "run {run}: medians over the rounds; wshub spoke `{wp}`, the peer `{pp}`");
        if !wp.is_empty() && !pp.is_empty() && wp != pp {
            let _ = writeln!(
                out,
                "NOTE: wshub is measured on its /ws JSON protocol against the peer's socket.io: not protocol\n\
                 for protocol (compare.sh without --wshub-protocol ws compares socket.io to socket.io)."
            );
        }
        let _ = writeln!(
            out,
            "floor = the least any server can do here: a raw TCP echo server (thread per connection) for the\n\
             echo; for the broadcasts, the write floor: one thread writing each frame to every socket with\n\
             non-blocking sends (`loadgen write-floor-server`), measured like the servers, emit → last receiver."
        );
    }
    let header =
        "|                                          |     wshub |      peer |     floor | wshub/peer | wshub/floor |";
    let rule =
        "|------------------------------------------|-----------|-----------|-----------|------------|-------------|";
    for (title, rows) in TABLES {
        if !rows.iter().any(|(_, m, _)| data.has(m)) {
            continue;
        }
        let _ = writeln!(out, "\n{title}\n{header}\n{rule}");
        for (label, measure, ratios) in rows.iter() {
            row(&mut out, &data, label, measure, *ratios);
        }
    }
    if data.has_server("wake") {
        let _ = writeln!(
            out,
            "\nFor reference, not a floor: waking N sleeping threads without any I/O (what a server that\n\
             wakes a thread per client pays per broadcast): 100: {} ms, 1000: {} ms (p50).",
            data.median("wake", "bcast100_p50_ms").map(fmt).unwrap_or_else(|| "-".into()),
            data.median("wake", "bcast1000_p50_ms").map(fmt).unwrap_or_else(|| "-".into()),
        );
    }
    if compare {
        let _ = writeln!(out, "\nPer round (wshub | peer | floor):");
        for m in [
            "echo_p50_us",
            "bcast100_p50_ms",
            "bcast1000_p50_ms",
            "bcast1000x100_p50_ms",
            "bcast1000stall_p50_ms",
            "idle_ws_rss_kib_per_conn",
            "idle_socketio_rss_kib_per_conn",
        ] {
            if data.has(m) {
                let _ = writeln!(
                    out,
                    "  {m:<31} {} | {} | {}",
                    data.rounds("wshub", m),
                    data.rounds("peer", m),
                    data.rounds("floor", m)
                );
            }
        }
        out.push_str(&targets(&data));
    }
    out.push_str(&two_way(&data, CLUSTER));
    out.push_str(&two_way(&data, TLS));
    out.push_str(&attacks(&data));
    print!("{out}");
    if let Some(svg) = svg {
        if compare {
            std::fs::write(svg, chart(&run, &data, &wp, &pp))?;
            println!("\nwrote {svg}");
        }
    }
    Ok(())
}

/// A table with wshub and the peer only (no floor): its title, its rows
/// (label, measure), and the ratios it judges: (what, measure over measure,
/// for which server, the bound).
struct TwoWay {
    title: &'static str,
    rows: &'static [(&'static str, &'static str)],
    checks: &'static [(&'static str, &'static str, &'static str, &'static str, f64)],
}

/// `compare.sh --cluster`: the Redis adapter's cost (issue 10).
const CLUSTER: TwoWay = TwoWay {
    title: "Cluster over Redis: broadcast to 1000, emit → last receiver (ms); a real redis-server on loopback",
    rows: &[
        ("one node, no Redis: p50", "c1_bcast1000_p50_ms"),
        ("one node, no Redis: p99", "c1_bcast1000_p99_ms"),
        ("one node + Redis adapter (local): p50", "c1r_bcast1000_p50_ms"),
        ("one node + Redis adapter (local): p99", "c1r_bcast1000_p99_ms"),
        ("two nodes, sender on A, 1000 on B: p50", "c2_bcast1000_p50_ms"),
        ("two nodes, sender on A, 1000 on B: p99", "c2_bcast1000_p99_ms"),
    ],
    checks: &[
        ("two nodes p50, wshub / socket.io", "c2_bcast1000_p50_ms", "", "peer", 0.7),
        (
            "adapter on a local broadcast, wshub p50 with / without",
            "c1r_bcast1000_p50_ms",
            "c1_bcast1000_p50_ms",
            "wshub",
            1.05,
        ),
        (
            "two nodes / one node, wshub p50 (for reference)",
            "c2_bcast1000_p50_ms",
            "c1_bcast1000_p50_ms",
            "wshub",
            f64::NAN,
        ),
        (
            "two nodes / one node, socket.io p50 (for reference)",
            "c2_bcast1000_p50_ms",
            "c1_bcast1000_p50_ms",
            "peer",
            f64::NAN,
        ),
    ],
};

/// `compare.sh --tls`: wss against ws, and Node's https against http (issue 12).
const TLS: TwoWay = TwoWay {
    title: "TLS: the same over wss (a throwaway CA's P-256 certificate, made by the bench) and over ws",
    rows: &[
        ("echo p50, ws (µs)", "plain_echo_p50_us"),
        ("echo p50, wss (µs)", "tls_echo_p50_us"),
        ("echo p99, wss (µs)", "tls_echo_p99_us"),
        ("broadcast to 1000 p50, ws (ms)", "plain_bcast1000_p50_ms"),
        ("broadcast to 1000 p50, wss (ms)", "tls_bcast1000_p50_ms"),
        ("broadcast to 1000 p99, wss (ms)", "tls_bcast1000_p99_ms"),
    ],
    checks: &[
        ("echo p50 over wss, wshub / socket.io", "tls_echo_p50_us", "", "peer", f64::NAN),
        ("broadcast to 1000 p50 over wss, wshub / socket.io", "tls_bcast1000_p50_ms", "", "peer", f64::NAN),
        ("echo p50, wss / ws, wshub", "tls_echo_p50_us", "plain_echo_p50_us", "wshub", f64::NAN),
        ("echo p50, wss / ws, socket.io", "tls_echo_p50_us", "plain_echo_p50_us", "peer", f64::NAN),
        ("broadcast to 1000 p50, wss / ws, wshub", "tls_bcast1000_p50_ms", "plain_bcast1000_p50_ms", "wshub", f64::NAN),
        (
            "broadcast to 1000 p50, wss / ws, socket.io",
            "tls_bcast1000_p50_ms",
            "plain_bcast1000_p50_ms",
            "peer",
            f64::NAN,
        ),
    ],
};

/// A [`TwoWay`] table, when its rows were measured in this run. A check
/// with an empty second measure is wshub over the peer on the first; one
/// with two is that server's first over its second. NaN bound: shown, not judged.
fn two_way(data: &Data, t: TwoWay) -> String {
    let mut out = String::new();
    if !t.rows.iter().any(|(_, m)| data.has(m)) {
        return out;
    }
    let cell = |x: Option<f64>| x.map(fmt).unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "\n{}", t.title);
    let _ = writeln!(out, "|                                          |     wshub |      peer | wshub/peer |");
    let _ = writeln!(out, "|------------------------------------------|-----------|-----------|------------|");
    for (label, m) in t.rows {
        let (w, p) = (data.median("wshub", m), data.median("peer", m));
        let r = match (w, p) {
            (Some(w), Some(p)) if p > 0.0 => format!("{:.2}", w / p),
            _ => "-".into(),
        };
        let _ = writeln!(out, "| {label:<40} | {:>9} | {:>9} | {r:>10} |", cell(w), cell(p));
    }
    for (what, a, b, server, limit) in t.checks {
        let got = if b.is_empty() {
            (|| Some(data.median("wshub", a)? / data.median(server, a)?))()
        } else {
            (|| Some(data.median(server, a)? / data.median(server, b)?))()
        };
        if limit.is_nan() {
            let _ = writeln!(out, "  · {what}: {}×", shown(got));
        } else {
            let _ = writeln!(out, "  {} {what}: {}× (target ≤ {limit}×)", verdict(got, |g| g <= *limit), shown(got));
        }
    }
    let _ = writeln!(out, "  per round, wshub | peer:");
    for (_, m) in t.rows.iter().filter(|(_, m)| m.ends_with("p50_ms") || m.ends_with("p50_us")) {
        let _ = writeln!(out, "    {m:<31} {} | {}", data.rounds("wshub", m), data.rounds("peer", m));
    }
    out
}

/// ✓ / ✗ / – for a value against a bound.
fn verdict(got: Option<f64>, ok: impl Fn(f64) -> bool) -> &'static str {
    match got {
        Some(g) if g.is_finite() && ok(g) => "✓",
        Some(g) if g.is_finite() => "✗",
        _ => "–",
    }
}

fn shown(got: Option<f64>) -> String {
    got.filter(|g| g.is_finite()).map(|g| format!("{g:.2}")).unwrap_or_else(|| "not measured".into())
}

/// The targets, each judged on the medians of this run.
fn targets(data: &Data) -> String {
    let mut out = String::from("\nTargets (this run; a ratio is between two medians of the same run):\n");
    let ratio = |a: &str, b: &str, m: &str| Some(data.median(a, m)? / data.median(b, m)?);
    let at_most = |out: &mut String, what: &str, got: Option<f64>, limit: f64, unit: &str| {
        let _ =
            writeln!(out, "  {} {what}: {}{unit} (target ≤ {limit}{unit})", verdict(got, |g| g <= limit), shown(got));
    };
    at_most(
        &mut out,
        "broadcast to 1000 p50, wshub / write floor",
        ratio("wshub", "floor", "bcast1000_p50_ms"),
        1.15,
        "×",
    );
    at_most(&mut out, "broadcast to 1000 p50, wshub / socket.io", ratio("wshub", "peer", "bcast1000_p50_ms"), 0.7, "×");
    at_most(&mut out, "broadcast to 100 p50, wshub / socket.io", ratio("wshub", "peer", "bcast100_p50_ms"), 0.6, "×");
    at_most(
        &mut out,
        "scale run: broadcast to all p50, wshub / socket.io",
        ratio("wshub", "peer", "scale_bcast_p50_ms"),
        0.7,
        "×",
    );
    at_most(&mut out, "echo p50, wshub / raw TCP echo", ratio("wshub", "floor", "echo_p50_us"), 1.05, "×");
    at_most(&mut out, "echo p99, wshub / socket.io", ratio("wshub", "peer", "echo_p99_us"), 0.5, "×");
    at_most(&mut out, "idle RSS per /ws client, wshub", data.median("wshub", "idle_ws_rss_kib_per_conn"), 16.0, " KiB");
    at_most(
        &mut out,
        "idle RSS per socket.io client, wshub",
        data.median("wshub", "idle_socketio_rss_kib_per_conn"),
        20.0,
        " KiB",
    );
    let below = ratio("wshub", "peer", "idle_socketio_rss_kib_per_conn");
    let _ = writeln!(
        out,
        "  {} idle RSS per socket.io client, wshub / socket.io: {}× (target < 1: below socket.io's)",
        verdict(below, |g| g < 1.0),
        shown(below)
    );
    for (p, name) in [("ws", "/ws"), ("socketio", "socket.io")] {
        let k = data.median("wshub", &format!("idle_{p}_kstack_kib_per_conn"));
        let _ = writeln!(
            out,
            "  {} kernel stack per {name} client, wshub: {} KiB (target: one thread's 16 KiB; ≤ 17.6 allows 10 % \
             for other processes' threads, /proc/meminfo is machine-wide)",
            verdict(k, |g| g <= 17.6),
            shown(k)
        );
        let per = data.median("wshub", &format!("idle_{p}_threads_per_conn"));
        let constant = data.median("wshub", &format!("idle_{p}_threads_minus_clients"));
        let ok = matches!((per, constant), (Some(a), Some(c)) if (a - 1.0).abs() <= 0.01 && c <= 10.0);
        let _ =
            writeln!(
            out,
            "  {} threads with {name} clients, wshub: {} per client, threads = clients + {} (target: 1 per client, \
             a constant ≤ 10)",
            if per.is_none() { "–" } else if ok { "✓" } else { "✗" },
            shown(per),
            constant.map(|c| format!("{c:.0}")).unwrap_or_else(|| "?".into())
        );
    }
    for (server, name) in [("wshub", "wshub"), ("peer", "socket.io, for reference")] {
        for q in ["p50", "p99"] {
            let r = (|| {
                Some(
                    data.median(server, &format!("bcast1000stall_{q}_ms"))?
                        / data.median(server, &format!("bcast1000_{q}_ms"))?,
                )
            })();
            let _ = writeln!(
                out,
                "  {} one stalled client: the others' {q}, with / without it ({name}): {}× (target ≤ 1.10)",
                verdict(r, |g| g <= 1.10),
                shown(r)
            );
        }
    }
    out
}

/// The attack tables (`bench/attacks.sh`), when the CSV has them.
fn attacks(data: &Data) -> String {
    let mut out = String::new();
    let header = "|                                          |     wshub |      peer |";
    let rule = "|------------------------------------------|-----------|-----------|";
    let line = |out: &mut String, label: &str, measure: &str| {
        let cell = |s: &str| data.median(s, measure).filter(|v| v.is_finite()).map(fmt).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "| {label:<40} | {:>9} | {:>9} |", cell("wshub"), cell("peer"));
    };
    if data.has("poll_sessions_opened") {
        let _ = writeln!(
            out,
            "\nAttack: one keep-alive connection opens polling sessions and abandons them; a healthy socket.io\n\
             client does an ack round trip every 100 ms meanwhile (during = from the first request to the end\n\
             of the hold after the last)\n{header}\n{rule}"
        );
        for (label, m) in [
            ("sessions opened", "poll_sessions_opened"),
            ("requests refused", "poll_sessions_refused"),
            ("seconds to open them", "poll_open_s"),
            ("server threads before", "poll_threads_before"),
            ("threads per session", "poll_threads_per_session"),
            ("threads, peak", "poll_threads_peak"),
            ("RSS per session (KiB)", "poll_rss_kib_per_session"),
            ("kernel stack per session (KiB)", "poll_kstack_kib_per_session"),
            ("RSS, peak (MiB)", "poll_rss_peak_mib"),
            ("healthy round trip before, p50 (ms)", "poll_probe_base_p50_ms"),
            ("healthy round trip before, max (ms)", "poll_probe_base_max_ms"),
            ("healthy round trip during, p50 (ms)", "poll_probe_p50_ms"),
            ("healthy round trip during, p99 (ms)", "poll_probe_p99_ms"),
            ("healthy round trip during, max (ms)", "poll_probe_max_ms"),
            ("healthy round trips during", "poll_probe_round_trips"),
            ("healthy round trips over 1 s", "poll_probe_slow"),
            ("healthy ack unanswered at the end", "poll_probe_unanswered"),
            ("healthy client dropped (1=yes)", "poll_probe_dropped"),
        ] {
            line(&mut out, label, m);
        }
        let _ = writeln!(out, "\nTargets (wshub):");
        let w = |m: &str| data.median("wshub", m);
        let threads = w("poll_threads_per_session");
        let _ = writeln!(
            out,
            "  {} no thread per session: {} threads per session",
            verdict(threads, |g| g < 0.001),
            shown(threads)
        );
        let rss = w("poll_rss_kib_per_session");
        let _ = writeln!(
            out,
            "  {} RSS per abandoned session: {} KiB (target ≤ 10)",
            verdict(rss, |g| g <= 10.0),
            shown(rss)
        );
        let max = w("poll_probe_max_ms");
        let _ = writeln!(
            out,
            "  {} the healthy round trip stays under 20 ms: max {} ms",
            verdict(max, |g| g < 20.0),
            shown(max)
        );
    }
    for (p, name) in [("socketio", "socket.io"), ("ws", "/ws")] {
        let m = |k: &str| format!("flood_{p}_{k}");
        if !data.has(&m("events_sent")) {
            continue;
        }
        let readers = data.median("wshub", &m("readers")).or_else(|| data.median("peer", &m("readers"))).unwrap_or(0.0);
        let _ = writeln!(
            out,
            "\nAttack: a {name} client floods `broadcast` events (each to everybody) while {readers:.0} readers read\n\
             (wshub: half /ws, half socket.io; the peer: socket.io, it has no /ws) and a healthy socket.io client\n\
             does an ack round trip every 100 ms (it receives the flood too)\n{header}\n{rule}"
        );
        for (label, k) in [
            ("events sent", "events_sent"),
            ("seconds to send them", "send_s"),
            ("attacker closed by the server (1=yes)", "attacker_closed"),
            ("broadcasts the readers saw", "broadcasts_seen"),
            ("seconds until every reader had all", "all_in_s"),
            ("messages lost (all readers)", "lost"),
            ("messages out of order", "out_of_order"),
            ("readers dropped", "dropped"),
            ("healthy round trip before, p50 (ms)", "probe_base_p50_ms"),
            ("healthy round trip before, max (ms)", "probe_base_max_ms"),
            ("healthy round trip during, p50 (ms)", "probe_p50_ms"),
            ("healthy round trip during, p99 (ms)", "probe_p99_ms"),
            ("healthy round trip during, max (ms)", "probe_max_ms"),
            ("healthy round trips over 1 s", "probe_slow"),
            ("healthy ack unanswered at the end", "probe_unanswered"),
            ("healthy client dropped (1=yes)", "probe_dropped"),
            ("server threads before", "threads_before"),
            ("threads, peak", "threads_peak"),
            ("RSS before (MiB)", "rss_before_mib"),
            ("RSS, peak (MiB)", "rss_peak_mib"),
        ] {
            line(&mut out, label, &m(k));
        }
        let _ = writeln!(out, "\nTargets (wshub):");
        let lost = data.median("wshub", &m("lost"));
        let dropped = data.median("wshub", &m("dropped"));
        let _ = writeln!(out, "  {} healthy readers lose nothing: {} lost", verdict(lost, |g| g == 0.0), shown(lost));
        let _ = writeln!(
            out,
            "  {} no healthy reader is dropped: {} dropped",
            verdict(dropped, |g| g == 0.0),
            shown(dropped)
        );
    }
    out
}

/// A small SVG: one panel per measure, a bar per server (the median p50),
/// and a lighter bar behind it for the tail (p99 / p95).
fn chart(run: &str, data: &Data, wp: &str, pp: &str) -> String {
    let panels: [(&str, &str, Option<&str>, &str); 6] = [
        ("Echo round trip, 1 client", "echo_p50_us", Some("echo_p99_us"), "µs"),
        ("Broadcast to 100, emit → last receiver", "bcast100_p50_ms", Some("bcast100_p99_ms"), "ms"),
        ("Broadcast to 1000, emit → last receiver", "bcast1000_p50_ms", Some("bcast1000_p99_ms"), "ms"),
        (
            "100 broadcasts back to back to 1000, to the last",
            "bcast1000x100_p50_ms",
            Some("bcast1000x100_p95_ms"),
            "ms",
        ),
        ("Idle memory per socket.io client (RSS)", "idle_socketio_rss_kib_per_conn", None, "KiB"),
        ("Idle memory per /ws client (RSS)", "idle_ws_rss_kib_per_conn", None, "KiB"),
    ];
    let servers = [("wshub", "#1f6feb"), ("peer", "#d9822b"), ("floor", "#6e7781")];
    let names = |s: &str, measure: &str| match s {
        // The idle panels name their own protocol; the others, the run's.
        "wshub" if measure.starts_with("idle_ws_") => "wshub (ws)".to_string(),
        "wshub" if measure.starts_with("idle_socketio_") => "wshub (socketio)".to_string(),
        "wshub" => format!("wshub ({wp})"),
        "peer" => format!("socket.io 4.8 ({pp})"),
        _ if measure.starts_with("echo") => "floor: raw TCP echo".to_string(),
        _ => "floor: one thread's writes".to_string(),
    };
    let (width, left, bar_w, row_h, title_h) = (800.0, 190.0, 480.0, 22.0, 26.0);
    let mut y = 52.0;
    let mut body = String::new();
    for (title, main, tail, unit) in panels {
        let present: Vec<_> = servers.iter().filter(|(s, _)| data.median(s, main).is_some()).collect();
        if present.is_empty() {
            continue;
        }
        let max = present
            .iter()
            .map(|(s, _)| tail.and_then(|t| data.median(s, t)).unwrap_or(0.0).max(data.median(s, main).unwrap_or(0.0)))
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let tail_label = match tail {
            Some(t) if t.contains("p99") => ", light: p99",
            Some(_) => ", light: p95",
            None => "",
        };
        let _ = writeln!(
            body,
            r#"<text x="16" y="{:.0}" font-weight="bold">{title} ({unit}; dark: median{tail_label})</text>"#,
            y + 16.0
        );
        y += title_h;
        for (server, color) in present {
            let p50 = data.median(server, main).unwrap_or(0.0);
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                left - 8.0,
                y + 15.0,
                names(server, main)
            );
            if let Some(t) = tail.and_then(|t| data.median(server, t)) {
                let _ = writeln!(
                    body,
                    r#"<rect x="{left}" y="{:.0}" width="{:.1}" height="16" fill="{color}" opacity="0.3"/>"#,
                    y + 2.0,
                    bar_w * t / max
                );
            }
            let _ = writeln!(
                body,
                r#"<rect x="{left}" y="{:.0}" width="{:.1}" height="16" fill="{color}"/>"#,
                y + 2.0,
                bar_w * p50 / max
            );
            let tail_text =
                tail.and_then(|t| data.median(server, t)).map(|t| format!(" / {}", fmt(t))).unwrap_or_default();
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}">{}{tail_text}</text>"#,
                left + bar_w * tail.and_then(|t| data.median(server, t)).unwrap_or(p50).max(p50) / max + 6.0,
                y + 15.0,
                fmt(p50)
            );
            y += row_h;
        }
        y += 14.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h:.0}" viewBox="0 0 {width} {h:.0}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="16" y="22" font-size="15" font-weight="bold">wshub vs socket.io 4.8 (Node): shorter is better</text>
<text x="16" y="38" font-size="11" fill="dimgray">run {run}: medians of alternating rounds; server on CPU 0, load on CPU 1; bench/compare.sh</text>
{body}</svg>
"#,
        h = y + 10.0
    )
}
