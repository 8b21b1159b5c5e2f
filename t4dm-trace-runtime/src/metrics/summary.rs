//! The console exporter's summary at shutdown: one row per span name with calls, errors, p50,
//! p95 and max duration. Percentiles are estimated from the histogram's buckets as Prometheus's
//! `histogram_quantile` does (linear within a bucket), narrowed by the smallest and largest
//! durations seen; max is exact.

use super::registry::{BOUNDS_MS, BUCKETS, SeriesKey, SeriesSnapshot, Totals};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The table, or an empty string when no span ended.
pub(crate) fn table(series: &[SeriesSnapshot]) -> String {
    let mut rows: BTreeMap<String, (Totals, u64)> = BTreeMap::new();
    for snapshot in series {
        let (name, is_error) = match &snapshot.key {
            SeriesKey::Span { name, status, .. } => (
                name.to_string(),
                *status == super::registry::StatusCode::Error,
            ),
            SeriesKey::Overflow => ("(other names: overflow)".to_owned(), false),
        };
        let row = rows.entry(name).or_default();
        row.0.add_totals(&snapshot.totals);
        if is_error {
            row.1 += snapshot.totals.calls;
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let width = rows
        .keys()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(out, "span metrics (t4dm-trace):");
    let _ = writeln!(
        out,
        "  {:<width$}  {:>8}  {:>8}  {:>10}  {:>10}  {:>10}",
        "span", "calls", "errors", "p50 ms", "p95 ms", "max ms"
    );
    for (name, (totals, errors)) in &rows {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:>8}  {:>10.3}  {:>10.3}  {:>10.3}",
            name,
            totals.calls,
            errors,
            quantile(totals, 0.50),
            quantile(totals, 0.95),
            millis(totals.max_nanos),
        );
    }
    out
}

fn millis(nanos: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "durations far below 2^53 ns")]
    let nanos = nanos as f64;
    nanos / 1e6
}

/// The `q` quantile in milliseconds, interpolated within its bucket.
pub(crate) fn quantile(totals: &Totals, q: f64) -> f64 {
    let count = totals.count();
    if count == 0 {
        return 0.0;
    }
    let max = millis(totals.max_nanos);
    let min = millis(totals.min_nanos.min(totals.max_nanos));
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^53")]
    let rank = q * count as f64;
    let mut seen = 0.0;
    for index in 0..BUCKETS {
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^53")]
        let in_bucket = totals.buckets[index] as f64;
        if in_bucket > 0.0 && seen + in_bucket >= rank {
            let lower = if index == 0 {
                min
            } else {
                BOUNDS_MS[index - 1].max(min)
            };
            let upper = BOUNDS_MS.get(index).copied().unwrap_or(max).min(max);
            let fraction = ((rank - seen) / in_bucket).clamp(0.0, 1.0);
            return lower + (upper - lower).max(0.0) * fraction;
        }
        seen += in_bucket;
    }
    max
}
