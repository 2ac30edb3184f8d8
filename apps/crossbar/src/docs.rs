//! Reads and shapes Kazoo documents: private keys, what clients see, type checks and merge patches.
//!
//! Ports the parts of `kz_doc` and `kz_json` crossbar relies on: a key starting with `_` or `pvt_` is private
//! (never shown, never taken from a request), a soft-deleted document (`pvt_deleted: true`) counts as absent,
//! and `PATCH` merges a request into a document.

use kz_data::{Doc, Store, StoreError};
use serde_json::{Map, Value};

/// The fields of a document a client may see and send: all but `_*` and `pvt_*`.
pub fn public_fields(doc: &Doc) -> Map<String, Value> {
    doc.iter().filter(|(k, _)| !is_private_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Kazoo's `kz_doc:is_private_key/1`.
pub fn is_private_key(key: &str) -> bool {
    key.starts_with('_') || key.starts_with("pvt_")
}

/// The document is of this `pvt_type` and not soft-deleted.
pub fn live_of_type(doc: &Doc, pvt_type: &str) -> bool {
    doc.get("pvt_type").and_then(Value::as_str) == Some(pvt_type) && doc.get("pvt_deleted") != Some(&Value::Bool(true))
}

/// Merges `patch` into `doc` as a JSON merge patch (RFC 7386): objects merge key by key, `null` removes a key,
/// anything else replaces.
pub fn merge_into(doc: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (value, doc.get_mut(key)) {
            (Value::Null, _) => {
                doc.remove(key);
            }
            (Value::Object(p), Some(Value::Object(d))) => merge_into(d, p),
            (Value::Object(p), _) => {
                let mut fresh = Map::new();
                merge_into(&mut fresh, p);
                doc.insert(key.clone(), Value::Object(fresh));
            }
            (v, _) => {
                doc.insert(key.clone(), v.clone());
            }
        }
    }
}

/// Saves `copy` into `db` over whatever copy of the same `_id` is there (taking that copy's `_rev`), as the
/// global `faxes` and `accounts` databases keep copies of faxbox and account documents.
pub async fn write_copy(store: &dyn Store, db: &str, mut copy: Doc) -> Result<Doc, StoreError> {
    let id = copy.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
    copy.remove("_rev");
    match store.get(db, &id).await {
        Ok(existing) => {
            if let Some(rev) = existing.get("_rev") {
                copy.insert("_rev".into(), rev.clone());
            }
        }
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    store.save(db, copy).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_keys() {
        assert!(is_private_key("_rev"));
        assert!(is_private_key("pvt_tree"));
        assert!(!is_private_key("name"));
        let doc = json!({"_id": "x", "pvt_type": "user", "name": "n"}).as_object().cloned().unwrap_or_default();
        assert_eq!(Value::Object(public_fields(&doc)), json!({"name": "n"}));
        assert!(live_of_type(&doc, "user"));
        assert!(!live_of_type(&doc, "faxbox"));
        let mut gone = doc.clone();
        gone.insert("pvt_deleted".into(), Value::Bool(true));
        assert!(!live_of_type(&gone, "user"));
    }

    #[test]
    fn merge_patch_semantics() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4}).as_object().cloned().unwrap_or_default();
        let patch = json!({"a": 9, "b": {"c": null, "x": {"y": null, "z": 1}}, "e": null, "f": [1]})
            .as_object()
            .cloned()
            .unwrap_or_default();
        merge_into(&mut doc, &patch);
        assert_eq!(Value::Object(doc), json!({"a": 9, "b": {"d": 3, "x": {"z": 1}}, "f": [1]}));
    }
}
