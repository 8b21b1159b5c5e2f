use super::exposition::{self, Format};
use super::registry::{self, ExemplarSpan, SeriesKey, StatusCode, Store};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};

fn name(name: &str) -> registry::SpanName<'_> {
    registry::SpanName::Dynamic(name)
}

fn store(limit: usize) -> &'static Store {
    Box::leak(Box::new(Store::new(limit)))
}

fn series<'a>(
    snapshot: &'a [registry::SeriesSnapshot],
    name: &str,
    status: StatusCode,
) -> &'a registry::Totals {
    &snapshot
        .iter()
        .find(|series| {
            matches!(&series.key, SeriesKey::Span { name: n, status: s, .. } if &**n == name && *s == status)
        })
        .unwrap_or_else(|| panic!("no series {name} {status:?}"))
        .totals
}

#[test]
fn counts_every_call_across_threads_by_name_kind_and_status() {
    let store = store(100);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for i in 0..1000_u64 {
                    registry::record(
                        store,
                        name("work"),
                        &SpanKind::Server,
                        i % 10 == 0,
                        3_000_000,
                        None,
                    );
                }
            });
        }
    });
    let snapshot = store.collect();
    let ok = series(&snapshot, "work", StatusCode::Unset);
    let failed = series(&snapshot, "work", StatusCode::Error);
    assert_eq!(ok.calls, 3600);
    assert_eq!(failed.calls, 400);
    // 3 ms falls in the (2, 4] bucket.
    assert_eq!(ok.buckets[1], 3600);
    assert_eq!(ok.count(), 3600);
    assert_eq!(ok.sum_nanos, 3600 * 3_000_000);
    // The threads have exited: their cells were folded in, and the totals stay.
    assert_eq!(
        series(&store.collect(), "work", StatusCode::Unset).calls,
        3600
    );
}

#[test]
fn bucket_bounds_are_inclusive_upper_bounds() {
    let store = store(10);
    for nanos in [0, 2_000_000, 2_000_001, 15_000_000_000, 15_000_000_001] {
        registry::record(store, name("b"), &SpanKind::Internal, false, nanos, None);
    }
    let snapshot = store.collect();
    let totals = series(&snapshot, "b", StatusCode::Unset);
    assert_eq!(totals.buckets[0], 2);
    assert_eq!(totals.buckets[1], 1);
    assert_eq!(totals.buckets[15], 1);
    assert_eq!(totals.buckets[16], 1);
    assert_eq!(totals.min_nanos, 0);
    assert_eq!(totals.max_nanos, 15_000_000_001);
}

#[test]
fn exemplars_keep_the_last_span_of_each_bucket() {
    let store = store(10);
    let span = |n: u8, time| ExemplarSpan {
        trace_id: TraceId::from_bytes([n; 16]),
        span_id: SpanId::from_bytes([n; 8]),
        time_unix_nanos: time,
    };
    registry::record(
        store,
        name("e"),
        &SpanKind::Client,
        false,
        1_000_000,
        Some(&span(1, 10)),
    );
    registry::record(
        store,
        name("e"),
        &SpanKind::Client,
        false,
        1_500_000,
        Some(&span(2, 20)),
    );
    registry::record(store, name("e"), &SpanKind::Client, false, 1_700_000, None);
    registry::record(
        store,
        name("e"),
        &SpanKind::Client,
        false,
        70_000_000,
        Some(&span(3, 30)),
    );
    let snapshot = store.collect();
    let totals = series(&snapshot, "e", StatusCode::Unset);
    let first = totals.exemplars[0].unwrap();
    assert_eq!(first.trace_id, TraceId::from_bytes([2; 16]));
    assert_eq!(first.duration_nanos, 1_500_000);
    assert_eq!(
        totals.exemplars[6].unwrap().span_id,
        SpanId::from_bytes([3; 8])
    );
    assert!(totals.exemplars[1].is_none());
}

#[test]
fn past_the_limit_spans_go_to_one_overflow_series() {
    let store = store(5);
    for i in 0..50 {
        registry::record(
            store,
            name(&format!("name-{i}")),
            &SpanKind::Internal,
            false,
            1,
            None,
        );
    }
    // A registered name keeps its own series, also on a thread that first sees it now.
    std::thread::scope(|scope| {
        scope
            .spawn(|| registry::record(store, name("name-0"), &SpanKind::Internal, false, 1, None));
    });
    assert_eq!(store.series_count(), 5);
    let snapshot = store.collect();
    assert_eq!(snapshot.len(), 6);
    let overflow = snapshot
        .iter()
        .find(|series| series.key == SeriesKey::Overflow)
        .unwrap();
    assert_eq!(overflow.totals.calls, 45);
    assert_eq!(series(&snapshot, "name-0", StatusCode::Unset).calls, 2);
    let text = exposition::encode(&snapshot, "svc", Format::OpenMetrics);
    assert!(text.contains("traces_span_metrics_calls_total{otel_metric_overflow=\"true\"} 45"));
}

#[test]
fn exposition_formats() {
    let store = store(10);
    let span = ExemplarSpan {
        trace_id: TraceId::from_bytes([0xab; 16]),
        span_id: SpanId::from_bytes([0xcd; 8]),
        time_unix_nanos: 1_700_000_000_500_000_000,
    };
    registry::record(
        store,
        name("say \"hi\"\n"),
        &SpanKind::Server,
        true,
        5_000_000,
        Some(&span),
    );
    let snapshot = store.collect();
    let open = exposition::encode(&snapshot, "svc", Format::OpenMetrics);
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains(
        "traces_span_metrics_calls_total{service_name=\"svc\",span_name=\"say \\\"hi\\\"\\n\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\"} 1"
    ), "{open}");
    assert!(
        open.contains(&format!(
            ",le=\"6.0\"}} 1 # {{trace_id=\"{}\",span_id=\"{}\"}} 5.0 1700000000.5",
            "ab".repeat(16),
            "cd".repeat(8)
        )),
        "{open}"
    );
    let classic = exposition::encode(&snapshot, "svc", Format::Classic);
    assert!(
        !classic.contains('#') || !classic.contains("trace_id"),
        "{classic}"
    );
    assert!(classic.contains("# TYPE traces_span_metrics_calls_total counter"));
    assert!(!classic.contains("EOF"));
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate(Some("text/plain")), Format::Classic);
    assert_eq!(Format::negotiate(None), Format::Classic);
}

#[test]
fn summary_rows_per_name() {
    let store = store(10);
    for i in 0..100_u64 {
        registry::record(
            store,
            name("tool.call"),
            &SpanKind::Server,
            i < 3,
            (i + 1) * 100_000,
            None,
        );
    }
    let table = super::summary::table(&store.collect());
    let row = table
        .lines()
        .find(|line| line.contains("tool.call"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "100");
    assert_eq!(cells[2], "3");
    assert_eq!(cells[5], "10.000");
    let p50: f64 = cells[3].parse().unwrap();
    let p95: f64 = cells[4].parse().unwrap();
    assert!(
        p50 > 2.0 && p50 <= 6.0 && p95 >= p50 && p95 <= 10.0,
        "{row}"
    );
}

#[test]
fn a_static_name_and_the_same_name_by_content_share_their_series() {
    let store = store(10);
    let owned = String::from("shared.name");
    for _ in 0..3 {
        registry::record(
            store,
            registry::SpanName::Static("shared.name"),
            &SpanKind::Server,
            false,
            1,
            None,
        );
        registry::record(store, name(&owned), &SpanKind::Server, false, 1, None);
    }
    // Many static names: the address cache evicts and refills without losing a count.
    let names: Vec<&'static str> = (0..200)
        .map(|i| &*Box::leak(format!("s{i}").into_boxed_str()))
        .collect();
    for _ in 0..2 {
        for static_name in &names {
            registry::record(
                store,
                registry::SpanName::Static(static_name),
                &SpanKind::Internal,
                false,
                1,
                None,
            );
        }
    }
    let snapshot = store.collect();
    assert_eq!(series(&snapshot, "shared.name", StatusCode::Unset).calls, 6);
    assert_eq!(series(&snapshot, "s0", StatusCode::Unset).calls, 2);
    let overflow = snapshot
        .iter()
        .find(|s| s.key == SeriesKey::Overflow)
        .unwrap();
    assert_eq!(overflow.totals.calls, 2 * 191);
}
