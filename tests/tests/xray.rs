//! AWS X-Ray export, checked on the wire: a UDP listener on loopback stands in for the X-Ray
//! daemon and decodes every datagram. Also the `OTEL_TRACES_EXPORTER=xray` configuration, and
//! why the runtime has its own encoder and daemon client rather than `opentelemetry-aws`'s.

use serde_json::Value as Json;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use t4dm_trace_runtime::opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use t4dm_trace_runtime::opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue};
use t4dm_trace_runtime::opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use t4dm_trace_runtime::{InitError, TracingConfig};
use t4dm_trace_tests::driver::{Driver, Stats};
use t4dm_trace_tests::xray_daemon::XrayDaemon;

const WAIT: Duration = Duration::from_secs(10);

fn driver(daemon: &str, extra: &[(&str, &str)]) -> Driver {
    let mut env = vec![
        ("T4DM_OTEL_ENABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "xray"),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon),
        ("T4DM_OTEL_SERVICE_NAME", "xray-test"),
    ];
    env.extend_from_slice(extra);
    Driver::start(Path::new(env!("CARGO_BIN_EXE_trace-driver")), &env, &[])
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx` from the driver's 32 hex digits.
fn xray_id(trace_id: &str) -> String {
    format!("1-{}-{}", &trace_id[..8], &trace_id[8..])
}

/// The epoch seconds in an X-Ray trace id.
fn id_seconds(xray_trace_id: &str) -> u64 {
    let parts: Vec<&str> = xray_trace_id.split('-').collect();
    assert_eq!(parts.len(), 3, "{xray_trace_id}");
    assert_eq!(parts[0], "1");
    assert_eq!(parts[1].len(), 8, "{xray_trace_id}");
    assert_eq!(parts[2].len(), 24, "{xray_trace_id}");
    assert!(
        parts[1..]
            .iter()
            .all(|part| part.bytes().all(|b| b.is_ascii_hexdigit())),
        "{xray_trace_id}"
    );
    u64::from_str_radix(parts[1], 16).expect("hex")
}

fn named<'a>(documents: &'a [Json], name: &str) -> &'a Json {
    let mut found = documents.iter().filter(|document| document["name"] == name);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no document named {name} in {documents:#?}"));
    assert!(found.next().is_none(), "several {name} in {documents:#?}");
    first
}

fn seconds(document: &Json, field: &str) -> f64 {
    document[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is a number of seconds: {document}"))
}

/// The driver's counts for the `xray` exporter.
fn xray_stats(driver: &mut Driver) -> Stats {
    let stats = driver.stats();
    *stats
        .get("xray")
        .unwrap_or_else(|| panic!("no xray exporter in {stats:?}"))
}

#[test]
fn the_daemon_receives_a_segment_and_subsegments_matching_the_span_tree() {
    let daemon = XrayDaemon::start();
    let mut driver = driver(
        &daemon.address(),
        &[
            ("T4DM_OTEL_XRAY_ANNOTATIONS", "tool.name, user.id"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.version=1.2.3"),
        ],
    );
    let before = now_seconds();
    let trace_id = driver.answer("xray-chain").replace("ok xray-chain ", "");
    let after = now_seconds();
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let documents = daemon.wait_for(3, WAIT);
    assert_eq!(documents.len(), 3, "{documents:#?}");

    let trace = xray_id(&trace_id);
    for document in &documents {
        assert_eq!(document["trace_id"], trace.as_str(), "{document}");
        let start = seconds(document, "start_time");
        let end = seconds(document, "end_time");
        assert!(
            before - 0.001 <= start && start <= end && end <= after + 0.001,
            "epoch seconds {start}..{end} within {before}..{after}"
        );
        assert_eq!(
            document["id"].as_str().map(str::len),
            Some(16),
            "{document}"
        );
    }

    // The server span is the segment, named after the service.
    let segment = named(&documents, "xray-test");
    let start = seconds(segment, "start_time");
    #[expect(
        clippy::cast_precision_loss,
        reason = "epoch seconds fit an f64 exactly"
    )]
    let id_time = id_seconds(&trace) as f64;
    assert!(
        (start - id_time).abs() < 1.0,
        "the trace id's time part {id_time} is within a second of the start {start}"
    );
    assert!(segment.get("parent_id").is_none(), "{segment}");
    assert!(segment.get("type").is_none(), "a segment: {segment}");
    assert_eq!(segment["annotations"]["span_name"], "xray.handle");
    assert_eq!(segment["annotations"]["tool_name"], "recall_episodes");
    assert_eq!(segment["annotations"]["user_id"], "alice");
    assert_eq!(segment["http"]["request"]["method"], "GET");
    assert_eq!(
        segment["http"]["request"]["url"],
        "http://gateway.local/recall?q=coffee"
    );
    assert_eq!(segment["http"]["response"]["status"], 404);
    assert_eq!(segment["error"], true, "4xx is an error: {segment}");
    assert!(segment.get("fault").is_none(), "{segment}");
    assert_eq!(segment["metadata"]["default"]["request.size"], 512);
    let metadata = segment["metadata"]["default"]
        .as_object()
        .expect("metadata");
    assert!(
        !metadata.contains_key("tool.name") && !metadata.contains_key("http.request.method"),
        "annotated and mapped attributes are not repeated in metadata: {metadata:?}"
    );
    assert_eq!(segment["service"]["version"], "1.2.3");
    assert_eq!(segment["aws"]["xray"]["sdk"], "t4dm-trace");

    let recall = named(&documents, "xray.recall");
    assert_eq!(recall["type"], "subsegment");
    assert_eq!(recall["parent_id"], segment["id"]);
    assert!(recall.get("namespace").is_none(), "internal: {recall}");
    assert_eq!(recall["metadata"]["default"]["limit"], 10);
    assert!(recall.get("fault").is_none() && recall.get("error").is_none());

    let query = named(&documents, "xray.query");
    assert_database_call_that_failed(query, recall);

    for (child, parent) in [(recall, segment), (query, recall)] {
        assert!(
            seconds(parent, "start_time") <= seconds(child, "start_time")
                && seconds(child, "end_time") <= seconds(parent, "end_time"),
            "{child} inside {parent}"
        );
    }
}

/// The failing database call: a remote subsegment with its `sql` block, a fault, and the error
/// with its source chain in `cause`.
fn assert_database_call_that_failed(query: &Json, recall: &Json) {
    assert_eq!(query["type"], "subsegment");
    assert_eq!(query["parent_id"], recall["id"]);
    assert_eq!(query["namespace"], "remote", "a client span: {query}");
    assert_eq!(query["sql"]["database_type"], "postgresql");
    assert_eq!(query["sql"]["url"], "db.local/memory");
    assert_eq!(
        query["sql"]["sanitized_query"],
        "SELECT id FROM episodes WHERE topic = $1"
    );
    assert_eq!(query["fault"], true, "an Err without HTTP status: {query}");
    let exceptions = query["cause"]["exceptions"].as_array().expect("exceptions");
    assert_eq!(
        exceptions.len(),
        2,
        "the error and its source: {exceptions:?}"
    );
    assert!(
        exceptions[0]["type"]
            .as_str()
            .is_some_and(|kind| kind.ends_with("QueryFailed")),
        "{exceptions:?}"
    );
    assert_eq!(exceptions[0]["message"], "query failed");
    assert_eq!(exceptions[0]["cause"], exceptions[1]["id"]);
    assert_eq!(exceptions[1]["message"], "the connection timed out");
    assert_ne!(exceptions[0]["id"], exceptions[1]["id"]);
    assert!(query["cause"]["working_directory"].is_string());
}

#[test]
fn a_panic_is_a_fault_with_its_message_in_cause() {
    let daemon = XrayDaemon::start();
    let mut driver = driver(&daemon.address(), &[]);
    let trace_id = driver.answer("xray-panic").replace("ok xray-panic ", "");
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let documents = daemon.wait_for(1, WAIT);
    assert_eq!(documents.len(), 1, "{documents:#?}");
    let segment = &documents[0];
    assert_eq!(segment["trace_id"], xray_id(&trace_id).as_str());
    assert_eq!(segment["name"], "xray-test", "a root is a segment");
    assert_eq!(segment["annotations"]["span_name"], "xray.panics");
    assert_eq!(segment["fault"], true, "{segment}");
    let exception = &segment["cause"]["exceptions"][0];
    assert_eq!(exception["type"], "panic");
    assert!(
        exception["message"]
            .as_str()
            .is_some_and(|message| message.contains("index out of bounds")),
        "{exception}"
    );
}

#[test]
fn every_new_trace_id_starts_with_the_epoch_seconds() {
    let daemon = XrayDaemon::start();
    let mut driver = driver(&daemon.address(), &[]);
    let before = now_seconds();
    assert_eq!(driver.answer("burst xray.root 20"), "ok burst xray.root");
    // Spans of other instrumentation, started through OpenTelemetry's global tracer, too.
    let global = driver.answer("global-span").replace("ok global-span ", "");
    let after = now_seconds();
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let documents = daemon.wait_for(21, WAIT);
    assert!(
        documents
            .iter()
            .any(|document| document["trace_id"] == xray_id(&global).as_str()
                && document["annotations"]["span_name"] == "third_party.call"),
        "{global} in {documents:#?}"
    );
    let mut traces: Vec<&str> = documents
        .iter()
        .map(|document| document["trace_id"].as_str().expect("a trace id"))
        .collect();
    for trace in &traces {
        #[expect(
            clippy::cast_precision_loss,
            reason = "epoch seconds fit an f64 exactly"
        )]
        let seconds = id_seconds(trace) as f64;
        assert!(
            before.floor() <= seconds && seconds <= after,
            "{trace}: {seconds} in {before}..{after}"
        );
    }
    traces.sort_unstable();
    traces.dedup();
    assert_eq!(traces.len(), 21, "each root starts its own trace");
}

#[test]
fn a_deep_trace_larger_than_64_kib_arrives_whole() {
    let daemon = XrayDaemon::start();
    let mut driver = driver(&daemon.address(), &[]);
    let trace_id = driver
        .answer("xray-deep 40 3000")
        .replace("ok xray-deep ", "");
    assert_eq!(driver.answer("flush"), "ok flush");
    let stats = xray_stats(&mut driver);
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let documents = daemon.wait_for(40, WAIT);
    assert_eq!(documents.len(), 40);
    let bytes: usize = daemon.datagrams().iter().map(Vec::len).sum();
    assert!(bytes > 64 * 1024, "the trace is {bytes} bytes");
    assert_eq!(
        (stats.exported, stats.dropped, stats.failed),
        (40, 0, 0),
        "{stats:?}"
    );
    assert!(stats.balanced(), "{stats:?}");

    let trace = xray_id(&trace_id);
    let level = |document: &Json| {
        document["metadata"]["default"]["level"]
            .as_u64()
            .unwrap_or_else(|| panic!("a level: {document}"))
    };
    let by_level = |wanted: u64| {
        documents
            .iter()
            .find(|document| level(document) == wanted)
            .unwrap_or_else(|| panic!("no level {wanted}"))
    };
    for document in &documents {
        assert_eq!(document["trace_id"], trace.as_str());
        assert_eq!(
            document["metadata"]["default"]["padding"]
                .as_str()
                .map(str::len),
            Some(3000),
            "nothing trimmed"
        );
        match level(document) {
            40 => assert!(document.get("parent_id").is_none(), "the root"),
            below => assert_eq!(document["parent_id"], by_level(below + 1)["id"]),
        }
    }
}

#[test]
fn an_oversized_document_is_trimmed_to_fit_and_marked() {
    let daemon = XrayDaemon::start();
    let mut driver = driver(&daemon.address(), &[]);
    let trace_id = driver
        .answer("xray-wide 100 1000")
        .replace("ok xray-wide ", "");
    assert_eq!(driver.answer("flush"), "ok flush");
    let stats = xray_stats(&mut driver);
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    let documents = daemon.wait_for(1, WAIT);
    assert_eq!(documents.len(), 1);
    let datagram = daemon.datagrams().remove(0);
    assert!(datagram.len() <= 65_507, "{} bytes", datagram.len());
    let segment = &documents[0];
    assert_eq!(segment["trace_id"], xray_id(&trace_id).as_str());
    assert_eq!(segment["metadata"]["t4dm"]["trimmed"], true, "{segment}");
    assert!(
        segment["metadata"]["t4dm"]["original_bytes"]
            .as_u64()
            .is_some_and(|bytes| bytes > 100_000)
    );
    let kept = segment["metadata"]["default"]
        .as_object()
        .map_or(0, |metadata| {
            metadata
                .keys()
                .filter(|key| key.starts_with("wide."))
                .count()
        });
    assert!(
        (1..100).contains(&kept),
        "only what does not fit is left out: {kept} kept"
    );
    assert_eq!((stats.exported, stats.dropped), (1, 0), "{stats:?}");
}

#[test]
fn a_document_that_cannot_fit_is_counted_as_dropped_and_the_batch_goes_on() {
    let daemon = XrayDaemon::start();
    // 80 annotations of 1,000 bytes: annotations are never dropped to fit, so this cannot.
    let keys: Vec<String> = (0..80).map(|index| format!("wide.{index}")).collect();
    let keys = keys.join(",");
    let mut driver = driver(
        &daemon.address(),
        &[("T4DM_OTEL_XRAY_ANNOTATIONS", keys.as_str())],
    );
    driver.answer("xray-wide 80 1000");
    driver.answer("xray-chain");
    assert_eq!(driver.answer("flush"), "ok flush");
    let stats = xray_stats(&mut driver);
    let (shutdown, stderr) = driver.shutdown();
    assert!(shutdown.starts_with("ok shutdown"), "{shutdown}\n{stderr}");
    assert_eq!(
        (
            stats.created,
            stats.exported,
            stats.dropped,
            stats.failed,
            stats.queued
        ),
        (4, 3, 1, 0, 0),
        "{stats:?}"
    );
    assert!(stats.balanced(), "{stats:?}");
    let documents = daemon.wait_for(3, WAIT);
    assert_eq!(documents.len(), 3, "the rest of the batch arrives");
    assert!(
        documents
            .iter()
            .all(|document| document["annotations"]["span_name"] != "xray.wide")
    );
}

#[test]
fn send_errors_are_counted_as_failed_and_never_reach_the_service() {
    // Sending to the broadcast address without SO_BROADCAST fails at once (EACCES).
    let mut driver = driver("255.255.255.255:2000", &[]);
    assert!(driver.answer("xray-chain").starts_with("ok xray-chain"));
    let flush = driver.answer("flush");
    assert!(flush.starts_with("error flush"), "{flush}");
    let stats = xray_stats(&mut driver);
    assert_eq!((stats.created, stats.failed), (3, 3), "{stats:?}");
    assert!(stats.balanced(), "{stats:?}");
    assert!(
        driver.answer("xray-chain").starts_with("ok xray-chain"),
        "the service goes on"
    );
    let (shutdown, _) = driver.shutdown();
    assert!(shutdown.contains("shutdown"), "{shutdown}");
}

fn resolve(pairs: &[(&str, &str)]) -> Result<TracingConfig, InitError> {
    TracingConfig::from_lookup(t4dm_trace_tests::lookup(pairs))
}

#[test]
fn otel_traces_exporter_xray_alone_or_beside_others() {
    let config = resolve(&[("OTEL_TRACES_EXPORTER", "xray")]).expect("valid");
    let xray = config.xray().expect("xray is on");
    assert_eq!(xray.daemon_address(), "127.0.0.1:2000", "the default");
    assert!(xray.annotations().is_empty());
    assert!(config.otlp().is_none() && !config.console());

    let config = resolve(&[("OTEL_TRACES_EXPORTER", "otlp, XRay,console")]).expect("valid");
    assert!(config.xray().is_some() && config.otlp().is_some() && config.console());

    let config = resolve(&[("OTEL_TRACES_EXPORTER", "otlp")]).expect("valid");
    assert!(config.xray().is_none());
}

#[test]
fn aws_xray_daemon_address_takes_the_forms_the_sdks_accept() {
    for (value, expected) in [
        ("10.0.0.5:3000", "10.0.0.5:3000"),
        ("xray-daemon:2000", "xray-daemon:2000"),
        ("udp:127.0.0.1:2001", "127.0.0.1:2001"),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", "127.0.0.2:2001"),
        ("udp:127.0.0.2:2001 tcp:127.0.0.1:2000", "127.0.0.2:2001"),
        ("[::1]:2000", "[::1]:2000"),
    ] {
        let config = resolve(&[
            ("OTEL_TRACES_EXPORTER", "xray"),
            ("AWS_XRAY_DAEMON_ADDRESS", value),
        ])
        .unwrap_or_else(|error| panic!("{value}: {error}"));
        assert_eq!(config.xray().expect("on").daemon_address(), expected);
    }
    for value in [
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:99999",
        ":2000",
        "tcp:127.0.0.1:2000",
        "http://127.0.0.1:2000",
        "a b c",
    ] {
        let message = resolve(&[
            ("OTEL_TRACES_EXPORTER", "xray"),
            ("AWS_XRAY_DAEMON_ADDRESS", value),
        ])
        .expect_err(value)
        .to_string();
        assert!(
            message.starts_with(&format!(
                "invalid `AWS_XRAY_DAEMON_ADDRESS` value `{value}`: expected `host:port`"
            )),
            "{message}"
        );
    }
    assert!(
        resolve(&[("AWS_XRAY_DAEMON_ADDRESS", "nonsense")]).is_ok(),
        "not read unless X-Ray export is on"
    );
}

#[test]
fn t4dm_otel_xray_annotations_lists_attribute_keys() {
    let config = resolve(&[
        ("OTEL_TRACES_EXPORTER", "xray"),
        (
            "T4DM_OTEL_XRAY_ANNOTATIONS",
            " tool.name,,user.id,tool.name ",
        ),
    ])
    .expect("valid");
    assert_eq!(
        config.xray().expect("on").annotations(),
        ["tool.name", "user.id"]
    );
    let message = resolve(&[
        ("OTEL_TRACES_EXPORTER", "xray"),
        ("T4DM_OTEL_XRAY_ANNOTATIONS", "tool name"),
    ])
    .expect_err("a space")
    .to_string();
    assert!(
        message.starts_with("invalid `T4DM_OTEL_XRAY_ANNOTATIONS` value `tool name`"),
        "{message}"
    );
}

fn span_data(span_id: u64, attributes: Vec<KeyValue>, events: Vec<Event>) -> SpanData {
    let start = SystemTime::now();
    let mut span_events = SpanEvents::default();
    span_events.events = events;
    SpanData {
        span_context: SpanContext::new(
            // An X-Ray trace id of now: `opentelemetry-aws` refuses ids older than 30 days.
            TraceId::from(
                (u128::from(start.duration_since(UNIX_EPOCH).expect("now").as_secs()) << 96)
                    | 0xbd86_2e3f_e1be_46a9_9427_2793,
            ),
            SpanId::from(span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: "handle".into(),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes,
        dropped_attributes_count: 0,
        events: span_events,
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("test").build(),
    }
}

/// `opentelemetry-aws`'s daemon client sends a batch's documents one by one and stops at the
/// first the socket refuses: one oversized span loses every span after it in its batch, and the
/// whole batch is reported failed, though the first span arrived. The runtime's exporter trims
/// (`an_oversized_document_is_trimmed_to_fit_and_marked`) and goes on
/// (`a_document_that_cannot_fit_is_counted_as_dropped_and_the_batch_goes_on`).
#[test]
fn opentelemetry_aws_daemon_client_loses_the_rest_of_a_batch_after_an_oversized_span() {
    use opentelemetry_aws::xray_exporter::XrayExporter;
    use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
    let daemon = XrayDaemon::start();
    let address = daemon.address().parse().expect("a socket address");
    // Its translator drops attributes that are neither annotations nor chosen as metadata.
    let exporter = XrayExporter::new(XrayDaemonClient::new(address).expect("a client"))
        .with_translator(
            opentelemetry_aws::xray_exporter::SegmentTranslator::new().metadata_all_attrs(),
        );
    let huge = KeyValue::new("payload", "x".repeat(70_000));
    let batch = vec![
        span_data(1, Vec::new(), Vec::new()),
        span_data(2, vec![huge], Vec::new()),
        span_data(3, Vec::new(), Vec::new()),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(exporter.export(batch));
    assert!(result.is_err(), "the whole batch is reported failed");
    std::thread::sleep(Duration::from_millis(300));
    let ids: Vec<Json> = daemon
        .documents()
        .iter()
        .map(|document| document["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [Json::from("0000000000000001")],
        "span 1 arrived, span 3 never did"
    );
}

/// `opentelemetry-aws`'s translator reads `exception.type`, `exception.message` and
/// `exception.stacktrace`, but not the `exception.source_chain` this runtime records for an
/// error's `source()` chain: the cause of an error is lost. The runtime's encoder links each
/// source as the `cause` of the exception before it
/// (`the_daemon_receives_a_segment_and_subsegments_matching_the_span_tree`).
#[test]
fn opentelemetry_aws_translator_loses_the_source_chain() {
    use opentelemetry_aws::xray_exporter::XrayExporter;
    use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
    let daemon = XrayDaemon::start();
    let address = daemon.address().parse().expect("a socket address");
    let exporter = XrayExporter::new(XrayDaemonClient::new(address).expect("a client"));
    let exception = Event::new(
        "exception",
        SystemTime::now(),
        vec![
            KeyValue::new("exception.type", "app::QueryFailed"),
            KeyValue::new("exception.message", "query failed"),
            KeyValue::new(
                "exception.source_chain",
                t4dm_trace_runtime::opentelemetry::Value::Array(Array::String(vec![
                    StringValue::from("the connection timed out"),
                ])),
            ),
        ],
        0,
    );
    let mut span = span_data(7, Vec::new(), vec![exception]);
    span.status = Status::error("query failed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(exporter.export(vec![span])).expect("sent");
    let documents = daemon.wait_for(1, WAIT);
    let text = documents[0].to_string();
    assert!(text.contains("query failed"), "{text}");
    assert!(
        !text.contains("the connection timed out"),
        "the source is nowhere in the document: {text}"
    );
}
