//! Talks to Apache CouchDB 3.x: the CouchDB backend of the [`Store`] trait.
//!
//! Ports `kazoo_couch` (`kz_couch_db`, `kz_couch_doc`, `kz_couch_attachments`, `kz_couch_view`): the HTTP calls
//! Kazoo makes to CouchDB, with CouchDB's status codes mapped onto [`StoreError`]. The HTTP client is couch_rs's;
//! requests go through its raw request builder because couch_rs has no API for attachments, view options, bulk
//! saves with per-document results or a resumable live changes feed. Database names arrive in Kazoo's encoded
//! form (`account%2Fab%2Fcd%2F...`) and stay encoded in the URL path.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use couch_rs::types::changes::{ChangeEvent, Event};
use couch_rs::types::document::DocumentCreatedDetails;
use couch_rs::types::system::{CouchResponse, CouchStatus};
use futures::StreamExt;
use futures::stream::BoxStream;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::store::{
    Attachment, BulkResult, Change, Changes, Doc, NewAttachment, Store, StoreError, StoreErrorKind, StoreResult,
    ViewOptions, ViewRow, check_new_attachments,
};

/// Whole-request timeout of ordinary requests (couch_rs's default).
const REQUEST_TIMEOUT_SECS: u64 = 10;
/// How long the live feed waits for the server to answer its request.
const FEED_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// CouchDB writes an empty line this often on an idle live feed...
const FEED_HEARTBEAT_MS: u64 = 10_000;
/// ...so a feed silent for this long is dead and is reopened.
const FEED_SILENCE_LIMIT: Duration = Duration::from_millis(3 * FEED_HEARTBEAT_MS);
/// Reconnection delays of the live feed: doubled after each failure, from the first to the last.
const FEED_BACKOFF_MIN: Duration = Duration::from_millis(100);
const FEED_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A live-feed line longer than this is refused (bounded memory).
const FEED_MAX_LINE: usize = 16 * 1024 * 1024;
/// Changes buffered between the feed task and a slow consumer.
const FEED_BUFFER: usize = 256;

/// Characters sent as they are in a document id or attachment name path segment: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Characters sent as they are in a database name path segment: CouchDB's `/`, `$`, `(`, `)`, `+` are escaped.
const DB_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');
/// CouchDB's system databases, whose names break the lowercase-letter-first rule.
const SYSTEM_DBS: &[&str] = &["_users", "_replicator", "_global_changes"];

/// The CouchDB backend: one HTTP client shared by all calls, plus one without a whole-request timeout for
/// live changes feeds.
#[derive(Clone)]
pub struct CouchStore {
    client: couch_rs::Client,
    feed_client: couch_rs::Client,
    /// The server URL's path (`""` or `/prefix`), put before every request path.
    base_path: String,
    /// The server URL without credentials, for logs.
    display_url: String,
}

impl fmt::Debug for CouchStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CouchStore").field("url", &self.display_url).finish()
    }
}

/// Where a server URL points and with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerUrl {
    /// `http://host:port` (no credentials, no path).
    origin: String,
    /// The path, without a trailing slash.
    base_path: String,
    username: Option<String>,
    password: Option<String>,
}

fn parse_server_url(url: &str) -> StoreResult<ServerUrl> {
    let parsed = Url::parse(url).map_err(|e| StoreError::Invalid(format!("bad couchdb url: {e}")))?;
    match parsed.scheme() {
        "http" => {}
        "https" => {
            return Err(StoreError::Invalid("couchdb over https is not supported by this build: use http".into()));
        }
        other => {
            return Err(StoreError::Invalid(format!("bad couchdb url scheme {other:?}: use http")));
        }
    }
    let host = parsed.host_str().ok_or_else(|| StoreError::Invalid("couchdb url has no host".into()))?;
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    let origin = match parsed.port() {
        Some(port) => format!("http://{host}:{port}"),
        None => format!("http://{host}"),
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let username = (!parsed.username().is_empty()).then(|| decode(parsed.username()));
    let password = parsed.password().map(decode);
    Ok(ServerUrl { origin, base_path: parsed.path().trim_end_matches('/').to_string(), username, password })
}

/// The raw (decoded) form of a database name given encoded (`account%2Fab...`) or raw, checked against
/// CouchDB's naming rule.
fn raw_db_name(db: &str) -> StoreResult<String> {
    let raw = percent_decode_str(db)
        .decode_utf8()
        .map_err(|_| StoreError::Invalid(format!("bad database name {db:?}")))?
        .into_owned();
    let valid = raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_$()+/-".contains(&b));
    if valid || SYSTEM_DBS.contains(&raw.as_str()) {
        Ok(raw)
    } else {
        Err(StoreError::Invalid(format!(
            "bad database name {db:?}: lowercase letters, digits and _$()+/- only, starting with a letter"
        )))
    }
}

/// The URL path segment of a database: the raw name with `/` and CouchDB's other specials escaped.
fn db_segment(db: &str) -> StoreResult<String> {
    Ok(utf8_percent_encode(&raw_db_name(db)?, DB_SEGMENT).to_string())
}

/// Kazoo's encoded form of a raw database name as CouchDB lists it (`account/ab/...` -> `account%2Fab...`).
fn encoded_db_name(raw: &str) -> String {
    raw.replace('/', "%2F")
}

/// The URL path of a document id: `_design/` and `_local/` prefixes stay literal, everything else is escaped.
fn doc_segment(id: &str) -> StoreResult<String> {
    if id.is_empty() {
        return Err(StoreError::Invalid("empty document id".into()));
    }
    for prefix in ["_design/", "_local/"] {
        if let Some(rest) = id.strip_prefix(prefix) {
            if rest.is_empty() {
                return Err(StoreError::Invalid(format!("bad document id {id:?}")));
            }
            return Ok(format!("{prefix}{}", utf8_percent_encode(rest, SEGMENT)));
        }
    }
    Ok(utf8_percent_encode(id, SEGMENT).to_string())
}

fn name_segment(name: &str) -> StoreResult<String> {
    if name.is_empty() {
        return Err(StoreError::Invalid("empty attachment name".into()));
    }
    Ok(utf8_percent_encode(name, SEGMENT).to_string())
}

/// The query parameters of a view request (everything but `keys`, which goes in a POST body).
fn view_params(opts: &ViewOptions) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    for (name, value) in [("key", &opts.key), ("startkey", &opts.startkey), ("endkey", &opts.endkey)] {
        if let Some(value) = value {
            params.push((name, value.to_string()));
        }
    }
    if let Some(inclusive_end) = opts.inclusive_end {
        params.push(("inclusive_end", inclusive_end.to_string()));
    }
    if let Some(limit) = opts.limit {
        params.push(("limit", limit.to_string()));
    }
    if let Some(skip) = opts.skip {
        params.push(("skip", skip.to_string()));
    }
    if opts.descending {
        params.push(("descending", "true".into()));
    }
    if opts.include_docs {
        params.push(("include_docs", "true".into()));
    }
    if let Some(reduce) = opts.reduce {
        params.push(("reduce", reduce.to_string()));
    }
    if opts.group {
        params.push(("group", "true".into()));
    }
    if let Some(level) = opts.group_level {
        params.push(("group_level", level.to_string()));
    }
    params
}

/// A sequence token as a string: CouchDB 3's are strings, CouchDB 1's and the test server's are integers.
fn seq_string(seq: &Value) -> String {
    match seq {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a failed request was about, for the error it becomes.
struct Target<'a> {
    db: &'a str,
    what: String,
}

impl<'a> Target<'a> {
    fn db(db: &'a str) -> Self {
        Target { db, what: db.to_string() }
    }
    fn doc(db: &'a str, id: &str) -> Self {
        Target { db, what: format!("{db}/{id}") }
    }
}

/// Maps a CouchDB error response onto a [`StoreError`].
fn status_error(status: StatusCode, body: &CouchResponse, target: &Target<'_>) -> StoreError {
    let error = body.error.as_deref().unwrap_or("");
    let reason = body.reason.as_deref().unwrap_or("");
    let detail = match (error.is_empty(), reason.is_empty()) {
        (true, true) => format!("{} (http {})", target.what, status.as_u16()),
        (false, true) => format!("{}: {error}", target.what),
        (true, false) => format!("{}: {reason}", target.what),
        (false, false) => format!("{}: {error}: {reason}", target.what),
    };
    match status.as_u16() {
        404 if reason == "Database does not exist." => StoreError::DbNotFound(target.db.to_string()),
        404 => StoreError::NotFound(detail),
        409 | 412 => StoreError::Conflict(detail),
        400 | 403 | 405 | 413 | 415 | 416 => StoreError::Invalid(detail),
        _ => StoreError::Unavailable(detail),
    }
}

/// Maps a transport failure (connection refused, timeout, broken body) onto [`StoreError::Unavailable`].
fn transport_error(e: &reqwest::Error, target: &Target<'_>) -> StoreError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() {
        "bad response"
    } else {
        "request failed"
    };
    StoreError::Unavailable(format!("{}: couchdb {kind}: {}", target.what, without_url(e)))
}

/// A reqwest error's text without the request URL (which may hold names we log separately).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The bulk-result kind of a CouchDB per-document error name.
fn bulk_error_kind(error: &str) -> StoreErrorKind {
    match error {
        "conflict" | "file_exists" => StoreErrorKind::Conflict,
        "not_found" => StoreErrorKind::NotFound,
        "forbidden" | "bad_request" | "doc_validation" | "invalid" => StoreErrorKind::Invalid,
        _ => StoreErrorKind::Unavailable,
    }
}

/// One row of a view response.
#[derive(Deserialize)]
struct RawRow {
    id: Option<String>,
    #[serde(default)]
    key: Value,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    doc: Option<Value>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct RawRows {
    rows: Vec<RawRow>,
}

#[derive(Deserialize)]
struct RawChanges {
    results: Vec<ChangeEvent>,
    last_seq: Value,
}

#[derive(Deserialize)]
struct RawBulkResult {
    id: Option<String>,
    rev: Option<String>,
    error: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RawDbInfo {
    update_seq: Value,
}

/// One line of a continuous changes feed.
#[derive(Debug, PartialEq)]
enum FeedLine {
    Change(Change),
    /// The feed's closing line, with the sequence to resume from.
    End(String),
}

/// Parses one line of a continuous feed; `None` for a heartbeat (an empty line).
fn parse_feed_line(line: &[u8]) -> Result<Option<FeedLine>, serde_json::Error> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    Ok(Some(match serde_json::from_slice::<Event>(line)? {
        Event::Change(event) => FeedLine::Change(change_of(event)),
        Event::Finished(end) => FeedLine::End(seq_string(&end.last_seq)),
    }))
}

fn change_of(event: ChangeEvent) -> Change {
    Change {
        seq: seq_string(&event.seq),
        rev: event.changes.into_iter().next().map(|c| c.rev).unwrap_or_default(),
        id: event.id,
        deleted: event.deleted,
    }
}

impl CouchStore {
    /// Connects to the CouchDB server at `url` (`http://user:pass@host:5984`) and checks that it answers.
    /// `Unavailable` when it cannot be reached, `Invalid` for a malformed URL.
    pub async fn connect(url: &str) -> StoreResult<CouchStore> {
        let store = CouchStore::new(url)?;
        let version = store.server_version().await?;
        debug!(url = %store.display_url, version = %version, "connected to couchdb");
        Ok(store)
    }

    /// A store for the server at `url` without contacting it: the first request finds out whether it is up.
    pub fn new(url: &str) -> StoreResult<CouchStore> {
        let server = parse_server_url(url)?;
        let build = |timeout| {
            couch_rs::Client::new_with_timeout(
                &server.origin,
                server.username.as_deref(),
                server.password.as_deref(),
                timeout,
            )
            .map_err(|e| StoreError::Invalid(format!("cannot build the couchdb client: {e}")))
        };
        Ok(CouchStore {
            client: build(Some(REQUEST_TIMEOUT_SECS))?,
            feed_client: build(None)?,
            display_url: format!("{}{}", server.origin, server.base_path),
            base_path: server.base_path,
        })
    }

    /// The server's version (`GET /`), e.g. `3.3.3`.
    pub async fn server_version(&self) -> StoreResult<String> {
        let target = Target { db: "", what: "server".into() };
        let response = send(self.request(Method::GET, "/"), &target).await?;
        let status: CouchStatus = json_body(response, &target).await?;
        Ok(status.version)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.req(method, &format!("{}{path}", self.base_path), None)
    }

    fn db_path(db: &str) -> StoreResult<String> {
        Ok(format!("/{}", db_segment(db)?))
    }

    fn doc_path(db: &str, id: &str) -> StoreResult<String> {
        Ok(format!("/{}/{}", db_segment(db)?, doc_segment(id)?))
    }

    fn attachment_path(db: &str, id: &str, name: &str) -> StoreResult<String> {
        Ok(format!("{}/{}", Self::doc_path(db, id)?, name_segment(name)?))
    }

    /// The current `_attachments` stubs of documents, by id (documents without attachments are left out).
    async fn current_stubs(&self, db: &str, ids: &[String]) -> StoreResult<Map<String, Value>> {
        let target = Target::db(db);
        let path = format!("{}/_all_docs", Self::db_path(db)?);
        let request = self.request(Method::POST, &path).query(&[("include_docs", "true")]).json(&json!({"keys": ids}));
        let rows: RawRows = json_body(send(request, &target).await?, &target).await?;
        let mut stubs = Map::new();
        for row in rows.rows {
            if let (Some(id), Some(Value::Object(mut doc))) = (row.id, row.doc)
                && let Some(attachments) = doc.remove("_attachments")
            {
                stubs.insert(id, attachments);
            }
        }
        Ok(stubs)
    }

    /// Follows the continuous changes feed of `db` from `since` until it ends (the server closed it, or the
    /// consumer went away), sending each change to `tx` and moving `since` along.
    async fn follow(
        &self,
        db: &str,
        since: &mut String,
        tx: &mpsc::Sender<StoreResult<Change>>,
        connected: &mut bool,
    ) -> StoreResult<()> {
        let target = Target::db(db);
        let path = format!("{}{}/_changes", self.base_path, Self::db_path(db)?);
        let request = self.feed_client.req(Method::GET, &path, None).query(&[
            ("feed", "continuous"),
            ("since", since.as_str()),
            ("heartbeat", &FEED_HEARTBEAT_MS.to_string()),
        ]);
        let response = match tokio::time::timeout(FEED_CONNECT_TIMEOUT, send(request, &target)).await {
            Ok(response) => response?,
            Err(_) => {
                return Err(StoreError::Unavailable(format!("{db}: changes feed request timed out")));
            }
        };
        *connected = true;
        let mut body = response.bytes_stream();
        let mut buffer = BytesMut::new();
        loop {
            let chunk = match tokio::time::timeout(FEED_SILENCE_LIMIT, body.next()).await {
                Err(_) => {
                    return Err(StoreError::Unavailable(format!("{db}: changes feed went silent")));
                }
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(transport_error(&e, &target)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(end + 1);
                match parse_feed_line(&line) {
                    Ok(None) => {}
                    Ok(Some(FeedLine::Change(change))) => {
                        since.clone_from(&change.seq);
                        if tx.send(Ok(change)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Ok(Some(FeedLine::End(last_seq))) => *since = last_seq,
                    Err(e) => {
                        let text = String::from_utf8_lossy(&line);
                        return Err(StoreError::Unavailable(format!("{db}: bad changes feed line {text:?}: {e}")));
                    }
                }
            }
            if buffer.len() > FEED_MAX_LINE {
                return Err(StoreError::Unavailable(format!("{db}: changes feed line too long")));
            }
        }
    }
}

/// Sends a request; an error status becomes the matching [`StoreError`].
async fn send(request: RequestBuilder, target: &Target<'_>) -> StoreResult<Response> {
    let response = request.send().await.map_err(|e| transport_error(&e, target))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // HEAD answers and some proxies' pages have no JSON body: the status alone decides then.
    let body = response.bytes().await.unwrap_or_default();
    let parsed =
        serde_json::from_slice::<CouchResponse>(&body).unwrap_or(CouchResponse { ok: None, error: None, reason: None });
    Err(status_error(status, &parsed, target))
}

async fn json_body<T: serde::de::DeserializeOwned>(response: Response, target: &Target<'_>) -> StoreResult<T> {
    let body = response.bytes().await.map_err(|e| transport_error(&e, target))?;
    serde_json::from_slice(&body)
        .map_err(|e| StoreError::Unavailable(format!("{}: unexpected couchdb response: {e}", target.what)))
}

/// The JSON body of a PUT carrying `attachments` inline (base64) beside the `carried` stubs, and the document
/// without its `_attachments`.
fn encode_inline(
    mut doc: Doc,
    carried: Map<String, Value>,
    attachments: Vec<NewAttachment>,
) -> StoreResult<(Vec<u8>, Doc)> {
    let mut inline = carried;
    for att in attachments {
        let data = crate::embedded::digest::base64(&att.data);
        inline.insert(att.name, json!({"content_type": att.content_type, "data": data}));
    }
    if !inline.is_empty() {
        doc.insert("_attachments".into(), Value::Object(inline));
    }
    let body = serde_json::to_vec(&doc).map_err(|e| StoreError::Invalid(format!("unserialisable document: {e}")))?;
    doc.remove("_attachments");
    Ok((body, doc))
}

/// Why the live feed task stops or waits.
enum FeedEnd {
    /// The consumer dropped the stream.
    Dropped,
    /// The server ended the feed (a proxy's idle limit, a restart): reopen it.
    Closed,
    /// A failure worth retrying.
    Retry(StoreError),
    /// A failure that will not go away (the database is gone, the request is refused).
    Fatal(StoreError),
}

async fn run_feed(store: CouchStore, db: String, mut since: String, tx: mpsc::Sender<StoreResult<Change>>) {
    let mut backoff = FEED_BACKOFF_MIN;
    loop {
        let mut connected = false;
        let end = tokio::select! {
            _ = tx.closed() => FeedEnd::Dropped,
            result = store.follow(&db, &mut since, &tx, &mut connected) => match result {
                Ok(()) if tx.is_closed() => FeedEnd::Dropped,
                Ok(()) => FeedEnd::Closed,
                Err(e @ (StoreError::DbNotFound(_) | StoreError::Invalid(_) | StoreError::NotFound(_))) => {
                    FeedEnd::Fatal(e)
                }
                Err(e) => FeedEnd::Retry(e),
            },
        };
        if connected {
            backoff = FEED_BACKOFF_MIN;
        }
        match end {
            FeedEnd::Dropped => return,
            FeedEnd::Fatal(e) => {
                warn!(db = %db, error = %e, "changes feed stopped");
                let _ = tx.send(Err(e)).await;
                return;
            }
            FeedEnd::Closed => {
                debug!(db = %db, since = %since, "changes feed closed by the server, reopening")
            }
            FeedEnd::Retry(e) => {
                let delay_ms = backoff.as_millis() as u64;
                warn!(db = %db, since = %since, error = %e, delay_ms, "changes feed interrupted, reconnecting")
            }
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(FEED_BACKOFF_MAX);
    }
}

#[async_trait]
impl Store for CouchStore {
    fn backend(&self) -> &'static str {
        "couchdb"
    }

    async fn db_create(&self, db: &str) -> StoreResult<bool> {
        let request = self.request(Method::PUT, &Self::db_path(db)?);
        match send(request, &Target::db(db)).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn db_delete(&self, db: &str) -> StoreResult<bool> {
        let request = self.request(Method::DELETE, &Self::db_path(db)?);
        match send(request, &Target::db(db)).await {
            Ok(_) => Ok(true),
            Err(StoreError::DbNotFound(_) | StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn db_exists(&self, db: &str) -> StoreResult<bool> {
        let request = self.request(Method::HEAD, &Self::db_path(db)?);
        match send(request, &Target::db(db)).await {
            Ok(_) => Ok(true),
            Err(StoreError::DbNotFound(_) | StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn db_list(&self) -> StoreResult<Vec<String>> {
        let target = Target { db: "", what: "_all_dbs".into() };
        let response = send(self.request(Method::GET, "/_all_dbs"), &target).await?;
        let raw: Vec<String> = json_body(response, &target).await?;
        let mut names: Vec<String> = raw.iter().map(|name| encoded_db_name(name)).collect();
        names.sort();
        Ok(names)
    }

    async fn get(&self, db: &str, id: &str) -> StoreResult<Doc> {
        let target = Target::doc(db, id);
        let response = send(self.request(Method::GET, &Self::doc_path(db, id)?), &target).await?;
        json_body(response, &target).await
    }

    async fn save(&self, db: &str, mut doc: Doc) -> StoreResult<Doc> {
        let id = match doc.get("_id") {
            None => kz_core::ids::new_id(),
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(other) => return Err(StoreError::Invalid(format!("{db}: bad _id {other}"))),
        };
        doc.insert("_id".into(), Value::String(id.clone()));
        let target = Target::doc(db, &id);
        // CouchDB drops the attachments an update does not list: carry the current stubs over, whatever
        // the caller's copy says.
        doc.remove("_attachments");
        if let Some(rev) = doc.get("_rev").and_then(Value::as_str).map(str::to_string) {
            match self.get(db, &id).await {
                Ok(mut current) => {
                    if current.get("_rev").and_then(Value::as_str) != Some(rev.as_str()) {
                        return Err(StoreError::Conflict(format!("{db}/{id}: document update conflict")));
                    }
                    if let Some(stubs) = current.remove("_attachments") {
                        doc.insert("_attachments".into(), stubs);
                    }
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let request = self.request(Method::PUT, &Self::doc_path(db, &id)?).json(&doc);
        let created: DocumentCreatedDetails = json_body(send(request, &target).await?, &target).await?;
        doc.insert("_rev".into(), Value::String(created.rev));
        Ok(doc)
    }

    async fn delete(&self, db: &str, id: &str, rev: &str) -> StoreResult<String> {
        let target = Target::doc(db, id);
        let request = self.request(Method::DELETE, &Self::doc_path(db, id)?).query(&[("rev", rev)]);
        let deleted: DocumentCreatedDetails = json_body(send(request, &target).await?, &target).await?;
        Ok(deleted.rev)
    }

    async fn bulk_save(&self, db: &str, mut docs: Vec<Doc>) -> StoreResult<Vec<BulkResult>> {
        let target = Target::db(db);
        let mut updated = Vec::new();
        for doc in &mut docs {
            let id = match doc.get("_id") {
                None => kz_core::ids::new_id(),
                Some(Value::String(id)) if !id.is_empty() => id.clone(),
                Some(other) => return Err(StoreError::Invalid(format!("{db}: bad _id {other}"))),
            };
            doc.insert("_id".into(), Value::String(id.clone()));
            doc.remove("_attachments");
            if doc.contains_key("_rev") {
                updated.push(id);
            }
        }
        if !updated.is_empty() {
            let mut stubs = self.current_stubs(db, &updated).await?;
            for doc in &mut docs {
                if doc.contains_key("_rev")
                    && let Some(stub) = doc.get("_id").and_then(Value::as_str).and_then(|id| stubs.remove(id))
                {
                    doc.insert("_attachments".into(), stub);
                }
            }
        }
        let path = format!("{}/_bulk_docs", Self::db_path(db)?);
        let request = self.request(Method::POST, &path).json(&json!({ "docs": docs }));
        let results: Vec<RawBulkResult> = json_body(send(request, &target).await?, &target).await?;
        if results.len() != docs.len() {
            return Err(StoreError::Unavailable(format!(
                "{db}: _bulk_docs answered {} results for {} documents",
                results.len(),
                docs.len()
            )));
        }
        // CouchDB answers in request order, but the answer carries each id and some servers put failures first:
        // pair results with documents by id (every document has one by now), in request order.
        let mut by_id: std::collections::HashMap<String, VecDeque<RawBulkResult>> = std::collections::HashMap::new();
        let mut unnamed = VecDeque::new();
        for result in results {
            match result.id.clone() {
                Some(id) => by_id.entry(id).or_default().push_back(result),
                None => unnamed.push_back(result),
            }
        }
        let mut out = Vec::with_capacity(docs.len());
        for doc in &docs {
            let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
            let result = by_id.get_mut(&id).and_then(VecDeque::pop_front).or_else(|| unnamed.pop_front());
            let Some(result) = result else {
                return Err(StoreError::Unavailable(format!("{db}: _bulk_docs gave no result for {id}")));
            };
            out.push(match (result.error, result.rev) {
                (None, Some(rev)) => BulkResult::Saved { id, rev },
                (error, _) => {
                    let error = error.unwrap_or_else(|| "unknown_error".into());
                    BulkResult::Failed { id, error: bulk_error_kind(&error), reason: result.reason.unwrap_or(error) }
                }
            });
        }
        Ok(out)
    }

    async fn put_attachment(
        &self,
        db: &str,
        id: &str,
        name: &str,
        content_type: &str,
        data: Bytes,
        rev: Option<&str>,
    ) -> StoreResult<String> {
        let target = Target::doc(db, &format!("{id}/{name}"));
        let content_type = HeaderValue::from_str(content_type)
            .map_err(|_| StoreError::Invalid(format!("{}: bad content type {content_type:?}", target.what)))?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type);
        let mut request = self.request(Method::PUT, &Self::attachment_path(db, id, name)?).headers(headers).body(data);
        if let Some(rev) = rev {
            request = request.query(&[("rev", rev)]);
        }
        let created: DocumentCreatedDetails = json_body(send(request, &target).await?, &target).await?;
        Ok(created.rev)
    }

    async fn save_with_attachments(&self, db: &str, mut doc: Doc, attachments: Vec<NewAttachment>) -> StoreResult<Doc> {
        check_new_attachments(&attachments)?;
        let id = match doc.get("_id") {
            None => kz_core::ids::new_id(),
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(other) => return Err(StoreError::Invalid(format!("{db}: bad _id {other}"))),
        };
        if doc.get("_deleted") == Some(&Value::Bool(true)) {
            return Err(StoreError::Invalid(format!("{db}/{id}: a deleted document cannot take attachments")));
        }
        doc.insert("_id".into(), Value::String(id.clone()));
        let target = Target::doc(db, &id);
        // As in `save`: the current stubs are carried over (CouchDB drops attachments an update does not list),
        // and a stale rev is refused before anything is sent.
        doc.remove("_attachments");
        let mut stubs = Map::new();
        if let Some(rev) = doc.get("_rev").and_then(Value::as_str).map(str::to_string) {
            match self.get(db, &id).await {
                Ok(mut current) => {
                    if current.get("_rev").and_then(Value::as_str) != Some(rev.as_str()) {
                        return Err(StoreError::Conflict(format!("{db}/{id}: document update conflict")));
                    }
                    if let Some(Value::Object(current_stubs)) = current.remove("_attachments") {
                        stubs = current_stubs;
                    }
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // The new attachments go inline (base64) in the same PUT: CouchDB writes them with the document or not
        // at all. Encoding megabytes is CPU work: it runs off the async threads.
        let added: Vec<(String, String, usize)> =
            attachments.iter().map(|a| (a.name.clone(), a.content_type.clone(), a.data.len())).collect();
        let carried = stubs.clone();
        let (body, doc) = tokio::task::spawn_blocking(move || encode_inline(doc, carried, attachments))
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: encoding attachments failed: {e}", target.what)))??;
        let request = self
            .request(Method::PUT, &Self::doc_path(db, &id)?)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        let created: DocumentCreatedDetails = json_body(send(request, &target).await?, &target).await?;
        let revpos = created.rev.split_once('-').and_then(|(n, _)| n.parse::<u64>().ok()).unwrap_or(1);
        let mut doc = doc;
        for (name, content_type, length) in added {
            stubs.insert(name, json!({"content_type": content_type, "revpos": revpos, "length": length, "stub": true}));
        }
        doc.insert("_rev".into(), Value::String(created.rev));
        if !stubs.is_empty() {
            doc.insert("_attachments".into(), Value::Object(stubs));
        }
        Ok(doc)
    }

    async fn get_attachment(&self, db: &str, id: &str, name: &str) -> StoreResult<Attachment> {
        let target = Target::doc(db, &format!("{id}/{name}"));
        let response = send(self.request(Method::GET, &Self::attachment_path(db, id, name)?), &target).await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let data = response.bytes().await.map_err(|e| transport_error(&e, &target))?;
        Ok(Attachment { content_type, data })
    }

    async fn delete_attachment(&self, db: &str, id: &str, name: &str, rev: &str) -> StoreResult<String> {
        let target = Target::doc(db, &format!("{id}/{name}"));
        let request = self.request(Method::DELETE, &Self::attachment_path(db, id, name)?).query(&[("rev", rev)]);
        let deleted: DocumentCreatedDetails = json_body(send(request, &target).await?, &target).await?;
        Ok(deleted.rev)
    }

    async fn query(&self, db: &str, view: &str, opts: &ViewOptions) -> StoreResult<Vec<ViewRow>> {
        let (design, name) = view
            .split_once('/')
            .filter(|(d, v)| !d.is_empty() && !v.is_empty())
            .ok_or_else(|| StoreError::Invalid(format!("{db}: bad view name {view:?}: expected design/view")))?;
        let target = Target::doc(db, &format!("_design/{design}/_view/{name}"));
        let path = format!("/{}/_design/{}/_view/{}", db_segment(db)?, name_segment(design)?, name_segment(name)?);
        let params = view_params(opts);
        let request = match &opts.keys {
            Some(keys) => self.request(Method::POST, &path).query(&params).json(&json!({ "keys": keys })),
            None => self.request(Method::GET, &path).query(&params),
        };
        let rows: RawRows = json_body(send(request, &target).await?, &target).await?;
        Ok(rows
            .rows
            .into_iter()
            .filter(|row| row.error.is_none())
            .map(|row| ViewRow {
                id: row.id,
                key: row.key,
                value: row.value,
                doc: match row.doc {
                    Some(Value::Object(doc)) => Some(doc),
                    _ => None,
                },
            })
            .collect())
    }

    async fn changes(&self, db: &str, since: Option<&str>, limit: Option<usize>) -> StoreResult<Changes> {
        let target = Target::db(db);
        let path = format!("{}/_changes", Self::db_path(db)?);
        let mut params = vec![("since", since.unwrap_or("0").to_string())];
        if let Some(limit) = limit {
            params.push(("limit", limit.to_string()));
        }
        let request = self.request(Method::GET, &path).query(&params);
        let raw: RawChanges = json_body(send(request, &target).await?, &target).await?;
        Ok(Changes { results: raw.results.into_iter().map(change_of).collect(), last_seq: seq_string(&raw.last_seq) })
    }

    async fn changes_live(
        &self,
        db: &str,
        since: Option<&str>,
    ) -> StoreResult<BoxStream<'static, StoreResult<Change>>> {
        // Resolve "now" before returning, so every change made after this call is in the stream; this also
        // reports a missing database at once.
        let target = Target::db(db);
        let info: RawDbInfo =
            json_body(send(self.request(Method::GET, &Self::db_path(db)?), &target).await?, &target).await?;
        let since = match since {
            Some(since) => since.to_string(),
            None => seq_string(&info.update_seq),
        };
        let (tx, rx) = mpsc::channel(FEED_BUFFER);
        tokio::spawn(run_feed(self.clone(), db.to_string(), since, tx));
        Ok(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, reason: &str) -> CouchResponse {
        CouchResponse { ok: None, error: Some(error.into()), reason: Some(reason.into()) }
    }

    #[test]
    fn statuses_map_to_store_errors() {
        let t = Target::doc("faxes", "job1");
        let e = |status: u16, b: &CouchResponse| status_error(StatusCode::from_u16(status).unwrap(), b, &t);
        assert!(matches!(
            e(404, &body("not_found", "Database does not exist.")),
            StoreError::DbNotFound(db) if db == "faxes"
        ));
        assert!(matches!(e(404, &body("not_found", "deleted")), StoreError::NotFound(m) if m.contains("faxes/job1")));
        assert!(matches!(e(404, &body("not_found", "missing")), StoreError::NotFound(_)));
        assert!(matches!(e(409, &body("conflict", "Document update conflict.")), StoreError::Conflict(_)));
        assert!(matches!(e(412, &body("file_exists", "The database could not be created")), StoreError::Conflict(_)));
        assert!(matches!(e(400, &body("bad_request", "Invalid rev format")), StoreError::Invalid(_)));
        assert!(matches!(e(403, &body("forbidden", "no")), StoreError::Invalid(_)));
        assert!(matches!(e(415, &body("bad_content_type", "json")), StoreError::Invalid(_)));
        assert!(matches!(e(500, &body("error", "badarg")), StoreError::Unavailable(_)));
        assert!(matches!(e(503, &body("", "")), StoreError::Unavailable(_)));
        assert!(matches!(e(401, &body("unauthorized", "Name or password is incorrect.")), StoreError::Unavailable(_)));
        let none = CouchResponse { ok: None, error: None, reason: None };
        assert!(matches!(e(404, &none), StoreError::NotFound(m) if m == "faxes/job1 (http 404)"));
        match e(409, &body("conflict", "Document update conflict.")) {
            StoreError::Conflict(m) => {
                assert_eq!(m, "faxes/job1: conflict: Document update conflict.")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bulk_errors_have_kinds() {
        assert_eq!(bulk_error_kind("conflict"), StoreErrorKind::Conflict);
        assert_eq!(bulk_error_kind("forbidden"), StoreErrorKind::Invalid);
        assert_eq!(bulk_error_kind("not_found"), StoreErrorKind::NotFound);
        assert_eq!(bulk_error_kind("unknown_error"), StoreErrorKind::Unavailable);
    }

    #[test]
    fn server_urls_split_into_origin_path_and_credentials() {
        let u = parse_server_url("http://admin:s%40cret@127.0.0.1:5984/").unwrap();
        assert_eq!(u.origin, "http://127.0.0.1:5984");
        assert_eq!(u.base_path, "");
        assert_eq!(u.username.as_deref(), Some("admin"));
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        let u = parse_server_url("http://couch.example:80/db-proxy/").unwrap();
        assert_eq!(u.origin, "http://couch.example");
        assert_eq!(u.base_path, "/db-proxy");
        assert_eq!(u.username, None);
        let u = parse_server_url("http://[::1]:5984").unwrap();
        assert_eq!(u.origin, "http://[::1]:5984");
        assert!(matches!(parse_server_url("https://h:6984"), Err(StoreError::Invalid(_))));
        assert!(matches!(parse_server_url("mailto:a@b"), Err(StoreError::Invalid(_))));
        assert!(matches!(parse_server_url("not a url"), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn database_names_stay_encoded_in_paths() {
        let encoded = "account%2Fab%2Fcd%2Fef0123456789abcdef0123456789-202401";
        assert_eq!(db_segment(encoded).unwrap(), encoded);
        assert_eq!(db_segment("account/ab/cd/ef01").unwrap(), "account%2Fab%2Fcd%2Fef01");
        assert_eq!(db_segment("account%2fab%2fcd%2fef01").unwrap(), "account%2Fab%2Fcd%2Fef01");
        assert_eq!(db_segment("faxes").unwrap(), "faxes");
        assert_eq!(db_segment("a$(b)+c").unwrap(), "a%24%28b%29%2Bc");
        assert_eq!(db_segment("_users").unwrap(), "_users");
        for bad in ["", "Faxes", "1db", "_all_dbs", "a b", "a%zz", "a?b", "a#b", "a.b"] {
            assert!(matches!(db_segment(bad), Err(StoreError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(encoded_db_name("account/ab/cd/ef01-202401"), "account%2Fab%2Fcd%2Fef01-202401");
        assert_eq!(encoded_db_name("faxes"), "faxes");
    }

    #[test]
    fn document_paths_escape_ids_but_keep_design_prefixes() {
        assert_eq!(CouchStore::doc_path("faxes", "202401-abc").unwrap(), "/faxes/202401-abc");
        assert_eq!(CouchStore::doc_path("faxes", "_design/faxes").unwrap(), "/faxes/_design/faxes");
        assert_eq!(CouchStore::doc_path("faxes", "_local/x y").unwrap(), "/faxes/_local/x%20y");
        assert_eq!(CouchStore::doc_path("faxes", "a/b?c#d").unwrap(), "/faxes/a%2Fb%3Fc%23d");
        assert_eq!(
            CouchStore::attachment_path("account%2Fab%2Fcd%2Fef", "job", "fax 1.tiff").unwrap(),
            "/account%2Fab%2Fcd%2Fef/job/fax%201.tiff"
        );
        assert!(matches!(CouchStore::doc_path("faxes", ""), Err(StoreError::Invalid(_))));
        assert!(matches!(CouchStore::doc_path("faxes", "_design/"), Err(StoreError::Invalid(_))));
        assert!(matches!(CouchStore::attachment_path("faxes", "a", ""), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn view_options_become_couchdb_parameters() {
        assert!(view_params(&ViewOptions::default()).is_empty());
        let opts = ViewOptions {
            key: Some(json!(["acc", "pending"])),
            startkey: Some(json!("a")),
            endkey: Some(json!(["b", {}])),
            inclusive_end: Some(false),
            limit: Some(5),
            skip: Some(2),
            descending: true,
            include_docs: true,
            reduce: Some(false),
            group: true,
            group_level: Some(1),
            keys: Some(vec![json!(1)]),
        };
        let params: Vec<(&str, String)> = view_params(&opts);
        let expected: Vec<(&str, String)> = vec![
            ("key", r#"["acc","pending"]"#.into()),
            ("startkey", r#""a""#.into()),
            ("endkey", r#"["b",{}]"#.into()),
            ("inclusive_end", "false".into()),
            ("limit", "5".into()),
            ("skip", "2".into()),
            ("descending", "true".into()),
            ("include_docs", "true".into()),
            ("reduce", "false".into()),
            ("group", "true".into()),
            ("group_level", "1".into()),
        ];
        assert_eq!(params, expected);
    }

    #[test]
    fn continuous_feed_lines_parse() {
        let line = br#"{"seq":"3-g1AAAAB","id":"job1","changes":[{"rev":"2-abc"}],"deleted":true}"#;
        let change = Change { seq: "3-g1AAAAB".into(), id: "job1".into(), rev: "2-abc".into(), deleted: true };
        assert_eq!(parse_feed_line(line).unwrap(), Some(FeedLine::Change(change)));
        let line = b"{\"seq\":7,\"id\":\"a\",\"changes\":[{\"rev\":\"1-x\"}]}\n";
        let change = Change { seq: "7".into(), id: "a".into(), rev: "1-x".into(), deleted: false };
        assert_eq!(parse_feed_line(line).unwrap(), Some(FeedLine::Change(change)));
        assert_eq!(
            parse_feed_line(br#"{"last_seq":"9-xyz","pending":0}"#).unwrap(),
            Some(FeedLine::End("9-xyz".into()))
        );
        assert_eq!(parse_feed_line(b"\n").unwrap(), None);
        assert_eq!(parse_feed_line(b"").unwrap(), None);
        assert!(parse_feed_line(br#"{"error":"not_found","reason":"missing"}"#).is_err());
    }

    #[test]
    fn sequences_are_strings() {
        assert_eq!(seq_string(&json!("12-g1AAAA")), "12-g1AAAA");
        assert_eq!(seq_string(&json!(42)), "42");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_and_never_panics() {
        // A port that was just free: nothing listens there.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}");
        assert!(matches!(CouchStore::connect(&url).await, Err(StoreError::Unavailable(_))));
        let store = CouchStore::new(&url).unwrap();
        assert!(
            matches!(store.get("faxes", "x").await, Err(StoreError::Unavailable(m)) if m.contains("cannot connect"))
        );
        assert!(matches!(store.db_list().await, Err(StoreError::Unavailable(_))));
        assert!(matches!(store.changes_live("faxes", None).await, Err(StoreError::Unavailable(_))));
        assert!(matches!(store.get("Bad Name", "x").await, Err(StoreError::Invalid(_))));
    }
}
