fn call(tool: &str, query: &str, limit: usize, remote_cx: Context) -> Result<(), Error> {
    let __t4dm_span = my_runtime::__private::span(|| {
        my_runtime::__private::SpanStart::with_capacity(
                format!("tools/call {tool}"),
                my_runtime::__private::SpanKind::Server,
                4,
            )
            .attr("db.collection.name", &("episodes"))
            .attr_display("db.query.text", &(query))
            .attr_debug("tool", &(tool))
            .attr("limit", &(limit))
            .parent(&(remote_cx))
    });
    my_runtime::__private::run(__t4dm_span, move || -> Result<(), Error> { Ok(()) })
}
