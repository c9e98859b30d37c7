//! A connection thread's stack: why an idle client keeps only a few pages.
//!
//! Each client has a thread, and each thread a stack (256 KiB reserved,
//! [`Config::connection_stack_size`](crate::Config::connection_stack_size)).
//! Reserved stack costs nothing; a page costs 4 KiB of RSS from the first
//! time it is touched until the thread ends, even when the frame that
//! touched it returned long ago. A client's setup (reading the request head,
//! the upgrade, tungstenite's setup, the application's `on_connection`, a
//! socket.io CONNECT) runs deep, in big frames; its loop, which is where an
//! idle client spends its life, is shallow. Measured on the bench server
//! (`bench/compare.sh`, idle rows) an idle thread kept 5 pages (`/ws`) or
//! 6 pages (socket.io) before this.
//!
//! So the setup runs in frames that return before the loop starts (the
//! listener's thread calls `front::serve`, which hands the client back
//! ready to run), and then [`release_unused`] gives the pages below the
//! loop's frame back to the kernel. The loop touches again what it uses, and
//! no more. Three more things keep that depth under two pages (the top one
//! holds glibc's thread descriptor and the thread-local storage, ~4 KiB):
//! the loop works on the client by reference, where the thread's top frame
//! keeps it (no copy per frame); message and deadline handling are never
//! inlined into the loop's frame; and the TLS read, with its 4 KiB buffer,
//! is a function of its own (`Conn::read_tls`). The result, idle, measured
//! with `/proc/PID/pagemap`: 2 pages per thread for both protocols, the
//! blocked `recv` 7.7–7.9 KiB below the top. A frame that grows by a few
//! hundred bytes there costs a page per client: check with
//! `loadgen idle` after changing the loop.

use std::mem::MaybeUninit;

/// What is kept below the caller's frame: this function's own frame and
/// the system calls it makes. Generous, since what is below is discarded.
const KEEP_BELOW: usize = 512;

/// Gives the kernel back the pages of this thread's stack that lie below
/// the caller's frame (they read as zeros if touched again, which is all a
/// stack below its pointer may hold). Call it between a client's setup and
/// its loop, at the loop's depth. Costs three system calls, once per client.
/// Does nothing where the thread's stack cannot be found.
#[inline(never)]
pub(crate) fn release_unused() {
    let here = 0u8;
    // The lowest address in use is below this local (our own frame, then
    // madvise's); keep a margin and discard whole pages under it.
    let keep_from = (std::ptr::addr_of!(here) as usize).saturating_sub(KEEP_BELOW);
    let Some(lowest) = stack_lowest_address() else { return };
    let page = page_size();
    let end = keep_from & !(page - 1);
    let start = (lowest + page - 1) & !(page - 1);
    if end <= start {
        return;
    }
    // SAFETY: [start, end) is part of this thread's own stack mapping, below
    // every live frame of this thread (the margin covers ours and the
    // system call's); nothing points there. MADV_DONTNEED on private
    // anonymous memory only drops the pages: the next touch maps a zeroed one.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

/// The lowest usable address of this thread's stack (above its guard page).
fn stack_lowest_address() -> Option<usize> {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; it is
    // read only after success and destroyed once.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let found = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (found == 0 && !addr.is_null()).then_some(addr as usize)
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}
