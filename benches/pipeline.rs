//! Does the batch pipeline lose spans, and at what memory? Two threads each record 1,000,000
//! spans in a tight loop into an exporter that counts and discards; every scenario reports
//! created, exported and dropped spans and the peak resident memory it added.
//!
//! Side by side in one run: t4dm-trace's pipeline with its default settings, and the SDK's
//! `BatchSpanProcessor` with its defaults and with a queue large enough to keep everything.

#![expect(
    clippy::cast_precision_loss,
    reason = "report figures: nanoseconds and percentages far below 2^52"
)]

use std::time::Instant;
use t4dm_trace_benches::{
    CountingExporter, peak_memory, reset_peak_memory, sdk_in_span, traced_sync,
};
use t4dm_trace_runtime::opentelemetry::trace::TracerProvider as _;
use t4dm_trace_runtime::opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider,
};
use t4dm_trace_runtime::{TracingConfig, init_tracing, tracing_stats};

const THREADS: usize = 2;
const SPANS_PER_THREAD: u64 = 1_000_000;

struct Outcome {
    scenario: &'static str,
    created: u64,
    exported: u64,
    dropped: u64,
    nanos_per_span: f64,
    peak_added: Option<u64>,
}

fn in_threads(body: &(dyn Fn() + Sync)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..SPANS_PER_THREAD {
                    body();
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / (THREADS as u64 * SPANS_PER_THREAD) as f64
}

fn measure(scenario: &'static str, run: impl FnOnce() -> (f64, u64, u64, u64)) -> Outcome {
    reset_peak_memory();
    let before = peak_memory();
    let (nanos_per_span, created, exported, dropped) = run();
    let after = peak_memory();
    Outcome {
        scenario,
        created,
        exported,
        dropped,
        nanos_per_span,
        peak_added: before
            .zip(after)
            .map(|(before, after)| after.saturating_sub(before)),
    }
}

fn t4dm_defaults() -> Outcome {
    measure("t4dm-trace pipeline, default settings", || {
        let config = TracingConfig::builder()
            .with_enabled(true)
            .with_span_exporter("counting", CountingExporter::default())
            .build();
        let guard = init_tracing(config).expect("tracing initialises");
        let nanos = in_threads(&traced_sync);
        t4dm_trace_runtime::flush_tracing().expect("the flush completes");
        let stats = tracing_stats();
        let counting = stats
            .exporter("counting")
            .expect("the counting exporter")
            .clone();
        drop(guard);
        (
            nanos,
            counting.spans_created,
            counting.spans_exported,
            counting.spans_dropped,
        )
    })
}

fn sdk_batch(scenario: &'static str, max_queue_size: Option<usize>) -> Outcome {
    measure(scenario, || {
        let exporter = CountingExporter::default();
        let mut config = BatchConfigBuilder::default();
        if let Some(size) = max_queue_size {
            config = config.with_max_queue_size(size);
        }
        let processor = BatchSpanProcessor::builder(exporter.clone())
            .with_batch_config(config.build())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("bench.sdk.batch");
        let nanos = in_threads(&|| sdk_in_span(&tracer));
        let _ = provider.force_flush();
        let _ = provider.shutdown();
        let created = THREADS as u64 * SPANS_PER_THREAD;
        let received = exporter.count();
        (nanos, created, received, created - received)
    })
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let outcomes = [
        t4dm_defaults(),
        sdk_batch(
            "opentelemetry_sdk BatchSpanProcessor, default settings",
            None,
        ),
        sdk_batch(
            "opentelemetry_sdk BatchSpanProcessor, queue of 2,000,000",
            Some(2_000_000),
        ),
    ];
    println!(
        "\n{THREADS} threads x {SPANS_PER_THREAD} spans, counting exporter\n\
         | scenario | created | exported | dropped | ns/span (wall) | peak memory added |\n\
         |---|---:|---:|---:|---:|---:|"
    );
    for outcome in outcomes {
        println!(
            "| {} | {} | {} | {} ({:.1}%) | {:.0} | {} |",
            outcome.scenario,
            outcome.created,
            outcome.exported,
            outcome.dropped,
            100.0 * outcome.dropped as f64 / outcome.created.max(1) as f64,
            outcome.nanos_per_span,
            outcome.peak_added.map_or_else(
                || "n/a".to_owned(),
                |bytes| format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
            ),
        );
    }
}
