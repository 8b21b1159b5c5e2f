//! Loops one way of tracing an empty call 20,000 times, for instruction counts under callgrind:
//!
//! ```text
//! cargo build --release -p t4dm-trace-benches --example hot_path
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/hot_path traced
//! ```
//!
//! Modes: `plain` (the floor: subtract it), `traced`, `traced2` (two attributes), `sdk`, `sdk2`,
//! `async_plain`, `async_traced`, `async_sdk`, `floor` (the OpenTelemetry `Context` alone: a
//! span that records nothing, made current and ended); with tracing disabled: `disabled_plain` (an
//! async floor), `disabled_async`, `disabled_sync`; with span metrics on (their sink a
//! Prometheus endpoint on an ephemeral loopback port): `metrics_traced`, `metrics_traced2`;
//! a span the sampler drops (its parent is unsampled): `unsampled`, `metrics_unsampled`.
//! `--separate-threads=yes` gives the caller's thread (`-01`) apart from the export thread.

/// A span whose remote parent is unsampled: the parent-based sampler drops it.
#[t4dm_trace_runtime::traced("bench.unsampled", parent = parent)]
#[inline(never)]
fn traced_unsampled(parent: &t4dm_trace_runtime::opentelemetry::trace::SpanContext) {
    std::hint::black_box(());
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    // An optional second argument: how many calls (for sampling profilers such as `perf`).
    let calls: u32 = std::env::args()
        .nth(2)
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(20_000);
    let metrics = mode.starts_with("metrics_");
    let config = t4dm_trace_runtime::TracingConfig::builder()
        .with_enabled(!mode.starts_with("disabled"))
        .with_span_exporter("counting", t4dm_trace_benches::CountingExporter::default())
        .from_lookup(|name| {
            (metrics && name == "T4DM_OTEL_PROMETHEUS_ADDR").then(|| "127.0.0.1:0".to_owned())
        })
        .unwrap();
    let mode = mode.trim_start_matches("metrics_").to_owned();
    std::mem::forget(t4dm_trace_runtime::init_tracing(config).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    if mode.starts_with("disabled") {
        runtime.block_on(async {
            for _ in 0..calls {
                match mode.as_str() {
                    "disabled_async" => t4dm_trace_benches::traced_async().await,
                    "disabled_sync" => t4dm_trace_benches::traced_sync(),
                    _ => t4dm_trace_benches::plain_async().await,
                }
            }
        });
        return;
    }
    let tracer = t4dm_trace_benches::runtime_tracer("sdk");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    if mode.starts_with("async") {
        runtime.block_on(async {
            for _ in 0..calls {
                match mode.as_str() {
                    "async_traced" => t4dm_trace_benches::traced_async().await,
                    "async_sdk" => t4dm_trace_benches::sdk_async(&tracer).await,
                    _ => t4dm_trace_benches::plain_async().await,
                }
            }
        });
        t4dm_trace_runtime::flush_tracing().unwrap();
        return;
    }
    let unsampled = t4dm_trace_runtime::opentelemetry::trace::SpanContext::new(
        t4dm_trace_runtime::opentelemetry::trace::TraceId::from_bytes([3; 16]),
        t4dm_trace_runtime::opentelemetry::trace::SpanId::from_bytes([4; 8]),
        t4dm_trace_runtime::opentelemetry::trace::TraceFlags::default(),
        true,
        t4dm_trace_runtime::opentelemetry::trace::TraceState::default(),
    );
    for _ in 0..calls {
        match mode.as_str() {
            "unsampled" => traced_unsampled(&unsampled),
            "traced" => t4dm_trace_benches::traced_sync(),
            "traced2" => t4dm_trace_benches::traced_sync_attrs(42, "ww_episodes"),
            "sdk" => t4dm_trace_benches::sdk_in_span(&tracer),
            "sdk2" => t4dm_trace_benches::sdk_in_span_attrs(&tracer, 42, "ww_episodes"),
            "floor" => t4dm_trace_benches::context_floor(),
            _ => t4dm_trace_benches::plain(),
        }
    }
    t4dm_trace_runtime::flush_tracing().unwrap();
}
