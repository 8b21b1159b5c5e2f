#[track_caller]
fn assert_positive(value: i64) -> Result<i64, String> {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "assert.positive",
        ::t4dm_trace_runtime::__private::SpanKind::Internal,
    ));
    let __t4dm_guard = ::t4dm_trace_runtime::__private::enter(__t4dm_span);
    {
        assert!(value > 0, "not positive");
        Ok(value)
    }
}
