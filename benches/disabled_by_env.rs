//! `#[traced]` with tracing turned off by `T4DM_OTEL_ENABLED=false`, beside the uninstrumented
//! call, in a process of its own (tracing is initialised once per process).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use t4dm_trace_benches::{plain, plain_async, traced_async, traced_sync, traced_sync_attrs};
use t4dm_trace_runtime::{TracingConfig, init_tracing};

fn disabled_by_env(c: &mut Criterion) {
    let config = TracingConfig::from_lookup(|name| {
        (name == "T4DM_OTEL_ENABLED").then(|| "false".to_owned())
    })
    .expect("the configuration is valid");
    std::mem::forget(init_tracing(config).expect("tracing initialises (disabled)"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut sync = c.benchmark_group("sync/T4DM_OTEL_ENABLED=false");
    sync.bench_function("uninstrumented", |b| b.iter(plain));
    sync.bench_function("traced", |b| b.iter(traced_sync));
    sync.bench_function("traced 2 attributes", |b| {
        b.iter(|| traced_sync_attrs(black_box(42), black_box("ww_episodes")));
    });
    sync.finish();
    let mut future = c.benchmark_group("async/T4DM_OTEL_ENABLED=false");
    future.bench_function("uninstrumented", |b| {
        b.iter_custom(|n| async_loop(&runtime, n, plain_async));
    });
    future.bench_function("traced", |b| {
        b.iter_custom(|n| async_loop(&runtime, n, traced_async));
    });
    future.finish();
}

/// Awaits `call()` `iterations` times inside one `block_on`, timing only the loop.
fn async_loop<F: Future>(
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    call: impl Fn() -> F,
) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(call().await);
        }
        start.elapsed()
    })
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = disabled_by_env
}
criterion_main!(benches);
