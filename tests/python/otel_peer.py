"""The OpenTelemetry Python SDK as a peer of t4dm-trace, for tests/tests/python_interop.rs.

`start`: starts a trace with baggage and a tracestate entry, and prints the headers it injects.
`continue`: reads headers (a JSON object) on stdin, continues the trace they carry with a span
of its own, and prints what it extracted and the headers it would send on.

Both print one JSON object on stdout. Propagators are the SDK's defaults (`tracecontext,baggage`).
"""

import json
import sys

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult


class TraceStateSampler(Sampler):
    """Samples everything and gives new traces a tracestate entry of this 'vendor'."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        parent = trace.get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else trace.TraceState([("python", "p1")])
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)

    def get_description(self):
        return "TraceStateSampler"


def ids(span_context):
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
        "trace_flags": format(span_context.trace_flags, "02x"),
        "tracestate": span_context.trace_state.to_header(),
    }


def start(tracer):
    cx = baggage.set_baggage("user.id", "alice")
    cx = baggage.set_baggage("greeting", "hello world", cx)
    cx = baggage.set_baggage("formula", "a+b=c", cx)
    cx = baggage.set_baggage("name", "Amélie", cx)
    token = context.attach(cx)
    try:
        with tracer.start_as_current_span("python.client", kind=trace.SpanKind.CLIENT) as span:
            headers = {}
            propagate.inject(headers)
            return {"headers": headers, **ids(span.get_span_context())}
    finally:
        context.detach(token)


def continue_(tracer):
    headers = json.load(sys.stdin)
    cx = propagate.extract(headers)
    parent = trace.get_current_span(cx).get_span_context()
    token = context.attach(cx)
    try:
        with tracer.start_as_current_span("python.server", kind=trace.SpanKind.SERVER) as span:
            outgoing = {}
            propagate.inject(outgoing)
            return {
                "parent": {**ids(parent), "is_remote": parent.is_remote},
                "baggage": dict(baggage.get_all()),
                "headers": outgoing,
                **ids(span.get_span_context()),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
            }
    finally:
        context.detach(token)


def main():
    trace.set_tracer_provider(TracerProvider(sampler=TraceStateSampler()))
    tracer = trace.get_tracer("t4dm-interop")
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "start":
        result = start(tracer)
    elif mode == "continue":
        result = continue_(tracer)
    else:
        sys.exit("usage: otel_peer.py start|continue")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
