//! The cost span metrics add on the calling thread (issue 9): the metric update alone, and a
//! whole `#[traced]` span with metrics on and off, sampled and unsampled, in one process.
//!
//! Tracing is initialised once, with a counting span exporter and span metrics on (their sink:
//! a Prometheus endpoint on an ephemeral loopback port, never scraped). "Metrics off" turns
//! recording off at run time, which leaves a span exactly as `T4DM_OTEL_METRICS=false` does:
//! one relaxed load and a branch at its start.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use t4dm_trace_benches::{CountingExporter, print_pipeline_counts, traced_sync};
use t4dm_trace_runtime::__private::span_metrics;
use t4dm_trace_runtime::opentelemetry::trace::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState,
};
use t4dm_trace_runtime::{TracingConfig, init_tracing, traced};

/// A span whose parent is an unsampled remote span: the parent-based sampler drops it, so the
/// SDK starts a non-recording span and no processor sees it.
#[traced("bench.unsampled", parent = unsampled_parent)]
#[inline(never)]
fn traced_unsampled(unsampled_parent: &SpanContext) {
    black_box(());
}

fn initialise() {
    let config = TracingConfig::builder()
        .with_enabled(true)
        .with_span_exporter("counting", CountingExporter::default())
        .from_lookup(|name| (name == "T4DM_OTEL_PROMETHEUS_ADDR").then(|| "127.0.0.1:0".to_owned()))
        .expect("the configuration resolves");
    assert!(config.metrics().enabled(), "span metrics are on");
    // The guard lives for the whole process: dropping it would turn tracing off.
    std::mem::forget(init_tracing(config).expect("tracing initialises"));
}

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("span metrics/update alone");
    span_metrics::set_enabled(false);
    group.bench_function("metrics off", |b| {
        b.iter(|| span_metrics::record_span_end(black_box("bench.update"), 1_500_000, true));
    });
    span_metrics::set_enabled(true);
    group.bench_function("sampled span (with exemplar)", |b| {
        b.iter(|| span_metrics::record_span_end(black_box("bench.update"), 1_500_000, true));
    });
    group.bench_function("unsampled span", |b| {
        b.iter(|| span_metrics::record_span_end(black_box("bench.update"), 1_500_000, false));
    });
    let dynamic = String::from("bench.update.dynamic");
    group.bench_function("sampled span, dynamic name", |b| {
        b.iter(|| span_metrics::record_span_end_dynamic(black_box(&dynamic), 1_500_000, true));
    });
    group.bench_function("two threads at once, same series (per call)", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        for _ in 0..iterations {
                            span_metrics::record_span_end(
                                black_box("bench.update"),
                                1_500_000,
                                true,
                            );
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    group.finish();
}

fn whole_span(c: &mut Criterion) {
    let unsampled = SpanContext::new(
        TraceId::from_bytes([3; 16]),
        SpanId::from_bytes([4; 8]),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    let mut group = c.benchmark_group("span metrics/traced span");
    for (label, on) in [("metrics off", false), ("metrics on", true)] {
        span_metrics::set_enabled(on);
        group.bench_function(format!("sampled, {label}"), |b| b.iter(traced_sync));
        group.bench_function(format!("unsampled, {label}"), |b| {
            b.iter(|| traced_unsampled(black_box(&unsampled)));
        });
    }
    group.finish();
    print_pipeline_counts("span metrics");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn benches(c: &mut Criterion) {
    initialise();
    update(c);
    whole_span(c);
}

criterion_group! {
    name = span_metrics_benches;
    config = config();
    targets = benches
}
criterion_main!(span_metrics_benches);
