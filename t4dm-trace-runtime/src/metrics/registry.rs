//! The span metrics' storage: per-thread cells written by one thread each, and a registry that
//! bounds the distinct attribute sets and reads every cell when the metrics are collected.
//!
//! The hot path ([`record`]) finds the span's series in a map owned by the calling thread and
//! updates that thread's cell with plain loads and stores: no lock, no read-modify-write shared
//! with another thread, and no allocation once the thread has seen the series. Only the first
//! time a thread meets a series does it take the registry's lock. Once the registry holds
//! `cardinality_limit` series it is frozen and published read-only, and names it does not hold
//! go to the thread's overflow cell without being remembered, so a dynamic span name cannot grow
//! memory without bound.

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The upper bounds of the duration histogram's buckets, in milliseconds: the defaults of the
/// OpenTelemetry Collector's `spanmetrics` connector.
pub(crate) const BOUNDS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10000.0, 15000.0,
];

/// The same bounds in nanoseconds, for the hot path.
const BOUNDS_NANOS: [u64; 16] = {
    let mut nanos = [0; 16];
    let millis: [u64; 16] = [
        2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000,
    ];
    let mut i = 0;
    while i < 16 {
        nanos[i] = millis[i] * 1_000_000;
        i += 1;
    }
    nanos
};

/// Buckets: one per bound, and the last, unbounded one.
pub(crate) const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// The OpenTelemetry default cardinality limit.
pub(crate) const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The bucket a duration falls in: bounds are inclusive upper bounds, as in OTLP and Prometheus.
#[inline]
fn bucket_of(nanos: u64) -> usize {
    BOUNDS_NANOS.partition_point(|&bound| bound < nanos)
}

/// The span's status, as the `status.code` attribute says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum StatusCode {
    Unset,
    Error,
}

impl StatusCode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "STATUS_CODE_UNSET",
            StatusCode::Error => "STATUS_CODE_ERROR",
        }
    }
}

/// The position of a kind in a series' slots.
#[inline]
fn kind_index(kind: &SpanKind) -> usize {
    match kind {
        SpanKind::Internal => 0,
        SpanKind::Server => 1,
        SpanKind::Client => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
    }
}

pub(crate) fn kind_name(kind: usize) -> &'static str {
    [
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ][kind]
}

/// Kinds × statuses: the attribute sets one span name can have.
const SLOTS: usize = 10;

#[inline]
fn slot(kind: &SpanKind, is_error: bool) -> usize {
    kind_index(kind) * 2 + usize::from(is_error)
}

/// A span that may become an exemplar.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExemplarSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) time_unix_nanos: u64,
}

/// One bucket's last exemplar, behind a sequence lock: written by one thread, read by the
/// collector, which retries if it saw a write in progress.
#[derive(Debug, Default)]
struct ExemplarSlot {
    /// Even when stable; zero when never written.
    seq: AtomicU64,
    trace_hi: AtomicU64,
    trace_lo: AtomicU64,
    span: AtomicU64,
    nanos: AtomicU64,
    time: AtomicU64,
}

/// An exemplar as read from a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) duration_nanos: u64,
    pub(crate) time_unix_nanos: u64,
}

impl ExemplarSlot {
    /// Only the owning thread calls this.
    #[inline]
    fn write(&self, span: &ExemplarSpan, nanos: u64) {
        let trace = u128::from_be_bytes(span.trace_id.to_bytes());
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        #[expect(clippy::cast_possible_truncation, reason = "the two halves of the id")]
        {
            self.trace_hi.store((trace >> 64) as u64, Ordering::Relaxed);
            self.trace_lo.store(trace as u64, Ordering::Relaxed);
        }
        self.span.store(
            u64::from_be_bytes(span.span_id.to_bytes()),
            Ordering::Relaxed,
        );
        self.nanos.store(nanos, Ordering::Relaxed);
        self.time.store(span.time_unix_nanos, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> Option<Exemplar> {
        for _ in 0..64 {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let trace_hi = self.trace_hi.load(Ordering::Relaxed);
            let trace_lo = self.trace_lo.load(Ordering::Relaxed);
            let span = self.span.load(Ordering::Relaxed);
            let nanos = self.nanos.load(Ordering::Relaxed);
            let time = self.time.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                let trace = (u128::from(trace_hi) << 64) | u128::from(trace_lo);
                return Some(Exemplar {
                    trace_id: TraceId::from_bytes(trace.to_be_bytes()),
                    span_id: SpanId::from_bytes(span.to_be_bytes()),
                    duration_nanos: nanos,
                    time_unix_nanos: time,
                });
            }
        }
        None
    }
}

/// One series as seen by one thread. Only that thread writes it, with plain loads and stores.
#[derive(Debug)]
pub(crate) struct Cell {
    series: u32,
    calls: AtomicU64,
    sum_nanos: AtomicU64,
    min_nanos: AtomicU64,
    max_nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
    exemplars: [ExemplarSlot; BUCKETS],
}

impl Cell {
    fn new(series: u32) -> Self {
        Cell {
            series,
            calls: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
            min_nanos: AtomicU64::new(u64::MAX),
            max_nanos: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            exemplars: std::array::from_fn(|_| ExemplarSlot::default()),
        }
    }

    /// Only the owning thread calls this: load and store, no read-modify-write.
    #[inline]
    fn record(&self, nanos: u64, exemplar: Option<&ExemplarSpan>) {
        let bump = |cell: &AtomicU64, by: u64| {
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(by),
                Ordering::Relaxed,
            );
        };
        bump(&self.calls, 1);
        bump(&self.sum_nanos, nanos);
        if nanos < self.min_nanos.load(Ordering::Relaxed) {
            self.min_nanos.store(nanos, Ordering::Relaxed);
        }
        if nanos > self.max_nanos.load(Ordering::Relaxed) {
            self.max_nanos.store(nanos, Ordering::Relaxed);
        }
        let bucket = bucket_of(nanos);
        bump(&self.buckets[bucket], 1);
        if let Some(span) = exemplar {
            self.exemplars[bucket].write(span, nanos);
        }
    }
}

/// A series' values, summed over threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) sum_nanos: u64,
    pub(crate) min_nanos: u64,
    pub(crate) max_nanos: u64,
    pub(crate) buckets: [u64; BUCKETS],
    /// The latest exemplar of each bucket.
    pub(crate) exemplars: [Option<Exemplar>; BUCKETS],
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            calls: 0,
            sum_nanos: 0,
            min_nanos: u64::MAX,
            max_nanos: 0,
            buckets: [0; BUCKETS],
            exemplars: [None; BUCKETS],
        }
    }
}

impl Totals {
    fn add_cell(&mut self, cell: &Cell) {
        // Calls first: a reader may see a bucket count ahead of `calls`, never behind. The
        // `+Inf` count sent is the buckets' sum, so the histogram is always consistent.
        self.calls += cell.calls.load(Ordering::Relaxed);
        self.sum_nanos += cell.sum_nanos.load(Ordering::Relaxed);
        self.min_nanos = self.min_nanos.min(cell.min_nanos.load(Ordering::Relaxed));
        self.max_nanos = self.max_nanos.max(cell.max_nanos.load(Ordering::Relaxed));
        for (total, bucket) in self.buckets.iter_mut().zip(&cell.buckets) {
            *total += bucket.load(Ordering::Relaxed);
        }
        for (total, slot) in self.exemplars.iter_mut().zip(&cell.exemplars) {
            if let Some(exemplar) = slot.read()
                && total.is_none_or(|kept| kept.time_unix_nanos <= exemplar.time_unix_nanos)
            {
                *total = Some(exemplar);
            }
        }
    }

    pub(crate) fn add_totals(&mut self, other: &Totals) {
        self.calls += other.calls;
        self.sum_nanos += other.sum_nanos;
        self.min_nanos = self.min_nanos.min(other.min_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        for (total, bucket) in self.buckets.iter_mut().zip(&other.buckets) {
            *total += bucket;
        }
        for (total, exemplar) in self.exemplars.iter_mut().zip(&other.exemplars) {
            if let Some(exemplar) = exemplar
                && total.is_none_or(|kept| kept.time_unix_nanos <= exemplar.time_unix_nanos)
            {
                *total = Some(*exemplar);
            }
        }
    }

    /// The histogram's count: the buckets' sum.
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// What a series' attributes say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SeriesKey {
    /// `span.name`, `span.kind` (its slot index) and `status.code`.
    Span {
        name: Arc<str>,
        kind: usize,
        status: StatusCode,
    },
    /// `otel.metric.overflow = true`: every span past the cardinality limit.
    Overflow,
}

/// A series and its totals at one collection.
#[derive(Debug, Clone)]
pub(crate) struct SeriesSnapshot {
    pub(crate) key: SeriesKey,
    pub(crate) totals: Totals,
}

/// A fast hasher for short names: a folded 64x64-bit multiply per 16 bytes, reading the tail
/// with overlapping loads rather than copying it (the scheme of foldhash and wyhash).
#[derive(Debug, Default, Clone, Copy)]
struct NameHasher(u64);

const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;
const K3: u64 = 0xa409_3822_299f_31d0;

/// The 128-bit product of `a` and `b`, its halves xored.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the two halves of the product"
    )]
    let (low, high) = (product as u64, (product >> 64) as u64);
    low ^ high
}

#[inline]
fn word(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

#[inline]
fn half_word(bytes: &[u8]) -> u64 {
    let mut half = [0; 4];
    half.copy_from_slice(&bytes[..4]);
    u64::from(u32::from_le_bytes(half))
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = self.0 ^ (bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            hash = fold(word(chunk) ^ hash ^ K1, word(&chunk[8..]) ^ K2);
        }
        let rest = chunks.remainder();
        let len = rest.len();
        if len > 0 {
            let (a, b) = if len >= 8 {
                (word(rest), word(&rest[len - 8..]))
            } else if len >= 4 {
                (half_word(rest), half_word(&rest[len - 4..]))
            } else {
                (
                    u64::from(rest[0]) | (u64::from(rest[len / 2]) << 8),
                    u64::from(rest[len - 1]),
                )
            };
            hash = fold(a ^ hash ^ K1, b ^ K2);
        }
        self.0 = hash;
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        // Only the terminator `str`'s hash appends: no need to mix it with a multiply.
        self.0 = self.0.rotate_left(8) ^ u64::from(byte);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.0 ^ K3, K1)
    }
}

type NameMap<V> = HashMap<Box<str>, V, BuildHasherDefault<NameHasher>>;

/// Series ids by name, one per kind and status.
type SeriesIds = [Option<u32>; SLOTS];

/// The process-wide registry: the series, every thread's cells, and the totals of threads that
/// have exited.
#[derive(Debug)]
struct Registry {
    limit: usize,
    index: NameMap<SeriesIds>,
    keys: Vec<SeriesKey>,
    cells: Vec<Arc<Cell>>,
    retired: Vec<Totals>,
    /// Series id of the overflow series.
    overflow: u32,
}

/// Series id 0 is always the overflow series.
const OVERFLOW: u32 = 0;

impl Registry {
    fn new(limit: usize) -> Self {
        Registry {
            limit,
            index: NameMap::default(),
            keys: vec![SeriesKey::Overflow],
            cells: Vec::new(),
            retired: vec![Totals::default()],
            overflow: OVERFLOW,
        }
    }

    /// Distinct non-overflow attribute sets.
    fn len(&self) -> usize {
        self.keys.len() - 1
    }

    /// The id of the series, created if there is room; `None` past the limit.
    fn series(&mut self, name: &str, slot: usize) -> Option<u32> {
        if let Some(id) = self.index.get(name).and_then(|ids| ids[slot]) {
            return Some(id);
        }
        if self.len() >= self.limit {
            return None;
        }
        let id = u32::try_from(self.keys.len()).ok()?;
        self.keys.push(SeriesKey::Span {
            name: Arc::from(name),
            kind: slot / 2,
            status: if slot % 2 == 1 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
        });
        self.retired.push(Totals::default());
        self.index.entry(Box::from(name)).or_insert([None; SLOTS])[slot] = Some(id);
        Some(id)
    }

    fn new_cell(&mut self, series: u32) -> Arc<Cell> {
        let cell = Arc::new(Cell::new(series));
        self.cells.push(Arc::clone(&cell));
        cell
    }

    /// Every series with its totals; the cells of exited threads are folded into `retired`.
    fn collect(&mut self) -> Vec<SeriesSnapshot> {
        let mut totals = self.retired.clone();
        let retired = &mut self.retired;
        self.cells.retain(|cell| {
            let index = cell.series as usize;
            if Arc::strong_count(cell) == 1 {
                // Its thread has exited: nothing writes it any more.
                retired[index].add_cell(cell);
                totals[index].add_cell(cell);
                false
            } else {
                totals[index].add_cell(cell);
                true
            }
        });
        self.keys
            .iter()
            .zip(totals)
            .filter(|(_, totals)| totals.calls > 0)
            .map(|(key, totals)| SeriesSnapshot {
                key: key.clone(),
                totals,
            })
            .collect()
    }
}

/// The registry, and its index published read-only once full.
#[derive(Debug)]
pub(crate) struct Store {
    registry: Mutex<Registry>,
    frozen: OnceLock<NameMap<SeriesIds>>,
}

impl Store {
    pub(crate) fn new(limit: usize) -> Self {
        Store {
            registry: Mutex::new(Registry::new(limit)),
            frozen: OnceLock::new(),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every series with its totals since the start.
    pub(crate) fn collect(&self) -> Vec<SeriesSnapshot> {
        self.registry().collect()
    }

    /// The number of distinct non-overflow attribute sets.
    #[cfg(test)]
    pub(crate) fn series_count(&self) -> usize {
        self.registry().len()
    }
}

/// A span's name: a `&'static str` (a literal, almost always) is known by its address, which
/// no other string can ever have, so it skips hashing; any other name is looked up by content.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SpanName<'a> {
    Static(&'static str),
    Dynamic(&'a str),
}

/// Entries of the per-thread cache of static names (a power of two).
const STATIC_CACHE: usize = 64;

/// A static name's cell, found by the name's address.
struct StaticEntry {
    addr: usize,
    len: usize,
    slot: usize,
    cell: Arc<Cell>,
}

/// The calling thread's cells, by name.
struct Shard {
    cells: NameMap<[Option<Arc<Cell>>; SLOTS]>,
    /// Static names by address, direct-mapped: a hit costs a few compares and no hashing.
    statics: Box<[Option<StaticEntry>; STATIC_CACHE]>,
    overflow: Option<Arc<Cell>>,
    /// The store these cells belong to (a test may use several).
    store: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            cells: NameMap::default(),
            statics: Box::new(std::array::from_fn(|_| None)),
            overflow: None,
            store: 0,
        }
    }
}

thread_local! {
    static SHARD: RefCell<Shard> = RefCell::new(Shard::default());
}

impl Shard {
    #[inline]
    fn record(
        &mut self,
        store: &'static Store,
        name: SpanName<'_>,
        slot: usize,
        nanos: u64,
        exemplar: Option<&ExemplarSpan>,
    ) {
        let store_id = std::ptr::from_ref(store).addr();
        if self.store != store_id {
            *self = Shard {
                store: store_id,
                ..Shard::default()
            };
        }
        match name {
            SpanName::Static(name) => {
                let addr = name.as_ptr().addr();
                let index = ((addr >> 3) ^ (addr >> 11) ^ slot) & (STATIC_CACHE - 1);
                if let Some(entry) = &self.statics[index]
                    && entry.addr == addr
                    && entry.len == name.len()
                    && entry.slot == slot
                {
                    entry.cell.record(nanos, exemplar);
                    return;
                }
                let cell = self.find(store, name, slot);
                cell.record(nanos, exemplar);
                self.statics[index] = Some(StaticEntry {
                    addr,
                    len: name.len(),
                    slot,
                    cell,
                });
            }
            SpanName::Dynamic(name) => {
                if let Some(cell) = self
                    .cells
                    .get(name)
                    .and_then(|cells| cells[slot].as_deref())
                {
                    cell.record(nanos, exemplar);
                    return;
                }
                self.miss(store, name, slot).record(nanos, exemplar);
            }
        }
    }

    /// The cell of `name`, found or made (not the hot path: it clones the pointer).
    fn find(&mut self, store: &'static Store, name: &str, slot: usize) -> Arc<Cell> {
        if let Some(cell) = self.cells.get(name).and_then(|cells| cells[slot].as_ref()) {
            return Arc::clone(cell);
        }
        self.miss(store, name, slot)
    }

    #[cold]
    fn miss(&mut self, store: &'static Store, name: &str, slot: usize) -> Arc<Cell> {
        if let Some(frozen) = store.frozen.get() {
            // Full: a name the registry holds gets a cell of this thread's; any other goes to
            // the overflow cell and is not remembered.
            let Some(series) = frozen.get(name).and_then(|ids| ids[slot]) else {
                return self.overflow(store);
            };
            let cell = store.registry().new_cell(series);
            self.remember(name, slot, &cell);
            return cell;
        }
        let mut registry = store.registry();
        let Some(series) = registry.series(name, slot) else {
            if store.frozen.get().is_none() {
                let _ = store.frozen.set(registry.index.clone());
            }
            drop(registry);
            return self.overflow(store);
        };
        let cell = registry.new_cell(series);
        drop(registry);
        self.remember(name, slot, &cell);
        cell
    }

    fn remember(&mut self, name: &str, slot: usize, cell: &Arc<Cell>) {
        if let Some(cells) = self.cells.get_mut(name) {
            cells[slot] = Some(Arc::clone(cell));
        } else {
            let mut cells: [Option<Arc<Cell>>; SLOTS] = Default::default();
            cells[slot] = Some(Arc::clone(cell));
            self.cells.insert(Box::from(name), cells);
        }
    }

    fn overflow(&mut self, store: &'static Store) -> Arc<Cell> {
        Arc::clone(self.overflow.get_or_insert_with(|| {
            let mut registry = store.registry();
            let series = registry.overflow;
            registry.new_cell(series)
        }))
    }
}

/// Records one ended span in `store`, on the calling thread's cell of its series.
#[inline]
pub(crate) fn record(
    store: &'static Store,
    name: SpanName<'_>,
    kind: &SpanKind,
    is_error: bool,
    duration_nanos: u64,
    exemplar: Option<&ExemplarSpan>,
) {
    let slot = slot(kind, is_error);
    // `try_with`: a span ending while this thread's locals are destroyed is not counted.
    let _ = SHARD.try_with(|shard| {
        if let Ok(mut shard) = shard.try_borrow_mut() {
            shard.record(store, name, slot, duration_nanos, exemplar);
        }
    });
}
