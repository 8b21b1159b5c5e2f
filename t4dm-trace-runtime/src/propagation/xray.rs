//! The AWS X-Ray trace header, `X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;
//! Parent=53995c3f42cd8ad8;Sampled=1`.
//!
//! Written here rather than taken from `opentelemetry-aws` 0.21, whose propagator reads
//! `Sampled=?` as the trace flag `0x02`, the W3C random-trace-id flag, so that a W3C parent with
//! flags `03` is sent on as `Sampled=?` (not sampled) and an X-Ray caller's `?` is sent on to W3C
//! peers as a random-id claim; it also accepts trace ids of any length and version, and copies
//! the W3C `tracestate` into the X-Ray header (see `tests/tests/xray_propagation.rs`).

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use std::sync::LazyLock;

const HEADER: &str = "x-amzn-trace-id";
static FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [HEADER.to_owned()]);

/// The AWS X-Ray propagator (`X-Amzn-Trace-Id`), `xray` in `OTEL_PROPAGATORS`.
///
/// Extraction takes `Root` (`1-` then 8 and 24 hex digits), `Parent` (16 hex digits) and
/// `Sampled` (`1` sampled; `0`, `?` or absent not sampled), in any order, with keys matched
/// ASCII case-insensitively; other fields (`Self`, `Lineage`, ...) are ignored. A header without
/// a valid `Root` and `Parent`, with a field twice, or sent more than once is ignored, as the
/// W3C propagator ignores a bad `traceparent`. Injection writes `Root`, `Parent` and `Sampled`.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use t4dm_trace_runtime::XrayPropagator;
/// use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
/// use t4dm_trace_runtime::opentelemetry::trace::TraceContextExt;
///
/// let incoming = HashMap::from([(
///     "x-amzn-trace-id".to_owned(),
///     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
/// )]);
/// let cx = XrayPropagator::new().extract(&incoming);
/// let parent = cx.span().span_context().clone();
/// assert_eq!(parent.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
/// assert!(parent.is_sampled());
///
/// let mut outgoing = HashMap::new();
/// XrayPropagator::new().inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["x-amzn-trace-id"], incoming["x-amzn-trace-id"]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct XrayPropagator {
    _private: (),
}

impl XrayPropagator {
    /// The propagator.
    #[must_use]
    pub fn new() -> Self {
        XrayPropagator { _private: () }
    }
}

impl TextMapPropagator for XrayPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let hex = format!("{:032x}", span_context.trace_id());
        injector.set(
            HEADER,
            format!(
                "Root=1-{}-{};Parent={:016x};Sampled={}",
                &hex[..8],
                &hex[8..],
                span_context.span_id(),
                if span_context.is_sampled() { '1' } else { '0' }
            ),
        );
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let header = match extractor.get_all(HEADER).as_deref() {
            Some([value]) => parse_header(value),
            _ => None,
        };
        match header {
            Some((trace_id, span_id, sampled)) => {
                let flags = if sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                };
                cx.with_remote_span_context(SpanContext::new(
                    trace_id,
                    span_id,
                    flags,
                    true,
                    TraceState::default(),
                ))
            }
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&*FIELDS)
    }
}

/// The trace id, parent id and sampling decision of an `X-Amzn-Trace-Id` value.
pub(crate) fn parse_header(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = None;
    for field in value.split(';') {
        let field = field.trim_matches([' ', '\t']);
        if field.is_empty() {
            continue;
        }
        let (key, value) = field.split_once('=')?;
        let slot = match key.trim_matches([' ', '\t']).to_ascii_lowercase().as_str() {
            "root" => &mut root,
            "parent" => &mut parent,
            "sampled" => &mut sampled,
            _ => continue,
        };
        if slot.replace(value.trim_matches([' ', '\t'])).is_some() {
            return None;
        }
    }
    let trace_id = parse_root(root?)?;
    let span_id = hex_exact(parent?, 16)?;
    let span_id = u64::try_from(span_id).ok().filter(|id| *id != 0)?;
    let sampled = match sampled {
        Some("1") => true,
        Some("0" | "?") | None => false,
        Some(_) => return None,
    };
    Some((trace_id, SpanId::from(span_id), sampled))
}

/// `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`, not all zero.
fn parse_root(root: &str) -> Option<TraceId> {
    let rest = root.strip_prefix("1-")?;
    let (time, unique) = rest.split_once('-')?;
    let time = hex_exact(time, 8)?;
    let unique = hex_exact(unique, 24)?;
    let id = (time << 96) | unique;
    (id != 0).then(|| TraceId::from(id))
}

/// Exactly `digits` hex digits (either case).
fn hex_exact(text: &str, digits: usize) -> Option<u128> {
    if text.len() != digits || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_header_reads_fields_in_any_order_and_case() {
        let (trace_id, span_id, sampled) = parse_header(
            "sampled=1; parent=53995C3F42CD8AD8 ;Self=1-67891233-abcdef012345678912345678;\
             Root=1-5759e988-bd862e3fe1be46a994272793",
        )
        .expect("valid");
        assert_eq!(trace_id.to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(span_id.to_string(), "53995c3f42cd8ad8");
        assert!(sampled);
    }

    #[test]
    fn parse_header_never_panics_on_truncated_input() {
        let valid = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert!(parse_header(valid).is_some());
        for end in 0..valid.len() - "Sampled=1".len() - 1 {
            assert_eq!(parse_header(&valid[..end]), None, "{}", &valid[..end]);
        }
        assert_eq!(parse_header("Root=1-é"), None);
    }
}
