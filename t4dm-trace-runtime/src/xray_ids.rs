//! X-Ray trace ids: whether new traces need them, and how to make one.
//!
//! X-Ray refuses a trace whose id does not start with the epoch seconds of its start (32 bits),
//! followed by 96 random bits. When X-Ray export is on, `init_tracing` installs
//! `opentelemetry-aws`'s `XrayIdGenerator` on the SDK provider (spans started through the SDK
//! tracer and the global provider) and sets the flag below, which any code that makes trace ids
//! itself (such as a span hot path with its own thread-local generator) must honour through
//! [`xray_trace_id`].

use opentelemetry::trace::TraceId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static XRAY_TRACE_IDS: AtomicBool = AtomicBool::new(false);

/// Whether new trace ids must be X-Ray trace ids: set once by `init_tracing`.
#[inline]
pub(crate) fn xray_trace_ids() -> bool {
    XRAY_TRACE_IDS.load(Ordering::Relaxed)
}

pub(crate) fn set_xray_trace_ids(on: bool) {
    XRAY_TRACE_IDS.store(on, Ordering::Relaxed);
}

/// An X-Ray trace id made of the current epoch seconds and the low 96 bits of `random`.
#[inline]
pub(crate) fn xray_trace_id(random: u128) -> TraceId {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Epoch seconds fit 32 bits until 2106; the low 32 bits are what X-Ray reads in any case.
    let seconds = u128::from(seconds & 0xffff_ffff);
    let unique = random & ((1 << 96) - 1);
    // A zero unique part would still be a valid id: the time part is never zero.
    TraceId::from((seconds << 96) | unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_32_bits_are_the_epoch_seconds() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let id = xray_trace_id(u128::MAX);
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let text = id.to_string();
        let seconds = u64::from_str_radix(&text[..8], 16).unwrap();
        assert!((before..=after).contains(&seconds), "{text}");
        assert_eq!(&text[8..], "ffffffffffffffffffffffff");
    }

    #[cfg(feature = "xray")]
    #[test]
    fn opentelemetry_aws_makes_the_same_shape_of_id() {
        use opentelemetry_sdk::trace::IdGenerator as _;
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let id = opentelemetry_aws::trace::XrayIdGenerator::default().new_trace_id();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seconds = u64::from_str_radix(&id.to_string()[..8], 16).unwrap();
        assert!((before..=after).contains(&seconds), "{id}");
    }
}
