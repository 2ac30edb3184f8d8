//! Checks and shapes documents the way CouchDB does: database names, ids, revisions, special fields.
//!
//! Ports the request-side rules of `couch_db` / `couch_doc` (`validate_dbname`, `validate_docid`,
//! `transfer_fields`) and the revision scheme `N-<md5>`; the embedded writer applies them in its transaction.

use serde_json::{Map, Value};

use super::digest::{self, Md5};
use crate::{Doc, StoreError, StoreResult};

/// CouchDB's longest database name.
const MAX_DB_NAME: usize = 238;

/// The canonical (encoded) form of a database name, after CouchDB's validation of its raw form.
///
/// Kazoo stores account databases as `account%2Fxx%2Fyy%2Frest`; the raw name `account/xx/yy/rest` is accepted
/// too and means the same database.
pub fn db_name(name: &str) -> StoreResult<String> {
    let raw = name.replace("%2F", "/").replace("%2f", "/");
    let mut bytes = raw.bytes();
    let valid_first = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let valid_rest = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_$()+/-".contains(&b));
    if !valid_first || !valid_rest || raw.len() > MAX_DB_NAME {
        return Err(StoreError::Invalid(format!(
            "illegal database name {name:?}: it must start with a lowercase letter and hold only a-z, 0-9, _$()+-/"
        )));
    }
    Ok(raw.replace('/', "%2F"))
}

/// Checks a document id: not empty, and only `_design/` and `_local/` ids may start with `_`.
pub fn check_id(id: &str) -> StoreResult<()> {
    if id.is_empty() {
        return Err(StoreError::Invalid("document id must not be empty".into()));
    }
    if id.starts_with('_') && !is_design(id) && !is_local(id) {
        return Err(StoreError::Invalid(format!("only reserved document ids may start with underscore: {id}")));
    }
    Ok(())
}

pub fn is_design(id: &str) -> bool {
    id.starts_with("_design/") && id.len() > "_design/".len()
}

pub fn is_local(id: &str) -> bool {
    id.starts_with("_local/")
}

/// The generation (`N` of `N-hash`) of a well-formed revision.
pub fn rev_generation(rev: &str) -> StoreResult<u64> {
    let invalid = || StoreError::Invalid(format!("invalid rev format: {rev:?}"));
    let (n, hash) = rev.split_once('-').ok_or_else(invalid)?;
    if hash.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    n.parse::<u64>().map_err(|_| invalid()).and_then(|n| if n == 0 { Err(invalid()) } else { Ok(n) })
}

/// The next revision after `prev`: generation + 1 and an MD5 over the previous revision and the new content.
pub fn next_rev(prev: Option<&str>, deleted: bool, body_md5: &[u8; 16], atts: Option<&str>) -> String {
    let generation = prev.and_then(|p| rev_generation(p).ok()).unwrap_or(0) + 1;
    let mut m = Md5::new();
    m.update(prev.unwrap_or("").as_bytes());
    m.update(&[u8::from(deleted)]);
    m.update(body_md5);
    m.update(atts.unwrap_or("").as_bytes());
    format!("{generation}-{}", digest::hex(&m.finish()))
}

/// A document ready for the writer, shaped in the caller's task so the writer thread only decides and stores.
#[derive(Debug)]
pub struct Prepared {
    pub id: String,
    pub rev: Option<String>,
    pub deleted: bool,
    /// `_id` followed by the document's own fields: what the view twins see and what `save` returns.
    pub doc: Doc,
    /// The own fields as stored.
    pub body: String,
    pub body_md5: [u8; 16],
}

/// Special fields a client may send; the store keeps none of them but `_id`, `_rev`, `_deleted`.
const ACCEPTED_SPECIAL: &[&str] = &[
    "_id",
    "_rev",
    "_deleted",
    "_attachments",
    "_conflicts",
    "_deleted_conflicts",
    "_revisions",
    "_revs_info",
    "_local_seq",
];

/// Checks and splits a document given to `save`: `_id` (generated if missing), `_rev`, `_deleted`, own fields.
pub fn prepare(doc: Doc) -> StoreResult<Prepared> {
    let mut id = None;
    let mut rev = None;
    let mut deleted = false;
    let mut fields = Map::with_capacity(doc.len());
    for (k, v) in doc {
        if !k.starts_with('_') {
            fields.insert(k, v);
            continue;
        }
        match (k.as_str(), v) {
            ("_id", Value::String(s)) => id = Some(s),
            ("_id", _) => return Err(StoreError::Invalid("document id must be a string".into())),
            ("_rev", Value::String(s)) => {
                rev_generation(&s)?;
                rev = Some(s);
            }
            ("_rev", Value::Null) => {}
            ("_rev", _) => return Err(StoreError::Invalid("invalid rev format".into())),
            ("_deleted", v) => deleted = v == Value::Bool(true),
            (k, _) if ACCEPTED_SPECIAL.contains(&k) => {}
            (k, _) => return Err(StoreError::Invalid(format!("bad special document member: {k}"))),
        }
    }
    let id = id.unwrap_or_else(kz_core::ids::new_id);
    check_id(&id)?;
    if is_design(&id) && !deleted {
        check_design(&fields)?;
    }
    let body =
        serde_json::to_string(&fields).map_err(|e| StoreError::Invalid(format!("unserialisable document: {e}")))?;
    let body_md5 = digest::md5(body.as_bytes());
    let mut doc = Map::with_capacity(fields.len() + 3);
    doc.insert("_id".into(), Value::String(id.clone()));
    doc.extend(fields);
    Ok(Prepared { id, rev, deleted, doc, body, body_md5 })
}

/// CouchDB's design document checks that matter here: `views` maps names to `{map: string, reduce?: string}`.
fn check_design(fields: &Doc) -> StoreResult<()> {
    let Some(views) = fields.get("views") else { return Ok(()) };
    let views = views.as_object().ok_or_else(|| StoreError::Invalid("`views` must be an object".into()))?;
    for (name, def) in views {
        let invalid = |what: &str| StoreError::Invalid(format!("invalid design doc: view {name} {what}"));
        let def = def.as_object().ok_or_else(|| invalid("must be an object"))?;
        if !def.get("map").is_some_and(Value::is_string) {
            return Err(invalid("needs a map function"));
        }
        if def.get("reduce").is_some_and(|r| !r.is_string()) {
            return Err(invalid("has a reduce that is not a string"));
        }
    }
    Ok(())
}

/// A stored document as CouchDB returns it: `_id`, `_rev`, own fields, then `_deleted` and `_attachments`.
pub fn assemble(id: &str, rev: &str, deleted: bool, body: &str, atts: Option<&str>) -> StoreResult<Doc> {
    let mut doc: Doc = serde_json::from_str(body).map_err(|e| corrupt(id, e))?;
    finish(&mut doc, id, rev, deleted, atts.map(|a| serde_json::from_str(a).map_err(|e| corrupt(id, e))).transpose()?);
    Ok(doc)
}

/// Completes a document holding its own fields (and maybe `_id` first) with its metadata, in CouchDB's order.
pub fn finish(doc: &mut Doc, id: &str, rev: &str, deleted: bool, atts: Option<Value>) {
    if doc.get("_id").is_none() {
        doc.shift_insert(0, "_id".into(), Value::String(id.to_string()));
    }
    doc.shift_insert(1, "_rev".into(), Value::String(rev.to_string()));
    if deleted {
        doc.insert("_deleted".into(), Value::Bool(true));
    }
    if let Some(atts) = atts {
        doc.insert("_attachments".into(), atts);
    }
}

fn corrupt(id: &str, e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("stored document {id} is unreadable: {e}"))
}

/// An attachment stub as CouchDB lists it in `_attachments`.
pub fn attachment_stub(content_type: &str, revpos: u64, digest: &str, length: usize) -> Value {
    let mut stub = Map::new();
    stub.insert("content_type".into(), Value::from(content_type));
    stub.insert("revpos".into(), Value::from(revpos));
    stub.insert("digest".into(), Value::from(digest));
    stub.insert("length".into(), Value::from(length));
    stub.insert("stub".into(), Value::Bool(true));
    Value::Object(stub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Doc {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn db_names_follow_couchdb_rules_and_keep_kazoo_encoding() {
        assert_eq!(db_name("faxes").ok().as_deref(), Some("faxes"));
        let raw = "account/01/23/456789abcdef0123456789abcdef-202401";
        let encoded = "account%2F01%2F23%2F456789abcdef0123456789abcdef-202401";
        assert_eq!(db_name(raw).ok().as_deref(), Some(encoded));
        assert_eq!(db_name(encoded).ok().as_deref(), Some(encoded));
        assert_eq!(db_name("a_$()+-/9").ok().as_deref(), Some("a_$()+-%2F9"));
        for bad in ["", "Faxes", "1db", "_users", "db name", "db%20x", "dé", &"a".repeat(239)] {
            assert!(matches!(db_name(bad), Err(StoreError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn revisions_increment_their_generation() {
        let md5 = digest::md5(b"{}");
        let r1 = next_rev(None, false, &md5, None);
        assert!(r1.starts_with("1-") && r1.len() == 34, "{r1}");
        let r2 = next_rev(Some(&r1), false, &md5, None);
        assert!(r2.starts_with("2-"), "{r2}");
        assert_ne!(r1[2..], r2[2..]);
        assert_eq!(rev_generation(&r2).ok(), Some(2));
        let r10 = next_rev(Some("9-abc"), true, &md5, None);
        assert!(r10.starts_with("10-"), "{r10}");
        for bad in ["", "1", "x-abc", "0-abc", "-abc", "1-"] {
            assert!(rev_generation(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prepare_splits_special_fields_and_keeps_order() {
        let p = prepare(doc(json!({"z": 1, "_id": "x", "a": 2, "_rev": "1-abc", "_attachments": {"f": {}}, "m": 3})));
        let p = p.expect("valid");
        assert_eq!(p.id, "x");
        assert_eq!(p.rev.as_deref(), Some("1-abc"));
        assert!(!p.deleted);
        assert_eq!(p.body, r#"{"z":1,"a":2,"m":3}"#);
        assert_eq!(serde_json::to_string(&p.doc).unwrap_or_default(), r#"{"_id":"x","z":1,"a":2,"m":3}"#);
        let generated = prepare(Map::new()).expect("valid");
        assert!(kz_core::ids::is_id(&generated.id));
        assert!(prepare(doc(json!({"_id": "x", "_deleted": true}))).expect("valid").deleted);
    }

    #[test]
    fn prepare_refuses_what_couchdb_refuses() {
        for bad in [
            json!({"_id": 5}),
            json!({"_id": ""}),
            json!({"_id": "_users"}),
            json!({"_rev": "abc"}),
            json!({"_foo": 1}),
            json!({"_id": "_design/d", "views": {"v": {"reduce": "_count"}}}),
            json!({"_id": "_design/d", "views": []}),
        ] {
            assert!(matches!(prepare(doc(bad.clone())), Err(StoreError::Invalid(_))), "{bad}");
        }
        assert!(prepare(doc(json!({"_id": "_local/x"}))).is_ok());
        assert!(prepare(doc(json!({"_id": "_design/d", "views": {"v": {"map": "function(doc) {}"}}}))).is_ok());
    }

    #[test]
    fn assemble_orders_metadata_like_couchdb() {
        let d = assemble("x", "2-ab", false, r#"{"b":1,"a":2}"#, Some(r#"{"f":{"stub":true}}"#)).expect("ok");
        assert_eq!(
            serde_json::to_string(&d).unwrap_or_default(),
            r#"{"_id":"x","_rev":"2-ab","b":1,"a":2,"_attachments":{"f":{"stub":true}}}"#
        );
    }
}
