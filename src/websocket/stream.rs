//! [`Stream`]: what tungstenite reads from and writes to.
//!
//! tungstenite's `WebSocket` wants one value that is both `Read` and
//! `Write`. Ours splits the two directions:
//!
//! - **reads** block on the socket itself, on the connection thread, until
//!   bytes come or the thread's next **deadline** passes (a ping to send, a
//!   client silent for too long). That read timeout is the only timer a
//!   connection has: an idle client costs one wake-up per deadline, never a
//!   poll loop;
//! - **writes** (tungstenite's own: pongs, the reply to a client's Close)
//!   go through the client's [`Outlet`], in line with everything the hub and
//!   the handlers write, and never block.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::hub::Outlet;

/// How far a read may overshoot its deadline before the socket's timeout
/// is set again. Setting it costs a system call; re-arming only when the
/// one set is off by more than this keeps that to a few per second.
const SLACK: Duration = Duration::from_millis(10);

/// The connection thread's view of its socket. See the [module docs](self).
pub struct Stream {
    socket: Arc<Conn>,
    outlet: Arc<Outlet>,
    /// When the current read must give up (`None`: wait as long as it takes).
    deadline: Option<Instant>,
    /// The read timeout set on the socket now.
    armed: Option<Duration>,
}

impl Stream {
    /// A stream reading `socket` and writing through `outlet`.
    pub fn new(socket: Arc<Conn>, outlet: Arc<Outlet>) -> Stream {
        Stream { socket, outlet, deadline: None, armed: None }
    }

    /// The socket, e.g. to shut it down.
    pub fn socket(&self) -> &Arc<Conn> {
        &self.socket
    }

    /// The outlet writes go through.
    pub fn outlet(&self) -> &Arc<Outlet> {
        &self.outlet
    }

    /// Writes go through `outlet` from now on (a socket.io upgrade hands the
    /// WebSocket to its session's outlet).
    pub fn set_outlet(&mut self, outlet: Arc<Outlet>) {
        self.outlet = outlet;
    }

    /// Reads give up at `deadline` with `ErrorKind::TimedOut`.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Sets the socket's read timeout to `wanted`, unless the one set is
    /// close enough.
    fn arm(&mut self, wanted: Option<Duration>) -> io::Result<()> {
        let close_enough = match (self.armed, wanted) {
            (None, None) => true,
            (Some(armed), Some(wanted)) => {
                armed <= wanted && wanted - armed <= SLACK || armed > wanted && armed - wanted <= SLACK
            }
            _ => false,
        };
        if !close_enough {
            self.socket.set_read_timeout(wanted)?;
            self.armed = wanted;
        }
        Ok(())
    }
}

// ANCHOR: read
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let wanted = match self.deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left.max(Duration::from_millis(1))),
                    _ => return Err(io::ErrorKind::TimedOut.into()),
                },
            };
            self.arm(wanted)?;
            match self.socket.read(buf) {
                // A signal, or a debugger that stopped the process: go on
                // waiting, for what is left of the deadline.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The socket's timeout, which may come before the deadline
                // (it is re-armed only now and then): look again.
                Err(e) if crate::http::is_timeout(&e) => continue,
                other => return other,
            }
        }
    }
}
// ANCHOR_END: read

// ANCHOR: write
impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outlet.write_own(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // every write went to the kernel or to the backlog already
    }
}
// ANCHOR_END: write
