//! The Prometheus exposition of the span metrics: the `OpenMetrics` text format (with exemplars)
//! and the classic Prometheus text format (without), named as the Collector's Prometheus
//! exporter names the `spanmetrics` connector's metrics.
//!
//! Written here rather than with `prometheus-client`: that crate (0.26) builds exemplars only
//! through its own metric types, one observation at a time (its `Exemplar` has no public
//! constructor), so it cannot expose totals aggregated elsewhere with their exemplars, and it
//! has no classic text format. What this writes is checked by an independent parser (Python's
//! `prometheus_client`) in the tests and CI.

use super::registry::{BOUNDS_MS, SeriesKey, SeriesSnapshot, kind_name};
use std::fmt::Write as _;

/// The counter's Prometheus name (without `_total`).
pub(crate) const CALLS: &str = "traces_span_metrics_calls";
/// The histogram's Prometheus name, with its unit.
pub(crate) const DURATION: &str = "traces_span_metrics_duration_milliseconds";

/// `Content-Type` of the `OpenMetrics` text format.
pub(crate) const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic text format.
pub(crate) const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenMetrics,
    Classic,
}

impl Format {
    /// `OpenMetrics` when the `Accept` header asks for it, classic otherwise.
    pub(crate) fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Classic,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Classic => CLASSIC_CONTENT_TYPE,
        }
    }
}

/// Label values escaped as both formats require: backslash, double quote and newline.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `{service_name="..",span_name="..",...` without the closing brace.
fn labels(key: &SeriesKey, service_name: &str) -> String {
    let mut out = String::from("{");
    match key {
        SeriesKey::Span { name, kind, status } => {
            out.push_str("service_name=\"");
            escape(service_name, &mut out);
            out.push_str("\",span_name=\"");
            escape(name, &mut out);
            let _ = write!(
                out,
                "\",span_kind=\"{}\",status_code=\"{}\"",
                kind_name(*kind),
                status.as_str()
            );
        }
        SeriesKey::Overflow => out.push_str("otel_metric_overflow=\"true\""),
    }
    out
}

fn millis(nanos: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "durations far below 2^53 ns")]
    let nanos = nanos as f64;
    nanos / 1e6
}

/// A float as both formats accept it (`1.0`, `0.25`, `1e-7`).
fn float(value: f64) -> String {
    format!("{value:?}")
}

/// The whole exposition.
pub(crate) fn encode(series: &[SeriesSnapshot], service_name: &str, format: Format) -> String {
    let mut out = String::with_capacity(256 + series.len() * 1024);
    let open = format == Format::OpenMetrics;
    // The counter.
    if open {
        let _ = writeln!(out, "# TYPE {CALLS} counter");
        let _ = writeln!(out, "# HELP {CALLS} {}.", super::CALLS_DESCRIPTION);
    } else {
        let _ = writeln!(out, "# HELP {CALLS}_total {}.", super::CALLS_DESCRIPTION);
        let _ = writeln!(out, "# TYPE {CALLS}_total counter");
    }
    for snapshot in series {
        let _ = writeln!(
            out,
            "{CALLS}_total{}}} {}",
            labels(&snapshot.key, service_name),
            snapshot.totals.calls
        );
    }
    // The histogram.
    if open {
        let _ = writeln!(out, "# TYPE {DURATION} histogram");
        let _ = writeln!(out, "# UNIT {DURATION} milliseconds");
        let _ = writeln!(out, "# HELP {DURATION} {}.", super::DURATION_DESCRIPTION);
    } else {
        let _ = writeln!(out, "# HELP {DURATION} {}.", super::DURATION_DESCRIPTION);
        let _ = writeln!(out, "# TYPE {DURATION} histogram");
    }
    for snapshot in series {
        let labels = labels(&snapshot.key, service_name);
        let totals = &snapshot.totals;
        let mut cumulative = 0;
        for (index, count) in totals.buckets.iter().enumerate() {
            cumulative += count;
            let le = BOUNDS_MS
                .get(index)
                .map_or_else(|| "+Inf".to_owned(), |bound| float(*bound));
            let _ = write!(out, "{DURATION}_bucket{labels},le=\"{le}\"}} {cumulative}");
            if open && let Some(exemplar) = totals.exemplars[index] {
                #[expect(clippy::cast_precision_loss, reason = "seconds since 1970 as a float")]
                let seconds = exemplar.time_unix_nanos as f64 / 1e9;
                let _ = write!(
                    out,
                    " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}",
                    exemplar.trace_id,
                    exemplar.span_id,
                    float(millis(exemplar.duration_nanos)),
                    float(seconds)
                );
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{DURATION}_count{labels}}} {}", totals.count());
        let _ = writeln!(
            out,
            "{DURATION}_sum{labels}}} {}",
            float(millis(totals.sum_nanos))
        );
    }
    if open {
        out.push_str("# EOF\n");
    }
    out
}
