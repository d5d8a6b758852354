//! The broker sockets this process has open, so that a forked child can let go of the ones it
//! inherited.
//!
//! After `fork(2)` a child holds a copy of every descriptor of its parent, including the parent's
//! broker sockets. The child never uses them (its connections belong to the parent's runtime,
//! whose threads do not exist in the child), but as long as the child holds them the parent's
//! sockets stay open: when the parent closes a connection, no FIN reaches the broker until
//! every child that inherited it has exited too. A web server that forks workers from a
//! preloaded app (Puma, Unicorn) would keep one copy of each of the parent's connections per
//! worker.
//!
//! Every socket the connection layer opens is recorded here (descriptor number, device and inode)
//! from the moment it is created until it is dropped. The host calls [`before_fork`],
//! [`after_fork_in_parent`] and [`after_fork_in_child`] from `pthread_atfork` handlers. In the
//! child, each recorded descriptor that still names the same socket is replaced by `/dev/null`
//! with `dup2`:
//!
//! * the child's reference to the socket is gone, so the socket's fate is the parent's alone;
//! * the descriptor *number* stays taken (by `/dev/null`, close-on-exec), so nothing the child
//!   opens later can get that number. The parent's connection objects, leaked in the child (see
//!   the binding's runtime module), still hold those numbers; were they ever used or dropped
//!   there, they would act on `/dev/null`, never on a file or socket of the child. `close` would
//!   free the numbers for reuse and leave that safety to the promise that nothing touches the
//!   leaked objects; the price of `dup2` is one descriptor per inherited socket.
//! * `shutdown(2)` is never used: it acts on the socket itself, so it would cut the parent's
//!   connection too.
//!
//! The registry is guarded by a spin lock that [`before_fork`] takes and the two `after_fork`
//! functions release, so a fork never copies the registry half-updated. Sockets are created
//! while the lock is held ([`open_registered`]), so no broker socket exists unrecorded at a fork.
//! The child's work is async-signal-safe: no allocation, only `open`, `fstat`, `dup2`, `fcntl`
//! and `close`. Entries are removed when their socket is dropped, which may come a moment after
//! the descriptor is closed: the inode check makes a stale entry (whose number now names
//! something else) harmless.

use std::cell::UnsafeCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    fd: RawFd,
    dev: u64,
    ino: u64,
}

struct Registry {
    locked: AtomicBool,
    entries: UnsafeCell<Vec<Entry>>,
}

// SAFETY: `entries` is only touched while `locked` is held (see `lock`), or in a forked child
// where the lock is held by the only thread (see `after_fork_in_child`).
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    locked: AtomicBool::new(false),
    entries: UnsafeCell::new(Vec::new()),
};

/// Sockets released by the last `after_fork_in_child` in this process (diagnostics, tests).
static RELEASED_AFTER_FORK: AtomicUsize = AtomicUsize::new(0);

fn lock() {
    while REGISTRY
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // Holders only run a few instructions or one system call.
        std::thread::yield_now();
    }
}

fn unlock() {
    REGISTRY.locked.store(false, Ordering::Release);
}

fn with_entries<T>(f: impl FnOnce(&mut Vec<Entry>) -> T) -> T {
    struct Unlock;
    impl Drop for Unlock {
        fn drop(&mut self) {
            unlock();
        }
    }
    lock();
    let _unlock = Unlock;
    // SAFETY: the lock is held until `_unlock` drops.
    f(unsafe { &mut *REGISTRY.entries.get() })
}

/// `fstat` of `fd`: its device and inode if it is a socket.
fn socket_identity(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: `stat` is plain data; `fstat` only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on any number is safe; a closed one is EBADF.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let identity = (st.st_dev as u64, st.st_ino as u64);
    (st.st_mode & libc::S_IFMT == libc::S_IFSOCK).then_some(identity)
}

/// A socket's entry in the registry, removed when this is dropped. Keep it as long as the socket
/// is open (dropping it a little later is harmless).
#[derive(Debug)]
pub struct SocketRegistration {
    entry: Option<Entry>,
}

impl Drop for SocketRegistration {
    fn drop(&mut self) {
        if let Some(entry) = self.entry {
            with_entries(|entries| entries.retain(|e| *e != entry));
        }
    }
}

impl SocketRegistration {
    /// For a stream that is no socket of this process (an in-memory pipe in tests).
    #[cfg(test)]
    pub(crate) fn unregistered() -> Self {
        SocketRegistration { entry: None }
    }
}

/// Creates a socket with `create` and records it, both under the registry's lock, so that a fork
/// can never happen between the two.
pub fn open_registered<S: AsRawFd>(
    create: impl FnOnce() -> io::Result<S>,
) -> io::Result<(S, SocketRegistration)> {
    with_entries(|entries| {
        let socket = create()?;
        let fd = socket.as_raw_fd();
        let entry = socket_identity(fd).map(|(dev, ino)| Entry { fd, dev, ino });
        if let Some(entry) = entry {
            // A stale entry for the same number (its socket closed, the entry not yet dropped)
            // names another inode; keep both, the inode check tells them apart.
            entries.push(entry);
        }
        Ok((socket, SocketRegistration { entry }))
    })
}

/// Number of sockets recorded (open, or closed a moment ago).
pub fn registered() -> usize {
    with_entries(|entries| entries.len())
}

/// How many inherited sockets the last fork released in this process (0 in a process that is not
/// a forked child, or whose parent had no broker socket open).
pub fn released_after_fork() -> usize {
    RELEASED_AFTER_FORK.load(Ordering::Relaxed)
}

/// For a `pthread_atfork` prepare handler: holds the registry's lock across the fork.
pub fn before_fork() {
    lock();
}

/// For a `pthread_atfork` parent handler: releases the lock [`before_fork`] took.
pub fn after_fork_in_parent() {
    unlock();
}

/// For a `pthread_atfork` child handler: replaces every inherited broker socket with `/dev/null`
/// (see the module docs), empties the registry and releases the lock [`before_fork`] took.
/// Returns how many sockets were released.
///
/// # Safety
///
/// Call only in a forked child, before any other thread exists, after [`before_fork`] ran in the
/// parent. Async-signal-safe.
pub unsafe fn after_fork_in_child() -> usize {
    // SAFETY: the lock was taken by `before_fork` on this thread, and this is the only thread.
    let entries = unsafe { &mut *REGISTRY.entries.get() };
    let mut released = 0;
    if !entries.is_empty() {
        // SAFETY: plain system calls on a static C string and descriptor numbers.
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        for entry in entries.iter() {
            if socket_identity(entry.fd) != Some((entry.dev, entry.ino)) {
                continue; // closed meanwhile: the number may name something else now
            }
            // SAFETY: `entry.fd` is the inherited socket (checked just above; no other thread
            // can change the descriptor table).
            let done = unsafe {
                if null >= 0 {
                    libc::dup2(null, entry.fd) == entry.fd
                        && libc::fcntl(entry.fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
                } else {
                    // No /dev/null (a bare chroot): free the number instead.
                    libc::close(entry.fd) == 0
                }
            };
            released += usize::from(done);
        }
        if null >= 0 {
            // SAFETY: our own descriptor.
            unsafe { libc::close(null) };
        }
        // No deallocation: the child's own sockets reuse the capacity.
        entries.clear();
    }
    RELEASED_AFTER_FORK.store(released, Ordering::Relaxed);
    unlock();
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_recorded_until_its_registration_drops() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = listener.as_raw_fd();
        let identity = socket_identity(fd).expect("a listener is a socket");
        let (listener, registration) = open_registered(|| Ok(listener)).unwrap();
        let entry = Entry {
            fd,
            dev: identity.0,
            ino: identity.1,
        };
        assert!(with_entries(|e| e.contains(&entry)));
        drop(registration);
        assert!(!with_entries(|e| e.contains(&entry)));
        drop(listener);
        assert_eq!(socket_identity(fd), None, "closed");
    }

    #[test]
    fn files_are_not_sockets() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(socket_identity(file.as_raw_fd()), None);
        assert_eq!(socket_identity(-1), None);
    }

    /// Forks for real: in the child (only async-signal-safe calls until `_exit`) the recorded
    /// socket must name `/dev/null`, the registry must be empty and the number still taken; in the
    /// parent the socket must be untouched.
    #[test]
    fn a_forked_child_releases_recorded_sockets_and_the_parent_keeps_them() {
        let (listener, _registration) =
            open_registered(|| std::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let fd = listener.as_raw_fd();
        let before = socket_identity(fd).unwrap();
        before_fork();
        // SAFETY: the child only makes async-signal-safe calls and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: in the child, right after fork, as `after_fork_in_child` requires.
            let released = unsafe { after_fork_in_child() };
            // SAFETY: `stat` is plain data.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fstat writes into `st` only.
            let ok = released >= 1
                && unsafe { libc::fstat(fd, &mut st) } == 0
                && st.st_mode & libc::S_IFMT == libc::S_IFCHR
                // SAFETY: reads a flag of our own descriptor.
                && unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0
                // SAFETY: the lock is free again and this is the only thread.
                && unsafe { (*REGISTRY.entries.get()).is_empty() }
                && !REGISTRY.locked.load(Ordering::Relaxed);
            // SAFETY: leaves the child without running anything of the parent's.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        after_fork_in_parent();
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
        assert_eq!(
            socket_identity(fd),
            Some(before),
            "the parent's socket is untouched"
        );
        assert!(listener.local_addr().is_ok());
    }
}
