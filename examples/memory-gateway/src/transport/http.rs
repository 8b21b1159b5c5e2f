//! MCP's streamable HTTP transport, on 127.0.0.1 only: `POST /mcp` carries one JSON-RPC
//! message and gets its response as `application/json`; `initialize` opens a session whose id
//! the `Mcp-Session-Id` header carries on every later request; `DELETE /mcp` ends it. The
//! server offers no stream of its own, so `GET /mcp` is `405`.

use crate::gateway::{Gateway, PROTOCOL_VERSIONS, Session, Transport};
use crate::jsonrpc::{self, Message};
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue, ORIGIN};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;

/// The one endpoint.
pub const ENDPOINT: &str = "/mcp";
/// The header that carries the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// The largest message accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Listens on `127.0.0.1:port` (`0` picks a free port): never on other interfaces, since the
/// gateway has no authentication.
///
/// # Errors
///
/// When the port cannot be bound.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// Serves MCP on `listener` until the future is dropped.
pub async fn serve_http(gateway: Arc<Gateway>, listener: TcpListener) {
    let state = Arc::new(HttpState {
        gateway,
        sessions: Mutex::new(HashMap::new()),
    });
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of file descriptors, a connection reset before accept: wait, go on.
                eprintln!("t4dm-gateway: cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(state.route(request).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("t4dm-gateway: HTTP connection failed: {error}");
            }
        });
    }
}

struct HttpState {
    gateway: Arc<Gateway>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

type HttpResponse = Response<Full<Bytes>>;

impl HttpState {
    async fn route(&self, request: Request<Incoming>) -> HttpResponse {
        if request.uri().path() != ENDPOINT {
            return text(StatusCode::NOT_FOUND, "not found: the MCP endpoint is /mcp");
        }
        if !origin_allowed(request.headers()) {
            // A browser page from elsewhere (DNS rebinding) must not reach a local server.
            return text(StatusCode::FORBIDDEN, "forbidden: cross-origin request");
        }
        if let Some(version) = header(request.headers(), PROTOCOL_HEADER)
            && !PROTOCOL_VERSIONS.contains(&version)
        {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("unsupported MCP-Protocol-Version `{version}`"),
            );
        }
        match *request.method() {
            Method::POST => self.post(request).await,
            Method::DELETE => self.delete(request.headers()),
            _ => {
                let mut response = text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "this server offers no event stream; POST messages to /mcp",
                );
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
                response
            }
        }
    }

    async fn post(&self, request: Request<Incoming>) -> HttpResponse {
        let (parts, body) = request.into_parts();
        if !accepts_json(&parts.headers) {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                "responses are application/json; the Accept header must allow it",
            );
        }
        let bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return text(StatusCode::PAYLOAD_TOO_LARGE, "a message is at most 4 MiB");
            }
            Err(error) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the body: {error}"),
                );
            }
        };
        let message = jsonrpc::parse(&bytes);
        let opens_session = matches!(
            &message,
            Ok(Message::Request { method, .. }) if method == "initialize"
        );
        let known = header(&parts.headers, SESSION_HEADER).map(|id| self.session(id));
        let session = match (opens_session, known, &message) {
            (true, _, _) => match Session::new(Transport::StreamableHttp) {
                Ok(session) => Arc::new(session),
                Err(error) => {
                    return text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("cannot make a session id: {error}"),
                    );
                }
            },
            (false, Some(Some(session)), _) => session,
            (false, Some(None), _) => {
                return text(
                    StatusCode::NOT_FOUND,
                    "unknown or ended session; initialize again",
                );
            }
            // A message that cannot be read is answered (and traced) even without a session.
            (false, None, Err(_)) => {
                Arc::new(Session::with_id(String::new(), Transport::StreamableHttp))
            }
            (false, None, Ok(_)) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &jsonrpc::failure(
                        &Value::Null,
                        &jsonrpc::RpcError::new(
                            jsonrpc::INVALID_REQUEST,
                            "missing Mcp-Session-Id header: call initialize first",
                        ),
                    ),
                );
            }
        };
        let malformed = message.is_err();
        let Some(response) = self
            .gateway
            .handle(&session, message, Some(&parts.headers))
            .await
        else {
            // A notification or a response: accepted, nothing to answer.
            return empty(StatusCode::ACCEPTED);
        };
        if malformed {
            return json_response(StatusCode::BAD_REQUEST, &response);
        }
        let mut reply = json_response(StatusCode::OK, &response);
        if opens_session && response.get("result").is_some() {
            if let Ok(value) = HeaderValue::from_str(session.id()) {
                reply.headers_mut().insert(SESSION_HEADER, value);
            }
            self.sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(session.id().to_owned(), session);
        }
        reply
    }

    fn delete(&self, headers: &HeaderMap) -> HttpResponse {
        let Some(id) = header(headers, SESSION_HEADER) else {
            return text(StatusCode::BAD_REQUEST, "missing Mcp-Session-Id header");
        };
        let removed = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        match removed {
            Some(_) => empty(StatusCode::OK),
            None => text(StatusCode::NOT_FOUND, "unknown or ended session"),
        }
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// No `Origin` (not a browser), or a page served from this machine.
fn origin_allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Some(uri) = origin
        .to_str()
        .ok()
        .and_then(|text| text.parse::<http::Uri>().ok())
    else {
        return false;
    };
    matches!(uri.host(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// No `Accept`, or one that allows `application/json`.
fn accepts_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    values
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|range| range.split(';').next().unwrap_or_default().trim())
        .any(|range| {
            range.eq_ignore_ascii_case("application/json")
                || range.eq_ignore_ascii_case("application/*")
                || range == "*/*"
        })
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::default());
    *response.status_mut() = status;
    response
}

/// A failure the transport answers itself, before any JSON-RPC.
fn text(status: StatusCode, message: &str) -> HttpResponse {
    json_response(status, &json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_local_origins_are_allowed() {
        assert!(origin_allowed(&headers(&[])));
        assert!(origin_allowed(&headers(&[(
            "origin",
            "http://localhost:6274"
        )])));
        assert!(origin_allowed(&headers(&[("origin", "http://127.0.0.1")])));
        assert!(!origin_allowed(&headers(&[(
            "origin",
            "https://evil.example"
        )])));
        assert!(!origin_allowed(&headers(&[("origin", "null")])));
    }

    #[test]
    fn accept_must_allow_json() {
        assert!(accepts_json(&headers(&[])));
        assert!(accepts_json(&headers(&[(
            "accept",
            "application/json, text/event-stream"
        )])));
        assert!(accepts_json(&headers(&[("accept", "*/*;q=0.1")])));
        assert!(!accepts_json(&headers(&[("accept", "text/event-stream")])));
    }
}
