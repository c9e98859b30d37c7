//! The physical floor: a raw TCP echo server, thread per connection like
//! wshub, `TCP_NODELAY` like wshub. No framing, no JSON, no hand-off between
//! threads: one `read`, one `write`. wshub's echo cannot be faster than this.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

pub fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("tcp-echo listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // Same small stack as wshub's connection threads.
        let _ = thread::Builder::new().stack_size(64 * 1024).spawn(move || echo(stream));
    }
    Ok(())
}

fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}
