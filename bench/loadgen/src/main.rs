//! `loadgen` — wshub's load generator, raw TCP echo floor and report writer.
//!
//! ```text
//! loadgen echo      --addr 127.0.0.1:3000 --proto ws|socketio|tcp [--n 10000 --warmup 1000]
//! loadgen broadcast --addr ... --proto ... --receivers 1000 [--rounds 30 --warmup 5 --burst 1 --stall --busy-poll]
//!                   [--sender-addr ADDR]   (the emitting client on another node of a cluster)
//! loadgen idle      --addr ... --proto ... --pid PID [--step 1000 --total 3000 --gc]
//! loadgen scale     --addr ... --proto ... --pid PID [--clients 10000 --hold-secs 30 --rounds 5]
//! loadgen attack-polling --addr ... --pid PID [--sessions 12000 --hold-secs 5]
//! loadgen attack-flood   --addr ... --pid PID --proto ws|socketio [--readers 100 --readers-proto mixed|socketio --events 20000]
//! loadgen thread-floor --receivers 1000 [--rounds 30 --warmup 5]   (no server: waking N threads)
//! loadgen tcp-echo-server --port 3999      (the echo floor)
//! loadgen write-floor-server --port 3998   (the broadcast floor: one thread, non-blocking sends)
//! loadgen report    --csv bench/results.csv [--svg docs/bench.svg] [--run RUN]
//! ```
//! The measuring commands take `--csv FILE --run RUN --round K --server NAME`
//! and append one row per number: `run,round,server,protocol,measure,value`;
//! `--prefix P` names the measures `P_…` (compare.sh's cluster and TLS rows);
//! `--tls CA.pem` makes every client connection wss, trusting that certificate.
//! `bench/compare.sh` drives it all; see `docs/bench.md`.

mod attack;
mod client;
mod measure;
mod report;
mod tcp_echo;
mod write_floor;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use client::Proto;

/// `--key value` pairs (and bare `--flag`s, stored as "true").
struct Args(HashMap<String, String>);

impl Args {
    fn parse(raw: &[String]) -> Result<Args, String> {
        let mut map = HashMap::new();
        let mut i = 0;
        while i < raw.len() {
            let key = raw[i].strip_prefix("--").ok_or_else(|| format!("expected --option, got {:?}", raw[i]))?;
            match raw.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    map.insert(key.to_string(), v.clone());
                    i += 2;
                }
                _ => {
                    map.insert(key.to_string(), "true".into());
                    i += 1;
                }
            }
        }
        Ok(Args(map))
    }

    fn get(&self, key: &str) -> Result<&str, String> {
        self.0.get(key).map(String::as_str).ok_or_else(|| format!("missing --{key}"))
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: not a number: {v}")),
        }
    }

    fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = raw.first() else {
        eprintln!(
            "usage: loadgen echo|broadcast|idle|scale|attack-polling|attack-flood|thread-floor|\
             tcp-echo-server|write-floor-server|report [--option value ...] (see src/main.rs)"
        );
        return ExitCode::from(2);
    };
    match run(command, &raw[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: &str, raw: &[String]) -> Result<(), String> {
    let args = Args::parse(raw)?;
    if let Some(ca) = args.0.get("tls") {
        client::use_tls(ca).map_err(|e| format!("--tls: {e}"))?;
    }
    let rows = match command {
        "tcp-echo-server" => return tcp_echo::serve(args.num("port", 3999)?).map_err(|e| e.to_string()),
        "write-floor-server" => {
            return write_floor::serve(args.num("port", 3998)?).map_err(|e| e.to_string());
        }
        "report" => {
            let svg = args.0.get("svg").map(String::as_str);
            return report::run(args.get("csv")?, svg, args.0.get("run").map(String::as_str))
                .map_err(|e| e.to_string());
        }
        "echo" => measure::echo(addr(&args)?, proto(&args)?, args.num("n", 10_000)?, args.num("warmup", 1_000)?),
        "broadcast" => measure::broadcast(
            addr(&args)?,
            proto(&args)?,
            &measure::BroadcastOpts {
                receivers: args.num("receivers", 100)?,
                rounds: args.num("rounds", 30)?,
                warmup: args.num("warmup", 5)?,
                burst: args.num("burst", 1)?,
                busy: args.flag("busy-poll"),
                stall: args.flag("stall"),
                sender: match args.0.get("sender-addr") {
                    Some(a) => Some(a.parse().map_err(|e| format!("--sender-addr: {e}"))?),
                    None => None,
                },
            },
        ),
        "attack-polling" => attack::polling_sessions(
            addr(&args)?,
            args.num("pid", 0)?,
            args.num("sessions", 12_000)?,
            Duration::from_secs(args.num("hold-secs", 5)?),
        ),
        "attack-flood" => attack::flood(
            addr(&args)?,
            args.num("pid", 0)?,
            proto(&args)?,
            args.num("readers", 100)?,
            match args.0.get("readers-proto").map(String::as_str) {
                None | Some("mixed") => attack::Readers::Mixed,
                Some("socketio") => attack::Readers::SocketIo,
                Some(other) => return Err(format!("--readers-proto: mixed or socketio, not {other:?}")),
            },
            args.num("events", 20_000)?,
        ),
        "idle" => measure::idle(
            addr(&args)?,
            proto(&args)?,
            args.num("pid", 0)?,
            args.num("step", 1_000)?,
            args.num("total", 3_000)?,
            args.flag("gc"),
        ),
        "thread-floor" => {
            measure::thread_floor(args.num("receivers", 1000)?, args.num("rounds", 30)?, args.num("warmup", 5)?)
        }
        "scale" => measure::scale(
            addr(&args)?,
            proto(&args)?,
            args.num("pid", 0)?,
            args.num("clients", 10_000)?,
            Duration::from_secs(args.num("hold-secs", 30)?),
            args.num("rounds", 5)?,
        ),
        other => return Err(format!("unknown command {other:?}")),
    }
    .map_err(|e| e.to_string())?;
    record(&args, &rows)
}

fn addr(args: &Args) -> Result<SocketAddr, String> {
    args.get("addr")?.parse().map_err(|e| format!("--addr: {e}"))
}

fn proto(args: &Args) -> Result<Proto, String> {
    Proto::parse(args.get("proto")?)
}

/// Prints the rows and appends them to `--csv`, if given. `--prefix P`
/// names every measure `P_measure` (the cluster's and TLS's rows).
fn record(args: &Args, rows: &[(String, f64)]) -> Result<(), String> {
    let prefixed: Vec<(String, f64)>;
    let rows = match args.0.get("prefix") {
        Some(p) => {
            prefixed = rows.iter().map(|(m, v)| (format!("{p}_{m}"), *v)).collect();
            &prefixed
        }
        None => rows,
    };
    let server = args.0.get("server").map(String::as_str).unwrap_or("?");
    let proto = args.0.get("proto").map(String::as_str).unwrap_or("-");
    for (measure, value) in rows {
        println!("{server:>6} {proto:>8}  {measure:<24} {value:>10.2}");
    }
    let Some(path) = args.0.get("csv") else { return Ok(()) };
    let run = args.0.get("run").map(String::as_str).unwrap_or("-");
    let round = args.0.get("round").map(String::as_str).unwrap_or("-");
    let new = !std::path::Path::new(path).exists();
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| e.to_string())?;
    if new {
        writeln!(file, "run,round,server,protocol,measure,value").map_err(|e| e.to_string())?;
    }
    for (measure, value) in rows {
        writeln!(file, "{run},{round},{server},{proto},{measure},{value:.3}").map_err(|e| e.to_string())?;
    }
    Ok(())
}
