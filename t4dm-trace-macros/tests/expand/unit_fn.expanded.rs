fn tick() {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "tick",
        ::t4dm_trace_runtime::__private::SpanKind::Internal,
    ));
    ::t4dm_trace_runtime::__private::run(__t4dm_span, move || {})
}
