//! A real `redis-server` (Debian's) for the cluster tests: on a free
//! loopback port, persistence off, stopped by its pid when dropped, and
//! restartable on the same port for fault tests.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::require;

/// One redis-server process.
pub struct RedisServer {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
    /// Its working directory (it writes nothing there with persistence off,
    /// but a stray dump must not land in the repository).
    dir: PathBuf,
}

/// True when redis-server is installed; else a loud skip (a failure with
/// `WSHUB_NO_SKIP=1`).
pub fn redis_ready() -> bool {
    require("redis-server (apt-get install redis-server)", super::has_program("redis-server"))
}

/// A port that was free a moment ago, on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// Starts redis-server on a free port and returns once it accepts
    /// connections. `None` (after a loud skip) when it is not installed.
    pub fn start() -> Option<RedisServer> {
        if !redis_ready() {
            return None;
        }
        // Another process may take the port between `free_port` and the
        // bind; then try another.
        for _ in 0..5 {
            let mut server = RedisServer::not_started(free_port());
            if server.launch() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// A server for `port` that is not running yet: [`restart`](Self::restart)
    /// starts it (for tests where Redis comes up after the client).
    pub fn not_started(port: u16) -> RedisServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wshub-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("redis work dir");
        RedisServer { port, child: None, dir }
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain connection, for the test's own commands.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url()).expect("url").get_connection().expect("connect to redis-server")
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.launch(), "redis-server did not start again on port {}", self.port);
    }

    /// Starts the process and reads its log until it is ready (true) or
    /// it exits, e.g. because the port is taken (false).
    fn launch(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--loglevel", "notice"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // Bounded: redis-server logs "Ready to accept connections" or exits.
        let mut log = Vec::new();
        let ready = lines.by_ref().map_while(Result::ok).any(|line| {
            let ready = line.contains("Ready to accept connections");
            log.push(line);
            ready
        });
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("redis-server on port {} did not start:\n{}", self.port, log.join("\n"));
            return false;
        }
        // Keep reading its log so that a full pipe never blocks it.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        self.child = Some(child);
        true
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
