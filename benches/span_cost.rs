//! Per-call cost on the calling thread, `#[traced]` beside its peers, in one run.
//!
//! Order matters: the "never initialised" cases run first, before anything initialises
//! tracing in this process; then `init_tracing` installs the real batch pipeline feeding a
//! counting exporter, which every enabled case (ours, the SDK by hand, tracing-opentelemetry)
//! shares. `T4DM_OTEL_ENABLED=false` is measured by `disabled_by_env.rs`, in its own process.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use t4dm_trace_benches::{
    CountingExporter, CountingReporter, context_floor, fastrace_trace, fastrace_trace_async, plain,
    plain_async, print_pipeline_counts, runtime_tracer, sdk_async, sdk_in_span, sdk_in_span_attrs,
    traced_async, traced_async_attrs, traced_sync, traced_sync_attrs, tracing_instrument,
    tracing_instrument_async, tracing_instrument_attrs,
};
use t4dm_trace_runtime::{TracingConfig, init_tracing};
use tracing_subscriber::layer::SubscriberExt as _;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Awaits `call()` `iterations` times inside one `block_on`, timing only the loop.
fn async_loop<F: Future>(iterations: u64, call: impl Fn() -> F) -> Duration {
    current_thread().block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(call().await);
        }
        start.elapsed()
    })
}

fn never_initialised(c: &mut Criterion) {
    assert!(
        t4dm_trace_runtime::tracing_stats().exporters.is_empty(),
        "nothing may initialise tracing before these cases"
    );
    let mut sync = c.benchmark_group("sync/disabled");
    sync.bench_function("uninstrumented", |b| b.iter(plain));
    sync.bench_function("traced never initialised", |b| b.iter(traced_sync));
    sync.bench_function("tracing::instrument no subscriber", |b| {
        b.iter(tracing_instrument);
    });
    sync.bench_function("fastrace no parent", |b| b.iter(fastrace_trace));
    sync.finish();
    let mut future = c.benchmark_group("async/disabled");
    future.bench_function("uninstrumented", |b| {
        b.iter_custom(|n| async_loop(n, plain_async));
    });
    future.bench_function("traced never initialised", |b| {
        b.iter_custom(|n| async_loop(n, traced_async));
    });
    future.bench_function("tracing::instrument no subscriber", |b| {
        b.iter_custom(|n| async_loop(n, tracing_instrument_async));
    });
    future.bench_function("fastrace no parent", |b| {
        b.iter_custom(|n| async_loop(n, fastrace_trace_async));
    });
    future.finish();
}

/// Installs the pipeline every enabled case shares, and fastrace's counting reporter.
fn initialise() -> CountingReporter {
    let config = TracingConfig::builder()
        .with_enabled(true)
        .with_span_exporter("counting", CountingExporter::default())
        .build();
    // The guard lives for the whole process: dropping it would turn tracing off.
    std::mem::forget(init_tracing(config).expect("tracing initialises"));
    let reporter = CountingReporter::default();
    fastrace::set_reporter(reporter.clone(), fastrace::collector::Config::default());
    reporter
}

/// fastrace records only under a root; a root per 1,000 calls keeps its buffer bounded.
fn fastrace_loop(iterations: u64, call: impl Fn()) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut remaining = iterations;
    while remaining > 0 {
        let chunk = remaining.min(1000);
        let root = fastrace::Span::root("bench.root", fastrace::collector::SpanContext::random());
        let _parent = root.set_local_parent();
        let start = Instant::now();
        for _ in 0..chunk {
            call();
        }
        elapsed += start.elapsed();
        remaining -= chunk;
    }
    elapsed
}

fn enabled(c: &mut Criterion) {
    let reporter = initialise();
    let sdk = runtime_tracer("bench.sdk");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(runtime_tracer("bench.tracing")));
    let dispatch = tracing::Dispatch::new(subscriber);

    let mut sync = c.benchmark_group("sync/enabled");
    sync.bench_function("uninstrumented", |b| b.iter(plain));
    sync.bench_function(BenchmarkId::new("traced", "0 attributes"), |b| {
        b.iter(traced_sync);
    });
    sync.bench_function(BenchmarkId::new("sdk in_span", "0 attributes"), |b| {
        b.iter(|| sdk_in_span(&sdk));
    });
    sync.bench_function(BenchmarkId::new("traced", "2 attributes"), |b| {
        b.iter(|| traced_sync_attrs(black_box(42), black_box("ww_episodes")));
    });
    sync.bench_function(BenchmarkId::new("sdk in_span", "2 attributes"), |b| {
        b.iter(|| sdk_in_span_attrs(&sdk, black_box(42), black_box("ww_episodes")));
    });
    sync.bench_function(
        BenchmarkId::new("tracing-opentelemetry", "0 attributes"),
        |b| {
            tracing::dispatcher::with_default(&dispatch, || b.iter(tracing_instrument));
        },
    );
    sync.bench_function(
        BenchmarkId::new("tracing-opentelemetry", "2 attributes"),
        |b| {
            tracing::dispatcher::with_default(&dispatch, || {
                b.iter(|| tracing_instrument_attrs(black_box(42), black_box("ww_episodes")));
            });
        },
    );
    sync.bench_function(BenchmarkId::new("fastrace", "0 attributes"), |b| {
        b.iter_custom(|n| fastrace_loop(n, fastrace_trace));
    });
    sync.bench_function("opentelemetry context alone", |b| b.iter(context_floor));
    sync.finish();
    print_pipeline_counts("sync/enabled");

    let mut future = c.benchmark_group("async/enabled");
    future.bench_function("uninstrumented", |b| {
        b.iter_custom(|n| async_loop(n, plain_async));
    });
    future.bench_function(BenchmarkId::new("traced", "0 attributes"), |b| {
        b.iter_custom(|n| async_loop(n, traced_async));
    });
    future.bench_function(BenchmarkId::new("traced", "2 attributes"), |b| {
        b.iter_custom(|n| async_loop(n, || traced_async_attrs(42, "ww_episodes")));
    });
    future.bench_function(BenchmarkId::new("sdk with_context", "0 attributes"), |b| {
        b.iter_custom(|n| async_loop(n, || sdk_async(&sdk)));
    });
    future.bench_function(
        BenchmarkId::new("tracing-opentelemetry", "0 attributes"),
        |b| {
            tracing::dispatcher::with_default(&dispatch, || {
                b.iter_custom(|n| async_loop(n, tracing_instrument_async));
            });
        },
    );
    future.bench_function(BenchmarkId::new("fastrace", "0 attributes"), |b| {
        b.iter_custom(|n| {
            fastrace_loop(n, || {
                futures_lite_block_on(fastrace_trace_async());
            })
        });
    });
    future.finish();
    print_pipeline_counts("async/enabled");
    fastrace::flush();
    eprintln!("fastrace: reported {} spans", reporter.count());
}

/// Polls a future that never waits to completion, without a runtime: fastrace's async spans
/// are measured as the others are, inside one loop on one thread.
fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn two_threads(c: &mut Criterion) {
    let sdk = runtime_tracer("bench.sdk.threads");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(runtime_tracer("bench.tracing.threads")));
    let dispatch = tracing::Dispatch::new(subscriber);
    let mut group = c.benchmark_group("two threads");
    // One iteration is one span on each thread, recorded at the same time; `run` records
    // `iterations` spans on its thread.
    let in_two_threads = |iterations: u64, run: &(dyn Fn(u64) + Sync)| {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| run(iterations));
            }
        });
        start.elapsed()
    };
    let repeat = |iterations: u64, call: &dyn Fn()| {
        for _ in 0..iterations {
            call();
        }
    };
    group.bench_function("traced", |b| {
        b.iter_custom(|n| in_two_threads(n, &|n| repeat(n, &traced_sync)));
    });
    group.bench_function("sdk in_span", |b| {
        b.iter_custom(|n| in_two_threads(n, &|n| repeat(n, &|| sdk_in_span(&sdk))));
    });
    group.bench_function("tracing-opentelemetry", |b| {
        b.iter_custom(|n| {
            in_two_threads(n, &|n| {
                tracing::dispatcher::with_default(&dispatch, || repeat(n, &tracing_instrument));
            })
        });
    });
    group.bench_function("fastrace", |b| {
        b.iter_custom(|n| {
            in_two_threads(n, &|n| {
                fastrace_loop(n, fastrace_trace);
            })
        });
    });
    group.finish();
    print_pipeline_counts("two threads");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = never_initialised, enabled, two_threads
}
criterion_main!(benches);
