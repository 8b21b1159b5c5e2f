//! Per-thread buffers between a span's end and the export pipelines.
//!
//! Sending each ended span down a shared channel cost more than the rest of the span (the
//! channel's slots are as large as a span record and are zeroed block by block; every send is a
//! contended compare-and-swap). Instead, a span that ends is moved into a small lock-free queue
//! owned by its thread, and reaches the pipelines in batches:
//!
//! - when a queue is half full, its thread asks an export thread to collect the queues (once
//!   per [`COLLECT_AT`] spans), and that thread moves them to the pipelines in batches;
//! - should a queue fill before that, its own thread moves its contents to the pipelines as one
//!   batch (one channel send per [`THREAD_BUFFER_SPANS`] spans);
//! - the export threads also collect every queue on their schedule, and `flush_tracing` and
//!   shutdown collect them at once, so spans left by a thread that went idle or exited are
//!   exported too: the queues are shared with a process-wide registry, which keeps a queue until
//!   its thread has exited and it has been emptied.
//!
//! Spans waiting in these queues are counted as queued by `tracing_stats()`.

use crate::recorder::EndedSpan;
use crossbeam_queue::ArrayQueue;
use std::sync::{Arc, Mutex, PoisonError};

/// How many ended spans a thread's queue holds. Small: the queue is allocated whole (about
/// 50 KiB) for every thread that records a span.
pub(crate) const THREAD_BUFFER_SPANS: usize = 128;

/// The length at which a thread asks for its queue to be collected.
pub(crate) const COLLECT_AT: usize = THREAD_BUFFER_SPANS / 2;

type ThreadBuffer = ArrayQueue<EndedSpan>;

/// Every thread's buffer. Locked only to register a thread and to collect, never per span.
static BUFFERS: Mutex<Vec<Arc<ThreadBuffer>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: Arc<ThreadBuffer> = register();
}

fn register() -> Arc<ThreadBuffer> {
    let buffer = Arc::new(ArrayQueue::new(THREAD_BUFFER_SPANS));
    BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&buffer));
    buffer
}

/// Puts an ended span into this thread's buffer, calling `request_collection` when the buffer
/// reaches [`COLLECT_AT`] spans. When the buffer is full, its spans and this one are passed to
/// `deliver` as one batch; so is the span alone if the thread is exiting (its buffer is gone).
#[inline]
pub(crate) fn hand_over(
    span: EndedSpan,
    request_collection: impl FnOnce(),
    deliver: impl FnOnce(Vec<EndedSpan>),
) {
    let mut span = Some(span);
    let full = LOCAL
        .try_with(|buffer| {
            let ended = span.take()?;
            match buffer.push(ended) {
                Ok(()) => {
                    if buffer.len() == COLLECT_AT {
                        request_collection();
                    }
                    None
                }
                Err(ended) => {
                    let mut batch = Vec::with_capacity(THREAD_BUFFER_SPANS + 1);
                    batch.extend(std::iter::from_fn(|| buffer.pop()));
                    batch.push(ended);
                    Some(batch)
                }
            }
        })
        .ok()
        .flatten();
    if let Some(batch) = full {
        deliver(batch);
    } else if let Some(span) = span {
        deliver(vec![span]);
    }
}

/// Empties every thread's buffer into `deliver`, one batch per thread, and forgets the buffers
/// of threads that have exited once they are empty.
pub(crate) fn collect(mut deliver: impl FnMut(Vec<EndedSpan>)) {
    let mut buffers = BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
    buffers.retain(|buffer| {
        if !buffer.is_empty() {
            deliver(std::iter::from_fn(|| buffer.pop()).collect());
        }
        // The registry's reference is the last one once the thread has exited.
        Arc::strong_count(buffer) > 1 || !buffer.is_empty()
    });
}

/// How many spans wait in thread buffers now.
pub(crate) fn buffered() -> u64 {
    BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|buffer| buffer.len() as u64)
        .sum()
}
