//! OTLP export, checked on the wire: a real gRPC or HTTP receiver on loopback decodes what a
//! traced process (the `trace-driver` binary, configured from the environment) sends.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::path::Path;
use std::time::Duration;
use t4dm_trace_tests::driver::Driver;
use t4dm_trace_tests::receiver::{Receiver, TestCertificates, Wire, WireSpan};

const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

fn driver(env: &[(&str, &str)]) -> Driver {
    Driver::start(Path::new(env!("CARGO_BIN_EXE_trace-driver")), env, &[])
}

fn by_name<'a>(spans: &'a [WireSpan], name: &str) -> &'a WireSpan {
    spans
        .iter()
        .find(|span| span.name() == name)
        .unwrap_or_else(|| {
            panic!(
                "no span {name:?} among {:?}",
                spans.iter().map(WireSpan::name).collect::<Vec<_>>()
            )
        })
}

fn string(value: &str) -> Value {
    Value::StringValue(value.to_owned())
}

/// The representative trace the driver's `tree` command records, as it must arrive.
fn assert_representative_trace(spans: &[WireSpan], trace_id: &str, pid: u32) {
    assert_eq!(spans.len(), 3, "{spans:?}");
    let handle = by_name(spans, "gateway.handle");
    let lookup = by_name(spans, "store.lookup");
    let formatting = by_name(spans, "response_formatting");
    for span in spans {
        assert_eq!(hex(&span.span.trace_id), trace_id);
    }
    assert!(
        handle.span.parent_span_id.is_empty(),
        "the root has no parent"
    );
    assert_eq!(lookup.span.parent_span_id, handle.span.span_id);
    assert_eq!(formatting.span.parent_span_id, handle.span.span_id);
    assert_eq!(handle.span.kind, SpanKind::Server as i32);
    assert_eq!(lookup.span.kind, SpanKind::Client as i32);
    assert_eq!(formatting.span.kind, SpanKind::Internal as i32);
    assert!(handle.span.start_time_unix_nano <= lookup.span.start_time_unix_nano);
    assert!(lookup.span.end_time_unix_nano <= handle.span.end_time_unix_nano);

    assert_eq!(handle.attribute("request.id"), Some(&Value::IntValue(7)));
    assert_eq!(handle.attribute("user.vip"), Some(&Value::BoolValue(true)));
    assert_eq!(handle.attribute("ratio"), Some(&Value::DoubleValue(0.5)));
    let Some(Value::ArrayValue(tags)) = handle.attribute("tags") else {
        panic!("tags is an array: {:?}", handle.attribute("tags"));
    };
    let tags: Vec<_> = tags
        .values
        .iter()
        .filter_map(|value| value.value.clone())
        .collect();
    assert_eq!(tags, [string("a"), string("b")]);
    let received = &handle.span.events[0];
    assert_eq!(received.name, "received");
    assert_eq!(
        t4dm_trace_tests::receiver::find(&received.attributes, "bytes"),
        Some(&Value::IntValue(42))
    );
    assert_eq!(
        handle.span.status.as_ref().map_or(0, |status| status.code),
        StatusCode::Unset as i32
    );

    let status = lookup.span.status.as_ref().expect("an error status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "record not found");
    assert_eq!(lookup.attribute("key"), Some(&string("episode-1")));
    assert_eq!(
        lookup.attribute("error.type"),
        Some(&string("trace_driver::NotFound"))
    );
    let exception = lookup
        .span
        .events
        .iter()
        .find(|event| event.name == "exception")
        .expect("an exception event");
    assert_eq!(
        t4dm_trace_tests::receiver::find(&exception.attributes, "exception.message"),
        Some(&string("record not found"))
    );

    assert_eq!(handle.scope, "t4dm-trace");
    assert_eq!(
        handle.resource_attribute("service.name"),
        Some(&string("wire-test"))
    );
    assert_eq!(
        handle.resource_attribute("deployment.environment.name"),
        Some(&string("ci"))
    );
    assert_eq!(
        handle.resource_attribute("telemetry.sdk.language"),
        Some(&string("rust"))
    );
    assert_eq!(
        handle.resource_attribute("telemetry.sdk.name"),
        Some(&string("opentelemetry"))
    );
    assert_eq!(
        handle.resource_attribute("process.pid"),
        Some(&Value::IntValue(i64::from(pid)))
    );
    assert!(
        matches!(handle.resource_attribute("host.name"), Some(Value::StringValue(name)) if !name.is_empty())
    );
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn export_representative_trace(receiver: &Receiver, protocol: &str, extra: &[(&str, &str)]) {
    let endpoint = receiver.endpoint();
    let mut env = vec![
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("T4DM_OTEL_PROTOCOL", protocol),
        ("T4DM_OTEL_SERVICE_NAME", "wire-test"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci"),
    ];
    env.extend_from_slice(extra);
    let mut driver = driver(&env);
    let pid = driver.pid();
    let answer = driver.answer("tree");
    let trace_id = answer
        .strip_prefix("ok tree ")
        .expect("the tree was recorded")
        .to_owned();
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let spans = receiver.wait_for_spans(3, ARRIVAL_LIMIT);
    assert_representative_trace(&spans, &trace_id, pid);
}

#[test]
fn grpc_carries_the_whole_trace() {
    let receiver = Receiver::start(Wire::Grpc);
    export_representative_trace(&receiver, "grpc", &[]);
}

#[test]
fn http_protobuf_carries_the_whole_trace() {
    let receiver = Receiver::start(Wire::Http);
    export_representative_trace(&receiver, "http/protobuf", &[]);
    let request = &receiver.requests()[0];
    assert_eq!(
        request.headers.get("content-type").map(String::as_str),
        Some("application/x-protobuf")
    );
}

#[test]
fn http_json_carries_the_whole_trace() {
    let receiver = Receiver::start(Wire::Http);
    export_representative_trace(&receiver, "http/json", &[]);
    let request = &receiver.requests()[0];
    assert_eq!(
        request.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
}

#[test]
fn grpc_sends_headers_and_gzip() {
    let receiver = Receiver::start(Wire::Grpc);
    export_representative_trace(
        &receiver,
        "grpc",
        &[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20s3cret,x-tenant=t4dm",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    );
    let request = &receiver.requests()[0];
    assert_eq!(
        request.headers.get("authorization").map(String::as_str),
        Some("Bearer s3cret")
    );
    assert_eq!(
        request.headers.get("x-tenant").map(String::as_str),
        Some("t4dm")
    );
    assert_eq!(
        request.headers.get("grpc-encoding").map(String::as_str),
        Some("gzip")
    );
}

#[test]
fn http_sends_headers_and_gzip() {
    let receiver = Receiver::start(Wire::Http);
    export_representative_trace(
        &receiver,
        "http/protobuf",
        &[
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "authorization=Bearer%20s3cret",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ],
    );
    let request = &receiver.requests()[0];
    assert_eq!(
        request.headers.get("authorization").map(String::as_str),
        Some("Bearer s3cret")
    );
    assert_eq!(
        request.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
}

#[test]
fn grpc_over_tls_with_a_private_ca() {
    let certificates = TestCertificates::generate();
    let ca = certificates.write_ca("grpc-ca");
    let receiver = Receiver::start_tls(Wire::Grpc, certificates);
    assert!(receiver.endpoint().starts_with("https://"));
    export_representative_trace(
        &receiver,
        "grpc",
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.to_str().unwrap())],
    );
}

#[test]
fn http_over_tls_with_a_private_ca() {
    let certificates = TestCertificates::generate();
    let ca = certificates.write_ca("http-ca");
    let receiver = Receiver::start_tls(Wire::Http, certificates);
    export_representative_trace(
        &receiver,
        "http/protobuf",
        &[(
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            ca.to_str().unwrap(),
        )],
    );
}

#[test]
fn an_unreadable_certificate_file_is_an_init_error() {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_trace-driver"));
    let output = command
        .env("T4DM_OTEL_ENABLED", "true")
        .env("T4DM_OTEL_ENDPOINT", "https://127.0.0.1:1")
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "error init invalid `OTEL_EXPORTER_OTLP_CERTIFICATE` value `/nonexistent/ca.pem`: \
             expected a readable PEM file of CA certificates"
        ),
        "{stdout}"
    );
}

/// Settings that make failures show quickly: short export timeouts and delays, a small queue.
const IMPATIENT: &[(&str, &str)] = &[
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
    ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
    ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "1000"),
];

fn impatient_driver(receiver: &Receiver, protocol: &str) -> Driver {
    let endpoint = receiver.endpoint();
    let mut env = vec![
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("T4DM_OTEL_PROTOCOL", protocol),
    ];
    env.extend_from_slice(IMPATIENT);
    driver(&env)
}

fn count_named(spans: &[WireSpan], name: &str) -> usize {
    spans.iter().filter(|span| span.name() == name).count()
}

fn collector_absent_at_start_then_present(wire: Wire, protocol: &str) {
    let mut receiver = Receiver::start(wire);
    receiver.kill();
    let mut driver = impatient_driver(&receiver, protocol);
    // 20 times the queue: the caller never waits, the overflow is dropped and counted.
    assert_eq!(driver.answer("burst before 20000"), "ok burst before");
    assert!(
        driver.answer("flush").starts_with("error flush"),
        "nobody is listening"
    );
    let stats = driver.stats()["otlp"];
    assert_eq!(stats.created, 20_000);
    assert_eq!(stats.exported, 0);
    assert_eq!(
        stats.failed + stats.dropped,
        20_000,
        "every span is failed or dropped: {stats:?}"
    );
    assert!(
        stats.dropped > 0,
        "the queue is bounded at 1,000: {stats:?}"
    );
    assert!(stats.balanced(), "{stats:?}");

    receiver.restart();
    assert_eq!(driver.answer("burst after 100"), "ok burst after");
    assert_eq!(
        driver.answer("flush"),
        "ok flush",
        "export resumes once a collector listens"
    );
    let spans = receiver.wait_for_spans(100, ARRIVAL_LIMIT);
    assert_eq!(count_named(&spans, "after"), 100);
    let stats = driver.stats()["otlp"];
    assert!(stats.balanced(), "{stats:?}");
    assert_eq!(stats.queued, 0);
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
    assert_eq!(
        stderr.matches("export queue is full").count(),
        1,
        "one warning when drops begin: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn grpc_collector_absent_at_start_then_present() {
    collector_absent_at_start_then_present(Wire::Grpc, "grpc");
}

#[test]
fn http_collector_absent_at_start_then_present() {
    collector_absent_at_start_then_present(Wire::Http, "http/protobuf");
}

fn collector_killed_mid_run(wire: Wire, protocol: &str) {
    let mut receiver = Receiver::start(wire);
    let mut driver = impatient_driver(&receiver, protocol);
    assert_eq!(driver.answer("burst first 300"), "ok burst first");
    assert_eq!(driver.answer("flush"), "ok flush");
    receiver.kill();
    assert_eq!(driver.answer("burst second 300"), "ok burst second");
    assert!(driver.answer("flush").starts_with("error flush"));
    receiver.restart();
    assert_eq!(driver.answer("burst third 300"), "ok burst third");
    assert_eq!(driver.flush_until_ok(5), "ok flush");
    let spans = receiver.wait_for_spans(600, ARRIVAL_LIMIT);
    assert_eq!(count_named(&spans, "first"), 300);
    assert_eq!(count_named(&spans, "third"), 300);
    let stats = driver.stats()["otlp"];
    assert_eq!(stats.created, 900);
    assert_eq!(stats.exported, 600);
    assert_eq!(stats.failed + stats.dropped, 300, "{stats:?}");
    assert!(stats.export_failures >= 1);
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
}

#[test]
fn grpc_collector_killed_mid_run_then_back() {
    collector_killed_mid_run(Wire::Grpc, "grpc");
}

#[test]
fn http_collector_killed_mid_run_then_back() {
    collector_killed_mid_run(Wire::Http, "http/protobuf");
}

fn slow_collector(wire: Wire, protocol: &str) {
    let receiver = Receiver::start(wire);
    receiver.set_delay(Duration::from_secs(3));
    let mut driver = impatient_driver(&receiver, protocol);
    assert_eq!(driver.answer("burst slow 5000"), "ok burst slow");
    assert!(
        driver.answer("flush").starts_with("error flush"),
        "the collector answers after the timeout"
    );
    let stats = driver.stats()["otlp"];
    assert!(stats.export_failures >= 1, "{stats:?}");
    assert!(stats.balanced(), "{stats:?}");
    assert_eq!(stats.exported, 0);
    receiver.set_delay(Duration::ZERO);
    // Recovered: a burst arrives whole. On a loaded machine an export can still miss the 300 ms
    // timeout and be counted failed; a later burst must then arrive whole.
    let recovered = (0..3).any(|round| {
        let name = format!("quick{round}");
        assert_eq!(
            driver.answer(&format!("burst {name} 50")),
            format!("ok burst {name}")
        );
        let flushed = driver.flush_until_ok(5) == "ok flush";
        let spans = receiver.wait_for_spans(50 * (round + 1), Duration::from_secs(2));
        flushed && count_named(&spans, &name) == 50
    });
    assert!(
        recovered,
        "no burst arrived whole after the collector recovered"
    );
    assert!(driver.stats()["otlp"].balanced());
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
}

#[test]
fn flushes_from_several_threads_at_once_all_complete() {
    let receiver = Receiver::start(Wire::Grpc);
    let endpoint = receiver.endpoint();
    // Nothing is exported on a schedule during the test: each span reaches the collector
    // through a flush, and a flush left waiting would miss its 2 s timeout.
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("T4DM_OTEL_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "2000"),
    ]);
    assert_eq!(driver.answer("flush-together 4"), "ok flush-together");
    let spans = receiver.wait_for_spans(4, ARRIVAL_LIMIT);
    assert_eq!(count_named(&spans, "together"), 4);
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
}

#[test]
fn grpc_collector_slower_than_the_timeout() {
    slow_collector(Wire::Grpc, "grpc");
}

#[test]
fn http_collector_slower_than_the_timeout() {
    slow_collector(Wire::Http, "http/protobuf");
}

#[test]
fn the_caller_never_waits_for_a_stalled_collector() {
    let receiver = Receiver::start(Wire::Grpc);
    receiver.hold();
    let endpoint = receiver.endpoint();
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "60000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "2048"),
    ]);
    // Several full batches: the first export is held by the receiver, unanswered. Were the
    // caller's thread waiting on export, this answer would never come while the hold lasts.
    assert_eq!(driver.answer("burst held 10000"), "ok burst held");
    assert!(driver.answer("tree").starts_with("ok tree"));
    let stats = driver.stats()["otlp"];
    assert!(stats.balanced(), "{stats:?}");
    assert!(
        stats.dropped > 0,
        "the bounded queue overflowed while the export was held: {stats:?}"
    );
    receiver.release();
    assert_eq!(driver.answer("flush"), "ok flush");
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
}

#[test]
fn shutdown_with_a_dead_collector_returns_within_the_shutdown_timeout() {
    let receiver = Receiver::start(Wire::Grpc);
    receiver.hold();
    let endpoint = receiver.endpoint();
    let mut driver = Driver::start(
        Path::new(env!("CARGO_BIN_EXE_trace-driver")),
        &[
            ("T4DM_OTEL_ENABLED", "true"),
            ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "30000"),
        ],
        &["--shutdown-timeout-ms", "1000"],
    );
    assert_eq!(driver.answer("burst pending 200"), "ok burst pending");
    let (answer, _) = driver.shutdown();
    let millis: u64 = answer
        .strip_prefix("error shutdown ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|millis| millis.parse().ok())
        .unwrap_or_else(|| panic!("shutdown reports the timeout: {answer}"));
    // The bound under test is our own timeout, far below the 30 s export timeout.
    assert!(
        (1000..5000).contains(&millis),
        "shutdown took {millis} ms: {answer}"
    );
    assert!(answer.contains("200 spans are left"), "{answer}");
}

#[test]
fn nothing_is_lost_on_a_clean_exit() {
    let receiver = Receiver::start(Wire::Grpc);
    let endpoint = receiver.endpoint();
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
    ]);
    assert_eq!(driver.answer("burst exit 100000"), "ok burst exit");
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let spans = receiver.spans();
    assert_eq!(count_named(&spans, "exit"), 100_000);
}

fn runs_under(runtime: &str, wire: Wire, protocol: &str) {
    let receiver = Receiver::start(wire);
    let endpoint = receiver.endpoint();
    let mut driver = Driver::start(
        Path::new(env!("CARGO_BIN_EXE_trace-driver")),
        &[
            ("T4DM_OTEL_ENABLED", "true"),
            ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
            ("T4DM_OTEL_PROTOCOL", protocol),
        ],
        &["--runtime", runtime],
    );
    assert!(driver.answer("tree").starts_with("ok tree"));
    assert_eq!(driver.answer("flush"), "ok flush");
    assert!(driver.answer("tree").starts_with("ok tree"));
    let (shutdown, stderr) = driver.shutdown();
    assert!(
        shutdown.starts_with("ok shutdown"),
        "{runtime}: {shutdown}\n{stderr}"
    );
    assert_eq!(
        receiver.wait_for_spans(6, ARRIVAL_LIMIT).len(),
        6,
        "{runtime}"
    );
}

#[test]
fn grpc_works_with_no_runtime_and_inside_both_tokio_runtimes() {
    for runtime in ["none", "current", "multi"] {
        runs_under(runtime, Wire::Grpc, "grpc");
    }
}

#[test]
fn http_works_with_no_runtime_and_inside_both_tokio_runtimes() {
    for runtime in ["none", "current", "multi"] {
        runs_under(runtime, Wire::Http, "http/protobuf");
    }
}

#[test]
fn ratio_sampling_exports_about_that_share_of_traces() {
    let receiver = Receiver::start(Wire::Grpc);
    let endpoint = receiver.endpoint();
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ]);
    assert_eq!(driver.answer("burst sampled 4000"), "ok burst sampled");
    let stats = driver.stats()["otlp"];
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
    let exported = count_named(&receiver.spans(), "sampled");
    // 4,000 independent traces at 0.25: 1,000 expected, standard deviation about 27.
    assert!(
        (850..=1150).contains(&exported),
        "{exported} of 4000 sampled"
    );
    assert_eq!(
        stats.created, exported as u64,
        "unsampled spans never reach the pipeline"
    );
}

#[test]
fn sampling_ratio_zero_exports_nothing() {
    let receiver = Receiver::start(Wire::Grpc);
    let endpoint = receiver.endpoint();
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("T4DM_OTEL_SAMPLE_RATIO", "0"),
    ]);
    assert!(driver.answer("tree").starts_with("ok tree"));
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
    assert!(receiver.spans().is_empty());
}

#[test]
fn console_and_otlp_together() {
    let receiver = Receiver::start(Wire::Grpc);
    let endpoint = receiver.endpoint();
    let mut driver = driver(&[
        ("T4DM_OTEL_ENABLED", "true"),
        ("T4DM_OTEL_ENDPOINT", endpoint.as_str()),
        ("T4DM_OTEL_CONSOLE", "true"),
    ]);
    let trace_id = driver.answer("tree").replace("ok tree ", "");
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}");
    assert!(stderr.contains(&format!("trace {trace_id}")), "{stderr}");
    assert!(stderr.contains("gateway.handle ("), "{stderr}");
    assert_eq!(receiver.wait_for_spans(3, ARRIVAL_LIMIT).len(), 3);
}
