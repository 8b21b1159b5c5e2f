//! The export path: spans per second through the batch pipeline, OTLP-encoded over gRPC to a
//! receiver on loopback that decodes and counts them; and the caller-side cost per span with
//! that pipeline behind it.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use t4dm_trace_benches::{print_pipeline_counts, traced_sync};
use t4dm_trace_runtime::{TracingConfig, flush_tracing, init_tracing};
use t4dm_trace_tests::receiver::{Receiver, Wire};

const SPANS_PER_FLUSH: u64 = 10_000;

fn export(c: &mut Criterion) {
    let receiver = Receiver::start_counting(Wire::Grpc);
    let endpoint = receiver.endpoint();
    let config = TracingConfig::builder()
        .with_enabled(true)
        .with_endpoint(endpoint)
        .build();
    std::mem::forget(init_tracing(config).expect("tracing initialises"));

    let mut caller = c.benchmark_group("otlp grpc");
    caller.bench_function("caller-side cost per span", |b| b.iter(traced_sync));
    caller.finish();
    print_pipeline_counts("caller-side");

    let mut throughput = c.benchmark_group("otlp grpc");
    throughput.throughput(Throughput::Elements(SPANS_PER_FLUSH));
    throughput.sample_size(10);
    throughput.bench_function("spans through the pipeline to the receiver", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                for _ in 0..SPANS_PER_FLUSH {
                    traced_sync();
                }
                flush_tracing().expect("the receiver takes every batch");
            }
            start.elapsed()
        });
    });
    throughput.finish();
    print_pipeline_counts("throughput");
    eprintln!("receiver: decoded {} spans", receiver.span_count());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = export
}
criterion_main!(benches);
