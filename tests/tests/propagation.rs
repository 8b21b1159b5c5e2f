//! W3C Trace Context Level 2 and W3C Baggage, one test per rule of the specifications' text
//! (named after the rule), plus remote parents through `#[traced(parent = ..)]`, the carriers,
//! baggage helpers, context across tasks and threads, and property tests.

use proptest::prelude::*;
use std::collections::HashMap;
use t4dm_trace_runtime::opentelemetry::baggage::BaggageExt;
use t4dm_trace_runtime::opentelemetry::propagation::TextMapPropagator;
use t4dm_trace_runtime::opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use t4dm_trace_runtime::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use t4dm_trace_runtime::testing::{capture, capture_async};
use t4dm_trace_runtime::{
    Context, PropagationError, Propagator, TraceFutureExt, W3cBaggagePropagator,
    W3cTraceContextPropagator, composite_propagator, context_with_baggage, extract_context,
    get_baggage, get_trace_context, inject_context, inject_context_from, set_baggage,
    spawn_blocking_in_current_trace, spawn_in_current_trace, spawn_thread_in_current_trace, traced,
    with_trace_state_entry,
};
use t4dm_trace_tests::{is_child_of, is_root, span};

const TRACE_ID: &str = "12345678901234567890123456789012";
const PARENT_ID: &str = "1234567890123456";
const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

/// A carrier of `(name, value)` fields in order, names kept as sent.
fn carrier(fields: &[(&str, &str)]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in fields {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            http::HeaderValue::from_str(value).expect("test header value"),
        );
    }
    headers
}

/// What the W3C propagators extract from `fields`, as the remote parent's span context.
fn extracted(fields: &[(&str, &str)]) -> SpanContext {
    let cx = composite_propagator(&[Propagator::TraceContext, Propagator::Baggage])
        .extract(&Fields(fields));
    cx.span().span_context().clone()
}

/// The headers a service sends after receiving `fields`: extract, start a span of its own (as
/// a recording SDK span), inject.
fn forwarded(fields: &[(&str, &str)]) -> HashMap<String, String> {
    let propagator = composite_propagator(&[Propagator::TraceContext, Propagator::Baggage]);
    let remote = propagator.extract(&Fields(fields));
    let tracer = provider(Sampler::AlwaysOn).tracer("test");
    let cx = remote.with_span(tracer.start_with_context("service", &remote));
    let mut outgoing = HashMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    outgoing
}

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_sampler(sampler).build()
}

/// Fields in order, names ASCII case-insensitive, values any text (a `HeaderMap` refuses some).
struct Fields<'a>(&'a [(&'a str, &'a str)]);

impl t4dm_trace_runtime::opentelemetry::propagation::Extractor for Fields<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key)?.first().copied()
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// The `HeaderMap` seen through the OpenTelemetry `Extractor` trait, the way other OpenTelemetry
/// integrations hand it to a propagator (all values of a name, in order).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl t4dm_trace_runtime::opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .get_all(key)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

fn trace_id(span_context: &SpanContext) -> String {
    format!("{:032x}", span_context.trace_id())
}

fn span_id(span_context: &SpanContext) -> String {
    format!("{:016x}", span_context.span_id())
}

fn assert_rejected(traceparent: &str) {
    let parent = extracted(&[("traceparent", traceparent), ("tracestate", "foo=1")]);
    assert!(!parent.is_valid(), "{traceparent:?} must be ignored");
    let outgoing = forwarded(&[("traceparent", traceparent), ("tracestate", "foo=1")]);
    assert_ne!(
        outgoing["traceparent"][3..35],
        *TRACE_ID,
        "{traceparent:?} starts a new trace"
    );
    assert!(
        !outgoing.contains_key("tracestate"),
        "{traceparent:?}: tracestate goes with it"
    );
}

fn tracestate_of(fields: &[(&str, &str)]) -> Option<String> {
    let mut all = vec![("traceparent", VALID)];
    all.extend_from_slice(fields);
    forwarded(&all).remove("tracestate")
}

// --- traceparent -------------------------------------------------------------------------

#[test]
fn traceparent_version_00_gives_a_remote_parent_with_its_ids_and_flags() {
    let parent = extracted(&[("traceparent", VALID)]);
    assert!(parent.is_valid() && parent.is_remote());
    assert_eq!(trace_id(&parent), TRACE_ID);
    assert_eq!(span_id(&parent), PARENT_ID);
    assert!(parent.is_sampled());
}

#[test]
fn traceparent_continuing_a_trace_keeps_the_trace_id_and_sends_a_new_parent_id() {
    let outgoing = forwarded(&[("traceparent", VALID)]);
    let sent = &outgoing["traceparent"];
    assert_eq!(sent.len(), 55);
    assert!(
        sent.starts_with("00-12345678901234567890123456789012-"),
        "{sent}"
    );
    assert_ne!(&sent[36..52], PARENT_ID);
    assert!(sent.ends_with("-01"), "{sent}");
}

#[test]
fn traceparent_missing_starts_a_new_trace() {
    assert!(!extracted(&[]).is_valid());
    let sent = &forwarded(&[])["traceparent"];
    assert_eq!(sent.len(), 55, "a new trace is still sent: {sent}");
}

#[test]
fn traceparent_header_name_is_ascii_case_insensitive() {
    for name in ["traceparent", "TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        let mut map = HashMap::new();
        map.insert(name.to_owned(), VALID.to_owned());
        let cx = capture(|| extract_context(&map)).0;
        assert_eq!(trace_id(cx.span().span_context()), TRACE_ID, "{name}");
    }
}

#[test]
fn traceparent_header_name_with_delimiters_is_not_traceparent() {
    for name in ["trace-parent", "trace.parent"] {
        assert!(!extracted(&[(name, VALID)]).is_valid(), "{name}");
    }
}

#[test]
fn traceparent_surrounding_whitespace_is_ignored() {
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_eq!(
            trace_id(&extracted(&[("traceparent", value)])),
            TRACE_ID,
            "{value:?}"
        );
    }
}

#[test]
fn traceparent_sent_twice_is_invalid() {
    assert_rejected_fields(&[
        (
            "traceparent",
            "00-12345678901234567890123456789011-1234567890123456-01",
        ),
        ("traceparent", VALID),
    ]);
    // The same through a `HashMap` holding the name under two spellings.
    let map = HashMap::from([
        ("traceparent".to_owned(), VALID.to_owned()),
        ("TRACEPARENT".to_owned(), VALID.to_owned()),
    ]);
    assert!(
        !capture(|| extract_context(&map))
            .0
            .span()
            .span_context()
            .is_valid()
    );
}

fn assert_rejected_fields(fields: &[(&str, &str)]) {
    assert!(!extracted(fields).is_valid(), "{fields:?}");
}

#[test]
fn traceparent_version_ff_is_invalid() {
    assert_rejected("ff-12345678901234567890123456789012-1234567890123456-01");
}

#[test]
fn traceparent_version_must_be_two_lowercase_hex_digits() {
    for value in [
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "0A-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
    ] {
        assert_rejected(value);
    }
}

#[test]
fn traceparent_version_00_with_extra_characters_is_invalid() {
    assert_rejected("00-12345678901234567890123456789012-1234567890123456-01.");
    assert_rejected(
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    );
}

#[test]
fn traceparent_higher_version_is_parsed_by_its_first_four_fields() {
    for value in [
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ] {
        let parent = extracted(&[("traceparent", value)]);
        assert_eq!(trace_id(&parent), TRACE_ID, "{value}");
        assert_eq!(span_id(&parent), PARENT_ID, "{value}");
        let sent = &forwarded(&[("traceparent", value)])["traceparent"];
        assert!(sent.starts_with("00-"), "sent as version 00: {sent}");
    }
}

#[test]
fn traceparent_higher_version_fields_must_end_at_a_dash() {
    assert_rejected(
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
    );
    assert_rejected("cc-12345678901234567890123456789012-1234567890123456-0");
}

#[test]
fn traceparent_trace_id_all_zero_is_invalid() {
    assert_rejected("00-00000000000000000000000000000000-1234567890123456-01");
}

#[test]
fn traceparent_trace_id_must_be_32_lowercase_hex_digits() {
    for value in [
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-1234567890123456789012345678901A-1234567890123456-01",
    ] {
        assert_rejected(value);
    }
}

#[test]
fn traceparent_parent_id_all_zero_is_invalid() {
    assert_rejected("00-12345678901234567890123456789012-0000000000000000-01");
}

#[test]
fn traceparent_parent_id_must_be_16_lowercase_hex_digits() {
    for value in [
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-123456789012345F-01",
    ] {
        assert_rejected(value);
    }
}

#[test]
fn traceparent_trace_flags_must_be_two_lowercase_hex_digits() {
    for value in [
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        "00-12345678901234567890123456789012-1234567890123456-0A",
    ] {
        assert_rejected(value);
    }
}

#[test]
fn traceparent_random_flag_is_propagated() {
    for (flags, expected) in [("02", "03"), ("03", "03"), ("01", "01")] {
        let value = format!("00-{TRACE_ID}-{PARENT_ID}-{flags}");
        let parent = extracted(&[("traceparent", &value)]);
        assert_eq!(
            parent.trace_flags().to_u8(),
            u8::from_str_radix(flags, 16).unwrap()
        );
        // The sampler of `forwarded` samples, so the sampled bit is set on the way out.
        let sent = &forwarded(&[("traceparent", &value)])["traceparent"];
        assert!(sent.ends_with(&format!("-{expected}")), "{flags} → {sent}");
    }
}

#[test]
fn traceparent_random_flag_survives_a_span_the_sdk_does_not_sample() {
    // The SDK gives unsampled spans empty flags; the random bit describes the trace id and must
    // be sent whenever the caller set it.
    let propagator = W3cTraceContextPropagator::new();
    let incoming = HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{TRACE_ID}-{PARENT_ID}-02"),
    )]);
    let remote = propagator.extract(&incoming);
    let tracer = provider(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))).tracer("test");
    let cx = remote.with_span(tracer.start_with_context("unsampled", &remote));
    assert!(!cx.span().span_context().is_sampled());
    let mut outgoing = HashMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    assert!(
        outgoing["traceparent"].ends_with("-02"),
        "{}",
        outgoing["traceparent"]
    );
    assert_ne!(&outgoing["traceparent"][36..52], PARENT_ID);
}

#[test]
fn traceparent_unknown_flags_are_sent_as_zero() {
    let value = format!("00-{TRACE_ID}-{PARENT_ID}-ff");
    assert_eq!(
        extracted(&[("traceparent", &value)]).trace_flags().to_u8(),
        0x03
    );
    assert!(forwarded(&[("traceparent", &value)])["traceparent"].ends_with("-03"));
}

#[test]
fn traceparent_sampled_flag_reflects_this_services_decision() {
    let remote = W3cTraceContextPropagator::new().extract(&HashMap::from([(
        "traceparent".to_owned(),
        VALID.to_owned(),
    )]));
    let tracer = provider(Sampler::AlwaysOff).tracer("test");
    let cx = remote.with_span(tracer.start_with_context("dropped", &remote));
    let mut outgoing = HashMap::new();
    W3cTraceContextPropagator::new().inject_context(&cx, &mut outgoing);
    assert!(
        outgoing["traceparent"].ends_with("-00"),
        "{}",
        outgoing["traceparent"]
    );
}

#[test]
fn traceparent_passed_through_unchanged_keeps_tracestate_unchanged() {
    let fields = [("traceparent", VALID), ("tracestate", "foo@@bar=1,congo=2")];
    let remote = W3cTraceContextPropagator::new().extract(&HeaderExtractor(&carrier(&fields)));
    let cx = with_trace_state_entry(&remote, "t4dm", "ours").expect("valid entry");
    let mut outgoing = HashMap::new();
    W3cTraceContextPropagator::new().inject_context(&cx, &mut outgoing);
    assert_eq!(outgoing["traceparent"], VALID);
    assert_eq!(outgoing["tracestate"], "foo@@bar=1,congo=2");
}

// --- tracestate --------------------------------------------------------------------------

#[test]
fn tracestate_with_traceparent_is_inherited() {
    assert_eq!(
        tracestate_of(&[("tracestate", "foo=1,bar=2")]).as_deref(),
        Some("foo=1,bar=2")
    );
}

#[test]
fn tracestate_without_traceparent_is_discarded() {
    assert!(!forwarded(&[("tracestate", "foo=1")]).contains_key("tracestate"));
}

#[test]
fn tracestate_with_an_invalid_traceparent_is_discarded() {
    assert_rejected("00-00000000000000000000000000000000-1234567890123456-01");
}

#[test]
fn tracestate_header_name_is_ascii_case_insensitive() {
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let map = HashMap::from([
            ("traceparent".to_owned(), VALID.to_owned()),
            (name.to_owned(), "foo=1".to_owned()),
        ]);
        let mut outgoing = HashMap::new();
        let (cx, _) = capture(|| extract_context(&map));
        W3cTraceContextPropagator::new().inject_context(&cx, &mut outgoing);
        assert_eq!(outgoing["tracestate"], "foo=1", "{name}");
    }
}

#[test]
fn tracestate_header_name_with_delimiters_is_not_tracestate() {
    assert_eq!(tracestate_of(&[("trace-state", "foo=1")]), None);
    assert_eq!(tracestate_of(&[("trace.state", "foo=1")]), None);
}

#[test]
fn tracestate_multiple_headers_are_combined_in_order() {
    let combined = tracestate_of(&[
        ("tracestate", "foo=1,bar=2"),
        ("tracestate", "rojo=1,congo=2"),
        ("tracestate", "baz=3"),
    ]);
    assert_eq!(
        combined.as_deref(),
        Some("foo=1,bar=2,rojo=1,congo=2,baz=3")
    );
}

#[test]
fn tracestate_empty_header_is_accepted_and_not_sent() {
    assert_eq!(tracestate_of(&[("tracestate", "")]), None);
    assert_eq!(
        tracestate_of(&[("tracestate", "foo=1"), ("tracestate", "")]).as_deref(),
        Some("foo=1")
    );
    assert_eq!(
        tracestate_of(&[("tracestate", ""), ("tracestate", "foo=1")]).as_deref(),
        Some("foo=1")
    );
}

#[test]
fn tracestate_empty_and_whitespace_members_are_skipped() {
    assert_eq!(
        tracestate_of(&[("tracestate", "foo=1,, \t ,bar=2,")]).as_deref(),
        Some("foo=1,bar=2")
    );
}

#[test]
fn tracestate_whitespace_around_members_is_ignored() {
    for value in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        assert_eq!(
            tracestate_of(&[("tracestate", value)]).as_deref(),
            Some("foo=1,bar=2,baz=3")
        );
    }
    for value in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        assert_eq!(
            tracestate_of(&[("tracestate", value)]).as_deref(),
            Some("foo=1"),
            "{value:?}"
        );
    }
}

#[test]
fn tracestate_key_allows_every_character_of_the_current_grammar() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    for key in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
        let member = format!("{key}=1");
        assert_eq!(tracestate_of(&[("tracestate", &member)]), Some(member));
    }
}

#[test]
fn tracestate_key_may_hold_at_signs_after_its_first_character() {
    for member in [
        "foo@=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
        "1@x=1",
    ] {
        assert_eq!(
            tracestate_of(&[("tracestate", member)]).as_deref(),
            Some(member)
        );
    }
}

#[test]
fn tracestate_key_starting_with_an_at_sign_is_invalid() {
    assert_eq!(tracestate_of(&[("tracestate", "@foo=1,bar=2")]), None);
}

#[test]
fn tracestate_key_is_at_most_256_characters() {
    for key in [
        "z".repeat(256),
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        format!("t@{}", "v".repeat(15)),
    ] {
        let expected = format!("foo=1,{key}=1");
        assert_eq!(
            tracestate_of(&[("tracestate", "foo=1"), ("tracestate", &format!("{key}=1"))]),
            Some(expected)
        );
    }
    assert_eq!(
        tracestate_of(&[
            ("tracestate", "foo=1"),
            ("tracestate", &format!("{}=1", "z".repeat(257)))
        ]),
        None
    );
}

#[test]
fn tracestate_key_with_other_characters_is_invalid() {
    for member in ["foo =1", "FOO=1", "foo.bar=1", "_foo=1", "=1"] {
        assert_eq!(tracestate_of(&[("tracestate", member)]), None, "{member:?}");
    }
}

#[test]
fn tracestate_value_allows_every_printable_character_but_comma_and_equals() {
    let value: String = (0x20u8..=0x7e)
        .filter(|byte| *byte != b',' && *byte != b'=')
        .map(char::from)
        .collect::<String>()
        .trim_start()
        .to_owned();
    let member = format!("foo={value}");
    assert_eq!(tracestate_of(&[("tracestate", &member)]), Some(member));
}

#[test]
fn tracestate_value_keeps_leading_spaces_and_drops_trailing_ones() {
    assert_eq!(
        tracestate_of(&[("tracestate", "foo=  1  ")]).as_deref(),
        Some("foo=  1")
    );
}

#[test]
fn tracestate_value_with_other_characters_is_invalid() {
    for value in ["foo=bar=baz", "foo=,bar=3", "foo=a\u{7f}b", "foo=caf\u{e9}"] {
        assert_eq!(tracestate_of(&[("tracestate", value)]), None, "{value:?}");
    }
    let too_long = format!("foo={}", "v".repeat(257));
    assert_eq!(tracestate_of(&[("tracestate", &too_long)]), None);
    let longest = format!("foo={}", "v".repeat(256));
    assert_eq!(tracestate_of(&[("tracestate", &longest)]), Some(longest));
}

#[test]
fn tracestate_member_without_equals_is_invalid() {
    assert_eq!(tracestate_of(&[("tracestate", "foo,bar=2")]), None);
}

#[test]
fn tracestate_holds_at_most_32_members() {
    let members = |count: usize| -> Vec<String> {
        (1..=count).map(|n| format!("bar{n:02}={n:02}")).collect()
    };
    let thirty_two = members(32).join(",");
    assert_eq!(
        tracestate_of(&[("tracestate", &thirty_two)]),
        Some(thirty_two)
    );
    let split = members(33);
    let (first, second) = split.split_at(10);
    assert_eq!(
        tracestate_of(&[
            ("tracestate", &first.join(",")),
            ("tracestate", &second.join(","))
        ]),
        None
    );
}

#[test]
fn tracestate_duplicate_keys_are_discarded_keeping_the_first() {
    assert_eq!(
        tracestate_of(&[("tracestate", "foo=1,foo=2")]).as_deref(),
        Some("foo=1")
    );
    assert_eq!(
        tracestate_of(&[("tracestate", "foo=1"), ("tracestate", "foo=1,bar=2")]).as_deref(),
        Some("foo=1,bar=2")
    );
}

#[test]
fn tracestate_invalid_keeps_the_trace() {
    let fields = [("traceparent", VALID), ("tracestate", "FOO=1")];
    assert_eq!(trace_id(&extracted(&fields)), TRACE_ID);
    let outgoing = forwarded(&fields);
    assert_eq!(&outgoing["traceparent"][3..35], TRACE_ID);
    assert!(!outgoing.contains_key("tracestate"));
}

#[test]
fn tracestate_entry_of_ours_moves_to_the_front_when_updated() {
    let fields = [
        ("traceparent", VALID),
        (
            "tracestate",
            "rojo=00f067aa0ba902b7,t4dm=old,congo=t61rcWkgMzE",
        ),
    ];
    let remote = W3cTraceContextPropagator::new().extract(&HeaderExtractor(&carrier(&fields)));
    let cx = with_trace_state_entry(&remote, "t4dm", "new").expect("valid entry");
    let tracer = provider(Sampler::AlwaysOn).tracer("test");
    let cx = cx.with_span(tracer.start_with_context("service", &cx));
    let mut outgoing = HashMap::new();
    W3cTraceContextPropagator::new().inject_context(&cx, &mut outgoing);
    assert_eq!(
        outgoing["tracestate"],
        "t4dm=new,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
}

#[test]
fn tracestate_entry_added_through_the_sdk_trace_state_goes_to_the_front() {
    let remote = W3cTraceContextPropagator::new().extract(&HeaderExtractor(&carrier(&[
        ("traceparent", VALID),
        ("tracestate", "a@@b=1,rojo=2"),
    ])));
    let parent = remote.span().span_context().clone();
    let updated = parent.trace_state().insert("rojo", "3").expect("valid");
    let cx = remote.with_remote_span_context(SpanContext::new(
        parent.trace_id(),
        SpanId::from(7),
        parent.trace_flags(),
        false,
        updated,
    ));
    let mut outgoing = HashMap::new();
    W3cTraceContextPropagator::new().inject_context(&cx, &mut outgoing);
    assert_eq!(outgoing["tracestate"], "rojo=3,a@@b=1");
}

#[test]
fn tracestate_entry_of_ours_is_checked_against_the_grammar() {
    let cx = Context::new();
    assert!(matches!(
        with_trace_state_entry(&cx, "T4DM", "1"),
        Err(PropagationError::InvalidTraceStateKey(_))
    ));
    assert!(matches!(
        with_trace_state_entry(&cx, "t4dm", "a=b"),
        Err(PropagationError::InvalidTraceStateValue(_))
    ));
    let error = with_trace_state_entry(&cx, "t4dm", "")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("invalid tracestate value ``: expected"),
        "{error}"
    );
}

// --- baggage -----------------------------------------------------------------------------

fn baggage_of(fields: &[(&str, &str)]) -> Vec<(String, String, String)> {
    let cx = W3cBaggagePropagator::new().extract(&HeaderExtractor(&carrier(fields)));
    let mut entries: Vec<_> = cx
        .baggage()
        .iter()
        .map(|(key, (value, metadata))| {
            (
                key.to_string(),
                value.to_string(),
                metadata.as_str().to_owned(),
            )
        })
        .collect();
    entries.sort();
    entries
}

fn entry(key: &str, value: &str, properties: &str) -> (String, String, String) {
    (key.to_owned(), value.to_owned(), properties.to_owned())
}

#[test]
fn baggage_values_are_percent_decoded() {
    assert_eq!(
        baggage_of(&[(
            "baggage",
            "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false"
        )]),
        [
            entry("isProduction", "false", ""),
            entry("serverNode", "DF 28", ""),
            entry("userId", "Amélie", "")
        ]
    );
}

#[test]
fn baggage_values_are_percent_encoded_when_sent() {
    let cx = Context::new().with_baggage([
        t4dm_trace_runtime::KeyValue::new("text", "a b,c;d\\e\"f%g+h=i"),
        t4dm_trace_runtime::KeyValue::new("name", "Amélie"),
    ]);
    let mut outgoing = HashMap::new();
    W3cBaggagePropagator::new().inject_context(&cx, &mut outgoing);
    assert_eq!(
        outgoing["baggage"],
        "name=Am%C3%A9lie,text=a%20b%2Cc%3Bd%5Ce%22f%25g%2Bh=i"
    );
}

#[test]
fn baggage_percent_sequences_that_are_not_utf8_become_the_replacement_character() {
    assert_eq!(
        baggage_of(&[("baggage", "k=%FFok%C3")]),
        [entry("k", "\u{fffd}ok\u{fffd}", "")]
    );
}

#[test]
fn baggage_value_may_contain_equal_signs() {
    assert_eq!(
        baggage_of(&[("baggage", "token=YWJj==;x=y=")]),
        [entry("token", "YWJj==", "x=y=")]
    );
}

#[test]
fn baggage_value_may_be_empty() {
    assert_eq!(
        baggage_of(&[("baggage", "empty=,k=v")]),
        [entry("empty", "", ""), entry("k", "v", "")]
    );
}

#[test]
fn baggage_properties_are_kept() {
    let fields = [(
        "baggage",
        "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
    )];
    assert_eq!(
        baggage_of(&fields),
        [
            entry("key1", "value1", "property1;property2"),
            entry("key2", "value2", ""),
            entry("key3", "value3", "propertyKey=propertyValue"),
        ]
    );
    let cx = W3cBaggagePropagator::new().extract(&HeaderExtractor(&carrier(&fields)));
    let mut outgoing = HashMap::new();
    W3cBaggagePropagator::new().inject_context(&cx, &mut outgoing);
    assert_eq!(
        outgoing["baggage"],
        "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue"
    );
}

#[test]
fn baggage_whitespace_around_keys_values_and_properties_is_ignored() {
    assert_eq!(
        baggage_of(&[("baggage", " \tuserId =   alice ; p = 1 ;q\t")]),
        [entry("userId", "alice", "p=1;q")]
    );
}

#[test]
fn baggage_multiple_headers_are_combined() {
    assert_eq!(
        baggage_of(&[
            ("baggage", "userId=alice"),
            ("baggage", "serverNode=DF%2028,isProduction=false")
        ]),
        [
            entry("isProduction", "false", ""),
            entry("serverNode", "DF 28", ""),
            entry("userId", "alice", "")
        ]
    );
}

#[test]
fn baggage_header_name_is_ascii_case_insensitive() {
    let map = HashMap::from([("Baggage".to_owned(), "k=v".to_owned())]);
    let (cx, _) = capture(|| extract_context(&map));
    assert_eq!(
        cx.baggage()
            .get("k")
            .map(|value| value.as_str().to_owned())
            .as_deref(),
        Some("v")
    );
}

#[test]
fn baggage_bad_members_are_dropped_alone() {
    let header = "ok1=1,no-equals,bad key=2,quote=\"x\",back=a\\b,space=a b,semi=1;,badprop=1;p q=2,comma=,ok2=2,\u{e9}=3";
    let map = HashMap::from([("baggage".to_owned(), header.to_owned())]);
    let (cx, _) = capture(|| extract_context(&map));
    let mut keys: Vec<String> = cx
        .baggage()
        .iter()
        .map(|(key, _)| key.to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["comma", "ok1", "ok2"]);
}

#[test]
fn baggage_plus_is_a_plus_sign_unless_asked_otherwise() {
    let fields = [("baggage", "greeting=hello+world%2B1")];
    assert_eq!(
        baggage_of(&fields),
        [entry("greeting", "hello+world+1", "")]
    );
    let cx = W3cBaggagePropagator::new()
        .with_plus_as_space(true)
        .extract(&HeaderExtractor(&carrier(&fields)));
    assert_eq!(
        cx.baggage()
            .get("greeting")
            .map(|value| value.as_str().to_owned())
            .as_deref(),
        Some("hello world+1")
    );
}

#[test]
fn baggage_key_sent_twice_keeps_its_last_value() {
    assert_eq!(baggage_of(&[("baggage", "k=1,k=2")]), [entry("k", "2", "")]);
}

#[test]
fn baggage_of_64_members_and_8192_bytes_is_propagated_whole() {
    // 64 members of 127 bytes each with 63 commas: 8,191 bytes, plus one padding byte = 8,192.
    let mut members: Vec<String> = (0..64)
        .map(|n| format!("k{n:02}={}", "v".repeat(123)))
        .collect();
    members[0].push('v');
    let header = members.join(",");
    assert_eq!(header.len(), 8192);
    let cx =
        W3cBaggagePropagator::new().extract(&HeaderExtractor(&carrier(&[("baggage", &header)])));
    assert_eq!(cx.baggage().len(), 64);
    let mut outgoing = HashMap::new();
    W3cBaggagePropagator::new().inject_context(&cx, &mut outgoing);
    assert_eq!(outgoing["baggage"], header, "every member, byte for byte");
}

#[test]
fn baggage_past_the_limits_drops_whole_members() {
    let header: String = (0..70)
        .map(|n| format!("k{n:02}=v"))
        .collect::<Vec<_>>()
        .join(",");
    let cx =
        W3cBaggagePropagator::new().extract(&HeaderExtractor(&carrier(&[("baggage", &header)])));
    assert_eq!(cx.baggage().len(), 64);
    assert!(
        cx.baggage()
            .iter()
            .all(|(_, (value, _))| value.as_str() == "v"),
        "no partial member"
    );
}

// --- carriers ----------------------------------------------------------------------------

#[test]
fn header_map_carrier_round_trips_trace_context_and_baggage() {
    let (sent, _) = capture(|| {
        let _baggage = set_baggage("user.id", "alice").expect("valid");
        spans_one_level("client.call", || {
            let mut headers = http::HeaderMap::new();
            inject_context(&mut headers);
            headers
        })
    });
    assert_eq!(sent.get_all("traceparent").iter().count(), 1);
    assert_eq!(sent["baggage"], "user.id=alice");
    let (cx, _) = capture(|| extract_context(&sent));
    assert!(cx.span().span_context().is_remote());
    assert_eq!(
        cx.baggage()
            .get("user.id")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some("alice")
    );
}

#[traced("client.call", kind = Client)]
fn spans_one_level<R>(_name: &str, body: impl FnOnce() -> R) -> R {
    body()
}

#[test]
fn mcp_meta_carrier_round_trips_trace_context_and_baggage() {
    let (meta, spans) = capture(|| {
        let _baggage = set_baggage("session.id", "s 1").expect("valid");
        spans_one_level("client.call", || {
            let mut meta = serde_json::Map::new();
            meta.insert("progressToken".to_owned(), serde_json::json!(7));
            inject_context(&mut meta);
            meta
        })
    });
    let client = span(&spans, "client.call");
    assert_eq!(
        meta["progressToken"], 7,
        "other `_meta` fields are left alone"
    );
    assert_eq!(
        meta["traceparent"],
        format!(
            "00-{:032x}-{:016x}-01",
            client.span_context.trace_id(),
            client.span_context.span_id()
        )
    );
    assert_eq!(meta["baggage"], "session.id=s%201");
    let (cx, _) = capture(|| extract_context(&meta));
    assert_eq!(
        cx.span().span_context().span_id(),
        client.span_context.span_id()
    );
    assert_eq!(
        cx.baggage()
            .get("session.id")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some("s 1")
    );
}

#[test]
fn mcp_meta_values_that_are_not_strings_are_ignored() {
    let meta = serde_json::json!({ "traceparent": 12, "baggage": ["k=v"] });
    let meta = meta.as_object().expect("object").clone();
    let (cx, _) = capture(|| extract_context(&meta));
    assert!(!cx.span().span_context().is_valid());
    assert!(cx.baggage().is_empty());
}

#[test]
fn header_value_that_is_not_utf8_is_invalid() {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_bytes(b"00-\xff").expect("opaque bytes"),
    );
    let (cx, _) = capture(|| extract_context(&headers));
    assert!(!cx.span().span_context().is_valid());
}

#[test]
fn injecting_into_a_map_replaces_fields_under_any_spelling() {
    let mut map = HashMap::from([("TraceParent".to_owned(), "stale".to_owned())]);
    capture(|| spans_one_level("client.call", || inject_context(&mut map)));
    assert_eq!(map.len(), 1, "{map:?}");
    assert_eq!(map["traceparent"].len(), 55);
}

// --- remote parents through #[traced] ------------------------------------------------------

#[traced("mcp.recall_episodes", kind = Server, parent = extract_context(meta))]
fn recall_episodes(meta: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    nested_work();
    get_baggage("user.id")
}

#[traced("episodic.recall")]
fn nested_work() {}

#[test]
fn traced_parent_extract_context_starts_a_remote_child() {
    let meta = serde_json::json!({
        "traceparent": VALID,
        "tracestate": "rojo=00f067aa0ba902b7",
        "baggage": "user.id=alice",
    });
    let meta = meta.as_object().expect("object").clone();
    let (user, spans) = capture(|| recall_episodes(&meta));
    assert_eq!(
        user.as_deref(),
        Some("alice"),
        "baggage is current in the server span"
    );
    let server = span(&spans, "mcp.recall_episodes");
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(trace_id(&server.span_context), TRACE_ID);
    assert_eq!(format!("{:016x}", server.parent_span_id), PARENT_ID);
    assert!(server.parent_span_is_remote);
    assert_eq!(
        server.span_context.trace_state().header(),
        "rojo=00f067aa0ba902b7"
    );
    let nested = span(&spans, "episodic.recall");
    assert!(is_child_of(nested, server));
    assert!(
        !nested.parent_span_is_remote,
        "a local child has a local parent"
    );
}

#[test]
fn traced_parent_with_an_invalid_traceparent_starts_a_new_trace() {
    let meta = serde_json::json!({ "traceparent": "00-00000000000000000000000000000000-1234567890123456-01" });
    let meta = meta.as_object().expect("object").clone();
    let (_, spans) = capture(|| recall_episodes(&meta));
    let server = span(&spans, "mcp.recall_episodes");
    assert!(is_root(server));
    assert!(!server.parent_span_is_remote);
}

#[traced("gateway.handle", kind = Server, parent = extract_context(headers))]
async fn handle(headers: &http::HeaderMap) -> HashMap<String, String> {
    tokio::task::yield_now().await;
    get_trace_context()
}

#[tokio::test]
async fn traced_async_parent_extract_context_from_http_headers() {
    let headers = carrier(&[("TraceParent", VALID), ("tracestate", "congo=t61rcWkgMzE")]);
    let (fields, spans) = capture_async(handle(&headers)).await;
    let server = span(&spans, "gateway.handle");
    assert!(server.parent_span_is_remote);
    assert_eq!(format!("{:016x}", server.parent_span_id), PARENT_ID);
    assert_eq!(
        fields["traceparent"],
        format!("00-{TRACE_ID}-{}-01", span_id(&server.span_context))
    );
    assert_eq!(fields["tracestate"], "congo=t61rcWkgMzE");
}

#[test]
fn get_trace_context_is_empty_outside_a_span_and_has_no_empty_tracestate() {
    assert!(get_trace_context().is_empty());
    let (fields, _) = capture(|| spans_one_level("client.call", get_trace_context));
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["traceparent"]);
}

#[test]
fn inject_context_from_writes_the_given_context() {
    let span_context = SpanContext::new(
        TraceId::from(0x1234),
        SpanId::from(0x5678),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(span_context);
    let mut map = HashMap::new();
    let _ = capture(|| inject_context_from(&cx, &mut map));
    assert_eq!(
        map["traceparent"],
        "00-00000000000000000000000000001234-0000000000005678-01"
    );
}

// --- baggage helpers -----------------------------------------------------------------------

#[test]
fn set_baggage_is_current_until_its_guard_drops() {
    assert_eq!(get_baggage("tenant"), None);
    {
        let _guard = set_baggage("tenant", "acme").expect("valid");
        assert_eq!(get_baggage("tenant").as_deref(), Some("acme"));
        {
            let _inner = set_baggage("tenant", "globex").expect("valid");
            assert_eq!(get_baggage("tenant").as_deref(), Some("globex"));
        }
        assert_eq!(get_baggage("tenant").as_deref(), Some("acme"));
    }
    assert_eq!(get_baggage("tenant"), None);
}

#[test]
fn set_baggage_rejects_a_key_that_is_not_a_token() {
    let error = set_baggage("user id", "alice").expect_err("space in key");
    assert!(matches!(error, PropagationError::InvalidBaggageKey(ref key) if key == "user id"));
    assert!(
        error
            .to_string()
            .starts_with("invalid baggage key `user id`"),
        "{error}"
    );
}

#[test]
fn set_baggage_refuses_an_entry_past_the_limits() {
    let cx = context_with_baggage((0..64).map(|n| (format!("k{n}"), "v"))).expect("64 entries fit");
    let _attached = cx.attach();
    let error = set_baggage("one.more", "v").expect_err("a 65th entry");
    assert_eq!(
        error.to_string(),
        "cannot add baggage entry `one.more`: the baggage would pass 64 entries or 8192 bytes"
    );
    assert!(
        set_baggage("k1", "updated").is_ok(),
        "updating an entry still works"
    );
}

// --- across tasks and threads --------------------------------------------------------------

#[traced("worker.step")]
async fn async_step() -> Option<String> {
    get_baggage("job")
}

#[traced("worker.blocking")]
fn blocking_step() -> Option<String> {
    get_baggage("job")
}

#[traced("job.run")]
async fn run_with_spawn() -> Option<String> {
    spawn_in_current_trace(async_step()).await.expect("task")
}

#[traced("job.run")]
async fn run_with_in_current_trace() -> Option<String> {
    tokio::spawn(async_step().in_current_trace())
        .await
        .expect("task")
}

#[traced("job.run")]
async fn run_with_spawn_blocking() -> Option<String> {
    spawn_blocking_in_current_trace(blocking_step)
        .await
        .expect("task")
}

#[traced("job.run")]
async fn run_with_plain_spawn() -> Option<String> {
    tokio::spawn(async_step()).await.expect("task")
}

#[traced("job.run")]
fn run_with_thread() -> Option<String> {
    spawn_thread_in_current_trace(blocking_step)
        .join()
        .expect("thread")
}

async fn assert_continues(run: impl Future<Output = Option<String>>, child_name: &str) {
    let cx = context_with_baggage([("job", "42")]).expect("valid");
    // The capture starts inside `cx`, so the job's spans and baggage are both in its context.
    let (job, spans) = capture_async(run).in_trace(cx).await;
    assert_eq!(job.as_deref(), Some("42"), "baggage crosses too");
    assert!(is_child_of(
        span(&spans, child_name),
        span(&spans, "job.run")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_in_current_trace_continues_the_trace() {
    assert_continues(run_with_spawn(), "worker.step").await;
    assert_continues(run_with_in_current_trace(), "worker.step").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_in_current_trace_continues_the_trace() {
    assert_continues(run_with_spawn_blocking(), "worker.blocking").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn std_thread_in_current_trace_continues_the_trace() {
    assert_continues(async { run_with_thread() }, "worker.blocking").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_without_the_helper_loses_the_trace() {
    let (_, spans) = capture_async(run_with_plain_spawn()).await;
    assert_eq!(
        t4dm_trace_tests::names(&spans),
        ["job.run"],
        "the spawned span is in another trace"
    );
}

// --- properties ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn extraction_never_panics_on_arbitrary_bytes(
        fields in proptest::collection::vec(
            (prop_oneof![Just("traceparent"), Just("tracestate"), Just("baggage"), Just("TraceParent")],
             proptest::collection::vec(any::<u8>(), 0..300)),
            0..6,
        )
    ) {
        let propagator = composite_propagator(&[Propagator::TraceContext, Propagator::Baggage]);
        let mut headers = http::HeaderMap::new();
        let mut map = HashMap::new();
        let mut meta = serde_json::Map::new();
        for (name, bytes) in &fields {
            if let Ok(value) = http::HeaderValue::from_bytes(bytes) {
                headers.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
            }
            let text = String::from_utf8_lossy(bytes).into_owned();
            map.insert((*name).to_owned(), text.clone());
            meta.insert((*name).to_owned(), serde_json::Value::String(text));
        }
        for cx in [
            capture(|| extract_context(&headers)).0,
            capture(|| extract_context(&map)).0,
            capture(|| extract_context(&meta)).0,
            propagator.extract(&HeaderExtractor(&headers)),
        ] {
            // Whatever was read must be writable again.
            let mut outgoing = HashMap::new();
            propagator.inject_context(&cx, &mut outgoing);
        }
    }

    #[test]
    fn inject_then_extract_round_trips(
        trace_id in 1..=u128::MAX,
        span_id in 1..=u64::MAX,
        flags in 0u8..=3,
        tracestate in proptest::collection::btree_map("[a-z0-9][a-z0-9_*/-]{0,12}(@[a-z0-9][a-z0-9_*/-]{0,12})?", "[!-+\\--<>-~]([ -+\\--<>-~]{0,20}[!-+\\--<>-~])?", 0..8),
        baggage in proptest::collection::btree_map("[A-Za-z0-9!#$&'*+.^_`|~-]{1,16}", any::<String>(), 0..8),
    ) {
        let propagator = composite_propagator(&[Propagator::TraceContext, Propagator::Baggage]);
        let span_context = SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(span_id),
            TraceFlags::new(flags),
            true,
            TraceState::from_key_value(tracestate.clone()).expect("generated valid"),
        );
        let cx = Context::new()
            .with_remote_span_context(span_context.clone())
            .with_baggage(baggage.iter().map(|(key, value)| t4dm_trace_runtime::KeyValue::new(key.clone(), value.clone())));
        let mut carrier = HashMap::new();
        propagator.inject_context(&cx, &mut carrier);
        let back = propagator.extract(&carrier);
        prop_assert_eq!(back.span().span_context().clone(), span_context);
        let received: std::collections::BTreeMap<String, String> = back
            .baggage()
            .iter()
            .map(|(key, (value, _))| (key.to_string(), value.to_string()))
            .collect();
        prop_assert_eq!(received, baggage);
        // And the fields read are written back unchanged.
        let mut again = HashMap::new();
        propagator.inject_context(&back, &mut again);
        prop_assert_eq!(again, carrier);
    }
}
