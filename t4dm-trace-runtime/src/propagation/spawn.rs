//! Carrying the current trace across `tokio::spawn`, `spawn_blocking` and threads.
//!
//! `#[traced]` async functions keep their span current across `.await`, but a spawned task or a
//! new thread starts with an empty context: its spans would begin new traces. These helpers take
//! the spawning code's context along.

use opentelemetry::Context;
use opentelemetry::context::{FutureExt as _, WithContext};
use std::future::Future;

/// Runs futures in a given trace context: `.in_current_trace()` takes the caller's.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{TraceFutureExt, traced};
///
/// #[traced("job.step")]
/// async fn step() -> u32 {
///     1
/// }
///
/// #[traced("job.run")]
/// async fn run() -> u32 {
///     // Without `.in_current_trace()`, `job.step` would start a trace of its own.
///     tokio::spawn(step().in_current_trace()).await.unwrap_or(0)
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run());
/// ```
pub trait TraceFutureExt: Future + Sized {
    /// Runs this future in the context current now, whichever task or thread polls it.
    fn in_current_trace(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }

    /// Runs this future in `cx` (from [`extract_context`](crate::extract_context), say).
    fn in_trace(self, cx: Context) -> WithContext<Self> {
        self.with_context(cx)
    }
}

impl<F: Future> TraceFutureExt for F {}

/// `tokio::spawn` for a future that continues the caller's trace.
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn` does.
pub fn spawn_in_current_trace<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_trace())
}

/// `tokio::task::spawn_blocking` for a closure that continues the caller's trace.
///
/// # Panics
///
/// Outside a tokio runtime, as `spawn_blocking` does.
pub fn spawn_blocking_in_current_trace<F, R>(body: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(bind_current_trace(body))
}

/// `std::thread::spawn` for a closure that continues the caller's trace.
///
/// # Panics
///
/// When the operating system cannot create a thread, as `std::thread::spawn` does; use
/// [`bind_current_trace`] with `std::thread::Builder` to handle that.
///
/// # Example
///
/// ```
/// use t4dm_trace_runtime::{spawn_thread_in_current_trace, traced};
///
/// #[traced("index.rebuild")]
/// fn rebuild() -> usize {
///     3
/// }
///
/// #[traced("index.maintain")]
/// fn maintain() -> usize {
///     spawn_thread_in_current_trace(rebuild).join().unwrap_or(0)
/// }
/// assert_eq!(maintain(), 3);
/// ```
pub fn spawn_thread_in_current_trace<F, R>(body: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    std::thread::spawn(bind_current_trace(body))
}

/// Wraps `body` so that it runs in the context current now, wherever it is called: for thread
/// pools and executors other than tokio's.
pub fn bind_current_trace<F, R>(body: F) -> impl FnOnce() -> R + Send
where
    F: FnOnce() -> R + Send,
{
    let cx = Context::current();
    move || {
        let _attached = cx.attach();
        body()
    }
}
