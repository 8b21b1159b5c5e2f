//! Every `kind`, and the default.
#![deny(warnings, unused_qualifications, clippy::pedantic)]

use t4dm_trace_runtime::SpanKind;
use t4dm_trace_runtime::testing::capture;
use t4dm_trace_runtime::traced;

#[traced("kind.default")]
fn default_kind() {}

#[traced("kind.internal", kind = Internal)]
fn internal() {}

#[traced("kind.server", kind = Server)]
fn server() {}

#[traced("kind.client", kind = Client)]
fn client() {}

#[traced("kind.producer", kind = Producer)]
fn producer() {}

#[traced(kind = Consumer, name = "kind.consumer")]
fn consumer() {}

fn main() {
    let ((), spans) = capture(|| {
        default_kind();
        internal();
        server();
        client();
        producer();
        consumer();
    });
    let kinds: Vec<_> = spans.iter().map(|span| span.span_kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            SpanKind::Internal,
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ]
    );
}
