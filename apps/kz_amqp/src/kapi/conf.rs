//! Defines the document-change messages (doc_created, doc_edited, doc_deleted) on the `configuration` exchange.
//!
//! This ports Kazoo 4.3's `kapi_conf` doc updates, which `kzs_publish` sends after each document save or
//! delete: `Event-Category=configuration`, `ID` and `Database` required, routed
//! `<Event-Name>.<Database>.<Type>.<ID>` by `kz_amqp_util:document_routing_key/4` (only the id is encoded; a
//! soft delete is published as `doc_deleted`). The fax app follows faxbox changes in the `faxes` database.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::{Check, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, Routed, encode_key_word};

/// The configuration exchange (topic).
pub const EXCHANGE: &str = "configuration";
/// `Event-Category` of doc updates.
pub const EVENT_CATEGORY: &str = "configuration";

/// The routing key (or binding) for a document change: `<action>.<db>.<type>.<id>`, `*` for any part; all
/// four `*` become `#`, as `kapi_conf` binds. `action` is an event name (`doc_edited`) or `*`.
pub fn binding(action: Option<&str>, db: Option<&str>, doc_type: Option<&str>, id: Option<&str>) -> String {
    let word = |v: Option<&str>| match v {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => "*".to_string(),
    };
    let key = format!(
        "{}.{}.{}.{}",
        word(action),
        word(db),
        word(doc_type),
        id.filter(|i| !i.is_empty()).map(encode_key_word).unwrap_or_else(|| "*".to_string())
    );
    if key == "*.*.*.*" { "#".to_string() } else { key }
}

/// Which change a [`DocChange`] reports.
pub trait DocChangeKind {
    const EVENT_NAME: &'static str;
    const API: &'static str;
}

/// A document was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Created;
/// A document was saved again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edited;
/// A document was deleted (or soft-deleted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted;

impl DocChangeKind for Created {
    const EVENT_NAME: &'static str = "doc_created";
    const API: &'static str = "conf.doc_created";
}
impl DocChangeKind for Edited {
    const EVENT_NAME: &'static str = "doc_edited";
    const API: &'static str = "conf.doc_edited";
}
impl DocChangeKind for Deleted {
    const EVENT_NAME: &'static str = "doc_deleted";
    const API: &'static str = "conf.doc_deleted";
}

/// `doc_created`.
pub type DocCreated = DocChange<Created>;
/// `doc_edited`.
pub type DocEdited = DocChange<Edited>;
/// `doc_deleted`.
pub type DocDeleted = DocChange<Deleted>;

/// A document change, as `kzs_publish` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct DocChange<K: DocChangeKind> {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    /// The document id.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// The database name (an account db in its encoded form, `account%2Fxx%2Fyy%2Frest`).
    #[serde(rename = "Database", default)]
    pub database: String,
    /// The document's `pvt_type`.
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub doc_type: Option<String>,
    #[serde(rename = "Rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(rename = "Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Gregorian seconds. Kazoo 4.3 fills this from `pvt_modified` (and `Date-Modified` from
    /// `pvt_created`): the two are swapped on its wire.
    #[serde(rename = "Date-Created", default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<Flex<i64>>,
    #[serde(rename = "Date-Modified", default, skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<Flex<i64>>,
    /// The document's public fields, when sent.
    #[serde(rename = "Doc", default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<JsonMap>,
    #[serde(rename = "Is-Soft-Deleted", default, skip_serializing_if = "Option::is_none")]
    pub is_soft_deleted: Option<Flex<bool>>,
    /// The cache that published the change.
    #[serde(rename = "Origin-Cache", default, skip_serializing_if = "Option::is_none")]
    pub origin_cache: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
    #[serde(skip)]
    kind: PhantomData<K>,
}

impl<K: DocChangeKind> DocChange<K> {
    /// A change of document `id` of type `doc_type` in `database`.
    pub fn new(node: &str, database: &str, doc_type: &str, id: &str) -> Self {
        DocChange {
            headers: DefaultHeaders::new(EVENT_CATEGORY, K::EVENT_NAME, node),
            id: id.to_string(),
            database: database.to_string(),
            doc_type: Some(doc_type.to_string()),
            rev: None,
            account_id: None,
            date_created: None,
            date_modified: None,
            doc: None,
            is_soft_deleted: None,
            origin_cache: None,
            extra: JsonMap::new(),
            kind: PhantomData,
        }
    }
}

impl<K: DocChangeKind> KapiMessage for DocChange<K> {
    const API: &'static str = K::API;
    const EVENT_CATEGORY: &'static str = EVENT_CATEGORY;
    const EVENT_NAME: &'static str = K::EVENT_NAME;
    const EXCHANGE: &'static str = EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        let c = Check::new(Self::API);
        c.required("ID", &self.id)?;
        c.required("Database", &self.database)?;
        c.boolean("Is-Soft-Deleted", &self.is_soft_deleted)
    }
}

impl<K: DocChangeKind> Routed for DocChange<K> {
    /// `<Event-Name>.<Database>.<Type>.<encoded ID>`. A change without `Type` is routed with the word
    /// `undefined`, as Kazoo's publisher does.
    fn routing_key(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            K::EVENT_NAME,
            self.database,
            self.doc_type.as_deref().unwrap_or("undefined"),
            encode_key_word(&self.id)
        )
    }
}
