/// Finds episodes.
pub fn recall(query: &str, limit: usize) -> Vec<String> {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| {
        ::t4dm_trace_runtime::__private::SpanStart::with_capacity(
                "episodic.recall",
                ::t4dm_trace_runtime::__private::SpanKind::Internal,
                1,
            )
            .attr("limit", &(limit))
    });
    ::t4dm_trace_runtime::__private::run(
        __t4dm_span,
        move || -> Vec<String> { vec![query.to_owned(); limit] },
    )
}
