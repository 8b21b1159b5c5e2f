fn put(key: &str, bytes: &[u8]) -> std::io::Result<()> {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| {
        ::t4dm_trace_runtime::__private::SpanStart::with_capacity(
                "store.put",
                ::t4dm_trace_runtime::__private::SpanKind::Internal,
                2,
            )
            .attr_display("key", &(key))
            .attr("size", &(bytes.len()))
    });
    ::t4dm_trace_runtime::__private::run_result(
        __t4dm_span,
        move || -> std::io::Result<()> {
            check(key)?;
            write(bytes)
        },
        |__t4dm_err| {
            use ::t4dm_trace_runtime::__private::probe::*;
            (&&&&&::t4dm_trace_runtime::__private::probe::ErrorProbe(__t4dm_err))
                .__t4dm_describe()
        },
    )
}
