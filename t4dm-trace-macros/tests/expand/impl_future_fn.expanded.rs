fn fetch(url: String) -> impl Future<Output = Outcome> + Send {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "fetch",
        ::t4dm_trace_runtime::__private::SpanKind::Internal,
    ));
    {
        let client = Client::new();
        ::t4dm_trace_runtime::__private::run_async_lazy_result(
            __t4dm_span,
            async move {
                if let ::core::option::Option::Some(__t4dm_ret) = ::core::option::Option::None::<
                    Outcome,
                > {
                    return __t4dm_ret;
                }
                #[allow(clippy::diverging_sub_expression)]
                let __t4dm_ret: Outcome = { client.get(url).await };
                #[allow(unreachable_code)] __t4dm_ret
            },
            |__t4dm_err| {
                use ::t4dm_trace_runtime::__private::probe::*;
                (&&&&&::t4dm_trace_runtime::__private::probe::ErrorProbe(__t4dm_err))
                    .__t4dm_describe()
            },
        )
    }
}
