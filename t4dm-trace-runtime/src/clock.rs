//! Span timestamps: the CPU's timestamp counter on the caller's thread, wall-clock time on the
//! export thread.
//!
//! Reading the wall clock (`SystemTime::now`, a `clock_gettime` call) twice per span was about
//! an eighth of a span's cost. The counter is read instead (`quanta`, which calibrates it against
//! the monotonic clock once and falls back to that clock where the counter is unreliable), and a
//! reading becomes wall-clock time only when the span is exported: start = the wall clock at an
//! anchor plus the counter's distance from that anchor, end = start plus the counter's distance
//! between start and end. Durations are therefore exact to the counter, and the anchor is taken
//! again every second so that wall-clock adjustments (NTP) reach the timestamps promptly.

use std::cell::Cell;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

/// How long an anchor is used before a new one is taken.
const ANCHOR_LIFETIME: Duration = Duration::from_secs(1);

/// The process's span clock.
pub(crate) struct Timeline {
    clock: quanta::Clock,
    /// Read and renewed by the threads that convert spans (export threads, test captures); never
    /// on a span's hot path.
    anchor: Mutex<Anchor>,
}

/// A wall-clock time and the counter's reading at that time.
#[derive(Clone, Copy)]
pub(crate) struct Anchor {
    wall: SystemTime,
    raw: u64,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline").finish_non_exhaustive()
    }
}

static TIMELINE: OnceLock<Timeline> = OnceLock::new();

/// The clock, calibrated on first use (`init_tracing` makes that first use, not a span).
pub(crate) fn timeline() -> &'static Timeline {
    TIMELINE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let anchor = Anchor {
            wall: SystemTime::now(),
            raw: clock.raw(),
        };
        Timeline {
            clock,
            anchor: Mutex::new(anchor),
        }
    })
}

impl Timeline {
    /// A raw reading of the counter: the only clock read on a span's hot path.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// The wall-clock time of a raw reading, by `anchor` (from [`Timeline::anchor`]: one
    /// serves a whole batch of spans).
    pub(crate) fn wall_time(&self, anchor: Anchor, raw: u64) -> SystemTime {
        if raw >= anchor.raw {
            anchor.wall + self.elapsed(anchor.raw, raw)
        } else {
            anchor.wall - self.elapsed(raw, anchor.raw)
        }
    }

    /// The time between two raw readings (zero if `end` is not after `start`).
    pub(crate) fn elapsed(&self, start: u64, end: u64) -> Duration {
        Duration::from_nanos(self.clock.delta_as_nanos(start, end))
    }

    /// The anchor to convert readings with now, renewed when it is a second old.
    pub(crate) fn anchor(&self) -> Anchor {
        let mut anchor = self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        let raw = self.clock.raw();
        if self.elapsed(anchor.raw, raw) >= ANCHOR_LIFETIME {
            *anchor = Anchor {
                wall: SystemTime::now(),
                raw,
            };
        }
        *anchor
    }
}

thread_local! {
    /// This thread's copy of the anchor, as (Unix nanoseconds, raw reading), for conversions on
    /// a span's own thread (an exemplar's time): the shared anchor's lock is taken once a
    /// second per thread, not per span, and the conversion is integer arithmetic.
    static LOCAL_ANCHOR: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// The wall-clock time of a raw reading in nanoseconds since the Unix epoch, converted on the
/// calling thread.
pub(crate) fn unix_nanos(raw: u64) -> u64 {
    let timeline = timeline();
    let fresh = || {
        let anchor = timeline.anchor();
        let wall = anchor
            .wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        (wall, anchor.raw)
    };
    let (wall, anchor_raw) = LOCAL_ANCHOR
        .try_with(|local| match local.get() {
            Some(anchor) if timeline.clock.delta_as_nanos(anchor.1, raw) < LIFETIME_NANOS => anchor,
            _ => {
                let anchor = fresh();
                local.set(Some(anchor));
                anchor
            }
        })
        .unwrap_or_else(|_| fresh());
    if raw >= anchor_raw {
        wall.saturating_add(timeline.clock.delta_as_nanos(anchor_raw, raw))
    } else {
        wall.saturating_sub(timeline.clock.delta_as_nanos(raw, anchor_raw))
    }
}

/// [`ANCHOR_LIFETIME`] in nanoseconds.
const LIFETIME_NANOS: u64 = ANCHOR_LIFETIME.as_secs() * 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_converts_to_the_wall_clock_time_it_was_taken() {
        let timeline = timeline();
        let before = SystemTime::now();
        let raw = timeline.now();
        let after = SystemTime::now();
        let wall = timeline.wall_time(timeline.anchor(), raw);
        // The counter and the wall clock agree to well within a millisecond.
        let slack = Duration::from_millis(1);
        assert!(wall + slack >= before, "{wall:?} is before {before:?}");
        assert!(wall <= after + slack, "{wall:?} is after {after:?}");
    }

    #[test]
    fn elapsed_follows_the_monotonic_clock() {
        let timeline = timeline();
        let started = std::time::Instant::now();
        let start = timeline.now();
        std::thread::sleep(Duration::from_millis(20));
        let end = timeline.now();
        let measured = started.elapsed();
        let elapsed = timeline.elapsed(start, end);
        assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
        assert!(
            elapsed <= measured + Duration::from_millis(1),
            "{elapsed:?} > {measured:?}"
        );
        assert_eq!(timeline.elapsed(end, start), Duration::ZERO);
    }

    #[test]
    fn unix_nanos_agree_with_the_wall_clock() {
        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let nanos = unix_nanos(timeline().now());
        let after = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let slack = Duration::from_millis(1).as_nanos();
        let nanos = u128::from(nanos);
        assert!(nanos + slack >= before.as_nanos() && nanos <= after.as_nanos() + slack);
    }
}
