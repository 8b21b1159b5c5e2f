async fn search(query: impl AsRef<str>) -> Result<impl Iterator<Item = u32>, Error> {
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| ::t4dm_trace_runtime::__private::SpanStart::new(
        "qdrant.search",
        ::t4dm_trace_runtime::__private::SpanKind::Client,
    ));
    ::t4dm_trace_runtime::__private::run_async_result(
            __t4dm_span,
            async move {
                if let ::core::option::Option::Some(__t4dm_ret) = ::core::option::Option::None::<
                    Result<_, Error>,
                > {
                    return __t4dm_ret;
                }
                let __t4dm_ret: Result<_, Error> = {
                    let hits = client().search(query.as_ref()).await?;
                    Ok(hits.into_iter())
                };
                #[allow(unreachable_code)] __t4dm_ret
            },
            |__t4dm_err| {
                use ::t4dm_trace_runtime::__private::probe::*;
                (&&&&&::t4dm_trace_runtime::__private::probe::ErrorProbe(__t4dm_err))
                    .__t4dm_describe()
            },
        )
        .await
}
