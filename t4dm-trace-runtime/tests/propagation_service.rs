//! Drives the `propagation_service` example in-process: the headers its calls carry to a test
//! listener, and the spans it exports over OTLP/HTTP JSON to the same listener acting as a
//! collector.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/propagation_service.rs"]
mod service;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use t4dm_trace_runtime::{TracingConfig, init_tracing};
use tokio::net::{TcpListener, TcpStream};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// A request the test listener received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// Records every request and answers `200 {}`: the downstream service and the OTLP collector.
async fn start_listener() -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let log = Log::default();
    let recorded = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&recorded);
            tokio::spawn(async move {
                let record = service_fn(move |request: Request<Incoming>| {
                    let log = Arc::clone(&log);
                    async move {
                        let path = request.uri().path().to_owned();
                        let headers = request.headers().clone();
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(http_body_util::Collected::to_bytes)
                            .unwrap_or_default();
                        log.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(Received {
                                path,
                                headers,
                                body,
                            });
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), record)
                    .await;
            });
        }
    });
    (address, log)
}

/// `POST`s `body` to `address` with `headers`; the status and JSON answer.
async fn post(address: SocketAddr, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::post("/test").header("host", address.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&body).expect("a JSON answer"),
    )
}

fn requests_to(log: &Log, prefix: &str) -> Vec<Received> {
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|received| received.path.starts_with(prefix))
        .cloned()
        .collect()
}

/// Every span exported so far, from the OTLP/HTTP JSON requests.
fn exported_spans(log: &Log) -> Vec<Value> {
    requests_to(log, "/v1/traces")
        .iter()
        .filter_map(|received| serde_json::from_slice::<Value>(&received.body).ok())
        .flat_map(|export| {
            let mut spans = Vec::new();
            for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                }
            }
            spans
        })
        .collect()
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_service_continues_the_callers_trace_into_each_call_in_order() {
    let (listener, log) = start_listener().await;
    let config = TracingConfig::from_lookup(|name| match name {
        "T4DM_OTEL_ENABLED" => Some("true".to_owned()),
        "T4DM_OTEL_ENDPOINT" => Some(format!("http://{listener}/v1/traces")),
        "T4DM_OTEL_PROTOCOL" => Some("http/json".to_owned()),
        "OTEL_BSP_SCHEDULE_DELAY" => Some("50".to_owned()),
        _ => None,
    })
    .expect("valid configuration");
    let _guard = init_tracing(config).expect("tracing starts");

    let service_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let service_address = service_listener.local_addr().expect("address");
    tokio::spawn(service::serve(service_listener));

    let calls = json!([
        { "url": format!("http://{listener}/downstream/one?x=1"), "arguments": { "query": "coffee" } },
        { "url": format!("http://{listener}/downstream/two"), "arguments": [] },
    ]);
    let (status, answer) = post(
        service_address,
        &[
            ("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-03")),
            ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            ("baggage", "user.id=alice;source=web,session.id=s%201"),
        ],
        &calls,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let downstream = requests_to(&log, "/downstream/");
    assert_eq!(
        downstream
            .iter()
            .map(|received| received.path.as_str())
            .collect::<Vec<_>>(),
        ["/downstream/one", "/downstream/two"],
        "each call made, in order, before the answer"
    );
    assert_eq!(answer["trace_id"], TRACE_ID);
    let server_span_id = answer["span_id"].as_str().expect("the service's span id");
    assert_ne!(server_span_id, PARENT_ID);

    for (index, received) in downstream.iter().enumerate() {
        let call_span_id = answer["calls"][index]["span_id"]
            .as_str()
            .expect("the call's span id");
        assert_eq!(answer["calls"][index]["status"], 200);
        assert_eq!(
            header(received, "traceparent"),
            format!("00-{TRACE_ID}-{call_span_id}-03")
        );
        assert_ne!(call_span_id, server_span_id);
        assert_eq!(
            header(received, "tracestate"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
        assert_eq!(
            header(received, "baggage"),
            "session.id=s%201,user.id=alice;source=web"
        );
        assert_eq!(header(received, "content-type"), "application/json");
        let sent: Value = serde_json::from_slice(&received.body).expect("JSON arguments");
        assert_eq!(sent, calls[index]["arguments"]);
    }

    // The exported spans: the service's span is the caller's remote child; each call its child.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = exported_spans(&log);
        if spans.len() >= 3 || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let server = spans
        .iter()
        .find(|span| span["name"] == "propagation_service.request")
        .unwrap_or_else(|| panic!("the server span was exported: {spans:?}"));
    assert_eq!(server["traceId"], TRACE_ID);
    assert_eq!(server["spanId"], server_span_id);
    assert_eq!(server["parentSpanId"], PARENT_ID);
    for index in 0..2 {
        let call_span_id = &answer["calls"][index]["span_id"];
        let call = spans
            .iter()
            .find(|span| span["spanId"] == *call_span_id)
            .unwrap_or_else(|| panic!("call span {call_span_id} was exported: {spans:?}"));
        assert_eq!(call["name"], "propagation_service.call");
        assert_eq!(call["traceId"], TRACE_ID);
        assert_eq!(
            call["parentSpanId"], server_span_id,
            "the call's parent is the service's span"
        );
    }
}

#[tokio::test]
async fn propagation_service_refuses_a_body_that_is_not_a_list_of_calls() {
    let service_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = service_listener.local_addr().expect("address");
    tokio::spawn(service::serve(service_listener));
    for body in [
        json!({"url": "http://127.0.0.1:9/"}),
        json!([{"arguments": []}]),
        json!([1]),
    ] {
        let (status, answer) = post(address, &[], &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|error| error.contains("JSON array")),
            "{answer}"
        );
    }
}
