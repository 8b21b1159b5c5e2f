//! A traced service under remote control, for tests that need a whole process: its own
//! `init_tracing` from the environment, its own export threads, its own shutdown.
//!
//! It reads one command per line on stdin and answers one line on stdout:
//!
//! - `tree`: records one representative trace; answers `ok tree TRACE_ID`
//! - `burst NAME COUNT`: records COUNT root spans named NAME; answers `ok burst NAME`
//! - `flush`: `flush_tracing()`; answers `ok flush` or `error flush MESSAGE`
//! - `stats`: one `stats EXPORTER created=.. exported=.. failed=.. dropped=.. queued=..` line
//!   per exporter, then `ok stats`
//! - `shutdown`: `shutdown_tracing()`; answers `ok shutdown MILLIS` or
//!   `error shutdown MILLIS MESSAGE`, then exits
//!
//! Options: `--runtime none|current|multi` runs everything inside no tokio runtime or inside a
//! current-thread or multi-thread one (init, export and shutdown must work in all three);
//! `--shutdown-timeout-ms N` sets the shutdown timeout.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};
use t4dm_trace_runtime::{
    KeyValue, TracingConfig, add_span_event, current_trace_id, flush_tracing, init_tracing,
    shutdown_tracing, trace_span, traced, tracing_stats,
};

#[derive(Debug, thiserror::Error)]
#[error("record not found")]
struct NotFound;

#[traced(
    "gateway.handle",
    kind = Server,
    attrs(request.id = 7, user.vip = true, ratio = 0.5, tags = ["a", "b"])
)]
fn handle() -> Result<String, NotFound> {
    add_span_event("received", [KeyValue::new("bytes", 42)]);
    let _ = lookup("episode-1");
    trace_span("response_formatting").in_scope(|| ());
    Ok(current_trace_id()
        .map(|id| id.to_string())
        .unwrap_or_default())
}

#[traced("store.lookup", kind = Client, attrs(key))]
fn lookup(key: &str) -> Result<u32, NotFound> {
    let _ = key;
    Err(NotFound)
}

#[traced(name = name.to_owned(), attrs(index))]
fn burst_span(name: &str, index: u64) {}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let mut builder = TracingConfig::builder();
    if let Some(millis) = option("--shutdown-timeout-ms") {
        builder = builder.with_shutdown_timeout(Duration::from_millis(
            millis
                .parse()
                .expect("--shutdown-timeout-ms takes milliseconds"),
        ));
    }
    let run = move || {
        let config = match builder.from_env() {
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
        println!("ok init");
        serve_commands();
        drop(guard);
    };
    match option("--runtime").as_deref() {
        None | Some("none") => run(),
        Some("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move { run() }),
        Some("multi") => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move { run() }),
        Some(other) => panic!("unknown runtime {other}"),
    }
}

fn serve_commands() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["tree"] => match handle() {
                Ok(trace_id) => format!("ok tree {trace_id}"),
                Err(error) => format!("error tree {error}"),
            },
            ["burst", name, count] => {
                let count: u64 = count.parse().unwrap_or(0);
                for index in 0..count {
                    burst_span(name, index);
                }
                format!("ok burst {name}")
            }
            ["flush"] => match flush_tracing() {
                Ok(()) => "ok flush".to_owned(),
                Err(error) => format!("error flush {error}"),
            },
            ["stats"] => {
                let mut text = String::new();
                for stats in tracing_stats().exporters {
                    let _ = writeln!(
                        text,
                        "stats {} created={} exported={} failed={} dropped={} queued={} export_failures={}",
                        stats.exporter,
                        stats.spans_created,
                        stats.spans_exported,
                        stats.spans_failed,
                        stats.spans_dropped,
                        stats.spans_queued,
                        stats.export_failures
                    );
                }
                text.push_str("ok stats");
                text
            }
            ["shutdown"] => {
                let started = Instant::now();
                let outcome = shutdown_tracing();
                let millis = started.elapsed().as_millis();
                let answer = match outcome {
                    Ok(()) => format!("ok shutdown {millis}"),
                    Err(error) => format!("error shutdown {millis} {error}"),
                };
                let _ = writeln!(stdout, "{answer}");
                let _ = stdout.flush();
                return;
            }
            _ => format!("error unknown command {line:?}"),
        };
        let _ = writeln!(stdout, "{answer}");
        let _ = stdout.flush();
    }
}
