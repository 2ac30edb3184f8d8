//! Wraps every answer in Kazoo's crossbar envelope and maps each failure to Kazoo's error code and text.
//!
//! Ports `api_util:create_resp_envelope/1` and the error builders of `cb_context` (`add_system_error/2,3`,
//! `add_validation_error/4`) and `crossbar_doc:handle_datamgr_errors/3`. Handlers return a [`Reply`] or an
//! [`ApiError`]; both travel to [`envelope`] (a middleware) as an [`Outcome`] in the response's extensions, and
//! the middleware adds what every answer carries: `request_id`, `auth_token`, `node`, `version`, `timestamp`.
//! A success reads `{"data", "revision", "timestamp", "version", "node", "request_id", "status": "success",
//! "auth_token"}`; an error `{"data": {<details>}, "error": "<HTTP code>", "message": "<Kazoo's error name>",
//! "status": "error", ...}`, as Kazoo 4.3 writes them (`"message": "invalid_credentials"`, `"bad_identifier"`,
//! `"validation error"`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use kz_data::StoreError;
use md5::Digest;
use serde_json::{Map, Value, json};
use tracing::warn;

use crate::Api;

/// The `version` every answer reports: the Kazoo release line whose API this is, and the product.
pub const VERSION: &str = "4.3.0-faxbox";

/// The request header a client may set to choose the request id (echoed back in the same header).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The header carrying the auth token.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";

/// The node name as Kazoo reports it: `kz_nodes:node_encoded/0`, the URL-safe base64 (unpadded) of the MD5 of
/// the node name.
pub fn node_hash(node: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(md5::Md5::digest(node.as_bytes()))
}

/// A Unix time as Kazoo's `kz_time:iso8601/1` writes it in UTC: `2024-01-31T09:05:00Z`.
pub fn iso8601(unix: i64) -> String {
    let (y, m, d) = kz_core::time::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A successful answer: its HTTP status, its `data` and its `revision`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub data: Value,
    /// The document's `_rev`; `None` is written as `"undefined"`, as Kazoo does.
    pub revision: Option<String>,
    /// A token created by this request (user_auth, api_auth), reported instead of the request's own.
    pub auth_token: Option<String>,
    /// For listings: the number of items, as Kazoo's v2 `page_size`.
    pub page_size: Option<usize>,
}

impl Reply {
    /// `200` with `data`.
    pub fn ok(data: impl Into<Value>) -> Self {
        Reply { status: StatusCode::OK, data: data.into(), revision: None, auth_token: None, page_size: None }
    }

    /// `201` with `data` (a created resource).
    pub fn created(data: impl Into<Value>) -> Self {
        Reply { status: StatusCode::CREATED, ..Reply::ok(data) }
    }

    /// `200` with a list; the revision is Kazoo's `automatic` for a non-empty list, `undefined` otherwise.
    pub fn list(items: Vec<Value>) -> Self {
        let revision = (!items.is_empty()).then(|| "automatic".to_string());
        let page_size = Some(items.len());
        Reply { revision, page_size, ..Reply::ok(Value::Array(items)) }
    }

    /// Sets the revision from a stored document's `_rev`.
    pub fn revision_of(mut self, doc: &Map<String, Value>) -> Self {
        self.revision = doc.get("_rev").and_then(Value::as_str).map(String::from);
        self
    }

    pub fn with_auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }
}

/// A failed answer: the HTTP status, Kazoo's error name (the envelope's `message`) and the details (`data`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub data: Value,
}

impl ApiError {
    fn system(status: StatusCode, name: &str, text: &str) -> Self {
        ApiError { status, message: name.to_string(), data: json!({ "message": text }) }
    }

    /// `401`: no token, an unknown or expired token, or wrong credentials.
    pub fn invalid_credentials() -> Self {
        Self::system(StatusCode::UNAUTHORIZED, "invalid_credentials", "invalid credentials")
    }

    /// `403`: the token's account may not act on this account.
    pub fn forbidden() -> Self {
        Self::system(StatusCode::FORBIDDEN, "forbidden", "forbidden")
    }

    /// `404`: no such document (or not of the expected type); `cause` is the id asked for.
    pub fn bad_identifier(cause: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: "bad_identifier".into(),
            data: json!({ "message": "bad identifier", "cause": cause }),
        }
    }

    /// `404`: no such resource path.
    pub fn not_found() -> Self {
        Self::system(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    /// `405`: the path exists but not with this method.
    pub fn invalid_method() -> Self {
        Self::system(StatusCode::METHOD_NOT_ALLOWED, "invalid_method", "method not allowed")
    }

    /// `409`: the document changed under the request.
    pub fn conflict() -> Self {
        Self::system(StatusCode::CONFLICT, "datastore_conflict", "conflicting documents")
    }

    /// `503`: the store cannot be reached; the client may try again.
    pub fn unavailable() -> Self {
        Self::system(StatusCode::SERVICE_UNAVAILABLE, "datastore_unreachable", "datastore timeout")
    }

    /// `500`: something failed that the client cannot fix.
    pub fn fault(cause: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "datastore_fault".into(),
            data: json!({ "message": "datastore fatal error", "cause": cause.to_string() }),
        }
    }

    /// `400 validation error` with Kazoo's per-field details.
    pub fn validation(errors: ValidationErrors) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message: "validation error".into(), data: Value::Object(errors.0) }
    }

    /// `400`: the body is not a JSON object (Kazoo's `json.invalid` validation error, target `body`).
    pub fn invalid_json(reason: impl Into<String>) -> Self {
        let mut e = ValidationErrors::default();
        e.add(&["json"], "invalid", json!({ "message": reason.into(), "target": "body" }));
        Self::validation(e)
    }

    /// Maps a store failure met while working on document `id`.
    pub fn from_store(e: StoreError, id: &str) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::bad_identifier(id),
            other => other.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => {
                warn!(error = %reason, "store unavailable");
                ApiError::unavailable()
            }
            StoreError::NotFound(what) => ApiError::bad_identifier(&what),
            StoreError::DbNotFound(db) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "datastore_missing".into(),
                data: json!({ "message": "data collection missing: database not found", "cause": db }),
            },
            StoreError::Conflict(_) => ApiError::conflict(),
            StoreError::Invalid(reason) => ApiError::fault(reason),
        }
    }
}

impl From<kz_config::ConfigError> for ApiError {
    fn from(e: kz_config::ConfigError) -> Self {
        match e {
            kz_config::ConfigError::Store(s) => s.into(),
            other => ApiError::fault(other),
        }
    }
}

/// Validation errors in Kazoo's shape: `{"<field path>": {"<code>": {"message": ..., ...}}}`, the path's
/// segments joined by `.` (a `.` inside a segment written `%2E`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationErrors(Map<String, Value>);

impl ValidationErrors {
    /// Adds one error on the field at `path`, with code `code` and `detail` (an object with a `message`).
    pub fn add<S: AsRef<str>>(&mut self, path: &[S], code: &str, detail: Value) {
        let key = path.iter().map(|s| s.as_ref().replace('.', "%2E")).collect::<Vec<_>>().join(".");
        let entry = self.0.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(codes) = entry {
            codes.insert(code.to_string(), detail);
        }
    }

    /// Adds an error with just a message (and a `cause` when given).
    pub fn message(&mut self, field: &str, code: &str, message: &str, cause: Option<Value>) {
        let mut detail = json!({ "message": message });
        if let (Some(cause), Value::Object(d)) = (cause, &mut detail) {
            d.insert("cause".into(), cause);
        }
        self.add(&[field], code, detail);
    }

    /// A required field is missing.
    pub fn required(&mut self, field: &str) {
        self.add(&[field], "required", json!({ "message": "Field is required but missing" }));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when there is no error, else the `400` answer.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() { Ok(()) } else { Err(ApiError::validation(self)) }
    }

    /// The errors as Kazoo's `data` object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Adds every error of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        for (field, codes) in other.0 {
            if let Value::Object(codes) = codes {
                for (code, detail) in codes {
                    self.add(&[field.as_str()], &code, detail);
                }
            }
        }
    }
}

/// What a handler produced, carried to [`envelope`] in the response extensions.
#[derive(Debug, Clone)]
pub enum Outcome {
    Success(Reply),
    Failure(ApiError),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self.status;
        resp.extensions_mut().insert(Outcome::Success(self));
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self.status;
        resp.extensions_mut().insert(Outcome::Failure(self));
        resp
    }
}

/// The request id of the request being served (Kazoo's `req_id`): the client's `X-Request-ID` when it is a
/// sane token, else 32 fresh hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

fn request_id_of(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(String::from)
        .unwrap_or_else(kz_core::ids::new_id)
}

/// The token the request carried (echoed in every answer, as Kazoo does), or `""`.
pub fn token_of(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(AUTH_TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The middleware that writes every answer in Kazoo's envelope.
pub async fn envelope(State(api): State<Arc<Api>>, mut req: Request, next: Next) -> Response {
    let request_id = request_id_of(&req);
    let token = token_of(req.headers()).unwrap_or_default();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let mut resp = next.run(req).await;
    let allow = resp.headers().get(header::ALLOW).cloned();
    let outcome = match resp.extensions_mut().remove::<Outcome>() {
        Some(outcome) => outcome,
        // Answers the router made by itself: a path with no such method, no such path, a body too large.
        None => Outcome::Failure(match resp.status() {
            StatusCode::METHOD_NOT_ALLOWED => ApiError::invalid_method(),
            StatusCode::NOT_FOUND => ApiError::not_found(),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "max_filesize_exceeded".into(),
                data: json!({ "message": "the request body is too large" }),
            },
            status if status.is_success() => return resp,
            status => ApiError {
                status,
                message: status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
                data: json!({ "message": status.canonical_reason().unwrap_or("error").to_ascii_lowercase() }),
            },
        }),
    };
    let mut out = render(&api.node_hash, &request_id, &token, outcome);
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// Writes an outcome as an enveloped JSON answer.
pub fn render(node_hash: &str, request_id: &str, token: &str, outcome: Outcome) -> Response {
    let timestamp = iso8601(kz_core::time::now_unix());
    let (status, body) = match outcome {
        Outcome::Success(reply) => {
            let mut body = json!({
                "data": reply.data,
                "revision": reply.revision.unwrap_or_else(|| "undefined".into()),
                "timestamp": timestamp,
                "version": VERSION,
                "node": node_hash,
                "request_id": request_id,
                "status": "success",
                "auth_token": reply.auth_token.unwrap_or_else(|| token.to_string()),
            });
            if let (Some(n), Value::Object(b)) = (reply.page_size, &mut body) {
                b.insert("page_size".into(), Value::from(n));
            }
            (reply.status, body)
        }
        Outcome::Failure(e) => (
            e.status,
            json!({
                "data": e.data,
                "error": e.status.as_u16().to_string(),
                "message": e.message,
                "status": "error",
                "timestamp": timestamp,
                "version": VERSION,
                "node": node_hash,
                "request_id": request_id,
                "auth_token": token,
            }),
        ),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// The request's data: the body's `data` object (Kazoo's request envelope) or, without one, the body itself;
/// an empty body is an empty object.
pub fn request_data(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(e.to_string()))?;
    match value {
        Value::Object(mut top) => match top.remove("data") {
            Some(Value::Object(data)) => Ok(data),
            Some(_) => Err(ApiError::invalid_json("data must be a JSON object")),
            None => Ok(top),
        },
        _ => Err(ApiError::invalid_json("the body must be a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_like_kazoo() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        // 2016-03-28T19:02:53Z (Gregorian 63626410973 in a real Kazoo document).
        assert_eq!(iso8601(kz_core::time::gregorian_to_unix(63_626_410_973)), "2016-03-28T19:02:53Z");
        assert_eq!(iso8601(951_868_799), "2000-02-29T23:59:59Z");
    }

    #[test]
    fn node_hash_is_unpadded_url_safe_md5() {
        let h = node_hash("faxd@host");
        assert_eq!(h.len(), 22);
        assert!(h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{h}");
        assert_ne!(h, node_hash("faxd@other"));
    }

    #[test]
    fn validation_errors_use_dotted_paths() {
        let mut e = ValidationErrors::default();
        e.add(&["notifications", "inbound", "callback", "url"], "pattern", json!({"message": "m"}));
        e.required("name");
        e.message("realm", "unique", "taken", Some(json!("a.b")));
        let m = e.as_map();
        assert_eq!(m["notifications.inbound.callback.url"]["pattern"]["message"], "m");
        assert_eq!(m["name"]["required"]["message"], "Field is required but missing");
        assert_eq!(m["realm"]["unique"]["cause"], "a.b");
        let mut dotted = ValidationErrors::default();
        dotted.add(&["a.b"], "x", json!({}));
        assert!(dotted.as_map().contains_key("a%2Eb"));
    }

    #[test]
    fn request_data_unwraps_the_envelope() {
        assert_eq!(request_data(br#"{"data": {"name": "x"}}"#).expect("data")["name"], "x");
        assert_eq!(request_data(br#"{"name": "y"}"#).expect("bare")["name"], "y");
        assert!(request_data(b"").expect("empty").is_empty());
        let bad = request_data(b"{nope").expect_err("invalid");
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.data["json"]["invalid"]["message"].is_string());
        assert!(request_data(b"[1]").is_err());
        assert!(request_data(br#"{"data": 3}"#).is_err());
    }
}
