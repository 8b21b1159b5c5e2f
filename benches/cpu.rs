//! CPU time per span in all threads together: what the calling thread spends and what the
//! export thread spends turning the span into what the exporter receives. One thread records
//! 1,000,000 spans in a tight loop, then the pipeline is flushed; the CPU time of every thread
//! of the process (Linux `/proc/self/task/*/schedstat`, in nanoseconds) is read before and after.
//!
//! Side by side in one run: `#[traced]` with 0 and 2 attributes and the SDK's `in_span` (both
//! into t4dm-trace's pipeline and a counting exporter), and `#[fastrace::trace]` under a root
//! (into its own collector and a counting reporter).

#![expect(
    clippy::cast_precision_loss,
    reason = "report figures: nanoseconds far below 2^52"
)]

use std::time::Instant;
use t4dm_trace_benches::{
    CountingReporter, fastrace_trace, runtime_tracer, sdk_in_span, traced_sync, traced_sync_attrs,
};
use t4dm_trace_runtime::{TracingConfig, flush_tracing, init_tracing, tracing_stats};

const SPANS: u64 = 1_000_000;
const ROUNDS: usize = 3;

/// CPU time of every live thread of the process, in nanoseconds. The threads that matter (this
/// one and the export threads) live for the whole run.
fn process_cpu_nanos() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

struct Measured {
    caller_nanos: f64,
    all_threads_nanos: f64,
}

/// Runs `record` (which records `SPANS` spans) then `settle` (which waits until they were all
/// exported), `ROUNDS` times, and keeps the round with the least CPU time.
fn measure(record: impl Fn(), settle: impl Fn(u64)) -> Measured {
    (0..ROUNDS)
        .map(|round| {
            let cpu_before = process_cpu_nanos();
            let start = Instant::now();
            record();
            let caller = start.elapsed();
            settle(SPANS * (round as u64 + 1));
            let cpu = process_cpu_nanos() - cpu_before;
            Measured {
                caller_nanos: caller.as_nanos() as f64 / SPANS as f64,
                all_threads_nanos: cpu as f64 / SPANS as f64,
            }
        })
        .min_by(|a, b| a.all_threads_nanos.total_cmp(&b.all_threads_nanos))
        .expect("at least one round")
}

/// Flushes t4dm-trace's pipeline and checks that nothing was dropped.
fn settle_pipeline() {
    flush_tracing().expect("the flush completes");
    let stats = tracing_stats();
    let counting = stats.exporter("counting").expect("the counting exporter");
    assert_eq!(counting.spans_dropped, 0, "{counting:?}");
    assert_eq!(counting.spans_queued, 0, "{counting:?}");
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let config = TracingConfig::builder()
        .with_enabled(true)
        .with_span_exporter("counting", t4dm_trace_benches::CountingExporter::default())
        .build();
    std::mem::forget(init_tracing(config).expect("tracing initialises"));
    let reporter = CountingReporter::default();
    fastrace::set_reporter(reporter.clone(), fastrace::collector::Config::default());
    let sdk = runtime_tracer("bench.sdk");

    let cases = [
        (
            "`#[traced]`, 0 attributes",
            measure(
                || (0..SPANS).for_each(|_| traced_sync()),
                |_| settle_pipeline(),
            ),
        ),
        (
            "`#[traced]`, 2 attributes",
            measure(
                || {
                    (0..SPANS).for_each(|_| {
                        traced_sync_attrs(std::hint::black_box(42), "ww_episodes");
                    });
                },
                |_| settle_pipeline(),
            ),
        ),
        (
            "SDK by hand (`in_span`), 0 attributes",
            measure(
                || (0..SPANS).for_each(|_| sdk_in_span(&sdk)),
                |_| settle_pipeline(),
            ),
        ),
        (
            "`#[fastrace::trace]` under a root per 1,000 calls",
            measure(
                || {
                    for _ in 0..SPANS / 1000 {
                        let root = fastrace::Span::root(
                            "bench.root",
                            fastrace::collector::SpanContext::random(),
                        );
                        let _parent = root.set_local_parent();
                        (0..1000).for_each(|_| fastrace_trace());
                    }
                },
                |expected| {
                    // Its roots are reported too: one per 1,000 spans.
                    let expected = expected + expected / 1000;
                    let limit = Instant::now() + std::time::Duration::from_secs(60);
                    while reporter.count() < expected {
                        assert!(Instant::now() < limit, "fastrace lost spans");
                        fastrace::flush();
                    }
                },
            ),
        ),
    ];
    println!(
        "\n1 thread x {SPANS} spans, then a flush; CPU of every thread\n\
         | case | calling thread, ns/span (wall) | all threads, ns/span (CPU) |\n\
         |---|---:|---:|"
    );
    for (case, measured) in cases {
        println!(
            "| {case} | {:.0} | {:.0} |",
            measured.caller_nanos, measured.all_threads_nanos
        );
    }
}
