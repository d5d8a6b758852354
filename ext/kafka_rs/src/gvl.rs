//! The one place that releases the GVL: [`block_on`] runs a future of the core to completion on
//! the calling Ruby thread while other Ruby threads run.
//!
//! ```text
//!  Ruby thread (GVL held)                     │ released region (no GVL)
//!  block_on(fut)                              │
//!    enter runtime context, pin fut           │
//!    loop:                                    │
//!      clear interrupt flag                   │
//!      rb_protect(rb_nogvl(poll_loop, ubf)) ──┼─> poll fut; park until woken (or, main
//!                                             │   thread not alone: 10 ms, then check
//!                                             │   rb_thread_interrupted); repeat
//!                                             │   returns Ready(v) | Interrupted | Panicked
//!      Ready(v)     -> Ok(v)                  │
//!      Panicked(m)  -> Err(KafkaRs::Error m)  │  ubf (any thread, maybe a signal handler):
//!      Interrupted  -> rb_protect(check_ints) │    set interrupt flag, unpark the thread
//!         raised    -> drop fut, Err(tag)     │
//!         nothing   -> loop (same future)     │
//! ```
//!
//! Invariants:
//! - `F: Send, F::Output: Send`: no Ruby value can enter the released region (compile-time).
//! - The future is polled only on the calling thread, inside the runtime's context; its I/O and
//!   timers are driven by the runtime's workers, which wake it through a waker that unparks
//!   this thread. No task is spawned per call.
//! - Interrupts (Thread#raise, Thread#kill, signals, Timeout) are run only after the region is
//!   left, under `rb_protect`, so no Ruby non-local exit crosses Rust frames. The future is
//!   dropped (that is the cancellation) before the exception continues in Ruby.
//! - The unblocking function is flagged `RB_NOGVL_UBF_ASYNC_SAFE`: without the flag Ruby starts
//!   and kills a helper thread on every call made by a lone main thread (about 50 µs). The flag
//!   is honest: the function only stores an atomic flag and unparks (an atomic and a futex
//!   wake). Its data is the per-thread `Arc<Waiter>`, not the stack of the call, because Ruby's
//!   signal handler may invoke it late.
//! - Signals (`trap` handlers, Ctrl-C's `Interrupt`) run on the main thread. When the main thread
//!   is the only Ruby thread, Ruby's signal handler calls our unblocking function directly (that
//!   is what the async-safe flag allows). When other threads exist, Ruby relies on one of them
//!   (sleeping in Ruby) to notice the signal; if none can (all of them also wait in `block_on`,
//!   or the one that sent the signal has exited), nobody would call the unblocking function. So
//!   the main thread, when not alone, also wakes every [`SIGNAL_POLL`] and asks Ruby whether an
//!   interrupt is pending (`rb_thread_interrupted`, meant for exactly this check from the
//!   blocked thread itself).
//! - A panic in the released region is caught there and raised as `KafkaRs::Error` once the GVL
//!   is held again; no panic crosses the FFI boundary.

use std::ffi::{c_int, c_void};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use magnus::{function, Error, RModule, Ruby};

use crate::{errors, runtime};

/// `rb_nogvl` flags (`ruby/thread.h`). `RB_NOGVL_INTR_FAIL`: Ruby neither runs interrupts on
/// entering or leaving the region (we do, under `rb_protect`) nor enters it while one is pending.
/// `RB_NOGVL_UBF_ASYNC_SAFE`: the unblocking function is async-signal-safe.
const NOGVL_FLAGS: c_int = (rb_sys::RB_NOGVL_INTR_FAIL | rb_sys::RB_NOGVL_UBF_ASYNC_SAFE) as c_int;

/// How often the main thread, when other Ruby threads exist, checks for a pending signal while
/// it waits (the bound on Ctrl-C latency in that case; see the module documentation).
const SIGNAL_POLL: Duration = Duration::from_millis(10);

/// Per Ruby thread: how the runtime's wakers and Ruby's unblocking function reach the thread
/// blocked in [`block_on`].
struct Waiter {
    thread: Thread,
    /// Set by the waker: poll again.
    woken: AtomicBool,
    /// Set by the unblocking function: leave the region so Ruby can run its interrupts.
    interrupted: AtomicBool,
}

impl Wake for Waiter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Whoever turns the flag on unparks; the blocked thread turns it off before parking.
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

thread_local! {
    static WAITER: Arc<Waiter> = Arc::new(Waiter {
        thread: thread::current(),
        woken: AtomicBool::new(false),
        interrupted: AtomicBool::new(false),
    });
}

/// Ruby's unblocking function. May run on any thread, including inside a signal handler: only
/// an atomic store and an unpark (atomic swap plus futex wake).
unsafe extern "C" fn unblock(data: *mut c_void) {
    // SAFETY: `data` is the `Arc<Waiter>` of the blocked thread, kept alive by its thread-local
    // for the thread's whole life (the region is always shorter).
    let waiter = unsafe { &*(data as *const Waiter) };
    waiter.interrupted.store(true, Ordering::Release);
    waiter.thread.unpark();
}

enum Outcome<T> {
    Ready(T),
    Interrupted,
    Panicked(String),
}

/// Everything the released region touches; lives on the stack of [`block_on`], which outlives
/// the region.
struct Region<'a, F: Future> {
    future: Pin<&'a mut F>,
    waiter: &'a Waiter,
    waker: &'a Waker,
    /// The main thread's `Thread` object, when it must poll for signals (see module docs).
    poll_signals_of: Option<rb_sys::VALUE>,
    outcome: Option<Outcome<F::Output>>,
}

impl<F: Future> Region<'_, F> {
    /// Polls until the future is ready or the thread is interrupted.
    fn run(&mut self) -> Outcome<F::Output> {
        let mut cx = Context::from_waker(self.waker);
        loop {
            if self.waiter.interrupted.load(Ordering::Acquire) {
                return Outcome::Interrupted;
            }
            if let Poll::Ready(value) = self.future.as_mut().poll(&mut cx) {
                return Outcome::Ready(value);
            }
            while !self.waiter.woken.swap(false, Ordering::AcqRel) {
                if self.waiter.interrupted.load(Ordering::Acquire) {
                    return Outcome::Interrupted;
                }
                match self.poll_signals_of {
                    None => thread::park(),
                    Some(ruby_thread) => {
                        thread::park_timeout(SIGNAL_POLL);
                        // SAFETY: asks about the calling thread itself, whose Thread object is
                        // alive (and pinned by this stack); only reads its interrupt flags.
                        if unsafe { rb_sys::rb_thread_interrupted(ruby_thread) } != 0 {
                            return Outcome::Interrupted;
                        }
                    }
                }
            }
        }
    }
}

/// The function run without the GVL.
unsafe extern "C" fn released<F: Future>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `&mut Region<F>` passed to `rb_nogvl` by `block_on`, which waits.
    let region = unsafe { &mut *(data as *mut Region<'_, F>) };
    let outcome = catch_unwind(AssertUnwindSafe(|| region.run()))
        .unwrap_or_else(|payload| Outcome::Panicked(errors::panic_message(payload.as_ref())));
    region.outcome = Some(outcome);
    ptr::null_mut()
}

/// Runs `future` to completion without holding the GVL, on the calling thread, in the runtime's
/// context. Must be called by a Ruby thread holding the GVL (any method body is).
///
/// Pass a lazy future (an `async` block or an `async fn` call) so that it is built inside the
/// runtime's context: `block_on(async move { client.metadata(&topics).await })`. Calling, say,
/// `tokio::time::sleep` outside it panics with "no reactor running".
///
/// Errors: `Err` carries a pending Ruby exception or jump (Thread#raise, Thread#kill,
/// `Interrupt`, `Timeout::Error`...) to be returned as is, or a `KafkaRs::Error` if the future
/// panicked. In both cases the future has been dropped (cancelled). A signal `trap` handler that
/// does not raise does not end the wait: the same future is polled on.
pub fn block_on<F>(future: F) -> Result<F::Output, Error>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime::runtime();
    // The future is polled, and dropped, inside the runtime's context. Declared before the pinned
    // future so that it is dropped after it.
    let _context = runtime.enter();
    // In an Option so that it can be dropped in place, under `catch_unwind`, when cancelled.
    let mut slot = pin!(Some(future));
    let waiter = WAITER.with(Arc::clone);
    let waker = Waker::from(Arc::clone(&waiter));
    // SAFETY: plain queries of the VM's thread list, with the GVL held.
    let poll_signals_of = unsafe {
        let current = rb_sys::rb_thread_current();
        (rb_sys::rb_thread_alone() == 0 && current == rb_sys::rb_thread_main()).then_some(current)
    };
    loop {
        // Stale requests (Ruby may call the unblocking function late) end here; one that arrives
        // from now on is for this wait.
        waiter.interrupted.store(false, Ordering::Release);
        let Some(future) = slot.as_mut().as_pin_mut() else {
            unreachable!("the future is only dropped on the way out");
        };
        let mut region = Region {
            future,
            waiter: &waiter,
            waker: &waker,
            poll_signals_of,
            outcome: None,
        };
        let region_ptr = &mut region as *mut Region<'_, F> as *mut c_void;
        let ubf_data = Arc::as_ptr(&waiter) as *mut c_void;
        let entered = magnus::rb_sys::protect(|| {
            // SAFETY: `released::<F>` receives `region_ptr` and returns before `rb_nogvl` does;
            // `unblock` receives the thread's Waiter, which outlives the call.
            unsafe {
                rb_sys::rb_nogvl(
                    Some(released::<F>),
                    region_ptr,
                    Some(unblock),
                    ubf_data,
                    NOGVL_FLAGS,
                );
            }
            rb_sys::Qnil as rb_sys::VALUE
        });
        let outcome = region.outcome.take();
        if let Err(jump) = entered {
            return Err(cancel(slot, jump));
        }
        match outcome {
            Some(Outcome::Ready(value)) => return Ok(value),
            Some(Outcome::Panicked(message)) => {
                return Err(cancel(slot, errors::panic_error(&message)))
            }
            // Interrupted in the region, or not entered because an interrupt was pending.
            Some(Outcome::Interrupted) | None => {
                let interrupts = magnus::rb_sys::protect(|| {
                    // SAFETY: runs Ruby's pending interrupts with the GVL held; a raise or throw
                    // is caught by `protect` and returned as `Err`.
                    unsafe { rb_sys::rb_thread_check_ints() };
                    rb_sys::Qnil as rb_sys::VALUE
                });
                if let Err(jump) = interrupts {
                    return Err(cancel(slot, jump));
                }
            }
        }
    }
}

/// Drops an unfinished future (that is its cancellation) before `error` goes on to Ruby. A panic
/// while dropping is contained here (the panic hook has already reported it on stderr): the
/// Ruby exception already under way wins.
fn cancel<F>(mut slot: Pin<&mut Option<F>>, error: Error) -> Error {
    let _ = catch_unwind(AssertUnwindSafe(|| slot.set(None)));
    error
}

/// `KafkaRs::Native.__sleep(seconds)`: waits on a runtime timer (tests the GVL helper).
fn sleep(ruby: &Ruby, seconds: f64) -> Result<(), Error> {
    let duration = std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|e| Error::new(ruby.exception_arg_error(), format!("invalid seconds: {e}")))?;
    block_on(async move { tokio::time::sleep(duration).await })
}

/// `KafkaRs::Native.__ready`: a future that is ready at once (measures the cost of a call).
fn ready() -> Result<(), Error> {
    block_on(std::future::ready(()))
}

/// `KafkaRs::Native.__keep_workers_busy(seconds)`: spawns tasks that allocate and free memory
/// on the runtime's workers for `seconds`, then returns at once (tests that the process exits
/// cleanly while workers are busy).
fn keep_workers_busy(ruby: &Ruby, seconds: f64) -> Result<(), Error> {
    let duration = std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|e| Error::new(ruby.exception_arg_error(), format!("invalid seconds: {e}")))?;
    let handle = runtime::handle();
    for _ in 0..2 {
        handle.spawn(async move {
            let deadline = tokio::time::Instant::now() + duration;
            while tokio::time::Instant::now() < deadline {
                for size in 64..1088 {
                    std::hint::black_box(Vec::<u8>::with_capacity(size));
                }
                tokio::task::yield_now().await;
            }
        });
    }
    Ok(())
}

/// `KafkaRs::Native.__panic(message)`: panics inside the released region.
fn panic_in_region(message: String) -> Result<(), Error> {
    block_on(async move {
        if !message.is_empty() {
            panic!("{message}");
        }
    })
}

/// Internal test hooks, prefixed `__`: they exercise this module without a broker.
pub fn init(_ruby: &Ruby, native: RModule) -> Result<(), Error> {
    native.define_module_function("__sleep", function!(sleep, 1))?;
    native.define_module_function("__ready", function!(ready, 0))?;
    native.define_module_function("__panic", function!(panic_in_region, 1))?;
    native.define_module_function("__keep_workers_busy", function!(keep_workers_busy, 1))?;
    Ok(())
}
