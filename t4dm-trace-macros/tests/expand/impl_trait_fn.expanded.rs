fn scale(factor: u32) -> impl Fn(u32) -> u32 {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "scale",
        ::t4dm_trace_runtime::__private::SpanKind::Internal,
    ));
    let __t4dm_guard = ::t4dm_trace_runtime::__private::enter(__t4dm_span);
    { move |x| x * factor }
}
