//! Holds the fax app's CouchDB design documents and pushes them where they belong.
//!
//! Ports `kapps_maintenance:refresh_views` and `kz_datamgr:revise_docs_from_folder`: the design documents in
//! `priv/couchdb/<class>/` are compiled into the binary and saved into every database of that class, but only
//! when they differ from what is there (so views are not rebuilt for nothing).

use kz_core::db::{self, DbClass};
use serde_json::Value;

use crate::{Doc, Store, StoreError, StoreResult};

/// The design documents of each class, as (class, file name, JSON text).
const SOURCES: &[(DbClass, &str, &str)] = &[
    (DbClass::Faxes, "faxbox", include_str!("../../../priv/couchdb/faxes/faxbox.json")),
    (DbClass::Faxes, "faxes", include_str!("../../../priv/couchdb/faxes/faxes.json")),
    (DbClass::Accounts, "accounts", include_str!("../../../priv/couchdb/accounts/accounts.json")),
    (DbClass::Account, "faxbox", include_str!("../../../priv/couchdb/account/faxbox.json")),
    (DbClass::Account, "faxes", include_str!("../../../priv/couchdb/account/faxes.json")),
    (DbClass::Account, "users", include_str!("../../../priv/couchdb/account/users.json")),
    (DbClass::Account, "callflows", include_str!("../../../priv/couchdb/account/callflows.json")),
    (DbClass::Modb, "faxes", include_str!("../../../priv/couchdb/modb/faxes.json")),
];

/// The design documents a database of `class` gets (each with `_id` = `_design/<name>`).
pub fn design_docs(class: DbClass) -> Vec<Doc> {
    SOURCES.iter().filter(|(c, _, _)| *c == class).map(|(_, name, text)| parse(name, text)).collect()
}

/// Every (class, design doc) pair, for tests that check each view.
pub fn all_design_docs() -> Vec<(DbClass, Doc)> {
    SOURCES.iter().map(|(c, name, text)| (*c, parse(name, text))).collect()
}

fn parse(name: &str, text: &str) -> Doc {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(doc)) => doc,
        // The files are compiled in and checked by a unit test; a broken one is a build defect.
        _ => panic!("priv/couchdb design doc {name} is not a JSON object"),
    }
}

/// Saves the design documents of `db`'s class into it, creating or updating only those that differ.
/// Returns how many were written.
pub async fn push_design_docs(store: &dyn Store, db: &str) -> StoreResult<usize> {
    let mut written = 0;
    for mut doc in design_docs(DbClass::of(db)) {
        let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
        match store.get(db, &id).await {
            Ok(existing) => {
                if same_views(&existing, &doc) {
                    continue;
                }
                if let Some(rev) = existing.get("_rev") {
                    doc.insert("_rev".into(), rev.clone());
                }
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        store.save(db, doc).await?;
        written += 1;
    }
    Ok(written)
}

fn same_views(a: &Doc, b: &Doc) -> bool {
    a.get("views") == b.get("views") && a.get("language") == b.get("language")
}

/// What a refresh did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RefreshReport {
    /// Databases looked at.
    pub databases: usize,
    /// Design documents written (new or changed).
    pub written: usize,
}

/// Creates the global databases if missing and brings the design documents of `faxes`, `accounts` and every
/// account database and MODB up to date.
pub async fn refresh_views(store: &dyn Store) -> StoreResult<RefreshReport> {
    let mut report = RefreshReport::default();
    for global in [db::FAXES, db::ACCOUNTS, db::SYSTEM_CONFIG] {
        store.db_create(global).await?;
    }
    for name in store.db_list().await? {
        let class = DbClass::of(&name);
        if matches!(class, DbClass::Other | DbClass::SystemConfig) {
            continue;
        }
        report.databases += 1;
        report.written += push_design_docs(store, &name).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_design_doc_parses_with_views() {
        let all = all_design_docs();
        assert_eq!(all.len(), SOURCES.len());
        for (class, doc) in all {
            let id = doc["_id"].as_str().unwrap_or_default();
            assert!(id.starts_with("_design/"), "{class:?} {id}");
            let views = doc["views"].as_object().expect("views");
            assert!(!views.is_empty(), "{id}");
            for (name, view) in views {
                let map = view["map"].as_str().unwrap_or_default();
                assert!(map.starts_with("function(doc)"), "{id}/{name}");
            }
        }
        assert_eq!(design_docs(DbClass::Faxes).len(), 2);
        assert_eq!(design_docs(DbClass::Account).len(), 4);
        assert!(design_docs(DbClass::Other).is_empty());
    }
}
