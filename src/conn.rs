//! [`Conn`]: a connection's bytes, plain TCP or TLS over it.
//!
//! Three kinds of code move a client's bytes, and with TLS each must go
//! through the client's TLS session (rustls's `ServerConnection`), which is
//! one state machine for both directions:
//!
//! ```text
//! the HTTP stage (conn-N)     reads the request, writes the answer: blocking, under deadlines
//! the connection's reader     blocks in read until bytes come or its deadline passes (conn-N)
//! the outlet's writers        the hub, handlers, any thread: one send that never blocks
//! ```
//!
//! So a `Conn` is the socket and, for TLS, the session behind a lock of its
//! own. The reader never holds that lock while it waits: it reads raw bytes
//! from the socket first, then feeds them to the session under the lock and
//! takes out the plaintext. A writer encrypts under the same lock and sends
//! the records with one non-blocking `send`; records the socket cannot take
//! yet stay in the session, first in line, and the outlet's backlog waits
//! behind them ([`Conn::has_unsent`]), so the hub drains them as it drains
//! any backlog. Without TLS every call is the plain socket call.
//!
//! The TLS handshake happens inside the first reads of the HTTP stage, so
//! the handshake timeout covers it: a client that connects and sends
//! nothing is dropped like any silent client. A client that speaks plain
//! HTTP to a TLS port gets a plain `400` that says so, and the connection
//! closes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection};

use crate::http::Response;

/// Raw bytes read from the socket at once, before TLS turns them into
/// plaintext (a TLS record is at most 16 KiB; a smaller read just takes
/// more turns).
const RAW_READ: usize = 4096;

/// One client's connection. See the [module docs](self).
#[derive(Debug)]
pub struct Conn {
    tcp: TcpStream,
    /// Boxed: a TLS session is over a kilobyte, and a plain connection
    /// (most of them, each in an `Arc` for its whole life) should not carry
    /// the room for one.
    tls: Option<Box<Mutex<Tls>>>,
}

/// A connection's TLS session, and the bytes read for it that it has not
/// taken yet.
#[derive(Debug)]
struct Tls {
    session: ServerConnection,
    unread: Vec<u8>,
}

impl Conn {
    /// A plain TCP connection.
    pub fn plain(tcp: TcpStream) -> Conn {
        Conn { tcp, tls: None }
    }

    /// A TLS connection on `tcp`, its handshake still to come (it runs in
    /// the first reads).
    pub fn tls(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Conn> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Conn { tcp, tls: Some(Box::new(Mutex::new(Tls { session, unread: Vec::new() }))) })
    }

    /// True when the bytes are encrypted (https, wss).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The socket itself (to clone it for a shutdown from another thread,
    /// or to read its addresses).
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    /// Reads give up after `timeout` (`None`: wait as long as it takes).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(timeout)
    }

    /// Blocking writes (the HTTP stage's) give up after `timeout`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_write_timeout(timeout)
    }

    /// Sends small writes at once (a WebSocket frame must not wait for more).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.tcp.set_nodelay(nodelay)
    }

    fn lock(tls: &Mutex<Tls>) -> MutexGuard<'_, Tls> {
        tls.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ANCHOR: read
    /// Reads plaintext: blocks on the socket (never under the TLS lock)
    /// until bytes come or the read timeout passes. `Ok(0)` is the end of
    /// the stream.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.tls {
            None => (&self.tcp).read(buf),
            Some(tls) => self.read_tls(tls, buf),
        }
    }

    /// [`read`](Self::read) over TLS. A function of its own, never inlined:
    /// its 4 KiB buffer would otherwise be in the frame of every plain read
    /// too, one page deeper on the stack of every idle thread (src/stack.rs).
    #[inline(never)]
    fn read_tls(&self, tls: &Mutex<Tls>, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; RAW_READ];
        loop {
            {
                let mut tls = Conn::lock(tls);
                tls.take_unread(&self.tcp)?;
                match tls.session.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {} // no plaintext yet
                    // TCP ended without TLS's close_notify: an end all the same.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
            }
            let n = (&self.tcp).read(&mut raw)?;
            let mut tls = Conn::lock(tls);
            if n == 0 {
                tls.session.read_tls(&mut &[][..])?; // the end of the stream
                let _ = tls.session.process_new_packets();
            }
            tls.unread.extend_from_slice(&raw[..n]);
        }
    }
    // ANCHOR_END: read

    // ANCHOR: send_now
    /// One write that never blocks, for the outlet: returns how many of
    /// `bytes` the connection took (0 when it took none). Without TLS that
    /// is one `send` with `MSG_DONTWAIT`. With TLS the records still unsent
    /// go first; then `bytes` are encrypted (all of them, or as many as
    /// the session buffers) and sent as far as the socket takes them; the
    /// rest of the records wait in the session ([`has_unsent`](Self::has_unsent)).
    pub fn send_now(&self, bytes: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else { return send_now(&self.tcp, bytes) };
        let session = &mut Conn::lock(tls).session;
        if !flush(session, &self.tcp)? {
            return Ok(0); // older records first: nothing may overtake them
        }
        let taken = session.writer().write(bytes)?;
        flush(session, &self.tcp)?;
        Ok(taken)
    }
    // ANCHOR_END: send_now

    /// True while TLS records wait for the socket to take them.
    pub fn has_unsent(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| Conn::lock(tls).session.wants_write())
    }

    /// Sends waiting TLS records as far as the socket takes them, without
    /// blocking: returns whether any bytes moved, and whether none are left.
    pub fn flush_unsent(&self) -> io::Result<(bool, bool)> {
        let Some(tls) = &self.tls else { return Ok((false, true)) };
        let (sent, done) = flush_counting(&mut Conn::lock(tls).session, &self.tcp)?;
        Ok((sent > 0, done))
    }

    /// Shuts the socket down (`Write`: our side is done; `Both`: also
    /// wakes a thread blocked reading it). With TLS a `close_notify` goes
    /// first, if the socket takes it now.
    pub fn shutdown(&self, how: Shutdown) {
        if let Some(tls) = &self.tls {
            let session = &mut Conn::lock(tls).session;
            session.send_close_notify();
            let _ = flush(session, &self.tcp);
        }
        let _ = self.tcp.shutdown(how);
    }
}

/// The HTTP stage's reads.
impl Read for &Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Conn::read(self, buf)
    }
}

/// The HTTP stage's writes: blocking (under the socket's write timeout),
/// before any outlet writes to this connection.
impl Write for &Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else { return (&self.tcp).write(buf) };
        let session = &mut Conn::lock(tls).session;
        let n = session.writer().write(buf)?;
        while session.wants_write() {
            session.write_tls(&mut &self.tcp)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.tcp).flush()
    }
}

impl Tls {
    /// Gives the session the bytes read for it, as far as it takes them,
    /// and sends what it answers (handshake messages, alerts). A client
    /// that spoke plain HTTP to this port gets a plain answer that says so.
    fn take_unread(&mut self, tcp: &TcpStream) -> io::Result<()> {
        while !self.unread.is_empty() {
            let plain_http = self.session.is_handshaking() && self.unread[0].is_ascii_uppercase();
            let took = self.session.read_tls(&mut &self.unread[..])?;
            self.unread.drain(..took);
            if let Err(error) = self.session.process_new_packets() {
                if !plain_http {
                    let _ = flush(&mut self.session, tcp); // the alert that says why
                }
                return Err(refused(error, plain_http, tcp));
            }
            let _ = flush(&mut self.session, tcp); // a writer sends what the socket cannot take now
            if took == 0 {
                break; // the session holds all it can: its plaintext must be read first
            }
        }
        Ok(())
    }
}

/// A TLS error while reading. A client that spoke plain HTTP to this port
/// gets a plain `400` instead of bytes it cannot read.
fn refused(error: rustls::Error, plain_http: bool, tcp: &TcpStream) -> io::Error {
    if plain_http {
        let answer = Response::refusal(400, "this port speaks TLS: use https:// or wss://");
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = answer.write_to(&mut &*tcp, false);
        let _ = tcp.shutdown(Shutdown::Write);
        return io::Error::new(io::ErrorKind::InvalidData, "a plain HTTP request on the TLS port (answered 400)");
    }
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {error}"))
}

/// Writes the session's waiting records to `tcp` without blocking: true
/// when none are left.
fn flush(session: &mut ServerConnection, tcp: &TcpStream) -> io::Result<bool> {
    flush_counting(session, tcp).map(|(_, done)| done)
}

/// [`flush`], also saying how many bytes went out.
fn flush_counting(session: &mut ServerConnection, tcp: &TcpStream) -> io::Result<(usize, bool)> {
    let mut sent = 0;
    while session.wants_write() {
        match session.write_tls(&mut NonBlocking(tcp)) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((sent, false)),
            Err(e) => return Err(e),
        }
    }
    Ok((sent, true))
}

/// A socket seen through [`send_now`]: rustls writes its records with it.
struct NonBlocking<'a>(&'a TcpStream);

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match send_now(self.0, buf)? {
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One `send` that never blocks: `MSG_DONTWAIT` makes this one call
/// non-blocking while the socket stays blocking for its connection thread's
/// `read`; `MSG_NOSIGNAL` turns a vanished peer into an error instead of a
/// SIGPIPE. Returns how many bytes the kernel took (0 when it took none).
fn send_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the pointer and length describe `bytes`, alive for the call;
        // the descriptor belongs to `stream`, which outlives it.
        let n = unsafe {
            libc::send(stream.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(error),
        }
    }
}

/// The same reads and writes on an owned `Conn` (the HTTP stage owns its connection).
impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Conn::read(self, buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl crate::http::Input for Conn {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Conn::set_read_timeout(self, timeout)
    }
}

/// The certificate chain and private key of a TLS server, from PEM: what
/// [`ServerBuilder::tls`](crate::ServerBuilder::tls) checks at `bind`.
/// Errors name what is wrong (no certificate, no key, a key that does not
/// match the certificate), as `InvalidInput`.
pub fn server_config(cert_chain_pem: &[u8], private_key_pem: &[u8]) -> io::Result<Arc<ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS: {what}"));
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the certificate chain is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no certificate (\"-----BEGIN CERTIFICATE-----\") in the certificate chain".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(private_key_pem)
        .map_err(|e| invalid(format!("no private key in the key file: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("the certificate and the key do not go together: {e}")))?;
    // wshub speaks HTTP/1.1 only: a browser must not try HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
