//! The AWS X-Ray propagator (`X-Amzn-Trace-Id`) installed by `OTEL_PROPAGATORS` beside W3C
//! Trace Context and Baggage: round trips on every carrier, remote parents through
//! `#[traced(parent = ..)]`, agreement with `traceparent`, malformed headers; and why the runtime
//! has its own propagator rather than `opentelemetry-aws`'s.

use std::collections::HashMap;
use std::sync::Once;
use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
use t4dm_trace_runtime::opentelemetry::trace::{SpanContext, TraceContextExt};
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::{
    Context, Propagator, TracingConfig, W3cTraceContextPropagator, XrayPropagator, extract_context,
    init_tracing, inject_context, traced,
};
use t4dm_trace_tests::span;

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const TRACE_ID: &str = "5759e988bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";

/// Tracing on, no exporter, and the three propagators, once for this test binary.
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let config = TracingConfig::from_lookup(|name| {
            let value = match name {
                "T4DM_OTEL_ENABLED" => "true",
                "OTEL_TRACES_EXPORTER" => "none",
                "OTEL_PROPAGATORS" => "tracecontext,baggage,xray",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .expect("valid configuration");
        assert_eq!(
            config.propagators(),
            [
                Propagator::TraceContext,
                Propagator::Baggage,
                Propagator::Xray
            ]
        );
        std::mem::forget(init_tracing(config).expect("tracing starts"));
    });
}

fn header_map(fields: &[(&str, &str)]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in fields {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            http::HeaderValue::from_str(value).expect("test header value"),
        );
    }
    headers
}

fn span_context(cx: &Context) -> SpanContext {
    cx.span().span_context().clone()
}

#[traced("client.call", kind = Client)]
fn outgoing() -> (
    SpanContext,
    HashMap<String, String>,
    http::HeaderMap,
    serde_json::Map<String, serde_json::Value>,
) {
    let mut map = HashMap::new();
    let mut headers = http::HeaderMap::new();
    let mut meta = serde_json::Map::new();
    inject_context(&mut map);
    inject_context(&mut headers);
    inject_context(&mut meta);
    (span_context(&Context::current()), map, headers, meta)
}

#[test]
fn inject_then_extract_round_trips_on_every_carrier() {
    init();
    let ((own, mut map, mut headers, mut meta), _) = capture(outgoing);
    let hex = own.trace_id().to_string();
    let expected = format!(
        "Root=1-{}-{};Parent={};Sampled=1",
        &hex[..8],
        &hex[8..],
        own.span_id()
    );
    assert_eq!(map["x-amzn-trace-id"], expected);
    assert_eq!(headers["x-amzn-trace-id"], expected.as_str());
    assert_eq!(meta["x-amzn-trace-id"], expected.as_str());

    // Only the X-Ray header left: what it alone carries comes back.
    map.remove("traceparent");
    headers.remove("traceparent");
    meta.remove("traceparent");
    for extracted in [
        span_context(&extract_context(&map)),
        span_context(&extract_context(&headers)),
        span_context(&extract_context(&meta)),
    ] {
        assert_eq!(extracted.trace_id(), own.trace_id());
        assert_eq!(extracted.span_id(), own.span_id());
        assert!(extracted.is_sampled());
        assert!(extracted.is_remote());
    }
}

#[traced("gateway.handle", kind = Server, parent = extract_context(headers))]
fn handle(headers: &http::HeaderMap) -> HashMap<String, String> {
    let mut outgoing = HashMap::new();
    inject_context(&mut outgoing);
    outgoing
}

#[test]
fn x_amzn_trace_id_from_incoming_headers_continues_the_trace() {
    init();
    let headers = header_map(&[(
        "X-Amzn-Trace-Id",
        &format!("Root={ROOT};Parent={PARENT};Sampled=1"),
    )]);
    let (sent, spans) = capture(|| handle(&headers));
    let server = span(&spans, "gateway.handle");
    assert_eq!(server.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(server.parent_span_id.to_string(), PARENT);
    assert!(server.parent_span_is_remote);
    assert!(server.span_context.is_sampled());
    assert_eq!(
        sent["x-amzn-trace-id"],
        format!(
            "Root={ROOT};Parent={};Sampled=1",
            server.span_context.span_id()
        ),
        "sent on with this span as the parent"
    );
    assert_eq!(
        sent["traceparent"],
        format!("00-{TRACE_ID}-{}-01", server.span_context.span_id()),
        "and to W3C peers in the same trace"
    );
}

#[test]
fn a_not_sampled_caller_is_followed_and_its_decision_sent_on() {
    init();
    for sampled in ["Sampled=0", "Sampled=?", ""] {
        let value = format!("Root={ROOT};Parent={PARENT};{sampled}");
        let headers = header_map(&[("x-amzn-trace-id", &value)]);
        let (sent, spans) = capture(|| handle(&headers));
        assert!(spans.is_empty(), "{value}: not recorded: {spans:?}");
        let forwarded = &sent["x-amzn-trace-id"];
        assert!(
            forwarded.starts_with(&format!("Root={ROOT};Parent="))
                && forwarded.ends_with(";Sampled=0"),
            "{value} -> {forwarded}"
        );
        assert!(sent["traceparent"].ends_with("-00"), "{sent:?}");
    }
}

#[test]
fn w3c_and_x_ray_headers_together_agree() {
    init();
    let ((own, map, _, _), _) = capture(outgoing);
    let traceparent = &map["traceparent"];
    let xray = &map["x-amzn-trace-id"];
    let w3c = span_context(&W3cTraceContextPropagator::new().extract(&map));
    let aws = span_context(&XrayPropagator::new().extract(&map));
    for extracted in [&w3c, &aws] {
        assert_eq!(
            extracted.trace_id(),
            own.trace_id(),
            "{traceparent} / {xray}"
        );
        assert_eq!(extracted.span_id(), own.span_id(), "{traceparent} / {xray}");
        assert_eq!(extracted.is_sampled(), own.is_sampled());
    }
    // Both together, through the installed composite: the same parent.
    let both = span_context(&extract_context(&map));
    assert_eq!(
        (both.trace_id(), both.span_id()),
        (own.trace_id(), own.span_id())
    );

    // A W3C caller with the sampled and random flags (`03`): X-Ray peers are told `Sampled=1`.
    let incoming = header_map(&[("traceparent", &format!("00-{TRACE_ID}-{PARENT}-03"))]);
    let (sent, spans) = capture(|| handle(&incoming));
    let server = span(&spans, "gateway.handle");
    assert_eq!(
        sent["x-amzn-trace-id"],
        format!(
            "Root={ROOT};Parent={};Sampled=1",
            server.span_context.span_id()
        )
    );
    assert!(sent["traceparent"].ends_with("-03"), "{sent:?}");
}

#[test]
fn malformed_x_amzn_trace_id_headers_are_ignored() {
    init();
    let good_parent = format!("Parent={PARENT}");
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("no fields", ";;;".to_owned()),
        ("no Root", format!("{good_parent};Sampled=1")),
        ("no Parent", format!("Root={ROOT};Sampled=1")),
        ("empty Root", format!("Root=;{good_parent}")),
        (
            "version 2",
            format!("Root=2-5759e988-bd862e3fe1be46a994272793;{good_parent}"),
        ),
        (
            "short time",
            format!("Root=1-5759e98-8bd862e3fe1be46a994272793;{good_parent}"),
        ),
        (
            "short id",
            format!("Root=1-5759e988-bd862e3fe1be46a99427279;{good_parent}"),
        ),
        (
            "long id",
            format!("Root=1-5759e988-bd862e3fe1be46a9942727930;{good_parent}"),
        ),
        (
            "extra part",
            format!("Root=1-5759e988-bd862e3f-e1be46a994272793;{good_parent}"),
        ),
        (
            "not hex",
            format!("Root=1-5759e988-bd862e3fe1be46a99427279z;{good_parent}"),
        ),
        (
            "signed",
            format!("Root=1-+759e988-bd862e3fe1be46a994272793;{good_parent}"),
        ),
        (
            "zero trace",
            format!("Root=1-00000000-000000000000000000000000;{good_parent}"),
        ),
        (
            "short Parent",
            format!("Root={ROOT};Parent=53995c3f42cd8ad"),
        ),
        (
            "zero Parent",
            format!("Root={ROOT};Parent=0000000000000000"),
        ),
        (
            "bad Sampled",
            format!("Root={ROOT};{good_parent};Sampled=yes"),
        ),
        (
            "Root twice",
            format!("Root={ROOT};Root={ROOT};{good_parent}"),
        ),
        (
            "field without =",
            format!("Root={ROOT};{good_parent};Sampled"),
        ),
        (
            "non-ASCII",
            format!("Root=1-5759é988-bd862e3fe1be46a994272793;{good_parent}"),
        ),
    ];
    for (what, value) in &cases {
        let map = HashMap::from([("x-amzn-trace-id".to_owned(), value.clone())]);
        let extracted = span_context(&extract_context(&map));
        assert!(!extracted.is_valid(), "{what}: {value:?} -> {extracted:?}");
        let meta: serde_json::Map<String, serde_json::Value> = [(
            "X-Amzn-Trace-Id".to_owned(),
            serde_json::Value::from(value.as_str()),
        )]
        .into_iter()
        .collect();
        assert!(!span_context(&extract_context(&meta)).is_valid(), "{what}");
        if let Ok(header) = http::HeaderValue::from_str(value) {
            let mut headers = http::HeaderMap::new();
            headers.insert("x-amzn-trace-id", header);
            let (_, spans) = capture(|| handle(&headers));
            let server = span(&spans, "gateway.handle");
            assert!(
                !server.parent_span_is_remote && server.parent_span_id.to_string() != PARENT,
                "{what}: a new trace"
            );
        }
    }
    // Sent twice (two header lines), even if both are valid.
    let value = format!("Root={ROOT};{good_parent};Sampled=1");
    let twice = header_map(&[("x-amzn-trace-id", &value), ("X-Amzn-Trace-Id", &value)]);
    let (_, spans) = capture(|| handle(&twice));
    let server = span(&spans, "gateway.handle");
    assert!(!server.parent_span_is_remote, "a new trace");
    assert_ne!(server.span_context.trace_id().to_string(), TRACE_ID);
    // A JSON value that is not a string is no header.
    let meta: serde_json::Map<String, serde_json::Value> =
        [("x-amzn-trace-id".to_owned(), serde_json::json!(7))]
            .into_iter()
            .collect();
    assert!(!span_context(&extract_context(&meta)).is_valid());
}

/// `opentelemetry-aws` 0.21 reads `Sampled=?` as trace flag `0x02`, which W3C Trace Context
/// Level 2 defines as the random-trace-id flag: a sampled W3C caller with flags `03` is sent on
/// to X-Ray peers as `Sampled=?`, so the downstream service makes its own decision and the trace
/// breaks apart. The runtime's propagator sends `Sampled=1`
/// (`w3c_and_x_ray_headers_together_agree`).
#[test]
fn opentelemetry_aws_propagator_sends_a_sampled_random_w3c_parent_as_undecided() {
    let incoming = HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{TRACE_ID}-{PARENT}-03"),
    )]);
    let cx = W3cTraceContextPropagator::new().extract(&incoming);
    assert!(span_context(&cx).is_sampled());
    let mut theirs = HashMap::new();
    opentelemetry_aws::trace::XrayPropagator::new().inject_context(&cx, &mut theirs);
    assert_eq!(
        theirs["x-amzn-trace-id"],
        format!("Root={ROOT};Parent={PARENT};Sampled=?")
    );
    let mut ours = HashMap::new();
    XrayPropagator::new().inject_context(&cx, &mut ours);
    assert_eq!(
        ours["x-amzn-trace-id"],
        format!("Root={ROOT};Parent={PARENT};Sampled=1")
    );
}

/// `opentelemetry-aws` 0.21 accepts a `Root` of any version and any split of hex digits, so a
/// malformed header yields a made-up trace id instead of being ignored.
#[test]
fn opentelemetry_aws_propagator_accepts_malformed_roots() {
    for root in [
        "9-5759e988-bd862e3fe1be46a994272793",
        "1-5759e98-8bd862e3fe1be46a994272793",
        "1-1-2",
    ] {
        let header = HashMap::from([(
            "x-amzn-trace-id".to_owned(),
            format!("Root={root};Parent={PARENT};Sampled=1"),
        )]);
        let theirs = opentelemetry_aws::trace::XrayPropagator::new().extract(&header);
        assert!(span_context(&theirs).is_valid(), "{root} accepted");
        let ours = XrayPropagator::new().extract(&header);
        assert!(!span_context(&ours).is_valid(), "{root} ignored");
    }
}
