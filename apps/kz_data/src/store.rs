//! Defines the `Store` trait: the document-store seam every app uses.
//!
//! It ports the contract of Kazoo's `kz_datamgr` over CouchDB 3.x: databases, JSON documents with `_rev`
//! conflict detection, attachments, views addressed as `design/view`, and a changes feed. Two backends honour
//! it: [`crate::couch::CouchStore`] (Apache CouchDB 3.x over HTTP) and [`crate::embedded::EmbeddedStore`]
//! (SQLite). One conformance suite (`tests/tests/store_conformance.rs`) runs the same bodies against both.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::{Map, Value};

/// A JSON document as stored: always an object, with `_id` and `_rev` once saved.
pub type Doc = Map<String, Value>;

/// Errors a store operation can end with. Callers match on these to choose an outcome at their edge
/// (for example `Unavailable` becomes SMTP `451 4.3.0` or HTTP 503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database does not exist.
    #[error("database {0} not found")]
    DbNotFound(String),
    /// The document (or attachment, or design document of a view) does not exist or is deleted.
    #[error("not found: {0}")]
    NotFound(String),
    /// The `_rev` given does not match the current revision (or a document with that id already exists and no
    /// `_rev` was given).
    #[error("document update conflict: {0}")]
    Conflict(String),
    /// The request was refused as malformed: a bad database name, a non-object document, an unknown view...
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The store cannot be reached or failed to persist: the operation may be retried later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of one document of a bulk save, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkResult {
    /// Saved with this id and new revision.
    Saved { id: String, rev: String },
    /// Refused for this document only (a conflict, typically); the other documents are unaffected.
    Failed { id: String, error: StoreErrorKind, reason: String },
}

/// The kind of a [`StoreError`], for per-document bulk results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    NotFound,
    Conflict,
    Invalid,
    Unavailable,
}

impl StoreError {
    /// The kind of this error.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::DbNotFound(_) | StoreError::NotFound(_) => StoreErrorKind::NotFound,
            StoreError::Conflict(_) => StoreErrorKind::Conflict,
            StoreError::Invalid(_) => StoreErrorKind::Invalid,
            StoreError::Unavailable(_) => StoreErrorKind::Unavailable,
        }
    }
}

/// Checks the names of attachments given to [`Store::save_with_attachments`]: not empty, not reserved (a leading
/// `_`), no name twice.
pub fn check_new_attachments(attachments: &[NewAttachment]) -> StoreResult<()> {
    let mut seen = std::collections::HashSet::with_capacity(attachments.len());
    for att in attachments {
        if att.name.is_empty() || att.name.starts_with('_') {
            return Err(StoreError::Invalid(format!(
                "attachment name {:?} must not be empty or start with _",
                att.name
            )));
        }
        if !seen.insert(att.name.as_str()) {
            return Err(StoreError::Invalid(format!("attachment {:?} given twice", att.name)));
        }
    }
    Ok(())
}

/// An attachment's bytes and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub content_type: String,
    pub data: Bytes,
}

/// An attachment to store with its document in one write ([`Store::save_with_attachments`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    /// The attachment's name: not empty, not starting with `_`, unique within one call.
    pub name: String,
    pub content_type: String,
    pub data: Bytes,
}

/// Which rows of a view to return, with CouchDB's query parameters and meanings.
///
/// Keys are JSON values compared in CouchDB collation order (null < false < true < numbers < strings < arrays <
/// objects; strings in Unicode collation, lowercase before uppercase of the same letter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewOptions {
    /// Only rows with exactly this key.
    pub key: Option<Value>,
    /// Only rows with one of these keys, in the order given (rows of equal key in doc-id order).
    pub keys: Option<Vec<Value>>,
    /// First key of the range (after `descending` is applied: the highest key when descending).
    pub startkey: Option<Value>,
    /// Last key of the range, inclusive unless `inclusive_end` is false.
    pub endkey: Option<Value>,
    /// `inclusive_end=false` excludes rows equal to `endkey`. Default true.
    pub inclusive_end: Option<bool>,
    pub limit: Option<usize>,
    pub skip: Option<usize>,
    pub descending: bool,
    /// Attach each row's document as `doc` (map-only queries).
    pub include_docs: bool,
    /// `Some(false)` forces map rows from a view that has a reduce; default: reduce when the view has one.
    pub reduce: Option<bool>,
    /// Group reduce rows by full key.
    pub group: bool,
    /// Group reduce rows by the first N elements of array keys.
    pub group_level: Option<usize>,
}

impl ViewOptions {
    pub fn key(key: impl Into<Value>) -> Self {
        ViewOptions { key: Some(key.into()), ..Default::default() }
    }
    pub fn range(startkey: impl Into<Value>, endkey: impl Into<Value>) -> Self {
        ViewOptions { startkey: Some(startkey.into()), endkey: Some(endkey.into()), ..Default::default() }
    }
    pub fn include_docs(mut self) -> Self {
        self.include_docs = true;
        self
    }
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    pub fn reduce(mut self, reduce: bool) -> Self {
        self.reduce = Some(reduce);
        self
    }
    pub fn group_level(mut self, level: usize) -> Self {
        self.group_level = Some(level);
        self
    }
}

/// One row of a view result. Reduce rows have no `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRow {
    pub id: Option<String>,
    pub key: Value,
    pub value: Value,
    pub doc: Option<Doc>,
}

/// One entry of the changes feed: the latest change of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Opaque sequence token (CouchDB's are strings, the embedded store's are integers rendered as strings).
    pub seq: String,
    pub id: String,
    pub rev: String,
    pub deleted: bool,
}

/// A page of the changes feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub results: Vec<Change>,
    /// Pass this back as `since` to continue after these results.
    pub last_seq: String,
}

/// The document store. Every method is safe to call concurrently; writes are durable when they return `Ok`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and the health endpoint (`couchdb`, `embedded`).
    fn backend(&self) -> &'static str;

    /// Creates a database; `Ok(false)` when it already existed.
    async fn db_create(&self, db: &str) -> StoreResult<bool>;
    /// Deletes a database and everything in it; `Ok(false)` when it did not exist.
    async fn db_delete(&self, db: &str) -> StoreResult<bool>;
    async fn db_exists(&self, db: &str) -> StoreResult<bool>;
    /// All database names, sorted (names are in their encoded form, e.g. `account%2Fab%2Fcd%2Fef...`).
    async fn db_list(&self) -> StoreResult<Vec<String>>;

    /// Reads a document; `NotFound` when missing or deleted.
    async fn get(&self, db: &str, id: &str) -> StoreResult<Doc>;
    /// Creates or updates a document. Without `_id` one is generated (32 hex). An update must carry the
    /// current `_rev`, else `Conflict`. Returns the document as stored, with its new `_id` and `_rev`.
    /// Existing attachments are kept (their stubs in `_attachments` are ignored on input).
    async fn save(&self, db: &str, doc: Doc) -> StoreResult<Doc>;
    /// Deletes a document at revision `rev`; `Conflict` when `rev` is not current. Returns the tombstone rev.
    async fn delete(&self, db: &str, id: &str, rev: &str) -> StoreResult<String>;
    /// Saves many documents in one request; each has its own outcome, in order.
    async fn bulk_save(&self, db: &str, docs: Vec<Doc>) -> StoreResult<Vec<BulkResult>>;

    /// Adds or replaces an attachment; `rev` must be the document's current rev (or `None` to create a new
    /// document holding just this attachment). Returns the document's new rev.
    async fn put_attachment(
        &self,
        db: &str,
        id: &str,
        name: &str,
        content_type: &str,
        data: Bytes,
        rev: Option<&str>,
    ) -> StoreResult<String>;
    async fn get_attachment(&self, db: &str, id: &str, name: &str) -> StoreResult<Attachment>;
    /// Creates or updates a document and adds (or replaces) `attachments` in one atomic, durable write: either the
    /// document and every attachment are stored, or nothing is. The rules of [`Store::save`] apply to the
    /// document: an update must carry the current `_rev` and a stale or missing one is a `Conflict` that leaves
    /// the stored document and its attachments untouched. Attachments the document already has and that are not
    /// named here are kept. Returns the document as stored, with its new `_rev` and its `_attachments` stubs
    /// (each with `content_type`, `length`, `revpos` and `stub`).
    ///
    /// This is what lets a caller answer "accepted" only once a job and its documents are committed together
    /// (CouchDB: one request carrying the attachments inline; embedded: one transaction).
    async fn save_with_attachments(&self, db: &str, doc: Doc, attachments: Vec<NewAttachment>) -> StoreResult<Doc>;
    /// Removes an attachment at document revision `rev`. Returns the new rev.
    async fn delete_attachment(&self, db: &str, id: &str, name: &str, rev: &str) -> StoreResult<String>;

    /// Queries view `design/view` (design doc `_design/design`). `NotFound` when the design doc or view is
    /// missing.
    async fn query(&self, db: &str, view: &str, opts: &ViewOptions) -> StoreResult<Vec<ViewRow>>;

    /// Changes after `since` (`None`: from the beginning), at most `limit` of them.
    async fn changes(&self, db: &str, since: Option<&str>, limit: Option<usize>) -> StoreResult<Changes>;
    /// A live feed: every change after `since` (`None`: from now), as it happens, until the stream is dropped.
    /// Backends reconnect by themselves; an `Err` item reports a failure the stream could not recover from.
    async fn changes_live(&self, db: &str, since: Option<&str>)
    -> StoreResult<BoxStream<'static, StoreResult<Change>>>;
}
