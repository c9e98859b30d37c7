//! A real nginx (Debian's) in front of wshub nodes, for the scale-out tests:
//! on a free loopback port, its files in a folder of its own, one process
//! (`master_process off`), stopped by its pid when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::redis_server::free_port;
use super::{require, wait_until};

/// One nginx process proxying to some upstream servers.
pub struct Nginx {
    /// Where it listens, on 127.0.0.1.
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

/// The nginx binary, if installed (Debian puts it in /usr/sbin).
fn nginx_binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| std::path::Path::new(p).exists())
}

/// True when nginx is installed; else a loud skip (a failure with `WSHUB_NO_SKIP=1`).
pub fn nginx_ready() -> bool {
    require("nginx (apt-get install nginx)", nginx_binary().is_some())
}

impl Nginx {
    /// Starts nginx in front of `upstreams`, keeping each client on one of
    /// them by `balance` (an nginx upstream directive, e.g.
    /// `hash $remote_addr consistent;`), with the WebSocket upgrade passed
    /// through. `None` (after a loud skip) when nginx is not installed.
    pub fn start(upstreams: &[SocketAddr], balance: &str) -> Option<Nginx> {
        if !nginx_ready() {
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wshub-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("nginx work dir");
        let servers: String = upstreams.iter().map(|a| format!("        server {a};\n")).collect();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
             \x20   upstream wshub {{\n        {balance}\n{servers}    }}\n\
             \x20   server {{\n        listen 127.0.0.1:{port};\n        location / {{\n\
             \x20           proxy_pass http://wshub;\n            proxy_http_version 1.1;\n\
             \x20           proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n\
             \x20           proxy_set_header Host $host;\n            proxy_read_timeout 3600s;\n        }}\n    }}\n}}\n"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).expect("write nginx.conf");
        let child = Command::new(nginx_binary().expect("nginx"))
            .args(["-p", &dir.display().to_string(), "-c", &conf.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let up = wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok());
        assert!(
            up,
            "nginx did not listen on {addr}: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        Some(Nginx { addr, child, dir })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
