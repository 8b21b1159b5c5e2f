//! A service that continues the caller's trace into the calls it makes: the shape of the W3C
//! Trace Context test harness's service.
//!
//! ```text
//! cargo run --example propagation_service -- 8080
//! ```
//!
//! It serves plain HTTP on `127.0.0.1:PORT`. Each `POST` body is a JSON array of
//! `{"url": "http://..", "arguments": <any JSON>}`. For each element, in order and before
//! answering, it starts a client span (a child of the request's server span, itself a child of
//! the caller's `traceparent`) and `POST`s `arguments` as JSON to `url` with `traceparent`,
//! `tracestate` and `baggage` injected. It then answers `200` with a JSON body:
//! `{"trace_id": .., "span_id": .., "calls": [{"url": .., "status": .., "span_id": ..}]}`
//! (`status` is `null` and `error` says why when a call failed).
//!
//! Tracing is configured from the environment as any service's is (`T4DM_OTEL_*`, `OTEL_*`);
//! without it, tracing is on with traces drawn on standard error.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use t4dm_trace_runtime::opentelemetry::trace::TraceContextExt as _;
use t4dm_trace_runtime::{
    Context, TracingConfig, extract_context, init_tracing, inject_context, traced,
};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long one outgoing call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Error> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: propagation_service PORT")?
        .parse()
        .map_err(|error| format!("PORT must be a port number: {error}"))?;
    let config = TracingConfig::builder()
        .with_service_name("propagation-service")
        .with_development_defaults()
        .from_env()?;
    let _guard = init_tracing(config)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("propagation_service listening on http://127.0.0.1:{port}");
    serve(listener).await
}

/// Serves every connection of `listener`, each on its own task.
///
/// # Errors
///
/// When accepting a connection fails.
pub async fn serve(listener: TcpListener) -> Result<(), Error> {
    loop {
        let (stream, _) = listener.accept().await?;
        // Each request starts from the caller's headers, not from this loop's context.
        tokio::spawn(async move {
            let connection =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(handle));
            if let Err(error) = connection.await {
                eprintln!("propagation_service: connection failed: {error}");
            }
        });
    }
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::POST {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "POST only"}),
        ));
    }
    let parent = extract_context(request.headers());
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": error.to_string()}),
            ));
        }
    };
    let Some(calls) = parse_calls(&body) else {
        let expected = r#"expected a JSON array of {"url": "http://..", "arguments": ..}"#;
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            &json!({ "error": expected }),
        ));
    };
    Ok(reply(StatusCode::OK, &serve_calls(parent, calls).await))
}

/// One element of the request body.
#[derive(Debug)]
struct Call {
    url: String,
    arguments: Value,
}

fn parse_calls(body: &[u8]) -> Option<Vec<Call>> {
    let Value::Array(elements) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    elements
        .into_iter()
        .map(|element| {
            let Value::Object(mut object) = element else {
                return None;
            };
            let Some(Value::String(url)) = object.remove("url") else {
                return None;
            };
            let arguments = object.remove("arguments").unwrap_or(Value::Null);
            Some(Call { url, arguments })
        })
        .collect()
}

#[traced("propagation_service.request", kind = Server, parent = parent)]
async fn serve_calls(parent: Context, calls: Vec<Call>) -> Value {
    let (trace_id, span_id) = current_ids();
    let mut results = Vec::with_capacity(calls.len());
    for call in &calls {
        results.push(forward(&call.url, &call.arguments).await);
    }
    json!({ "trace_id": trace_id, "span_id": span_id, "calls": results })
}

#[traced("propagation_service.call", kind = Client, attrs(url.full = url))]
async fn forward(url: &str, arguments: &Value) -> Value {
    let (_, span_id) = current_ids();
    let mut headers = HeaderMap::new();
    inject_context(&mut headers);
    match tokio::time::timeout(CALL_TIMEOUT, post_json(url, arguments, headers)).await {
        Ok(Ok(status)) => json!({ "url": url, "status": status, "span_id": span_id }),
        Ok(Err(error)) => {
            json!({ "url": url, "status": null, "span_id": span_id, "error": error.to_string() })
        }
        Err(_) => json!({ "url": url, "status": null, "span_id": span_id, "error": "timed out" }),
    }
}

/// The current span's trace and span ids, in hex (empty when tracing is off).
fn current_ids() -> (String, String) {
    Context::map_current(|cx| {
        let span = cx.span();
        let span_context = span.span_context();
        if span_context.is_valid() {
            (
                format!("{:032x}", span_context.trace_id()),
                format!("{:016x}", span_context.span_id()),
            )
        } else {
            (String::new(), String::new())
        }
    })
}

/// `POST`s `body` as JSON to the plain-HTTP `url` with `headers`; the response status.
async fn post_json(url: &str, body: &Value, headers: HeaderMap) -> Result<u16, Error> {
    let uri: Uri = url.parse()?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("only http:// URLs are supported, not `{url}`").into());
    }
    let authority = uri.authority().ok_or("the URL has no host")?.clone();
    let stream = TcpStream::connect((authority.host(), authority.port_u16().unwrap_or(80))).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let mut request = Request::post(path)
        .header(HOST, authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
    request.headers_mut().extend(headers);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
