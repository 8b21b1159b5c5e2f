//! The Prometheus scrape endpoint: `GET /metrics` on `T4DM_OTEL_PROMETHEUS_ADDR`, served by a
//! thread of its own with a current-thread tokio runtime. The `OpenMetrics` text format (with
//! exemplars) answers a client whose `Accept` asks for it, the classic text format any other.

use super::exposition::{self, Format};
use super::registry::Store;
use crate::error::InitError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// A running scrape endpoint.
#[derive(Debug)]
pub(crate) struct Server {
    stop: watch::Sender<bool>,
}

impl Server {
    /// Binds `addr` now (a port in use is an [`InitError`] naming it) and serves from a thread.
    pub(crate) fn start(
        addr: SocketAddr,
        service_name: &str,
        store: &'static Store,
    ) -> Result<Server, InitError> {
        let bind_error = |source: std::io::Error| InitError::Exporter {
            exporter: "prometheus",
            source: format!("cannot listen on `{addr}`: {source}").into(),
        };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let thread_error = |source| InitError::ExportThread {
            exporter: "prometheus",
            source,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(thread_error)?;
        let (stop, stopped) = watch::channel(false);
        let service_name: Arc<str> = Arc::from(service_name);
        std::thread::Builder::new()
            .name("t4dm-trace-prometheus".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, service_name, store, stopped));
            })
            .map_err(thread_error)?;
        Ok(Server { stop })
    }

    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(
    listener: std::net::TcpListener,
    service_name: Arc<str>,
    store: &'static Store,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let service_name = Arc::clone(&service_name);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(&request, &service_name, store);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

fn respond(
    request: &Request<Incoming>,
    service_name: &str,
    store: &Store,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &'static str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = http::HeaderValue::from_str(content_type) {
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics\n".to_owned(),
        );
    }
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET /metrics\n".to_owned(),
        );
    }
    let accept = request
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = Format::negotiate(accept);
    let body = exposition::encode(&store.collect(), service_name, format);
    reply(StatusCode::OK, format.content_type(), body)
}
