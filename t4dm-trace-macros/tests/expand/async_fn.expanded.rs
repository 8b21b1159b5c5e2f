async fn recall(limit: usize) -> usize {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "mcp.recall_episodes",
        ::t4dm_trace_runtime::__private::SpanKind::Server,
    ));
    ::t4dm_trace_runtime::__private::run_async(
            __t4dm_span,
            async move {
                if let ::core::option::Option::Some(__t4dm_ret) = ::core::option::Option::None::<
                    usize,
                > {
                    return __t4dm_ret;
                }
                let __t4dm_ret: usize = {
                    tokio::task::yield_now().await;
                    limit
                };
                #[allow(unreachable_code)] __t4dm_ret
            },
        )
        .await
}
