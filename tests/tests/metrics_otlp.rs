//! Span metrics over OTLP, checked on the wire: a traced child process exports traces and
//! metrics to one loopback collector, which decodes both. The counts must be exact, the
//! histograms must agree with the exported spans' durations, and every exemplar must point at
//! a span that was exported.

use opentelemetry_proto::tonic::metrics::v1::{
    HistogramDataPoint, NumberDataPoint, number_data_point,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::{HashMap, HashSet};
use std::process::Command;
use t4dm_trace_tests::collector::{Collector, CollectorWire, point_attribute};

const BOUNDS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10000.0, 15000.0,
];

/// Every span the mix scenario ends.
const MIX_SPANS: i64 = 30 + 12 + 4 + 2 + 6 + 3 + 2;

struct Run {
    stdout: String,
    stderr: String,
}

fn run_driver(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_metrics-driver"));
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.starts_with("T4DM_") {
            command.env_remove(name);
        }
    }
    command
        .env("T4DM_OTEL_ENABLED", "true")
        .envs(env.iter().copied())
        .args(args);
    let output = command.output().expect("the driver runs");
    let run = Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        run.stdout.contains("ok shutdown") || run.stdout.contains("error init"),
        "driver output: {}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

/// `(span.name, span.kind, status.code)` of a data point.
type SeriesKey = (String, String, String);

fn key(attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> SeriesKey {
    (
        point_attribute(attributes, "span.name").unwrap_or_default(),
        point_attribute(attributes, "span.kind").unwrap_or_default(),
        point_attribute(attributes, "status.code").unwrap_or_default(),
    )
}

/// The last (cumulative) request's points, by series.
fn last_points(
    collector: &Collector,
) -> (
    HashMap<SeriesKey, NumberDataPoint>,
    HashMap<SeriesKey, HistogramDataPoint>,
) {
    let points = collector.metric_points();
    let (calls, durations) = points.last().expect("a metrics export arrived").clone();
    (
        calls
            .into_iter()
            .map(|point| (key(&point.attributes), point))
            .collect(),
        durations
            .into_iter()
            .map(|point| (key(&point.attributes), point))
            .collect(),
    )
}

fn count(point: &NumberDataPoint) -> i64 {
    match point.value {
        Some(number_data_point::Value::AsInt(count)) => count,
        other => panic!("the call counter is an integer sum, got {other:?}"),
    }
}

fn kind_name(kind: i32) -> &'static str {
    match kind {
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_INTERNAL",
    }
}

fn status_name(span: &Span) -> &'static str {
    match span.status.as_ref().map(|status| status.code) {
        Some(2) => "STATUS_CODE_ERROR",
        Some(1) => "STATUS_CODE_OK",
        _ => "STATUS_CODE_UNSET",
    }
}

fn bucket_of(millis: f64) -> usize {
    BOUNDS_MS
        .iter()
        .take_while(|bound| **bound < millis)
        .count()
}

fn duration_nanos(span: &Span) -> u64 {
    span.end_time_unix_nano - span.start_time_unix_nano
}

#[expect(
    clippy::cast_precision_loss,
    reason = "test durations are far below 2^52 ns"
)]
fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

fn as_i64(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

/// Everything the mix scenario must show, whatever the transport.
fn check_mix(collector: &Collector) {
    let spans = collector.spans();
    let (calls, durations) = last_points(collector);
    let expected: [(&str, &str, &str, i64); 8] = [
        ("m.server", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", 30),
        ("m.client", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR", 7),
        ("m.client", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", 5),
        ("m.manual", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET", 4),
        ("m.panic", "SPAN_KIND_INTERNAL", "STATUS_CODE_ERROR", 2),
        ("m.async", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET", 6),
        ("m.marked", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR", 3),
        (
            "m.async_marked",
            "SPAN_KIND_INTERNAL",
            "STATUS_CODE_ERROR",
            2,
        ),
    ];
    assert_eq!(calls.len(), expected.len(), "series: {:?}", calls.keys());
    let mut by_series: HashMap<SeriesKey, Vec<&Span>> = HashMap::new();
    for span in &spans {
        by_series
            .entry((
                span.name.clone(),
                kind_name(span.kind).to_owned(),
                status_name(span).to_owned(),
            ))
            .or_default()
            .push(span);
    }
    let exported: HashMap<(Vec<u8>, Vec<u8>), &Span> = spans
        .iter()
        .map(|span| ((span.trace_id.clone(), span.span_id.clone()), span))
        .collect();
    for (name, kind, status, expected_calls) in expected {
        let series = (name.to_owned(), kind.to_owned(), status.to_owned());
        let point = calls
            .get(&series)
            .unwrap_or_else(|| panic!("no calls for {series:?}"));
        assert_eq!(count(point), expected_calls, "{series:?}");
        assert_eq!(
            point_attribute(&point.attributes, "service.name").as_deref(),
            Some("metrics-test")
        );
        let spans = &by_series[&series];
        assert_eq!(
            as_i64(spans.len()),
            expected_calls,
            "exported spans of {series:?}"
        );
        let histogram = &durations[&series];
        assert_eq!(as_i64(histogram.count), expected_calls);
        assert_eq!(histogram.explicit_bounds, BOUNDS_MS.to_vec());
        // The histogram holds exactly the exported spans' durations.
        let total_nanos: u64 = spans.iter().map(|span| duration_nanos(span)).sum();
        let sum = histogram.sum.unwrap();
        assert!(
            (sum - millis(total_nanos)).abs() < 1e-6,
            "{series:?}: histogram sum {sum} ms, spans {total_nanos} ns"
        );
        let mut buckets = vec![0_u64; BOUNDS_MS.len() + 1];
        for span in spans {
            buckets[bucket_of(millis(duration_nanos(span)))] += 1;
        }
        assert_eq!(histogram.bucket_counts, buckets, "{series:?}");
        let max = spans.iter().map(|span| duration_nanos(span)).max().unwrap();
        assert!((histogram.max.unwrap() - millis(max)).abs() < 1e-9);
        // Every exemplar is an exported span of this series, in the bucket it says.
        assert!(
            !histogram.exemplars.is_empty(),
            "{series:?} has no exemplar"
        );
        let filled = buckets.iter().filter(|count| **count > 0).count();
        assert_eq!(
            histogram.exemplars.len(),
            filled,
            "one exemplar per filled bucket"
        );
        for exemplar in &histogram.exemplars {
            let span = exported
                .get(&(exemplar.trace_id.clone(), exemplar.span_id.clone()))
                .unwrap_or_else(|| panic!("exemplar of {series:?} points at no exported span"));
            assert_eq!(span.name, name);
            let Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(value)) =
                exemplar.value
            else {
                panic!("exemplar value is a double");
            };
            assert!((value - millis(duration_nanos(span))).abs() < 1e-9);
            // The exemplar's time is the span's end, converted from the span clock on the
            // span's thread rather than on the export thread: equal within the clock anchors'
            // agreement (well under a millisecond).
            assert!(
                exemplar.time_unix_nano.abs_diff(span.end_time_unix_nano) < 1_000_000,
                "exemplar at {}, span ended at {}",
                exemplar.time_unix_nano,
                span.end_time_unix_nano
            );
        }
    }
}

#[test]
fn exact_counts_histograms_and_exemplars_over_grpc() {
    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    let run = run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_SERVICE_NAME", "metrics-test"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=t4dm"),
        ],
        &["mix"],
    );
    check_mix(&collector);
    assert!(
        run.stdout
            .contains("metrics exports=1 failures=0\nok shutdown"),
        "{}",
        run.stdout
    );
    let requests = collector.metric_requests();
    assert_eq!(
        requests[0].0.get("x-tenant").map(String::as_str),
        Some("t4dm")
    );
    let resource = requests[0].1.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        point_attribute(&resource.attributes, "service.name").as_deref(),
        Some("metrics-test")
    );
}

#[test]
fn exact_counts_histograms_and_exemplars_over_http_with_gzip() {
    let collector = Collector::start(CollectorWire::Http);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_PROTOCOL", "http/protobuf"),
            ("T4DM_OTEL_SERVICE_NAME", "metrics-test"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
        &["mix"],
    );
    check_mix(&collector);
    let requests = collector.metric_requests();
    assert_eq!(
        requests[0].0.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    assert_eq!(
        requests[0].0.get("content-type").map(String::as_str),
        Some("application/x-protobuf")
    );
}

#[test]
fn metrics_over_http_json_when_the_metrics_protocol_says_so() {
    let collector = Collector::start(CollectorWire::Http);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
            ("T4DM_OTEL_SERVICE_NAME", "metrics-test"),
        ],
        &["mix"],
    );
    check_mix(&collector);
    let requests = collector.metric_requests();
    assert_eq!(
        requests[0].0.get("content-type").map(String::as_str),
        Some("application/json")
    );
}

#[test]
fn sampling_at_a_tenth_counts_every_call_and_exemplars_only_exported_traces() {
    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_SERVICE_NAME", "metrics-test"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ],
        &["ratio", "10000"],
    );
    let spans = collector.spans();
    let (calls, durations) = last_points(&collector);
    let series = (
        "m.sampled".to_owned(),
        "SPAN_KIND_INTERNAL".to_owned(),
        "STATUS_CODE_UNSET".to_owned(),
    );
    assert_eq!(count(&calls[&series]), 10_000);
    assert_eq!(durations[&series].count, 10_000);
    // About a tenth of the traces: 1,000 expected, ±5 standard deviations (30).
    assert!(
        (850..=1150).contains(&spans.len()),
        "{} traces exported",
        spans.len()
    );
    let exported: HashSet<Vec<u8>> = spans.iter().map(|span| span.trace_id.clone()).collect();
    let exemplars = &durations[&series].exemplars;
    assert!(!exemplars.is_empty());
    for exemplar in exemplars {
        assert!(
            exported.contains(&exemplar.trace_id),
            "exemplar of an unexported trace"
        );
    }
}

#[test]
fn past_the_cardinality_limit_one_overflow_series_and_flat_memory() {
    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    let run = run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_SERVICE_NAME", "metrics-test"),
            // Unsampled spans: the memory measured is the metrics', not an export queue's.
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ],
        &["names", "100000"],
    );
    let (calls, _) = last_points(&collector);
    assert_eq!(calls.len(), 2001, "2,000 series and the overflow series");
    let points = collector.metric_points();
    let (last_calls, last_durations) = points.last().unwrap();
    let overflow: Vec<&NumberDataPoint> = last_calls
        .iter()
        .filter(|point| {
            point_attribute(&point.attributes, "otel.metric.overflow").as_deref() == Some("true")
        })
        .collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(
        overflow[0].attributes.len(),
        1,
        "the overflow series has only its marker"
    );
    assert_eq!(count(overflow[0]), 98_000);
    let total: i64 = last_calls.iter().map(count).sum();
    assert_eq!(total, 100_000);
    assert_eq!(last_durations.len(), 2001);
    // Memory: measured after 5,000 names (past the limit) and after 100,000.
    let line = run
        .stdout
        .lines()
        .find(|line| line.starts_with("rss "))
        .unwrap();
    let numbers: Vec<u64> = line[4..].split(' ').map(|n| n.parse().unwrap()).collect();
    let growth = numbers[1].saturating_sub(numbers[0]);
    assert!(
        growth < 2 << 20,
        "RSS grew {growth} bytes over 95,000 more names"
    );
}

#[test]
fn delta_temporality_and_periodic_exports() {
    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_SERVICE_NAME", "metrics-test"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5"),
        ],
        &["mix"],
    );
    let requests = collector.metric_requests();
    let mut total = 0;
    for (_, request) in &requests {
        for metric in &request.resource_metrics[0].scope_metrics[0].metrics {
            if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) =
                &metric.data
            {
                assert_eq!(sum.aggregation_temporality, 1, "delta");
                total += sum.data_points.iter().map(count).sum::<i64>();
            }
        }
    }
    assert_eq!(total, MIX_SPANS, "the deltas add up to every call");
}

#[test]
fn a_collector_without_metrics_fails_only_the_metrics_exports() {
    // A trace-only receiver (as Jaeger's OTLP port is) answers the metrics export
    // `Unimplemented`: counted in `tracing_stats().metrics`, never a failed trace shutdown.
    let receiver =
        t4dm_trace_tests::receiver::Receiver::start(t4dm_trace_tests::receiver::Wire::Grpc);
    let run = run_driver(&[("T4DM_OTEL_ENDPOINT", &receiver.endpoint())], &["mix"]);
    assert!(
        run.stdout
            .contains("metrics exports=0 failures=1\nok shutdown"),
        "{}",
        run.stdout
    );
    assert_eq!(as_i64(receiver.spans().len()), MIX_SPANS);
}

#[test]
fn off_with_t4dm_otel_metrics_false() {
    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("T4DM_OTEL_METRICS", "false"),
        ],
        &["mix"],
    );
    assert!(collector.metric_requests().is_empty());
    assert_eq!(as_i64(collector.spans().len()), MIX_SPANS);
}

#[test]
fn bad_values_are_init_errors_naming_the_variable() {
    for (name, value) in [
        ("T4DM_OTEL_METRICS", "maybe"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes"),
        ("T4DM_OTEL_PROMETHEUS_ADDR", "port 9464"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            "/nonexistent/ca.pem",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        ),
    ] {
        let run = run_driver(
            &[("T4DM_OTEL_ENDPOINT", "http://127.0.0.1:9"), (name, value)],
            &["mix"],
        );
        assert!(
            run.stdout
                .contains(&format!("error init invalid `{name}` value `{value}`")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn the_console_prints_a_summary_table_at_shutdown() {
    let run = run_driver(&[("T4DM_OTEL_CONSOLE", "true")], &["mix"]);
    let table = &run.stderr[run.stderr.find("span metrics").expect("a summary table")..];
    let row = |name: &str| -> Vec<String> {
        table
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("m.client")[1..3], ["12", "7"]);
    assert_eq!(row("m.server")[1..3], ["30", "0"]);
    assert_eq!(row("m.panic")[1..3], ["2", "2"]);
    assert_eq!(row("m.marked")[1..3], ["3", "3"]);
    assert_eq!(row("m.async_marked")[1..3], ["2", "2"]);
    let manual = row("m.manual");
    let p50: f64 = manual[3].parse().unwrap();
    let max: f64 = manual[5].parse().unwrap();
    assert!(p50 >= 2.0 && p50 <= max && max >= 3.0, "{manual:?}");
}

#[test]
fn the_exemplar_filter_always_off_keeps_none_and_always_on_takes_unsampled_spans() {
    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("OTEL_METRICS_EXEMPLAR_FILTER", "always_off"),
        ],
        &["mix"],
    );
    let (_, durations) = last_points(&collector);
    assert!(!durations.is_empty());
    assert!(durations.values().all(|point| point.exemplars.is_empty()));

    let collector = Collector::start(CollectorWire::Grpc);
    let endpoint = collector.endpoint();
    run_driver(
        &[
            ("T4DM_OTEL_ENDPOINT", &endpoint),
            ("OTEL_METRICS_EXEMPLAR_FILTER", "always_on"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ],
        &["mix"],
    );
    assert!(
        collector.spans().is_empty(),
        "nothing sampled, nothing exported"
    );
    let (calls, durations) = last_points(&collector);
    assert_eq!(calls.values().map(count).sum::<i64>(), MIX_SPANS);
    // Unsampled spans marked failed by `set_span_error` still count as errors.
    let marked = (
        "m.marked".to_owned(),
        "SPAN_KIND_SERVER".to_owned(),
        "STATUS_CODE_ERROR".to_owned(),
    );
    assert_eq!(count(&calls[&marked]), 3);
    assert!(durations.values().all(|point| !point.exemplars.is_empty()));
}
