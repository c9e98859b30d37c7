//! The reader thread `conn-N-rx` and the [`Inbox`] stream it feeds.
//!
//! A blocking socket cannot be read and written by one thread at the same
//! time: while the connection thread sits in `read`, it cannot send the
//! broadcast the hub just handed it. And tungstenite's `WebSocket` cannot be
//! shared by two threads (it answers pings and closes by itself). So:
//!
//! - the reader thread does nothing but `read` raw bytes and pass them on;
//! - the connection thread owns the only `WebSocket`, built over an [`Inbox`]
//!   whose `read` serves those bytes and whose `write` goes straight to the
//!   socket. When the bytes run out, `Inbox::read` says `WouldBlock`, and the
//!   connection thread goes back to waiting on its channels.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::socket::SocketId;

/// Bytes the reader thread passes on. An empty chunk means the peer closed
/// (or the socket failed): there will be no more.
pub type Chunk = Vec<u8>;

/// Inbound chunks that may wait for the connection thread. When they pile up
/// (a slow handler), the reader thread blocks and TCP slows the client down.
const INBOUND_CHUNKS: usize = 16;
/// The reader thread only copies bytes: a small stack is plenty.
const READER_STACK: usize = 64 * 1024;

/// Starts the reader thread `conn-{id}-rx` on `stream` and returns it with
/// the receiving end of its bounded channel of chunks.
pub fn spawn(
    stream: Arc<TcpStream>,
    id: SocketId,
    buffer_size: usize,
) -> io::Result<(JoinHandle<()>, Receiver<Chunk>)> {
    let (tx, inbound) = bounded::<Chunk>(INBOUND_CHUNKS);
    let handle = thread::Builder::new()
        .name(format!("conn-{id}-rx"))
        .stack_size(READER_STACK)
        .spawn(move || read_loop(stream, tx, buffer_size))?;
    Ok((handle, inbound))
}

// ANCHOR: read_loop
/// The reader thread's whole job: socket → channel until EOF or error.
///
/// The channel is bounded: when the connection thread is busy (a slow handler),
/// the reader blocks in `send`, stops reading, and TCP flow control slows the
/// client down. Memory per connection stays bounded.
///
/// Why `peek` first: an idle client's reader spends its life blocked here, and
/// a buffer held across that wait is 4 KiB of RSS per idle connection. Waiting
/// in a 1-byte `peek` and allocating the buffer only once bytes are there
/// costs one more syscall per inbound chunk and saves those 4 KiB (measured:
/// 33.2 → 29.2 KiB RSS per idle connection). The buffer is then passed on
/// whole, without the copy a reused buffer needed.
pub fn read_loop(stream: Arc<TcpStream>, inbound: Sender<Chunk>, buffer_size: usize) {
    loop {
        let mut probe = [0u8; 1];
        let read = stream.peek(&mut probe).and_then(|n| {
            if n == 0 {
                return Ok(Chunk::new()); // EOF
            }
            let mut chunk = vec![0u8; buffer_size];
            let n = (&*stream).read(&mut chunk)?;
            chunk.truncate(n);
            Ok(chunk)
        });
        match read {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => {
                if inbound.send(chunk).is_err() {
                    return; // the connection thread is gone: nobody to read for
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("read failed: {e}");
                break;
            }
        }
    }
    let _ = inbound.send(Chunk::new()); // EOF
}
// ANCHOR_END: read_loop

/// The stream tungstenite reads from and writes to on the connection thread.
///
/// Reads come from bytes the reader thread forwarded; writes go to the socket.
#[derive(Debug)]
pub struct Inbox {
    /// Forwarded bytes not yet consumed by tungstenite.
    pending: Vec<u8>,
    /// How much of `pending` tungstenite has already read.
    pos: usize,
    /// The reader thread reported EOF: after `pending`, reads return 0.
    eof: bool,
    /// The socket, for writing only (the reader thread owns reading; it
    /// shares this same socket).
    stream: Arc<TcpStream>,
}

impl Inbox {
    /// An inbox writing to `stream`, with nothing to read yet.
    pub fn new(stream: Arc<TcpStream>) -> Inbox {
        Inbox { pending: Vec::new(), pos: 0, eof: false, stream }
    }

    /// Hands over a chunk from the reader thread (empty = EOF).
    pub fn push(&mut self, chunk: Chunk) {
        if chunk.is_empty() {
            self.eof = true;
        } else if self.pos == self.pending.len() {
            // Everything was consumed: take the chunk as it is, no copy.
            self.pending = chunk;
            self.pos = 0;
        } else {
            self.pending.drain(..self.pos);
            self.pos = 0;
            self.pending.extend_from_slice(&chunk);
        }
    }

    /// The socket, to shut it down.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

// ANCHOR: inbox_read
impl Read for Inbox {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.pending[self.pos..];
        if available.is_empty() {
            if self.eof {
                return Ok(0);
            }
            // Not an error: "nothing now, ask again when more bytes arrive".
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        if self.pos == self.pending.len() {
            // Release the chunk's memory right away: idle connections stay small.
            self.pending = Vec::new();
            self.pos = 0;
        }
        Ok(n)
    }
}
// ANCHOR_END: inbox_read

impl Write for Inbox {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match (&*self.stream).write(buf) {
            // The write timeout passed: the client stopped reading. On Unix
            // that shows up as `WouldBlock`, which tungstenite takes for
            // "try again later" and which our loop reads as "no more inbound
            // bytes", so a client that floods pings and never reads the
            // pongs would keep its thread forever. Report a failure instead.
            Err(e) if crate::http::is_timeout(&e) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out: the client is not reading"))
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.stream).flush()
    }
}
