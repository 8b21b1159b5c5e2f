//! A traced service for the span metrics tests, run as a child process (tracing is initialised
//! once per process). It initialises tracing from the environment, runs one scenario, shuts
//! down (which exports the last metrics), and prints what the test needs on stdout:
//!
//! - `mix`: spans of every shape: sync and async, `Ok` and `Err`, a panic, a manual span, spans
//!   marked failed by `set_span_error` and `record_error` (one across an `.await`)
//! - `ratio COUNT`: COUNT root spans named `m.sampled`
//! - `names COUNT`: COUNT spans with distinct dynamic names; prints `rss EARLY LATE` (bytes)
//! - `serve`: a few spans, then `ready`, then waits for a line on stdin before shutting down
//!
//! Every scenario ends with `metrics exports=N failures=N` (when span metrics are on) and
//! `ok shutdown` or `error shutdown MESSAGE`; a failed initialisation
//! prints `error init MESSAGE`.

use std::io::{BufRead, Write};
use std::time::Duration;
use t4dm_trace_runtime::{
    TracingConfig, init_tracing, record_error, set_span_error, shutdown_tracing, trace_span,
    traced, tracing_stats,
};

#[derive(Debug, thiserror::Error)]
#[error("not found")]
struct NotFound;

#[traced("m.server", kind = Server)]
fn server_call() -> u32 {
    7
}

#[traced("m.client", kind = Client)]
fn client_call(fail: bool) -> Result<(), NotFound> {
    std::thread::sleep(Duration::from_micros(300));
    if fail { Err(NotFound) } else { Ok(()) }
}

#[traced("m.panic")]
fn panicking() {
    panic!("boom");
}

#[traced("m.async")]
async fn async_call(delay: Duration) -> usize {
    tokio::time::sleep(delay).await;
    1
}

/// Marked failed by `set_span_error`, though it returns normally.
#[traced("m.marked", kind = Server)]
fn marked() -> u32 {
    set_span_error("tool_error", "unknown tool");
    0
}

/// Marked failed in its first poll, finished in a later one.
#[traced("m.async_marked")]
async fn async_marked() {
    record_error(&NotFound);
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[traced("m.sampled")]
fn sampled_call(index: u64) -> u64 {
    index
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn mix() {
    for _ in 0..30 {
        let _ = server_call();
    }
    for index in 0..12 {
        let _ = client_call(index < 7);
    }
    for _ in 0..4 {
        trace_span("m.manual").in_scope(|| std::thread::sleep(Duration::from_millis(3)));
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..2 {
        let _ = std::panic::catch_unwind(panicking);
    }
    std::panic::set_hook(default_hook);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for index in 0..6_u64 {
            async_call(Duration::from_millis(index)).await;
        }
        for _ in 0..2 {
            async_marked().await;
        }
    });
    for _ in 0..3 {
        let _ = marked();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match TracingConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            println!("error init {error}");
            return;
        }
    };
    let guard = match init_tracing(config) {
        Ok(guard) => guard,
        Err(error) => {
            println!("error init {error}");
            return;
        }
    };
    let count = |at: usize| -> u64 { args.get(at).and_then(|n| n.parse().ok()).unwrap_or(0) };
    match args.first().map(String::as_str) {
        Some("mix") => mix(),
        Some("ratio") => {
            for index in 0..count(1) {
                let _ = sampled_call(index);
            }
        }
        Some("names") => {
            let total = count(1);
            let early_at = total / 20;
            let mut early = 0;
            for index in 0..total {
                trace_span(format!("dyn-{index}")).in_scope(|| ());
                if index + 1 == early_at {
                    early = rss_bytes();
                }
            }
            println!("rss {early} {}", rss_bytes());
        }
        Some("serve") => {
            mix();
            trace_span("say \"hi\"").in_scope(|| ());
            println!("ready");
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
        other => println!("error unknown scenario {other:?}"),
    }
    let outcome = shutdown_tracing();
    if let Some(metrics) = tracing_stats().metrics {
        println!(
            "metrics exports={} failures={}",
            metrics.exports, metrics.export_failures
        );
    }
    match outcome {
        Ok(()) => println!("ok shutdown"),
        Err(error) => println!("error shutdown {error}"),
    }
    drop(guard);
}
