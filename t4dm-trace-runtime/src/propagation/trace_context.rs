//! W3C Trace Context Level 2: the `traceparent` and `tracestate` fields.
//!
//! Stricter than the SDK's propagator: exact field lengths and lowercase hex, versions above
//! `00` parsed by their first four fields, the random flag kept, and `tracestate` checked against
//! the key and value grammar of the current specification text.
//!
//! The SDK's `TraceState` type still checks keys against an older grammar (one `@`, a vendor part
//! of at most 13 characters), so it cannot hold every key the specification now allows. The
//! entries as received therefore travel in the [`Context`] next to the remote span context
//! ([`ReceivedTraceContext`]), and injection reconciles them with the span's `TraceState`.

use super::error::PropagationError;
use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
static FIELDS: LazyLock<[String; 2]> =
    LazyLock::new(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()]);

/// The `random-trace-id` flag of Trace Context Level 2 (`0x02`): at least the right-most 7 bytes
/// of the trace id are random. The SDK's `TraceFlags` names only the sampled flag.
pub const TRACE_FLAG_RANDOM: TraceFlags = TraceFlags::new(0x02);

/// The flags this version of the specification defines; the others are reserved and must be sent
/// as zero.
const KNOWN_FLAGS: u8 = 0x03;

/// The most list members a `tracestate` may hold.
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// Spaces and horizontal tabs: the optional whitespace of RFC 9110.
const OWS: [char; 2] = [' ', '\t'];

/// The W3C Trace Context propagator (`traceparent`, `tracestate`), Level 2.
///
/// Extraction follows the specification's processing model: a missing or invalid `traceparent`
/// leaves the context as it was (so the next span starts a new trace) and ignores `tracestate`;
/// an invalid `tracestate` keeps the trace and drops the whole `tracestate`. Injection writes
/// version `00`, the sampled and random flags, and the `tracestate` as received, with the entries
/// this process changed moved to the front.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use t4dm_trace_runtime::W3cTraceContextPropagator;
/// use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
/// use t4dm_trace_runtime::opentelemetry::trace::TraceContextExt;
///
/// let incoming = HashMap::from([(
///     "traceparent".to_owned(),
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03".to_owned(),
/// )]);
/// let cx = W3cTraceContextPropagator::new().extract(&incoming);
/// let parent = cx.span().span_context().clone();
/// assert!(parent.is_remote());
/// assert_eq!(parent.trace_flags().to_u8(), 0x03, "the random flag is kept");
///
/// let mut outgoing = HashMap::new();
/// W3cTraceContextPropagator::new().inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct W3cTraceContextPropagator {
    _private: (),
}

impl W3cTraceContextPropagator {
    /// The propagator.
    #[must_use]
    pub fn new() -> Self {
        W3cTraceContextPropagator { _private: () }
    }
}

impl TextMapPropagator for W3cTraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let received = cx
            .get::<ReceivedTraceContext>()
            .filter(|received| received.trace_id == span_context.trace_id());
        let mut flags = span_context.trace_flags().to_u8() & KNOWN_FLAGS;
        if let Some(received) = received {
            // The SDK resets the flags of spans it does not sample; the random flag describes the
            // trace id, so it stays whatever the caller said.
            flags |= received.flags & TRACE_FLAG_RANDOM.to_u8();
        }
        injector.set(
            TRACEPARENT,
            format!(
                "00-{:032x}-{:016x}-{flags:02x}",
                span_context.trace_id(),
                span_context.span_id()
            ),
        );

        let mut entries = match received {
            Some(received) => received.reconcile(span_context.trace_state()),
            None => span_context
                .trace_state()
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
        };
        // A pass-through (the remote parent itself is current) must not change tracestate.
        if !span_context.is_remote()
            && let Some(own) = cx.get::<OwnTraceStateEntries>()
        {
            entries.retain(|(key, _)| !own.0.iter().any(|(own_key, _)| own_key == key));
            entries.splice(0..0, own.0.iter().cloned());
            entries.truncate(MAX_TRACESTATE_MEMBERS);
        }
        if !entries.is_empty() {
            injector.set(TRACESTATE, format_tracestate(&entries));
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some((trace_id, span_id, flags)) = extract_traceparent(extractor) else {
            return cx.clone();
        };
        let entries = extractor
            .get_all(TRACESTATE)
            .and_then(|values| parse_tracestate(&values))
            .unwrap_or_default();
        let projected = project(&entries);
        let span_context = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(flags),
            true,
            projected.clone(),
        );
        cx.with_remote_span_context(span_context)
            .with_value(ReceivedTraceContext {
                trace_id,
                flags,
                entries: entries.into(),
                projected,
            })
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&*FIELDS)
    }
}

/// What a `traceparent`/`tracestate` pair said, kept in the context of the remote parent and of
/// every span below it.
#[derive(Debug, Clone)]
struct ReceivedTraceContext {
    trace_id: TraceId,
    flags: u8,
    /// Every entry, in order, by the current grammar.
    entries: Arc<[(String, String)]>,
    /// The entries the SDK's `TraceState` accepts, as given to the remote span context.
    projected: TraceState,
}

impl ReceivedTraceContext {
    /// The entries to send for a span whose `TraceState` is `current`: those received, except
    /// that entries the SDK side added or changed (a sampler, `TraceState::insert`) move to the
    /// front and entries it deleted go.
    fn reconcile(&self, current: &TraceState) -> Vec<(String, String)> {
        if *current == self.projected {
            return self.entries.to_vec();
        }
        let mut result: Vec<(String, String)> = current
            .into_iter()
            .filter(|(key, value)| self.projected.get(key) != Some(*value))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        let changed = result.len();
        for (key, value) in self.entries.iter() {
            let overridden = result[..changed]
                .iter()
                .any(|(changed_key, _)| changed_key == key);
            let deleted = self.projected.get(key).is_some() && current.get(key).is_none();
            if !overridden && !deleted {
                result.push((key.clone(), value.clone()));
            }
        }
        result.truncate(MAX_TRACESTATE_MEMBERS);
        result
    }
}

/// This service's own `tracestate` entries, set with [`with_trace_state_entry`]; front-most first.
#[derive(Debug, Clone)]
struct OwnTraceStateEntries(Vec<(String, String)>);

/// Returns `cx` with `key=value` as this service's own `tracestate` entry: spans started in the
/// returned context send it at the front of `tracestate`, replacing any entry with the same key
/// wherever it was (the specification's "modified keys move to the beginning"). Setting the same
/// key again updates it and keeps it in front.
///
/// # Errors
///
/// [`PropagationError::InvalidTraceStateKey`] or [`PropagationError::InvalidTraceStateValue`]
/// when the key or value does not follow the `tracestate` grammar.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
/// use t4dm_trace_runtime::{Context, W3cTraceContextPropagator, with_trace_state_entry};
///
/// let incoming = HashMap::from([
///     ("traceparent".to_owned(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
///     ("tracestate".to_owned(), "rojo=00f067aa0ba902b7,t4dm=old".to_owned()),
/// ]);
/// let remote = W3cTraceContextPropagator::new().extract(&incoming);
/// let cx = with_trace_state_entry(&remote, "t4dm", "new")?;
/// // Once a span of this service is current in `cx`, its outgoing `tracestate` is
/// // `t4dm=new,rojo=00f067aa0ba902b7`.
/// # Ok::<(), t4dm_trace_runtime::PropagationError>(())
/// ```
pub fn with_trace_state_entry(
    cx: &Context,
    key: &str,
    value: &str,
) -> Result<Context, PropagationError> {
    if !is_tracestate_key(key) {
        return Err(PropagationError::InvalidTraceStateKey(key.to_owned()));
    }
    if !is_tracestate_value(value) {
        return Err(PropagationError::InvalidTraceStateValue(value.to_owned()));
    }
    let mut entries = cx
        .get::<OwnTraceStateEntries>()
        .map(|own| own.0.clone())
        .unwrap_or_default();
    entries.retain(|(existing, _)| existing != key);
    entries.insert(0, (key.to_owned(), value.to_owned()));
    entries.truncate(MAX_TRACESTATE_MEMBERS);
    Ok(cx.with_value(OwnTraceStateEntries(entries)))
}

/// The one valid `traceparent`, or `None` (absent, invalid, or sent more than once).
fn extract_traceparent(extractor: &dyn Extractor) -> Option<(TraceId, SpanId, u8)> {
    let values = extractor.get_all(TRACEPARENT)?;
    match values.as_slice() {
        [value] => parse_traceparent(value),
        _ => None,
    }
}

/// Parses a `traceparent` value: `version-trace_id-parent_id-flags`, lowercase hex.
///
/// Version `00` must be exactly 55 characters. A higher version (not `ff`) is parsed by its first
/// four fields, which must be followed by the end or a `-`; what follows is ignored. Flags other
/// than sampled and random are dropped, as the specification asks of unknown flags.
pub(crate) fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, u8)> {
    let value = value.trim_matches(OWS).as_bytes();
    let version = lower_hex(value.get(0..2)?)?;
    let fixed = value.get(..55)?;
    if version == 0xff || (version == 0 && value.len() != 55) {
        return None;
    }
    if value.len() > 55 && value[55] != b'-' {
        return None;
    }
    if fixed[2] != b'-' || fixed[35] != b'-' || fixed[52] != b'-' {
        return None;
    }
    let trace_id = lower_hex(&fixed[3..35])?;
    let span_id = lower_hex(&fixed[36..52])?;
    let flags = lower_hex(&fixed[53..55])?;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    // The lengths above bound each value: 32 hex digits fit u128, 16 fit u64, 2 fit u8.
    let span_id = u64::try_from(span_id).ok()?;
    let flags = u8::try_from(flags).ok()? & KNOWN_FLAGS;
    Some((TraceId::from(trace_id), SpanId::from(span_id), flags))
}

/// The number written by `digits` in lowercase hex (at most 32 digits), or `None`.
fn lower_hex(digits: &[u8]) -> Option<u128> {
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    digits.iter().try_fold(0u128, |number, &digit| {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some((number << 4) | u128::from(value))
    })
}

/// Parses the `tracestate` fields, combined in order: `None` when the list is invalid (a bad key
/// or value, a member without `=`, more than 32 members). Empty members are skipped; a key seen
/// again is dropped, keeping the first (the specification lets receivers discard duplicates).
pub(crate) fn parse_tracestate(values: &[&str]) -> Option<Vec<(String, String)>> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut members = 0;
    for member in values.iter().flat_map(|value| value.split(',')) {
        let member = member.trim_matches(OWS);
        if member.is_empty() {
            continue;
        }
        members += 1;
        if members > MAX_TRACESTATE_MEMBERS {
            return None;
        }
        let (key, value) = member.split_once('=')?;
        if !is_tracestate_key(key) || !is_tracestate_value(value) {
            return None;
        }
        if !entries.iter().any(|(existing, _)| existing == key) {
            entries.push((key.to_owned(), value.to_owned()));
        }
    }
    Some(entries)
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, with `keychar` one of `a-z 0-9 _ - * / @`.
pub(crate) fn is_tracestate_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= 256
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && rest.iter().all(|&byte| {
            byte.is_ascii_lowercase()
                || byte.is_ascii_digit()
                || matches!(byte, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// `value = 0*255(chr) nblk-chr`: 1 to 256 printable ASCII characters other than `,` and `=`,
/// not ending in a space.
pub(crate) fn is_tracestate_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 256
        && bytes.last() != Some(&b' ')
        && bytes
            .iter()
            .all(|&byte| (0x20..=0x7e).contains(&byte) && byte != b',' && byte != b'=')
}

/// The entries the SDK's `TraceState` accepts, in order.
fn project(entries: &[(String, String)]) -> TraceState {
    let accepted = entries
        .iter()
        .filter(|(key, value)| TraceState::from_key_value([(key, value)]).is_ok());
    TraceState::from_key_value(accepted.map(|(key, value)| (key, value))).unwrap_or_default()
}

fn format_tracestate(entries: &[(String, String)]) -> String {
    let mut header = String::new();
    for (index, (key, value)) in entries.iter().enumerate() {
        if index > 0 {
            header.push(',');
        }
        let _ = write!(header, "{key}={value}");
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn lower_hex_rejects_uppercase_and_non_hex() {
        assert_eq!(lower_hex(b"ff"), Some(255));
        assert_eq!(lower_hex(b"FF"), None);
        assert_eq!(lower_hex(b"g0"), None);
        assert_eq!(lower_hex(b""), None);
    }

    #[test]
    fn parse_traceparent_reads_the_four_fields() {
        let (trace_id, span_id, flags) = parse_traceparent(VALID).expect("valid");
        assert_eq!(
            format!("{trace_id:032x}"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(format!("{span_id:016x}"), "00f067aa0ba902b7");
        assert_eq!(flags, 1);
    }

    #[test]
    fn parse_traceparent_never_indexes_past_a_short_value() {
        for length in 0..VALID.len() {
            assert_eq!(
                parse_traceparent(&VALID[..length]),
                None,
                "{length} characters"
            );
        }
    }

    #[test]
    fn parse_traceparent_rejects_non_ascii_without_panicking() {
        assert_eq!(
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(parse_traceparent("é"), None);
    }

    #[test]
    fn reconcile_keeps_entries_the_sdk_cannot_hold() {
        let entries =
            parse_tracestate(&["foo@@bar=1,congo=2"]).expect("valid by the current grammar");
        let projected = project(&entries);
        assert_eq!(
            projected.header(),
            "congo=2",
            "the SDK type refuses a key with two `@`"
        );
        let received = ReceivedTraceContext {
            trace_id: TraceId::from(1),
            flags: 0,
            entries: entries.into(),
            projected: projected.clone(),
        };
        assert_eq!(
            format_tracestate(&received.reconcile(&projected)),
            "foo@@bar=1,congo=2"
        );
        let updated = projected.insert("rojo", "3").expect("valid");
        assert_eq!(
            format_tracestate(&received.reconcile(&updated)),
            "rojo=3,foo@@bar=1,congo=2"
        );
        let deleted = projected.delete("congo").expect("valid");
        assert_eq!(
            format_tracestate(&received.reconcile(&deleted)),
            "foo@@bar=1"
        );
    }
}
