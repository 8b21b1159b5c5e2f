fn load<'life0, 'async_trait>(
    &'life0 self,
    id: u64,
) -> ::core::pin::Pin<
    Box<
        dyn ::core::future::Future<
            Output = Result<Item, Error>,
        > + ::core::marker::Send + 'async_trait,
    >,
>
where
    'life0: 'async_trait,
    Self: 'async_trait,
{
    let __t4dm_span = ::t4dm_trace_runtime::__private::span(|| {
        ::t4dm_trace_runtime::__private::SpanStart::with_capacity(
                "repo.load",
                ::t4dm_trace_runtime::__private::SpanKind::Internal,
                1,
            )
            .attr("id", &(id))
    });
    Box::pin(
        ::t4dm_trace_runtime::__private::run_async_lazy_result(
            __t4dm_span,
            async move {
                if let ::core::option::Option::Some(__t4dm_ret) = ::core::option::Option::None::<
                    Result<Item, Error>,
                > {
                    return __t4dm_ret;
                }
                let __t4dm_ret: Result<Item, Error> = {
                    if let ::core::option::Option::Some(__ret) = ::core::option::Option::None::<
                        Result<Item, Error>,
                    > {
                        #[allow(unreachable_code)] return __ret;
                    }
                    let __self = self;
                    let id = id;
                    let __ret: Result<Item, Error> = { __self.db.get(id).await };
                    #[allow(unreachable_code)] __ret
                };
                #[allow(unreachable_code)] __t4dm_ret
            },
            |__t4dm_err| {
                use ::t4dm_trace_runtime::__private::probe::*;
                (&&&&&::t4dm_trace_runtime::__private::probe::ErrorProbe(__t4dm_err))
                    .__t4dm_describe()
            },
        ),
    )
}
