//! The process's tokio runtime, rebuilt after `fork`.
//!
//! One multi-thread runtime (two workers named `kafka_rs-worker`) serves every client in the
//! process. It is built on first use. tokio's worker threads do not survive `fork(2)`: a child
//! sees the parent's runtime in memory but none of its threads, so every task, timer and socket
//! that belonged to it is dead. So the runtime remembers the *generation* it was built in; the
//! generation is bumped by a `pthread_atfork` child handler, and [`handle`] builds a fresh runtime
//! when the numbers differ.
//!
//! The parent's runtime is leaked in the child, never dropped: dropping a runtime joins its
//! worker threads, which do not exist in the child, so the drop would hang forever (also when
//! the child merely exits). Objects that own tasks or sockets of a runtime must do the same:
//! record [`generation`] when they are created and, when [`is_current`] says it has changed,
//! `std::mem::forget` their runtime-owned parts instead of dropping them.
//!
//! The same `pthread_atfork` registration makes the child let go of the parent's broker sockets
//! right away (before `fork` returns there, whether or not the child ever uses kafka_rs): each is
//! replaced by `/dev/null`, so the parent's connections are the parent's alone and the leaked
//! objects' descriptor numbers are never reused (see `kafka_rs_core::connection::sockets`).
//!
//! The check costs one atomic load on the fast path. `std::process::id()` would be a `getpid`
//! system call (about 100 ns on this class of machine), which is why a fork counter is used.

use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

use kafka_rs_core::connection::sockets;
use tokio::runtime::{Builder, Handle, Runtime};

/// Number of tokio worker threads.
const WORKER_THREADS: usize = 2;

/// Bumped in the child after every `fork(2)` (also forks by other native code, since it is a
/// `pthread_atfork` handler). Starts at 1 so that 0 never names a live generation.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(1);

/// The current runtime. Entries are leaked: the pointer stays valid for the life of the process
/// (forked children included), which keeps the fast path lock-free.
static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(ptr::null_mut());

static REGISTER_ATFORK: Once = Once::new();

struct ProcessRuntime {
    runtime: Runtime,
    generation: u64,
    pid: u32,
}

extern "C" {
    fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> c_int;
}

/// Runs in the parent just before `fork(2)`: holds the socket registry still across the fork.
unsafe extern "C" fn before_fork() {
    sockets::before_fork();
}

/// Runs in the parent right after `fork(2)`.
unsafe extern "C" fn after_fork_in_parent() {
    sockets::after_fork_in_parent();
}

/// Runs in the child right after `fork(2)`, before `fork` returns there: only one thread exists,
/// so it may only do async-signal-safe work: an atomic add, and the socket release (system
/// calls, no allocation).
unsafe extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
    // SAFETY: in the child, before any other thread exists, after `before_fork` ran.
    unsafe { sockets::after_fork_in_child() };
}

/// The runtime of this process (of this side of the last fork), built on first use.
pub fn runtime() -> &'static Runtime {
    let generation = FORK_GENERATION.load(Ordering::Acquire);
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: non-null pointers in CURRENT come from `Box::leak` and are never freed.
    if let Some(entry) = unsafe { current.as_ref() } {
        if entry.generation == generation {
            return &entry.runtime;
        }
    }
    build_for(generation, current)
}

/// A handle to [`runtime`], for spawning tasks or entering its context.
pub fn handle() -> Handle {
    runtime().handle().clone()
}

/// The fork generation this process is in. A value saved by an object that owns runtime tasks or
/// sockets says which runtime they belong to; compare it with [`is_current`].
pub fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Whether `generation` (saved earlier from [`generation`]) is still this process's: false in a
/// forked child for anything made by the parent. Such objects must be leaked, not dropped.
pub fn is_current(generation: u64) -> bool {
    generation == FORK_GENERATION.load(Ordering::Acquire)
}

/// The pid the current runtime was built in, if one has been built (diagnostics).
pub fn runtime_pid() -> Option<u32> {
    // SAFETY: as in `runtime`.
    unsafe { CURRENT.load(Ordering::Acquire).as_ref() }.map(|entry| entry.pid)
}

/// The pid of this process (a system call: not for hot paths).
pub fn current_pid() -> u32 {
    std::process::id()
}

#[cold]
fn build_for(generation: u64, mut seen: *mut ProcessRuntime) -> &'static Runtime {
    REGISTER_ATFORK.call_once(|| {
        // SAFETY: registers handlers that only take or release a spin lock, or (in the child)
        // make async-signal-safe calls.
        let rc = unsafe {
            pthread_atfork(
                Some(before_fork),
                Some(after_fork_in_parent),
                Some(after_fork_in_child),
            )
        };
        assert_eq!(rc, 0, "pthread_atfork failed ({rc})");
    });
    let runtime = Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("kafka_rs-worker")
        .enable_all()
        .build()
        .expect("kafka_rs: cannot start the tokio runtime");
    let fresh = Box::into_raw(Box::new(ProcessRuntime {
        runtime,
        generation,
        pid: std::process::id(),
    }));
    loop {
        match CURRENT.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The replaced entry (if any) belongs to an earlier generation: it stays leaked.
            Ok(_) => {
                // SAFETY: `fresh` was just leaked and is now published for good.
                return unsafe { &(*fresh).runtime };
            }
            Err(other) => {
                // SAFETY: as in `runtime`.
                let entry = unsafe { &*other };
                if entry.generation == generation {
                    // Another thread built this generation's runtime first. Ours was never
                    // used; shutting it down in the same process it was built in is safe.
                    // SAFETY: `fresh` was never published.
                    let unused = unsafe { Box::from_raw(fresh) };
                    unused.runtime.shutdown_background();
                    return &entry.runtime;
                }
                seen = other;
            }
        }
    }
}

/// A value owned by one fork generation: built on first use in each process, leaked (never
/// dropped) in a forked child that inherited the parent's. Core producers, which own tasks of
/// the parent's runtime, live in one of these.
pub struct PerFork<T> {
    slot: std::sync::Mutex<Option<(u64, std::sync::Arc<T>)>>,
}

impl<T> Default for PerFork<T> {
    fn default() -> Self {
        PerFork {
            slot: std::sync::Mutex::new(None),
        }
    }
}

impl<T> PerFork<T> {
    /// This generation's value, built by `build` (inside the runtime's context) if there is
    /// none yet or the one there belongs to the parent of a fork.
    /// This generation's value if it was built.
    pub fn get(&self) -> Option<std::sync::Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref()
            .filter(|(generation, _)| is_current(*generation))
            .map(|(_, value)| value.clone())
    }

    pub fn get_or_build(&self, build: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((generation, value)) = slot.as_ref() {
            if is_current(*generation) {
                return value.clone();
            }
        }
        if let Some(old) = slot.take() {
            std::mem::forget(old);
        }
        let _context = runtime().enter();
        let value = std::sync::Arc::new(build());
        *slot = Some((generation(), value.clone()));
        value
    }
}

impl<T> Drop for PerFork<T> {
    fn drop(&mut self) {
        let slot = self.slot.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some((generation, value)) = slot.take() {
            if is_current(generation) {
                // Dropped inside the runtime: a core producer's tasks wind down there.
                let _context = runtime().enter();
                drop(value);
            } else {
                std::mem::forget(value);
            }
        }
    }
}
