//! Per-thread queues between a span's end and the export pipelines, and the recycling of span
//! records.
//!
//! A span's record lives in one heap block from its start to its export, and only the pointer
//! moves. Sending each ended span down a shared channel by value cost more than the rest of the
//! span (the channel's slots were as large as a record and zeroed block by block, and the record
//! was copied at every step), and a block allocated on the caller's thread and freed on the
//! export thread costs glibc's allocator a lock. So:
//!
//! - a span that ends is pushed (a pointer) onto a small lock-free queue owned by its thread;
//! - when a queue is half full, its thread asks an export thread to collect the queues (once
//!   per [`COLLECT_AT`] spans), and that thread moves them to the pipelines in batches; should a
//!   queue fill before that, its own thread moves its contents to the pipelines as one batch;
//! - the export threads also collect every queue on their schedule, and `flush_tracing` and
//!   shutdown collect them at once, so spans left by a thread that went idle or exited are
//!   exported too: the queues are shared with a process-wide registry, which keeps a thread's
//!   queues until the thread has exited and they have been emptied;
//! - once exported, a batch's record blocks go back to their thread together, where the thread's
//!   next spans take them instead of allocating (one queue operation per batch, not per span).
//!
//! Spans waiting in these queues are counted as queued by `tracing_stats()`.

use crate::recorder::EndedSpan;
use crossbeam_queue::ArrayQueue;
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex, PoisonError};

/// How many ended spans a thread's queue holds (and how many spare records it keeps): room for
/// the time an export thread takes to come round (a queue slot is a pointer).
pub(crate) const THREAD_BUFFER_SPANS: usize = 2048;

/// The length at which a thread asks for its queue to be collected: the request wakes an export
/// thread (a system call when it sleeps), so it is made once per this many spans.
pub(crate) const COLLECT_AT: usize = THREAD_BUFFER_SPANS / 2;

/// How many batches of spare blocks a thread keeps, and how many blocks a batch holds: at most
/// 16,384 spare blocks (about 6 MiB) per thread, however large a burst was. Fewer cost the
/// sustained rate: while the export queue is long, blocks the thread allocated anew come back
/// and would be freed on the export thread.
const SPARE_BATCHES: usize = 8;
const SPARE_BATCH_BLOCKS: usize = 2048;

type Blocks = Vec<Box<EndedSpan>>;

/// One thread's queues.
#[derive(Debug)]
pub(crate) struct ThreadBuffer {
    ended: ArrayQueue<Box<EndedSpan>>,
    spare: ArrayQueue<Blocks>,
}

impl ThreadBuffer {
    /// Gives exported records' blocks back to the thread that allocated them; dropped (freed
    /// here) if that thread has enough spare blocks.
    pub(crate) fn recycle(&self, mut blocks: Blocks) {
        blocks.truncate(SPARE_BATCH_BLOCKS);
        if blocks.is_empty() {
            return;
        }
        if let Err(blocks) = self.spare.push(blocks) {
            // Full (of small batches, say): topped up rather than lost to the allocator.
            if let Some(mut queued) = self.spare.pop() {
                let room = SPARE_BATCH_BLOCKS.saturating_sub(queued.len());
                queued.extend(blocks.into_iter().take(room));
                let _ = self.spare.push(queued);
            }
        }
    }
}

/// Ended spans on their way to the pipelines, with the thread that recorded them (`None` for a
/// span that ended while its thread was exiting).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) home: Option<Arc<ThreadBuffer>>,
    #[expect(
        clippy::vec_box,
        reason = "a record keeps its block from start to export: only pointers move"
    )]
    pub(crate) spans: Vec<Box<EndedSpan>>,
}

impl Clone for Batch {
    /// A copy for another pipeline: the records are copied into blocks of the copying thread.
    fn clone(&self) -> Self {
        Batch {
            home: None,
            spans: self.spans.clone(),
        }
    }
}

/// Every thread's queues. Locked only to register a thread and to collect, never per span.
static BUFFERS: Mutex<Vec<Arc<ThreadBuffer>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: Arc<ThreadBuffer> = register();
    /// Spare blocks taken back from `LOCAL.spare`, used one per span without synchronisation.
    static SPARE: RefCell<Blocks> = const { RefCell::new(Vec::new()) };
    /// Spans pushed since this thread last asked for a collection: counted here rather than
    /// read from the queue, whose length would bring the export thread's cache line over.
    static PUSHED: Cell<usize> = const { Cell::new(0) };
}

fn register() -> Arc<ThreadBuffer> {
    let buffer = Arc::new(ThreadBuffer {
        ended: ArrayQueue::new(THREAD_BUFFER_SPANS),
        spare: ArrayQueue::new(SPARE_BATCHES),
    });
    BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&buffer));
    buffer
}

/// A recycled block for a new span's record, if this thread has one (its contents are an
/// emptied record, to be overwritten).
#[inline]
pub(crate) fn spare_block() -> Option<Box<EndedSpan>> {
    SPARE
        .try_with(|spare| {
            let mut spare = spare.try_borrow_mut().ok()?;
            if spare.is_empty()
                && let Ok(Some(blocks)) = LOCAL.try_with(|buffer| buffer.spare.pop())
            {
                *spare = blocks;
            }
            spare.pop()
        })
        .ok()
        .flatten()
}

/// Puts an ended span onto this thread's queue, calling `request_collection` once per
/// [`COLLECT_AT`] spans. When the queue is full, its spans and this one are passed to
/// `deliver` as one batch; so is the span alone if the thread is exiting (its queue is gone).
#[inline]
pub(crate) fn hand_over(
    span: Box<EndedSpan>,
    request_collection: impl FnOnce(),
    deliver: impl FnOnce(Batch),
) {
    let mut span = Some(span);
    let full = LOCAL
        .try_with(|buffer| {
            let ended = span.take()?;
            match buffer.ended.push(ended) {
                Ok(()) => {
                    let pushed = PUSHED.try_with(|pushed| {
                        let count = pushed.get() + 1;
                        pushed.set(if count >= COLLECT_AT { 0 } else { count });
                        count
                    });
                    if pushed.is_ok_and(|count| count >= COLLECT_AT) {
                        request_collection();
                    }
                    None
                }
                Err(ended) => {
                    let mut spans = Vec::with_capacity(THREAD_BUFFER_SPANS + 1);
                    spans.extend(std::iter::from_fn(|| buffer.ended.pop()));
                    spans.push(ended);
                    Some(Batch {
                        home: Some(Arc::clone(buffer)),
                        spans,
                    })
                }
            }
        })
        .ok()
        .flatten();
    if let Some(batch) = full {
        deliver(batch);
    } else if let Some(span) = span {
        deliver(Batch {
            home: None,
            spans: vec![span],
        });
    }
}

/// Empties every thread's queue into `deliver`, one batch per thread, and forgets the queues of
/// threads that have exited once they are empty.
pub(crate) fn collect(mut deliver: impl FnMut(Batch)) {
    let mut buffers = BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
    buffers.retain(|buffer| {
        if !buffer.ended.is_empty() {
            deliver(Batch {
                home: Some(Arc::clone(buffer)),
                spans: std::iter::from_fn(|| buffer.ended.pop()).collect(),
            });
        }
        // The registry's reference is the last one once the thread has exited and no batch of
        // its spans is still on its way.
        Arc::strong_count(buffer) > 1 || !buffer.ended.is_empty()
    });
}

/// How many spans wait in threads' queues now.
pub(crate) fn buffered() -> u64 {
    BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|buffer| buffer.ended.len() as u64)
        .sum()
}
