//! `tests/cluster/node-node.mjs` driven from Rust: a Node socket.io 4.8
//! server with `@socket.io/redis-adapter` 8.x as one node of a cluster,
//! commands on its stdin, what it sees as JSON lines on its stdout.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crossbeam_channel::{unbounded, Receiver};
use serde_json::{json, Value};

use super::redis_server::RedisServer;
use super::READ_TIMEOUT;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One `node-node.mjs` process: commands on stdin, JSON lines on stdout.
pub struct NodeNode {
    pub child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    /// Lines read while waiting for another one.
    backlog: VecDeque<Value>,
    next_id: u64,
    /// The adapter's uid in `/` (each namespace's adapter has its own).
    pub uid: String,
    pub uid_admin: String,
}

impl NodeNode {
    pub fn start(redis: &RedisServer, args: &[&str]) -> NodeNode {
        let mut child = Command::new("node")
            .arg(root().join("tests/cluster/node-node.mjs"))
            .arg(redis.url())
            .args(args)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or_else(|_| json!({ "unparsed": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("stdin");
        let mut node = NodeNode {
            child,
            stdin,
            lines,
            backlog: VecDeque::new(),
            next_id: 1,
            uid: String::new(),
            uid_admin: String::new(),
        };
        let ready = node.wait(|v| v["ready"] == json!(true));
        node.uid = ready["uids"]["/"].as_str().expect("uid of /").to_string();
        node.uid_admin = ready["uids"]["/admin"].as_str().expect("uid of /admin").to_string();
        node
    }

    /// Sends a command; returns its id, for [`reply`](Self::reply).
    pub fn send(&mut self, mut command: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        writeln!(self.stdin, "{command}").expect("write to node");
        id
    }

    /// The result of command `id` (panics on its error).
    pub fn reply(&mut self, id: u64) -> Value {
        let line = self.wait(|v| v["id"] == json!(id));
        assert!(line.get("error").is_none(), "node command {id} failed: {line}");
        line["ok"].clone()
    }

    pub fn call(&mut self, command: Value) -> Value {
        let id = self.send(command);
        self.reply(id)
    }

    /// Starts a socket.io client of this node's own; returns its socket id.
    pub fn client(&mut self, name: &str, nsp: &str, rooms: &[&str]) -> String {
        let me =
            self.call(json!({ "cmd": "client", "name": name, "nsp": nsp, "rooms": rooms, "data": { "user": name } }));
        me["id"].as_str().expect("socket id").to_string()
    }

    /// The next event client `name` received: (event, args).
    pub fn client_event(&mut self, name: &str) -> (String, Value) {
        let line = self.wait(|v| v["client"] == json!(name) && v.get("event").is_some());
        (line["event"].as_str().unwrap_or_default().to_string(), line["args"].clone())
    }

    /// The first line (read before or now) that `matches`; the others stay.
    pub fn wait(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&matches) {
            return self.backlog.remove(i).unwrap_or_default();
        }
        loop {
            match self.lines.recv_timeout(READ_TIMEOUT) {
                Ok(line) if matches(&line) => return line,
                Ok(line) => self.backlog.push_back(line),
                Err(_) => panic!("node-node did not print the expected line; it printed: {:?}", self.backlog),
            }
        }
    }
}

impl Drop for NodeNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
