//! The server process runs out of file descriptors: the listener logs,
//! refuses with 503 (using the descriptor it keeps in reserve), backs off
//! instead of spinning, and serves again once descriptors are freed.
//!
//! The server runs in a child process (this same test binary, started again
//! with `WSHUB_FD_CHILD=1`) whose RLIMIT_NOFILE is lowered to 64, so that
//! the limit and the CPU measurement concern the server alone.
mod common;
mod raw;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use raw::upgrade_head;

/// The child's descriptor limit: a few for the process, ~2 per client.
const CHILD_NOFILE: u64 = 64;

/// Sends an upgrade request and returns the status and the stream.
fn try_upgrade(addr: SocketAddr) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).expect("connect (the kernel accepts into the backlog)");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(upgrade_head("/ws").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let status = common::status_of(&String::from_utf8_lossy(&head));
    (status, stream)
}

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// The child: lower the limit, serve, print the port, stop when stdin closes.
fn child() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = CHILD_NOFILE;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    simple_logger::SimpleLogger::new().with_level(log::LevelFilter::Warn).init().unwrap();
    let server = common::start(wshub::Server::builder(), |socket| socket.emit("server-message", "welcome"));
    println!("PORT {}", server.local_addr.port());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// Exhausts the server's descriptors with held connections; the next
/// clients get 503 while the listener backs off (its CPU time is measured);
/// once the held connections close, new clients are served again.
#[test]
fn out_of_descriptors_refuses_with_503_backs_off_and_recovers() {
    if std::env::var("WSHUB_FD_CHILD").is_ok() {
        return child();
    }
    common::watchdog(120);
    let mut server = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "out_of_descriptors_refuses_with_503_backs_off_and_recovers", "--nocapture"])
        .env("WSHUB_FD_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child server");
    // Every line the child prints, read on a thread so its pipe never fills.
    let (lines_tx, lines) = unbounded::<String>();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| lines_tx.send(l)));
    let port = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("the child printed its port");
        if let Some(port) = line.strip_prefix("PORT ") {
            break port.parse::<u16>().unwrap();
        }
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    // 1. Hold connections until the server refuses one: it is out of descriptors.
    let mut held = Vec::new();
    let refused = loop {
        let (status, stream) = try_upgrade(addr);
        match status {
            101 => held.push(stream),
            503 => break stream,
            other => panic!("after {} clients: expected 101 or 503, got {other}", held.len()),
        }
        assert!(held.len() < CHILD_NOFILE as usize, "never ran out of descriptors");
    };
    drop(refused);
    println!("the server ran out of descriptors after {} clients", held.len());

    // 2. While exhausted: 50 more clients, all waiting at once; each gets 503.
    // The listener pauses 10 ms after each refusal, so this takes about half
    // a second; a busy loop would show as CPU time close to the wall time.
    let cpu_before = cpu_time(server.id());
    let started = Instant::now();
    let waiting: Vec<_> = (0..50).map(|_| std::thread::spawn(move || try_upgrade(addr).0)).collect();
    let statuses: Vec<u16> = waiting.into_iter().map(|t| t.join().unwrap()).collect();
    let (wall, cpu) = (started.elapsed(), cpu_time(server.id()) - cpu_before);
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    println!("while exhausted: {refused}/50 clients got 503; server CPU {cpu:?} in {wall:?} of wall time");
    assert!(statuses.iter().all(|&s| s == 503), "{statuses:?}");
    // A busy loop would use about as much CPU as wall time.
    assert!(cpu < wall / 2 + Duration::from_millis(200), "the listener spins: {cpu:?} CPU in {wall:?}");

    // 3. Free the descriptors: new clients are served again.
    drop(held);
    let recovered = common::wait_until(Duration::from_secs(10), || try_upgrade(addr).0 == 101);
    assert!(recovered, "the server did not recover after descriptors were freed");

    let logged: Vec<String> = lines.try_iter().filter(|l| l.contains("backing off")).collect();
    println!("the listener logged {} back-off lines, e.g. {:?}", logged.len(), logged.first());
    assert!(!logged.is_empty(), "the listener did not log that it was out of descriptors");
    drop(server.stdin.take()); // the child stops when its stdin closes
    assert!(server.wait().unwrap().success());
}
