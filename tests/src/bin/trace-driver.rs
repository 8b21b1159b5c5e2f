//! A traced service under remote control, for tests that need a whole process: its own
//! `init_tracing` from the environment, its own export threads, its own shutdown.
//!
//! It reads one command per line on stdin and answers one line on stdout:
//!
//! - `tree`: records one representative trace; answers `ok tree TRACE_ID`
//! - `burst NAME COUNT`: records COUNT root spans named NAME; answers `ok burst NAME`
//! - `xray-chain`: a server span over an internal span over a failing database call (HTTP and
//!   SQL attributes, an error with a source chain); answers `ok xray-chain TRACE_ID`
//! - `xray-panic`: a root span whose function panics; answers `ok xray-panic TRACE_ID`
//! - `xray-deep DEPTH BYTES`: DEPTH nested spans, each with a BYTES-long attribute; answers
//!   `ok xray-deep TRACE_ID`
//! - `xray-wide COUNT BYTES`: one span with COUNT attributes `wide.0`.. of BYTES bytes each;
//!   answers `ok xray-wide TRACE_ID`
//! - `global-span`: a span from OpenTelemetry's global tracer (as third-party instrumentation
//!   starts them); answers `ok global-span TRACE_ID`
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
    KeyValue, TracingConfig, add_span_attribute, add_span_event, current_trace_id, flush_tracing,
    init_tracing, shutdown_tracing, trace_span, traced, tracing_stats,
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

/// Threads that each end a span and flush at the same moment: `ok` when every flush completed.
fn flush_together(threads: usize) -> String {
    let start = std::sync::Barrier::new(threads);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let flushes: Vec<_> = (0..threads)
            .map(|index| {
                let start = &start;
                scope.spawn(move || {
                    burst_span("together", index as u64);
                    start.wait();
                    flush_tracing()
                })
            })
            .collect();
        flushes
            .into_iter()
            .filter_map(|flush| match flush.join() {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some("a flushing thread panicked".to_owned()),
            })
            .collect()
    });
    if failures.is_empty() {
        "ok flush-together".to_owned()
    } else {
        format!("error flush-together {}", failures.join("; "))
    }
}

fn trace_id_text() -> String {
    current_trace_id()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
#[error("the connection timed out")]
struct Timeout;

#[derive(Debug, thiserror::Error)]
#[error("query failed")]
struct QueryFailed(#[source] Timeout);

#[traced(
    "xray.handle",
    kind = Server,
    attrs(
        http.request.method = "GET",
        url.full = "http://gateway.local/recall?q=coffee",
        http.response.status_code = 404,
        tool.name = "recall_episodes",
        user.id = "alice",
        request.size = 512
    )
)]
fn xray_handle() -> String {
    let _ = xray_recall(10);
    trace_id_text()
}

#[traced("xray.recall", attrs(limit))]
fn xray_recall(limit: u32) -> usize {
    let _ = limit;
    xray_query().map_or(0, |rows| rows.len())
}

#[traced(
    "xray.query",
    kind = Client,
    attrs(
        db.system.name = "postgresql",
        db.namespace = "memory",
        server.address = "db.local",
        db.query.text = "SELECT id FROM episodes WHERE topic = $1"
    )
)]
fn xray_query() -> Result<Vec<u32>, QueryFailed> {
    Err(QueryFailed(Timeout))
}

#[traced("xray.panics")]
fn xray_panics(trace_id: &mut String) {
    *trace_id = trace_id_text();
    let items: Vec<u32> = Vec::new();
    let _ = items[3];
}

#[traced("xray.deep", attrs(level, padding = %padding))]
fn xray_deep(level: u64, padding: &str) -> String {
    if level > 1 {
        xray_deep(level - 1, padding)
    } else {
        trace_id_text()
    }
}

#[traced("xray.wide")]
fn xray_wide(count: usize, bytes: usize) -> String {
    for index in 0..count {
        add_span_attribute(format!("wide.{index}"), "w".repeat(bytes));
    }
    trace_id_text()
}

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
            ["xray-chain"] => format!("ok xray-chain {}", xray_handle()),
            ["xray-panic"] => {
                let mut trace_id = String::new();
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    xray_panics(&mut trace_id);
                }));
                match caught {
                    Err(_) => format!("ok xray-panic {trace_id}"),
                    Ok(()) => "error xray-panic did not panic".to_owned(),
                }
            }
            ["xray-deep", depth, bytes] => {
                let padding = "p".repeat(bytes.parse().unwrap_or(0));
                format!(
                    "ok xray-deep {}",
                    xray_deep(depth.parse().unwrap_or(1), &padding)
                )
            }
            ["xray-wide", count, bytes] => format!(
                "ok xray-wide {}",
                xray_wide(count.parse().unwrap_or(0), bytes.parse().unwrap_or(0))
            ),
            ["global-span"] => {
                use t4dm_trace_runtime::opentelemetry::trace::{Span as _, Tracer as _};
                let tracer = t4dm_trace_runtime::opentelemetry::global::tracer("third-party");
                let mut span = tracer.start("third_party.call");
                let trace_id = span.span_context().trace_id();
                span.end();
                format!("ok global-span {trace_id}")
            }
            ["burst", name, count] => {
                let count: u64 = count.parse().unwrap_or(0);
                for index in 0..count {
                    burst_span(name, index);
                }
                format!("ok burst {name}")
            }
            ["flush-together", threads] => flush_together(threads.parse().unwrap_or(0)),
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
