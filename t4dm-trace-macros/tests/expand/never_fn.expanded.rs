fn serve(listener: Listener) -> ! {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "serve",
        ::t4dm_trace_runtime::__private::SpanKind::Server,
    ));
    let __t4dm_guard = ::t4dm_trace_runtime::__private::enter(__t4dm_span);
    {
        loop {
            listener.accept();
        }
    }
}
