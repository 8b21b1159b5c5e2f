//! JSON-RPC 2.0 messages as MCP uses them: one JSON object per message, `id` a string or a
//! number, `params` an object, no batches (MCP 2025-06-18 removed them).

use serde_json::{Map, Value, json};

/// The message is not JSON.
pub const PARSE_ERROR: i64 = -32_700;
/// The JSON is not a JSON-RPC request, notification or response.
pub const INVALID_REQUEST: i64 = -32_600;
/// The method does not exist here.
pub const METHOD_NOT_FOUND: i64 = -32_601;
/// The parameters are wrong: an unknown tool, a missing or ill-typed argument, a value out of
/// range.
pub const INVALID_PARAMS: i64 = -32_602;

/// The `error` member of a failed response.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// One of the codes above.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
}

impl RpcError {
    /// An error with `code`.
    #[must_use]
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// [`INVALID_PARAMS`].
    #[must_use]
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// The JSON of the error member.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }
}

/// A message the client sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call expecting a response.
    Request {
        /// Echoed in the response: a string or a number.
        id: Value,
        /// Such as `tools/call`.
        method: String,
        /// The `params` member, when present.
        params: Option<Value>,
    },
    /// A call expecting none (no `id`).
    Notification {
        /// Such as `notifications/initialized`.
        method: String,
        /// The `params` member, when present.
        params: Option<Value>,
    },
    /// A response to a request from the server (this server sends none, so it is ignored).
    Response,
}

impl Message {
    /// The method, for requests and notifications.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response => None,
        }
    }

    /// `params._meta`, where MCP carries trace context (`traceparent`, `tracestate`,
    /// `baggage`).
    #[must_use]
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        match self {
            Message::Request { params, .. } | Message::Notification { params, .. } => {
                params.as_ref()?.get("_meta")?.as_object()
            }
            Message::Response => None,
        }
    }
}

/// A message that could not be read, and the error to answer it with.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// The request's id when it could be read, else `null`.
    pub id: Value,
    /// [`PARSE_ERROR`] or [`INVALID_REQUEST`].
    pub error: RpcError,
}

/// Reads one message.
///
/// # Errors
///
/// [`Malformed`] with [`PARSE_ERROR`] when `bytes` is not JSON (or not UTF-8), and with
/// [`INVALID_REQUEST`] when it is JSON but not a JSON-RPC 2.0 message.
pub fn parse(bytes: &[u8]) -> Result<Message, Malformed> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| Malformed {
        id: Value::Null,
        error: RpcError::new(PARSE_ERROR, format!("parse error: {error}")),
    })?;
    let invalid = |id: Value, message: &str| Malformed {
        id,
        error: RpcError::new(INVALID_REQUEST, format!("invalid request: {message}")),
    };
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => return Err(invalid(Value::Null, "batches are not supported")),
        _ => return Err(invalid(Value::Null, "a message is a JSON object")),
    };
    let id = match object.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => return Err(invalid(Value::Null, "`id` must be a string or a number")),
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(id.unwrap_or_default(), "`jsonrpc` must be \"2.0\""));
    }
    let params = object.remove("params");
    match object.remove("method") {
        Some(Value::String(method)) => {
            if params
                .as_ref()
                .is_some_and(|params| !params.is_object() && !params.is_array())
            {
                return Err(invalid(
                    id.unwrap_or_default(),
                    "`params` must be an object",
                ));
            }
            Ok(match id {
                Some(id) => Message::Request { id, method, params },
                None => Message::Notification { method, params },
            })
        }
        Some(_) => Err(invalid(id.unwrap_or_default(), "`method` must be a string")),
        None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
            Ok(Message::Response)
        }
        None => Err(invalid(id.unwrap_or_default(), "`method` is missing")),
    }
}

/// A successful response.
#[must_use]
pub fn success(id: &Value, result: Value) -> Value {
    let mut response = Map::new();
    response.insert("jsonrpc".to_owned(), Value::from("2.0"));
    response.insert("id".to_owned(), id.clone());
    response.insert("result".to_owned(), result);
    Value::Object(response)
}

/// A failed response.
#[must_use]
pub fn failure(id: &Value, error: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": error.to_json() })
}

/// The id as `jsonrpc.request.id` records it: a string's text, a number's digits.
#[must_use]
pub fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<i64> {
        parse(text.as_bytes())
            .err()
            .map(|malformed| malformed.error.code)
    }

    #[test]
    fn reads_requests_notifications_and_responses() {
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#),
            Ok(Message::Request {
                id: json!(7),
                method: "tools/list".to_owned(),
                params: None
            })
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}"#),
            Ok(Message::Notification {
                method: "notifications/initialized".to_owned(),
                params: Some(json!({}))
            })
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Message::Response)
        );
        let traced = parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(
            traced.meta().and_then(|meta| meta.get("traceparent")),
            Some(&json!("x"))
        );
    }

    #[test]
    fn rejects_what_is_not_a_message() {
        assert_eq!(code("{not json"), Some(PARSE_ERROR));
        assert_eq!(
            parse(&[0xff, 0xfe]).err().map(|m| m.error.code),
            Some(PARSE_ERROR)
        );
        assert_eq!(code("[]"), Some(INVALID_REQUEST));
        assert_eq!(code("42"), Some(INVALID_REQUEST));
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), Some(INVALID_REQUEST));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            Some(INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":3}"#),
            Some(INVALID_REQUEST)
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), Some(INVALID_REQUEST));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#),
            Some(INVALID_REQUEST)
        );
        let malformed = parse(br#"{"jsonrpc":"1.0","id":"k","method":"ping"}"#).unwrap_err();
        assert_eq!(
            malformed.id,
            json!("k"),
            "the id is echoed when it could be read"
        );
    }

    #[test]
    fn request_ids_as_recorded() {
        assert_eq!(id_text(&json!(10)), Some("10".to_owned()));
        assert_eq!(id_text(&json!("request-7")), Some("request-7".to_owned()));
        assert_eq!(id_text(&Value::Null), None);
    }
}
