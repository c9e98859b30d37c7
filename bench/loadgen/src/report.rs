//! Turns `results.csv` into the tables `compare.sh` prints and `docs/bench.svg`.
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

/// One table row: wshub, peer, raw TCP, and the ratios.
fn row(out: &mut String, data: &Data, label: &str, measure: &str) {
    let w = data.median("wshub", measure);
    let p = data.median("peer", measure);
    let t = data.median("floor", measure);
    let cell = |x: Option<f64>| x.map(fmt).unwrap_or_else(|| "-".into());
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && !measure.contains("kernel") => format!("{:.2}", a / b),
        _ => "-".into(),
    };
    let _ = writeln!(
        out,
        "| {label:<28} | {:>9} | {:>9} | {:>9} | {:>10} | {:>11} |",
        cell(w),
        cell(p),
        cell(t),
        ratio(w, p),
        ratio(w, t)
    );
}

pub fn run(csv: &str, svg: &str, run: Option<&str>) -> io::Result<()> {
    let (run, data) = load(csv, run)?;
    let mut out = String::new();
    let wp = data.protocols.get("wshub").cloned().unwrap_or_default();
    let pp = data.protocols.get("peer").cloned().unwrap_or_default();
    let _ = writeln!(out, "run {run}: medians over the rounds; wshub spoke `{wp}`, the peer `{pp}`");
    if wp != pp {
        let _ = writeln!(
            out,
            "NOTE: wshub is measured on its /ws JSON protocol against the peer's socket.io: not protocol\n\
             for protocol (compare.sh without --wshub-protocol ws compares socket.io to socket.io)."
        );
    }
    let _ = writeln!(
        out,
        "floor = the best a thread-per-connection server could do here: a raw TCP echo server for the echo,\n\
         and waking one sleeping thread per receiver (no socket I/O at all) for the broadcasts."
    );
    let header = "|                              |     wshub |      peer |     floor | wshub/peer | wshub/floor |";
    let rule = "|------------------------------|-----------|-----------|-----------|------------|-------------|";
    let tables: [(&str, &[(&str, &str)]); 5] = [
        ("Echo round trip, 1 client (µs)", &[("p50", "echo_p50_us"), ("p99", "echo_p99_us")]),
        ("Broadcast to 100, emit → last receiver (ms)", &[("p50", "bcast100_p50_ms"), ("p95", "bcast100_p95_ms")]),
        ("Broadcast to 1000, emit → last receiver (ms)", &[("p50", "bcast1000_p50_ms"), ("p95", "bcast1000_p95_ms")]),
        (
            "Idle memory, RSS per connection (KiB)",
            &[("first 1000 (incl. warm-up)", "rss_first_kib_per_conn"), ("each one after", "rss_kib_per_conn")],
        ),
        (
            "Scale run",
            &[
                ("clients held", "scale_clients"),
                ("seconds to connect them", "scale_open_s"),
                ("pings answered while held", "scale_pings_answered"),
                ("RSS per connection (KiB)", "scale_rss_kib_per_conn"),
                ("kernel stack per conn (KiB)", "scale_kernel_stack_kib_per_conn"),
                ("broadcast to all, p50 (ms)", "scale_bcast_p50_ms"),
                ("broadcast to all, max (ms)", "scale_bcast_max_ms"),
            ],
        ),
    ];
    for (title, rows) in tables {
        if !rows.iter().any(|(_, m)| data.values.keys().any(|(_, k)| k == m)) {
            continue;
        }
        let _ = writeln!(out, "\n{title}\n{header}\n{rule}");
        for (label, measure) in rows {
            row(&mut out, &data, label, measure);
        }
    }
    let _ = writeln!(out, "\nPer round (wshub | peer):");
    for m in ["echo_p50_us", "bcast100_p50_ms", "bcast1000_p50_ms", "rss_kib_per_conn"] {
        let _ = writeln!(out, "  {m:<18} {} | {}", data.rounds("wshub", m), data.rounds("peer", m));
    }
    out.push_str(&targets(&data));
    print!("{out}");
    std::fs::write(svg, chart(&run, &data, &wp, &pp))?;
    println!("\nwrote {svg}");
    Ok(())
}

/// The issue's targets, each judged on the medians of this run.
fn targets(data: &Data) -> String {
    let mut out = String::from("\nTargets (this run):\n");
    let ratio = |a: &str, b: &str, m: &str| Some(data.median(a, m)? / data.median(b, m)?);
    let mut check = |what: &str, got: Option<f64>, limit: f64, unit: &str| {
        let line = match got {
            Some(g) => {
                let verdict = if g <= limit { "met" } else { "MISSED" };
                format!("  [{verdict:>6}] {what}: {g:.2}{unit} (target ≤ {limit:.2}{unit})\n")
            }
            None => format!("  [   n/a] {what}: not measured\n"),
        };
        out.push_str(&line);
    };
    check("broadcast 1000 p50, wshub/peer", ratio("wshub", "peer", "bcast1000_p50_ms"), 1.0 / 3.0, "");
    check("echo p50, wshub/peer", ratio("wshub", "peer", "echo_p50_us"), 0.5, "");
    check("echo p50, wshub/raw TCP", ratio("wshub", "floor", "echo_p50_us"), 1.5, "");
    check("idle RSS per connection, wshub", data.median("wshub", "rss_kib_per_conn"), 20.0, " KiB");
    out
}

/// A small SVG: one panel per measure, a bar per server (the median p50),
/// and a lighter bar behind it for the tail (p99 / p95).
fn chart(run: &str, data: &Data, wp: &str, pp: &str) -> String {
    let panels: [(&str, &str, Option<&str>, &str); 4] = [
        ("Echo round trip, 1 client", "echo_p50_us", Some("echo_p99_us"), "µs"),
        ("Broadcast to 100, emit → last receiver", "bcast100_p50_ms", Some("bcast100_p95_ms"), "ms"),
        ("Broadcast to 1000, emit → last receiver", "bcast1000_p50_ms", Some("bcast1000_p95_ms"), "ms"),
        ("Idle memory per connection (RSS)", "rss_kib_per_conn", None, "KiB"),
    ];
    let servers = [("wshub", "#1f6feb"), ("peer", "#d9822b"), ("floor", "#6e7781")];
    let names = |s: &str, measure: &str| match s {
        "wshub" => format!("wshub ({wp})"),
        "peer" => format!("socket.io 4.8 ({pp})"),
        _ if measure.starts_with("echo") => "floor: raw TCP echo".to_string(),
        _ => "floor: wake threads, no I/O".to_string(),
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
