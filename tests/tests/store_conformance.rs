//! Holds the one conformance suite of the `Store` trait, run against both backends.
//!
//! Kazoo's `kz_datamgr` promises CouchDB 3.x semantics; Faxbox keeps that promise twice, with the CouchDB
//! backend and the embedded SQLite one. Each test body below takes a `&dyn Store` and asserts exact results;
//! the `conformance!` macro runs every body as `embedded::<name>` (a fresh `EmbeddedStore` in a temp dir) and
//! `couchdb::<name>` (a `CouchStore` on the CouchDB-compatible test server, or on `FAXBOX_COUCH_URL`).
//! `equivalence::every_view_matches` saves the same varied documents into both and compares every view of every
//! design document in `priv/couchdb/` row for row: it proves the embedded Rust twins match the JavaScript.
//!
//! View keys here are lowercase ASCII, digits, numbers and arrays, whose order is the same under CouchDB 3's
//! ICU collation and under the test server's (PouchDB compares strings by UTF-16 code unit, so it differs from
//! CouchDB 3 for mixed-case strings, and for punctuation against digits or letters at the same position).

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use kz_core::db::{self, DbClass};
use kz_data::couch::CouchStore;
use kz_data::design::{all_design_docs, push_design_docs};
use kz_data::{
    BulkResult, Change, Doc, NewAttachment, Store, StoreError, StoreErrorKind, StoreResult, ViewOptions, ViewRow,
};
use serde_json::{Value, json};

/// What a test body needs to keep its databases apart from the other tests'.
struct Ctx {
    /// Prefix of this test's plain database names.
    prefix: String,
    /// 8 hex characters unique to this test, starting its account ids.
    tag: String,
}

impl Ctx {
    fn new(test: &str) -> Ctx {
        // FNV-1a of the test name: stable across runs, distinct between tests.
        let mut hash: u32 = 0x811c_9dc5;
        for b in test.bytes() {
            hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        Ctx { prefix: format!("conf_{test}_"), tag: format!("{hash:08x}") }
    }

    fn db(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A 32-hex id unique to this test; ids sort by `n`.
    fn id(&self, n: u32) -> String {
        format!("{}{n:024x}", self.tag)
    }
}

/// The `faxes` and `accounts` databases are global: tests that use them take turns.
static GLOBAL_DBS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = kz_data::embedded::EmbeddedStore::open(dir.path()).expect("open the embedded store");
                    super::$name(&store, &super::Ctx::new(stringify!($name))).await;
                }
            )+
        }
        mod couchdb {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::couch_store().await;
                    super::$name(&store, &super::Ctx::new(stringify!($name))).await;
                }
            )+
        }
    };
}

conformance!(
    databases,
    documents,
    generated_ids,
    deleted_documents,
    bulk_save,
    attachments,
    attachments_survive_saves,
    save_with_attachments,
    views_faxes,
    views_account_modb_accounts,
    views_errors,
    changes,
    changes_live,
);

async fn couch_store() -> CouchStore {
    let url = faxbox_tests::couch_server::couch_url().await;
    CouchStore::connect(&url).await.expect("connect to the couchdb test server")
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

fn doc(value: Value) -> Doc {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn rev_of(doc: &Doc) -> String {
    doc.get("_rev").and_then(Value::as_str).expect("saved doc has a _rev").to_string()
}

/// Deletes `db` if a previous run left it, then creates it empty.
async fn fresh_db(store: &dyn Store, db: &str) {
    store.db_delete(db).await.expect("db_delete");
    assert!(store.db_create(db).await.expect("db_create"), "{db} created");
}

async fn save(store: &dyn Store, db: &str, value: Value) -> Doc {
    store.save(db, doc(value)).await.expect("save")
}

async fn save_all(store: &dyn Store, db: &str, docs: Vec<Value>) {
    for value in docs {
        save(store, db, value).await;
    }
}

/// The rows of a view as (key, id, value), the form the expectations below are written in.
async fn rows(store: &dyn Store, db: &str, view: &str, opts: ViewOptions) -> Vec<(Value, Option<String>, Value)> {
    let rows = store.query(db, view, &opts).await.unwrap_or_else(|e| panic!("{db} {view} {opts:?}: {e}"));
    rows.into_iter().map(|r| (r.key, r.id, r.value)).collect()
}

/// The doc ids of a view's rows.
async fn ids(store: &dyn Store, db: &str, view: &str, opts: ViewOptions) -> Vec<String> {
    rows(store, db, view, opts).await.into_iter().map(|(_, id, _)| id.expect("map row has an id")).collect()
}

fn map_row(key: Value, id: &str, value: Value) -> (Value, Option<String>, Value) {
    (key, Some(id.to_string()), value)
}

fn reduce_row(key: Value, value: Value) -> (Value, Option<String>, Value) {
    (key, None, value)
}

fn strs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn fixture(name: &str) -> Bytes {
    let path = faxbox_tests::repo_root().join("tests/fixtures/itu").join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

const FEED_WAIT: Duration = Duration::from_secs(15);

async fn next_change(stream: &mut BoxStream<'static, StoreResult<Change>>) -> Change {
    match tokio::time::timeout(FEED_WAIT, stream.next()).await {
        Ok(Some(Ok(change))) => change,
        Ok(Some(Err(e))) => panic!("live feed failed: {e}"),
        Ok(None) => panic!("live feed ended"),
        Err(_) => panic!("no change on the live feed within {FEED_WAIT:?}"),
    }
}

/// Gregorian seconds near 2024, as Kazoo stores `pvt_created`.
const G: i64 = 63_850_000_000;

// ---------------------------------------------------------------------------------------------------------------
// databases and documents

async fn databases(store: &dyn Store, cx: &Ctx) {
    let plain = cx.db("plain");
    let account = db::account_db(&cx.id(1));
    let modb = db::modb(&cx.id(1), 2024, 1);
    assert!(account.starts_with("account%2F"), "{account}");
    for name in [&plain, &account, &modb] {
        store.db_delete(name).await.expect("db_delete");
        assert!(!store.db_exists(name).await.expect("db_exists"), "{name} absent at first");
        assert!(store.db_create(name).await.expect("db_create"), "{name} created");
        assert!(!store.db_create(name).await.expect("db_create again"), "{name} already there");
        assert!(store.db_exists(name).await.expect("db_exists"), "{name} exists");
    }

    let listed = store.db_list().await.expect("db_list");
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "db_list is sorted");
    let mine: Vec<&String> = listed.iter().filter(|n| n.starts_with(&cx.prefix) || n.starts_with(&account)).collect();
    let mut expected = vec![&account, &modb, &plain];
    expected.sort();
    assert_eq!(mine, expected, "db_list names are in their encoded form");

    // A document lives in the encoded account database.
    let saved = save(store, &account, json!({"_id": "doc1", "pvt_type": "test"})).await;
    assert_eq!(store.get(&account, "doc1").await.expect("get"), saved);

    assert!(store.db_delete(&account).await.expect("db_delete"));
    assert!(!store.db_delete(&account).await.expect("db_delete again"), "already gone");
    assert!(!store.db_exists(&account).await.expect("db_exists"));
    assert!(!store.db_list().await.expect("db_list").contains(&account));
    assert!(matches!(store.get(&account, "doc1").await, Err(StoreError::DbNotFound(_))));
    assert!(matches!(store.save(&account, doc(json!({"a": 1}))).await, Err(StoreError::DbNotFound(_))));

    for bad in ["Bad Name", "", "9lives"] {
        assert!(matches!(store.db_create(bad).await, Err(StoreError::Invalid(_))), "{bad:?} refused");
    }
    store.db_delete(&modb).await.expect("cleanup");
    store.db_delete(&plain).await.expect("cleanup");
}

async fn documents(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("docs");
    fresh_db(store, &db).await;
    assert!(matches!(store.get(&db, "nope").await, Err(StoreError::NotFound(_))));

    let body = json!({
        "_id": "job1",
        "pvt_type": "fax",
        "pvt_created": G,
        "rate": 1.5,
        "negative": -7,
        "flags": [true, false, null],
        "nested": {"a": {"b": ["x", 1, {"c": "é ✓ 日本"}]}},
        "empty": {},
        "none": null,
    });
    let saved = save(store, &db, body.clone()).await;
    let rev1 = rev_of(&saved);
    let mut expected = doc(body);
    expected.insert("_rev".into(), json!(rev1));
    assert_eq!(saved, expected, "save returns the doc with its _rev");
    assert_eq!(store.get(&db, "job1").await.expect("get"), expected, "get returns what was saved");

    // Creating over an existing document, or updating with a stale rev, conflicts.
    assert!(matches!(store.save(&db, doc(json!({"_id": "job1", "x": 1}))).await, Err(StoreError::Conflict(_))));
    let mut update = saved.clone();
    update.insert("pvt_job_status".into(), json!("pending"));
    let updated = store.save(&db, update.clone()).await.expect("update");
    let rev2 = rev_of(&updated);
    assert_ne!(rev1, rev2);
    assert!(rev2.starts_with("2-"), "{rev2}");
    assert_eq!(store.get(&db, "job1").await.expect("get")["pvt_job_status"], json!("pending"));
    assert!(matches!(store.save(&db, update).await, Err(StoreError::Conflict(_))), "stale rev");
    assert!(matches!(store.delete(&db, "job1", &rev1).await, Err(StoreError::Conflict(_))), "stale delete");

    // Ids that need escaping, and design documents.
    for id in ["202401-0123456789abcdef0123456789abcdef", "with space/slash?and#more&more", "_design/conformance"] {
        let saved = save(store, &db, json!({"_id": id, "n": 1})).await;
        assert_eq!(saved["_id"], json!(id));
        assert_eq!(store.get(&db, id).await.expect("get escaped id"), saved, "{id}");
    }
}

async fn generated_ids(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("ids");
    fresh_db(store, &db).await;
    let mut seen = BTreeSet::new();
    for n in 0..5 {
        let saved = save(store, &db, json!({"n": n})).await;
        let id = saved["_id"].as_str().expect("_id").to_string();
        assert!(kz_core::ids::is_id(&id), "{id} is 32 lowercase hex");
        assert_eq!(store.get(&db, &id).await.expect("get")["n"], json!(n));
        seen.insert(id);
    }
    assert_eq!(seen.len(), 5, "ids are distinct");
    let results = store.bulk_save(&db, vec![doc(json!({"n": 10})), doc(json!({"n": 11}))]).await.expect("bulk");
    for result in results {
        match result {
            BulkResult::Saved { id, .. } => assert!(kz_core::ids::is_id(&id), "{id}"),
            other => panic!("{other:?}"),
        }
    }
}

async fn deleted_documents(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("deleted");
    fresh_db(store, &db).await;
    let saved = save(store, &db, json!({"_id": "fb1", "pvt_type": "faxbox"})).await;
    let tombstone = store.delete(&db, "fb1", &rev_of(&saved)).await.expect("delete");
    assert!(tombstone.starts_with("2-"), "{tombstone}");
    assert!(matches!(store.get(&db, "fb1").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete(&db, "fb1", &rev_of(&saved)).await, Err(StoreError::Conflict(_))));

    // A deleted document can be created again without a rev.
    let again = save(store, &db, json!({"_id": "fb1", "pvt_type": "faxbox", "name": "again"})).await;
    assert_ne!(rev_of(&again), rev_of(&saved));
    assert_eq!(store.get(&db, "fb1").await.expect("get")["name"], json!("again"));
    assert!(matches!(store.get(&db, "never").await, Err(StoreError::NotFound(_))));
}

async fn bulk_save(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("bulk");
    fresh_db(store, &db).await;
    let existing = save(store, &db, json!({"_id": "b", "v": "original"})).await;

    let results = store
        .bulk_save(
            &db,
            vec![
                doc(json!({"_id": "a", "v": 1})),
                doc(json!({"_id": "b", "v": "clobber"})),
                doc(json!({"_id": "c", "v": 3})),
            ],
        )
        .await
        .expect("bulk_save");
    assert_eq!(results.len(), 3);
    let revs: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(i, r)| match (i, r) {
            (0, BulkResult::Saved { id, rev }) if id == "a" => rev.clone(),
            (1, BulkResult::Failed { id, error: StoreErrorKind::Conflict, .. }) if id == "b" => String::new(),
            (2, BulkResult::Saved { id, rev }) if id == "c" => rev.clone(),
            other => panic!("unexpected bulk result {other:?}"),
        })
        .collect();
    assert_eq!(store.get(&db, "a").await.expect("a")["_rev"], json!(revs[0]));
    assert_eq!(store.get(&db, "b").await.expect("b"), existing, "the conflicting doc is untouched");
    assert_eq!(store.get(&db, "c").await.expect("c")["v"], json!(3));

    // Updates with current revs succeed; a stale one fails alone.
    let results = store
        .bulk_save(
            &db,
            vec![
                doc(json!({"_id": "a", "_rev": revs[0], "v": 10})),
                doc(json!({"_id": "c", "_rev": existing["_rev"], "v": 30})),
            ],
        )
        .await
        .expect("bulk update");
    assert!(matches!(&results[0], BulkResult::Saved { id, rev } if id == "a" && rev.starts_with("2-")));
    assert!(matches!(&results[1], BulkResult::Failed { id, error: StoreErrorKind::Conflict, .. } if id == "c"));
    assert_eq!(store.get(&db, "a").await.expect("a")["v"], json!(10));
    assert_eq!(store.get(&db, "c").await.expect("c")["v"], json!(3));
    assert!(matches!(store.bulk_save(&cx.db("missing"), vec![doc(json!({}))]).await, Err(StoreError::DbNotFound(_))));
}

// ---------------------------------------------------------------------------------------------------------------
// attachments

async fn attachments(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("attachments");
    fresh_db(store, &db).await;
    let saved = save(store, &db, json!({"_id": "job1", "pvt_type": "fax"})).await;
    let tiff = fixture("itu1.tif");
    assert!(tiff.starts_with(b"II*\0") || tiff.starts_with(b"MM\0*"), "a TIFF");

    let rev2 = store
        .put_attachment(&db, "job1", "fax.tiff", "image/tiff", tiff.clone(), Some(&rev_of(&saved)))
        .await
        .expect("put_attachment");
    assert_ne!(rev2, rev_of(&saved));
    let got = store.get_attachment(&db, "job1", "fax.tiff").await.expect("get_attachment");
    assert_eq!(got.content_type, "image/tiff");
    assert_eq!(got.data.len(), tiff.len());
    assert!(got.data == tiff, "exact bytes back");

    let stored = store.get(&db, "job1").await.expect("get");
    assert_eq!(stored["_rev"], json!(rev2));
    let stub = &stored["_attachments"]["fax.tiff"];
    assert_eq!(stub["content_type"], json!("image/tiff"));
    assert_eq!(stub["length"], json!(tiff.len()));
    assert_eq!(stub["stub"], json!(true));

    // Without the current rev: conflicts.
    let again = store.put_attachment(&db, "job1", "other.tiff", "image/tiff", tiff.clone(), None).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let rev1 = rev_of(&saved);
    let stale = store.put_attachment(&db, "job1", "other.tiff", "image/tiff", tiff.clone(), Some(&rev1)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");

    // All nine ITU charts, binary-exact, side by side with a text part.
    let charts = [
        "itu1.tif",
        "itu2.tif",
        "itu3.tif",
        "itu4.tif",
        "itu5.tif",
        "itu6.tif",
        "itu7.tif",
        "itu8.tif",
        "itutests.tif",
    ];
    // The first one creates the document.
    let mut rev: Option<String> = None;
    for name in charts {
        let put = store.put_attachment(&db, "job2", name, "image/tiff", fixture(name), rev.as_deref());
        rev = Some(put.await.unwrap_or_else(|e| panic!("put {name}: {e}")));
    }
    let mut rev = rev.expect("a rev");
    let text = Bytes::from_static(b"Fax from +15551234567\r\n");
    rev = store.put_attachment(&db, "job2", "cover.txt", "text/plain", text.clone(), Some(&rev)).await.expect("text");
    let job2 = store.get(&db, "job2").await.expect("job2");
    assert_eq!(job2["_rev"], json!(rev));
    let stubs = job2["_attachments"].as_object().expect("stubs");
    assert_eq!(stubs.len(), 10);
    for name in charts {
        let bytes = fixture(name);
        let got = store.get_attachment(&db, "job2", name).await.expect("chart");
        assert!(got.data == bytes, "{name} exact");
        assert_eq!(stubs[name]["length"], json!(bytes.len()), "{name} length");
    }
    let got = store.get_attachment(&db, "job2", "cover.txt").await.expect("text");
    assert_eq!(got.data, text);
    assert!(got.content_type.starts_with("text/plain"), "{}", got.content_type);

    // Removing one.
    let rev_after = store.delete_attachment(&db, "job2", "itu3.tif", &rev).await.expect("delete_attachment");
    assert_ne!(rev_after, rev);
    assert!(matches!(store.get_attachment(&db, "job2", "itu3.tif").await, Err(StoreError::NotFound(_))));
    let job2 = store.get(&db, "job2").await.expect("job2");
    assert!(job2["_attachments"].get("itu3.tif").is_none());
    assert_eq!(job2["_attachments"].as_object().expect("stubs").len(), 9);
    assert!(matches!(store.delete_attachment(&db, "job2", "itu4.tif", &rev).await, Err(StoreError::Conflict(_))));

    assert!(matches!(store.get_attachment(&db, "job2", "nope.tif").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.get_attachment(&db, "nodoc", "fax.tiff").await, Err(StoreError::NotFound(_))));
}

async fn attachments_survive_saves(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("att_saves");
    fresh_db(store, &db).await;
    let tiff = fixture("itu2.tif");
    // A document created by its attachment holds just that.
    let rev = store.put_attachment(&db, "rx1", "fax.tiff", "image/tiff", tiff.clone(), None).await.expect("put");
    let created = store.get(&db, "rx1").await.expect("get");
    assert_eq!(created["_rev"], json!(rev));
    let mut fields: Vec<&String> = created.keys().collect();
    fields.sort();
    assert_eq!(fields, vec!["_attachments", "_id", "_rev"]);

    // Saving the doc as read keeps the attachment.
    let mut edited = created.clone();
    edited.insert("pvt_type".into(), json!("fax"));
    let saved = store.save(&db, edited).await.expect("save with stubs");
    assert_eq!(store.get_attachment(&db, "rx1", "fax.tiff").await.expect("still there").data, tiff);

    // So does saving it without `_attachments`, or with stubs that are wrong: stubs on input are ignored.
    let mut bare = saved.clone();
    bare.remove("_attachments");
    bare.insert("n".into(), json!(2));
    let saved = store.save(&db, bare).await.expect("save without stubs");
    assert_eq!(store.get_attachment(&db, "rx1", "fax.tiff").await.expect("kept").data, tiff);
    let mut bogus = saved.clone();
    bogus.insert("_attachments".into(), json!({"ghost.pdf": {"stub": true, "content_type": "application/pdf"}}));
    store.save(&db, bogus).await.expect("save with a bogus stub");
    let stored = store.get(&db, "rx1").await.expect("get");
    let names: Vec<&String> = stored["_attachments"].as_object().expect("stubs").keys().collect();
    assert_eq!(names, vec!["fax.tiff"]);
    assert_eq!(stored["n"], json!(2));
    assert_eq!(store.get_attachment(&db, "rx1", "fax.tiff").await.expect("kept").data, tiff);

    // And a bulk update.
    let mut bulk = stored.clone();
    bulk.remove("_attachments");
    bulk.insert("n".into(), json!(3));
    let results = store.bulk_save(&db, vec![bulk]).await.expect("bulk");
    assert!(matches!(&results[0], BulkResult::Saved { .. }), "{results:?}");
    assert_eq!(store.get_attachment(&db, "rx1", "fax.tiff").await.expect("kept").data, tiff);
}

fn new_attachment(name: &str, content_type: &str, data: Bytes) -> NewAttachment {
    NewAttachment { name: name.to_string(), content_type: content_type.to_string(), data }
}

async fn save_with_attachments(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("save_atts");
    fresh_db(store, &db).await;
    let tiff = fixture("itu1.tif");
    let pdf = Bytes::from_static(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    // Every byte value, to prove nothing is re-encoded on the way.
    let binary = Bytes::from((0..=255u8).cycle().take(70_000).collect::<Vec<u8>>());

    // A new document and two attachments in one write, in the order given.
    let saved = store
        .save_with_attachments(
            &db,
            doc(json!({"_id": "job1", "pvt_type": "fax", "pvt_job_status": "pending"})),
            vec![
                new_attachment("original_file.pdf", "application/pdf", pdf.clone()),
                new_attachment("original_file_2.tiff", "image/tiff", tiff.clone()),
            ],
        )
        .await
        .expect("save_with_attachments");
    let rev1 = rev_of(&saved);
    assert!(rev1.starts_with("1-"), "one revision for the document and its attachments: {rev1}");
    assert_eq!(saved["pvt_job_status"], json!("pending"));
    let returned = saved["_attachments"].as_object().expect("stubs returned");
    assert_eq!(returned.keys().collect::<Vec<_>>(), vec!["original_file.pdf", "original_file_2.tiff"]);
    assert_eq!(returned["original_file.pdf"]["length"], json!(pdf.len()));
    assert_eq!(returned["original_file_2.tiff"]["content_type"], json!("image/tiff"));

    let stored = store.get(&db, "job1").await.expect("get");
    assert_eq!(stored["_rev"], json!(rev1));
    assert_eq!(stored["pvt_type"], json!("fax"));
    let stubs = stored["_attachments"].as_object().expect("stubs");
    assert_eq!(stubs.len(), 2);
    for (name, content_type, data) in
        [("original_file.pdf", "application/pdf", &pdf), ("original_file_2.tiff", "image/tiff", &tiff)]
    {
        assert_eq!(stubs[name]["content_type"], json!(content_type), "{name}");
        assert_eq!(stubs[name]["length"], json!(data.len()), "{name}");
        assert_eq!(stubs[name]["stub"], json!(true), "{name}");
        let got = store.get_attachment(&db, "job1", name).await.expect("get_attachment");
        assert_eq!(got.content_type, content_type, "{name}");
        assert!(got.data == *data, "{name}: exact bytes back");
    }

    // An update with the current rev adds one, replaces one, and keeps the other.
    let mut edited = stored.clone();
    edited.insert("attempts".into(), json!(1));
    let replaced = Bytes::from_static(b"%PDF-1.7\nreplaced\n%%EOF\n");
    let updated = store
        .save_with_attachments(
            &db,
            edited,
            vec![
                new_attachment("original_file.pdf", "application/pdf", replaced.clone()),
                new_attachment("original_file_3.bin", "application/octet-stream", binary.clone()),
            ],
        )
        .await
        .expect("update with attachments");
    let rev2 = rev_of(&updated);
    assert!(rev2.starts_with("2-"), "{rev2}");
    let stored = store.get(&db, "job1").await.expect("get");
    assert_eq!(stored["attempts"], json!(1));
    let mut names: Vec<&String> = stored["_attachments"].as_object().expect("stubs").keys().collect();
    names.sort();
    assert_eq!(names, vec!["original_file.pdf", "original_file_2.tiff", "original_file_3.bin"]);
    assert_eq!(store.get_attachment(&db, "job1", "original_file.pdf").await.expect("pdf").data, replaced);
    assert_eq!(store.get_attachment(&db, "job1", "original_file_2.tiff").await.expect("kept").data, tiff);
    let got = store.get_attachment(&db, "job1", "original_file_3.bin").await.expect("binary");
    assert_eq!(got.data.len(), binary.len());
    assert!(got.data == binary, "binary exact");
    assert_eq!(stored["_attachments"]["original_file_3.bin"]["length"], json!(binary.len()));

    // A stale rev, or none on an existing document, conflicts and writes nothing at all.
    for stale_rev in [Some(rev1.as_str()), None] {
        let mut stale = doc(json!({"_id": "job1", "pvt_job_status": "stale"}));
        if let Some(rev) = stale_rev {
            stale.insert("_rev".into(), json!(rev));
        }
        let refused = store
            .save_with_attachments(&db, stale, vec![new_attachment("ghost.pdf", "application/pdf", pdf.clone())])
            .await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "{stale_rev:?}: {refused:?}");
        let after = store.get(&db, "job1").await.expect("get");
        assert_eq!(after, stored, "{stale_rev:?}: document untouched");
        assert!(matches!(store.get_attachment(&db, "job1", "ghost.pdf").await, Err(StoreError::NotFound(_))));
    }

    // No attachments: a plain save. A generated id works too.
    let plain = store.save_with_attachments(&db, doc(json!({"n": 1})), Vec::new()).await.expect("plain");
    let id = plain["_id"].as_str().expect("generated id").to_string();
    assert!(kz_core::ids::is_id(&id), "{id}");
    assert_eq!(store.get(&db, &id).await.expect("plain")["n"], json!(1));

    // Refused before anything is written: reserved or repeated names, a missing database.
    for bad in [
        vec![new_attachment("_x.pdf", "application/pdf", pdf.clone())],
        vec![new_attachment("", "application/pdf", pdf.clone())],
        vec![
            new_attachment("a.pdf", "application/pdf", pdf.clone()),
            new_attachment("a.pdf", "text/plain", pdf.clone()),
        ],
    ] {
        let refused = store.save_with_attachments(&db, doc(json!({"_id": "job9"})), bad).await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    }
    assert!(matches!(store.get(&db, "job9").await, Err(StoreError::NotFound(_))));
    let missing = store
        .save_with_attachments(
            &cx.db("missing"),
            doc(json!({"_id": "x"})),
            vec![new_attachment("a.pdf", "application/pdf", pdf)],
        )
        .await;
    assert!(matches!(missing, Err(StoreError::DbNotFound(_))), "{missing:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// views

/// Fax jobs and faxboxes in `faxes`; returns (account A, account B, faxbox 1, 2, 3).
async fn faxes_fixtures(store: &dyn Store, cx: &Ctx) -> (String, String, String, String, String) {
    let (a, b) = (cx.id(1), cx.id(2));
    let (f1, f2, f3) = (cx.id(0x11), cx.id(0x12), cx.id(0x13));
    let fax = |id: &str, account: &str, faxbox: Option<&str>, status: &str, created: i64, modified: i64| {
        let mut d = doc(json!({
            "_id": id, "pvt_type": "fax", "pvt_account_id": account, "pvt_job_status": status,
            "pvt_created": G + created, "pvt_modified": G + modified,
            "to_number": "15550001", "from_number": "15551001",
        }));
        if let Some(faxbox) = faxbox {
            d.insert("faxbox_id".into(), json!(faxbox));
        }
        d
    };
    let with = |mut d: Doc, extra: Value| {
        d.extend(doc(extra));
        Value::Object(d)
    };
    let jobs = vec![
        with(fax("job1", &a, Some(&f1), "pending", 100, 100), json!({"retry_after": 0, "attempts": 0, "retries": 3})),
        with(fax("job2", &a, Some(&f1), "locked", 200, 250), json!({"retry_after": 60, "attempts": 1})),
        with(fax("job3", &a, Some(&f2), "processing", 300, 300), json!({"pvt_job_node": "fax@node1"})),
        with(fax("job4", &b, Some(&f2), "pending", 150, 400), json!({"retry_after": 30, "owner_id": cx.id(0x21)})),
        with(fax("job5", &b, None, "completed", 500, 510), json!({})),
        with(fax("job6", &a, Some(&f1), "failed", 50, 50), json!({"pvt_deleted": true})),
        with(fax("job7", &b, Some(&f3), "pending", 600, 600), json!({"from_name": "beta"})),
        with(fax("job8", &a, Some(&f2), "pending", 700, 700), json!({"retry_after": 0})),
        with(fax("job9", &a, Some(&f2), "pending", 10, 10), json!({})),
    ];
    save_all(store, db::FAXES, jobs).await;
    let job9 = store.get(db::FAXES, "job9").await.expect("job9");
    store.delete(db::FAXES, "job9", &rev_of(&job9)).await.expect("delete job9");
    save_all(
        store,
        db::FAXES,
        vec![
            json!({"_id": f1, "pvt_type": "faxbox", "pvt_account_id": a, "name": "front desk", "pvt_created": G + 1,
                   "pvt_smtp_email_address": "Xyz123@Fax.Example.com", "custom_smtp_email_address": "Sales@Acme.example",
                   "smtp_permission_list": ["Alice@Example.com", "bob@example.com", "", 42]}),
            json!({"_id": f2, "pvt_type": "faxbox", "pvt_account_id": b, "name": "back office", "pvt_created": G + 2,
                   "pvt_smtp_email_address": "abc987@fax.example.com",
                   "smtp_permission_list": ["ALICE@example.com", "carol@example.com"],
                   "pvt_cloud_printer_id": "printer-02", "pvt_cloud_state": "registered"}),
            json!({"_id": f3, "pvt_type": "faxbox", "pvt_account_id": b, "pvt_deleted": true,
                   "pvt_smtp_email_address": "gone@fax.example.com", "smtp_permission_list": ["dave@example.com"]}),
            json!({"_id": "user1", "pvt_type": "user", "email": "alice@example.com"}),
        ],
    )
    .await;
    (a, b, f1, f2, f3)
}

async fn views_faxes(store: &dyn Store, cx: &Ctx) {
    let _turn = GLOBAL_DBS.lock().await;
    fresh_db(store, db::FAXES).await;
    assert_eq!(push_design_docs(store, db::FAXES).await.expect("push"), 2);
    assert_eq!(push_design_docs(store, db::FAXES).await.expect("push again"), 0, "unchanged docs are not rewritten");
    let (a, b, f1, f2, _f3) = faxes_fixtures(store, cx).await;
    let fx = db::FAXES;

    // jobs: pending and locked jobs by due time (modified + retry_after).
    let all = rows(store, fx, "faxes/jobs", ViewOptions::default()).await;
    let keys: Vec<(Value, Option<String>)> = all.iter().map(|(k, id, _)| (k.clone(), id.clone())).collect();
    assert_eq!(
        keys,
        vec![
            (json!(G + 100), Some("job1".into())),
            (json!(G + 310), Some("job2".into())),
            (json!(G + 430), Some("job4".into())),
            (json!(G + 600), Some("job7".into())),
            (json!(G + 700), Some("job8".into())),
        ]
    );
    assert_eq!(
        all[0].2,
        json!({"id": "job1", "account_id": a, "faxbox_id": f1, "to": "15550001", "from": "15551001",
               "modified": G + 100, "retry_after": 0, "tries": "0/3"})
    );
    // Missing fields are left out of an emitted object.
    assert_eq!(
        all[3].2,
        json!({"id": "job7", "account_id": b, "faxbox_id": cx.id(0x13), "to": "15550001", "from": "15551001",
               "modified": G + 600, "tries": "0/0"})
    );

    let range = || ViewOptions::range(G + 100, G + 430);
    assert_eq!(ids(store, fx, "faxes/jobs", range()).await, strs(&["job1", "job2", "job4"]));
    let exclusive = ViewOptions { inclusive_end: Some(false), ..range() };
    assert_eq!(ids(store, fx, "faxes/jobs", exclusive).await, strs(&["job1", "job2"]));
    let down = ViewOptions::range(G + 430, G + 100).descending();
    assert_eq!(ids(store, fx, "faxes/jobs", down.clone()).await, strs(&["job4", "job2", "job1"]));
    let down_exclusive = ViewOptions { inclusive_end: Some(false), ..down };
    assert_eq!(ids(store, fx, "faxes/jobs", down_exclusive).await, strs(&["job4", "job2"]));
    assert_eq!(ids(store, fx, "faxes/jobs", ViewOptions::default().limit(2)).await, strs(&["job1", "job2"]));
    let page = ViewOptions { skip: Some(1), ..ViewOptions::default().limit(2) };
    assert_eq!(ids(store, fx, "faxes/jobs", page).await, strs(&["job2", "job4"]));
    assert_eq!(ids(store, fx, "faxes/jobs", ViewOptions::default().descending().limit(1)).await, strs(&["job8"]));
    assert_eq!(ids(store, fx, "faxes/jobs", ViewOptions::key(G + 310)).await, strs(&["job2"]));
    let keys = ViewOptions { keys: Some(vec![json!(G + 600), json!(G + 100), json!(G + 999)]), ..Default::default() };
    assert_eq!(ids(store, fx, "faxes/jobs", keys).await, strs(&["job7", "job1"]));
    let from = ViewOptions { startkey: Some(json!(G + 600)), ..Default::default() };
    assert_eq!(ids(store, fx, "faxes/jobs", from).await, strs(&["job7", "job8"]));

    // include_docs
    let with_docs =
        store.query(fx, "faxes/jobs", &ViewOptions::default().include_docs().limit(2)).await.expect("include_docs");
    assert_eq!(with_docs.len(), 2);
    for row in &with_docs {
        let id = row.id.as_deref().expect("id");
        assert_eq!(row.doc.as_ref(), Some(&store.get(fx, id).await.expect("get")), "doc of {id}");
    }

    // Array keys.
    let b_jobs = ViewOptions::range(json!([b]), json!([b, {}]));
    assert_eq!(ids(store, fx, "faxes/jobs_by_account", b_jobs).await, strs(&["job4", "job7"]));
    assert_eq!(
        ids(store, fx, "faxes/list_by_account_state", ViewOptions::default()).await,
        strs(&["job2", "job1", "job8", "job3", "job5", "job4", "job7"])
    );
    let a_pending = ViewOptions::range(json!([a, "pending"]), json!([a, "pending", {}]));
    assert_eq!(ids(store, fx, "faxes/list_by_account_state", a_pending).await, strs(&["job1", "job8"]));
    let b_down = ViewOptions::range(json!([b, {}]), json!([b])).descending();
    assert_eq!(ids(store, fx, "faxes/list_by_account_state", b_down).await, strs(&["job7", "job4", "job5"]));
    let keyed = ViewOptions { keys: Some(vec![json!([a, G + 700]), json!([b, G + 430])]), ..Default::default() };
    assert_eq!(ids(store, fx, "faxes/jobs_by_account", keyed).await, strs(&["job8", "job4"]));
    assert_eq!(
        rows(store, fx, "faxes/list_by_faxbox", ViewOptions::range(json!([f2]), json!([f2, {}]))).await,
        vec![
            map_row(
                json!([f2, G + 150]),
                "job4",
                json!({"id": "job4", "account_id": b, "faxbox_id": f2,
                "status": "pending", "to": "15550001", "from": "15551001", "created": G + 150})
            ),
            map_row(
                json!([f2, G + 300]),
                "job3",
                json!({"id": "job3", "account_id": a, "faxbox_id": f2,
                "status": "processing", "to": "15550001", "from": "15551001", "created": G + 300})
            ),
            map_row(
                json!([f2, G + 700]),
                "job8",
                json!({"id": "job8", "account_id": a, "faxbox_id": f2,
                "status": "pending", "to": "15550001", "from": "15551001", "created": G + 700})
            ),
        ]
    );
    assert_eq!(
        rows(store, fx, "faxes/processing_by_node", ViewOptions::key("fax@node1")).await,
        vec![map_row(
            json!("fax@node1"),
            "job3",
            json!({"node": "fax@node1", "id": "job3", "account_id": a,
            "faxbox_id": f2, "to": "15550001", "from": "15551001", "modified": G + 300})
        )]
    );

    // _sum reduce.
    let sched = "faxes/schedule_accounts";
    assert_eq!(rows(store, fx, sched, ViewOptions::default()).await, vec![reduce_row(Value::Null, json!(5))]);
    let by_account = vec![reduce_row(json!(a), json!(3)), reduce_row(json!(b), json!(2))];
    assert_eq!(rows(store, fx, sched, ViewOptions::default().group_level(1)).await, by_account);
    assert_eq!(rows(store, fx, sched, ViewOptions { group: true, ..Default::default() }).await, by_account);
    assert_eq!(
        rows(store, fx, sched, ViewOptions { group: true, ..ViewOptions::key(b.clone()) }).await,
        vec![reduce_row(json!(b), json!(2))]
    );
    assert_eq!(rows(store, fx, sched, ViewOptions::key(b.clone())).await, vec![reduce_row(Value::Null, json!(2))]);
    assert_eq!(
        rows(store, fx, sched, ViewOptions::default().reduce(false)).await,
        vec![
            map_row(json!(a), "job1", json!(1)),
            map_row(json!(a), "job2", json!(1)),
            map_row(json!(a), "job8", json!(1)),
            map_row(json!(b), "job4", json!(1)),
            map_row(json!(b), "job7", json!(1)),
        ]
    );

    // _count reduce over lowercased permission entries (uppercase ones included).
    let perms = "faxbox/email_permissions";
    assert_eq!(rows(store, fx, perms, ViewOptions::default()).await, vec![reduce_row(Value::Null, json!(4))]);
    assert_eq!(
        rows(store, fx, perms, ViewOptions { group: true, ..Default::default() }).await,
        vec![
            reduce_row(json!("alice@example.com"), json!(2)),
            reduce_row(json!("bob@example.com"), json!(1)),
            reduce_row(json!("carol@example.com"), json!(1)),
        ]
    );
    assert_eq!(
        rows(store, fx, perms, ViewOptions::range("b", "c").group_level(1)).await,
        vec![reduce_row(json!("bob@example.com"), json!(1))]
    );
    assert_eq!(
        rows(store, fx, perms, ViewOptions::default().reduce(false)).await,
        vec![
            map_row(json!("alice@example.com"), &f1, json!(1)),
            map_row(json!("alice@example.com"), &f2, json!(1)),
            map_row(json!("bob@example.com"), &f1, json!(1)),
            map_row(json!("carol@example.com"), &f2, json!(1)),
        ]
    );

    // Faxbox addresses, lowercased; several keys in the order asked.
    let addresses = "faxbox/email_address";
    assert_eq!(
        rows(store, fx, addresses, ViewOptions::default()).await,
        vec![
            map_row(json!("abc987@fax.example.com"), &f2, json!(b)),
            map_row(json!("sales@acme.example"), &f1, json!(a)),
            map_row(json!("xyz123@fax.example.com"), &f1, json!(a)),
        ]
    );
    let asked = vec![json!("xyz123@fax.example.com"), json!("nobody@example.com"), json!("abc987@fax.example.com")];
    assert_eq!(
        ids(store, fx, addresses, ViewOptions { keys: Some(asked), ..Default::default() }).await,
        vec![f1.clone(), f2.clone()]
    );
    assert_eq!(
        rows(store, fx, "faxbox/cloud", ViewOptions::default()).await,
        vec![map_row(
            json!("printer-02"),
            &f2,
            json!({"faxbox_id": f2, "account_id": b,
            "cloud_printer_id": "printer-02", "state": "registered"})
        )]
    );
    assert_eq!(
        rows(store, fx, "faxbox/crossbar_listing", ViewOptions::default()).await,
        vec![
            map_row(json!(f1), &f1, json!({"id": f1, "name": "front desk", "created": G + 1})),
            map_row(json!(f2), &f2, json!({"id": f2, "name": "back office", "created": G + 2})),
        ]
    );
}

async fn views_account_modb_accounts(store: &dyn Store, cx: &Ctx) {
    let _turn = GLOBAL_DBS.lock().await;
    let (a, b, c) = (cx.id(1), cx.id(2), cx.id(3));
    let (f1, u1, u2, u4) = (cx.id(0x11), cx.id(0x21), cx.id(0x22), cx.id(0x24));
    let account = db::account_db(&a);
    let modb = db::modb(&a, 2024, 1);
    for name in [&account, &modb] {
        fresh_db(store, name).await;
        assert!(push_design_docs(store, name).await.expect("push") > 0);
    }
    assert_eq!(DbClass::of(&account), DbClass::Account);
    assert_eq!(DbClass::of(&modb), DbClass::Modb);

    save_all(
        store,
        &account,
        vec![
            json!({"_id": u1, "pvt_type": "user", "email": "Alice@Example.com", "username": "alice"}),
            json!({"_id": u2, "pvt_type": "user", "email": "bob@example.com", "username": "Bob.Smith"}),
            json!({"_id": cx.id(0x23), "pvt_type": "user", "email": "carol@example.com", "pvt_deleted": true}),
            json!({"_id": u4, "pvt_type": "user", "username": "dave"}),
            json!({"_id": f1, "pvt_type": "faxbox", "name": "front desk", "owner_id": u1, "pvt_created": G,
                   "smtp_permission_list": ["Bob@Example.com", "ALICE@EXAMPLE.COM"]}),
            json!({"_id": "cf1", "pvt_type": "callflow", "name": "main", "numbers": ["15550002", "15550001"]}),
            json!({"_id": "ax1", "pvt_type": "fax", "faxbox_id": f1, "pvt_created": G + 20,
                   "pvt_job_status": "completed"}),
            json!({"_id": "ax2", "pvt_type": "fax", "faxbox_id": f1, "pvt_created": G + 10,
                   "pvt_job_status": "failed", "owner_id": u1}),
        ],
    )
    .await;
    assert_eq!(
        rows(store, &account, "users/list_by_email", ViewOptions::default()).await,
        vec![
            map_row(json!("alice@example.com"), &u1, json!({"id": u1, "username": "alice"})),
            map_row(json!("bob@example.com"), &u2, json!({"id": u2, "username": "Bob.Smith"})),
        ]
    );
    assert_eq!(
        rows(store, &account, "users/list_by_username", ViewOptions::default()).await,
        vec![
            map_row(json!("alice"), &u1, json!({"id": u1, "email": "Alice@Example.com"})),
            map_row(json!("bob.smith"), &u2, json!({"id": u2, "email": "bob@example.com"})),
            map_row(json!("dave"), &u4, json!({"id": u4})),
        ]
    );
    assert_eq!(
        rows(store, &account, "faxbox/email_permissions", ViewOptions::default()).await,
        vec![
            map_row(json!("alice@example.com"), &f1, Value::Null),
            map_row(json!("bob@example.com"), &f1, Value::Null)
        ]
    );
    assert_eq!(
        rows(store, &account, "faxbox/list_by_ownerid", ViewOptions::key(u1.clone())).await,
        vec![map_row(json!(u1), &f1, json!({"id": f1, "name": "front desk"}))]
    );
    assert_eq!(
        rows(store, &account, "callflows/listing_by_number", ViewOptions::default()).await,
        vec![
            map_row(json!("15550001"), "cf1", json!({"id": "cf1", "name": "main"})),
            map_row(json!("15550002"), "cf1", json!({"id": "cf1", "name": "main"})),
        ]
    );
    let by_faxbox = ViewOptions::range(json!([f1]), json!([f1, {}]));
    assert_eq!(ids(store, &account, "faxes/list_by_faxbox", by_faxbox).await, strs(&["ax2", "ax1"]));
    let by_faxbox_down = ViewOptions::range(json!([f1, {}]), json!([f1])).descending();
    assert_eq!(ids(store, &account, "faxes/list_by_faxbox", by_faxbox_down).await, strs(&["ax1", "ax2"]));

    // MODB: received and sent faxes by folder (missing folder = inbox), SMTP log.
    let (m1, m2, m3, s1) = ("202401-m1", "202401-m2", "202401-m3", "202401-s1");
    save_all(
        store,
        &modb,
        vec![
            json!({"_id": m1, "pvt_type": "fax", "folder": "inbox", "faxbox_id": f1, "pvt_created": G + 30,
                   "from_number": "15552000"}),
            json!({"_id": m2, "pvt_type": "fax", "folder": "outbox", "faxbox_id": f1, "pvt_created": G + 20}),
            json!({"_id": m3, "pvt_type": "fax", "faxbox_id": cx.id(0x12), "pvt_created": G + 10,
                   "pvt_job_status": "completed"}),
            json!({"_id": s1, "pvt_type": "fax_smtp_log", "from": "a@b.example", "to": "x@y.example",
                   "errors": ["no faxbox"], "pvt_created": G + 40}),
        ],
    )
    .await;
    assert_eq!(
        rows(store, &modb, "faxes/list_by_folder", ViewOptions::default()).await,
        vec![
            map_row(
                json!(["inbox", G + 10, m3]),
                m3,
                json!({"id": m3, "folder": "inbox", "status": "completed",
                "created": G + 10})
            ),
            map_row(
                json!(["inbox", G + 30, m1]),
                m1,
                json!({"id": m1, "folder": "inbox", "from": "15552000",
                "created": G + 30})
            ),
            map_row(json!(["outbox", G + 20, m2]), m2, json!({"id": m2, "folder": "outbox", "created": G + 20})),
        ]
    );
    let inbox = ViewOptions::range(json!(["inbox"]), json!(["inbox", {}]));
    assert_eq!(ids(store, &modb, "faxes/list_by_folder", inbox).await, strs(&[m3, m1]));
    assert_eq!(
        rows(store, &modb, "faxes/smtp_log", ViewOptions::default()).await,
        vec![map_row(
            json!(G + 40),
            s1,
            json!({"id": s1, "from": "a@b.example", "to": "x@y.example",
            "error": "no faxbox", "created": G + 40})
        )]
    );

    // accounts: realms and names lowercased.
    fresh_db(store, db::ACCOUNTS).await;
    assert_eq!(push_design_docs(store, db::ACCOUNTS).await.expect("push"), 1);
    save_all(
        store,
        db::ACCOUNTS,
        vec![
            json!({"_id": a, "pvt_type": "account", "name": "Acme Corp", "realm": "Acme.Example.com",
                   "pvt_account_db": account, "pvt_tree": []}),
            json!({"_id": b, "pvt_type": "account", "name": "beta", "realm": "beta.example.com"}),
            json!({"_id": c, "pvt_type": "account", "name": "gone", "realm": "gone.example.com", "pvt_deleted": true}),
        ],
    )
    .await;
    assert_eq!(
        rows(store, db::ACCOUNTS, "accounts/listing_by_realm", ViewOptions::key("acme.example.com")).await,
        vec![map_row(
            json!("acme.example.com"),
            &a,
            json!({"account_id": a, "account_name": "Acme Corp",
            "account_db": account})
        )]
    );
    assert_eq!(
        ids(store, db::ACCOUNTS, "accounts/listing_by_name", ViewOptions::default()).await,
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        rows(store, db::ACCOUNTS, "accounts/listing_by_id", ViewOptions::key(b.clone())).await,
        vec![map_row(json!(b), &b, json!({"account_id": b, "account_name": "beta", "realm": "beta.example.com"}))]
    );
    for name in [&account, &modb] {
        store.db_delete(name).await.expect("cleanup");
    }
}

async fn views_errors(store: &dyn Store, cx: &Ctx) {
    let db = db::account_db(&cx.id(1));
    fresh_db(store, &db).await;
    assert!(matches!(
        store.query(&db, "faxes/crossbar_listing", &ViewOptions::default()).await,
        Err(StoreError::NotFound(_))
    ));
    push_design_docs(store, &db).await.expect("push");
    assert!(store.query(&db, "faxes/crossbar_listing", &ViewOptions::default()).await.expect("empty").is_empty());
    assert!(matches!(store.query(&db, "nope/view", &ViewOptions::default()).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.query(&db, "faxes/nope", &ViewOptions::default()).await, Err(StoreError::NotFound(_))));
    assert!(store.query(&db, "no_slash", &ViewOptions::default()).await.is_err());
    let missing = cx.db("missing");
    assert!(matches!(
        store.query(&missing, "faxes/crossbar_listing", &ViewOptions::default()).await,
        Err(StoreError::DbNotFound(_))
    ));
    store.db_delete(&db).await.expect("cleanup");
}

// ---------------------------------------------------------------------------------------------------------------
// changes

/// Each document's latest change, by id (the feed lists each document once, at its latest revision).
fn by_id(changes: &[Change]) -> Vec<(String, String, bool)> {
    let mut list: Vec<(String, String, bool)> =
        changes.iter().map(|c| (c.id.clone(), c.rev.clone(), c.deleted)).collect();
    list.sort();
    list
}

async fn changes(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("changes");
    fresh_db(store, &db).await;
    let a = save(store, &db, json!({"_id": "a"})).await;
    let b = save(store, &db, json!({"_id": "b"})).await;
    let c = save(store, &db, json!({"_id": "c"})).await;
    let first = store.changes(&db, None, None).await.expect("changes");
    assert_eq!(
        by_id(&first.results),
        vec![("a".into(), rev_of(&a), false), ("b".into(), rev_of(&b), false), ("c".into(), rev_of(&c), false)]
    );

    let a2 = store.save(&db, a.clone()).await.expect("update a");
    let b_gone = store.delete(&db, "b", &rev_of(&b)).await.expect("delete b");
    let latest =
        vec![("a".into(), rev_of(&a2), false), ("b".into(), b_gone.clone(), true), ("c".into(), rev_of(&c), false)];

    // Since a sequence: only what changed after it.
    let since = store.changes(&db, Some(&first.last_seq), None).await.expect("changes since");
    assert_eq!(by_id(&since.results), vec![latest[0].clone(), latest[1].clone()]);

    // Paged with a limit: every document once, at its latest revision.
    let page1 = store.changes(&db, None, Some(2)).await.expect("page 1");
    assert_eq!(page1.results.len(), 2);
    let page2 = store.changes(&db, Some(&page1.last_seq), Some(2)).await.expect("page 2");
    assert_eq!(page2.results.len(), 1);
    let mut all = page1.results.clone();
    all.extend(page2.results.clone());
    assert_eq!(by_id(&all), latest);
    let rest = store.changes(&db, Some(&page2.last_seq), None).await.expect("after the end");
    assert!(rest.results.is_empty(), "{rest:?}");

    assert!(matches!(store.changes(&cx.db("missing"), None, None).await, Err(StoreError::DbNotFound(_))));
}

async fn changes_live(store: &dyn Store, cx: &Ctx) {
    let db = cx.db("live");
    fresh_db(store, &db).await;
    save(store, &db, json!({"_id": "before"})).await;
    let before = store.changes(&db, None, None).await.expect("changes").last_seq;

    // From now: changes made after the feed started, as they happen.
    let mut feed = store.changes_live(&db, None).await.expect("changes_live");
    let x = save(store, &db, json!({"_id": "x", "n": 1})).await;
    let change = next_change(&mut feed).await;
    assert_eq!((change.id.as_str(), change.rev.clone(), change.deleted), ("x", rev_of(&x), false));
    let tombstone = store.delete(&db, "x", &rev_of(&x)).await.expect("delete");
    let change = next_change(&mut feed).await;
    assert_eq!((change.id.as_str(), change.rev.clone(), change.deleted), ("x", tombstone, true));
    let y = save(store, &db, json!({"_id": "y"})).await;
    let change = next_change(&mut feed).await;
    assert_eq!((change.id, change.rev), ("y".to_string(), rev_of(&y)));
    drop(feed);

    // From a sequence: what happened since, then what comes.
    let mut feed = store.changes_live(&db, Some(&before)).await.expect("changes_live since");
    let mut seen = [next_change(&mut feed).await, next_change(&mut feed).await];
    seen.sort_by(|l, r| l.id.cmp(&r.id));
    assert_eq!(seen.iter().map(|c| (c.id.as_str(), c.deleted)).collect::<Vec<_>>(), vec![("x", true), ("y", false)]);
    let z = save(store, &db, json!({"_id": "z"})).await;
    let change = next_change(&mut feed).await;
    assert_eq!((change.id, change.rev), ("z".to_string(), rev_of(&z)));
    drop(feed);

    match store.changes_live(&cx.db("missing"), None).await {
        Err(StoreError::DbNotFound(_)) => {}
        Ok(mut feed) => match tokio::time::timeout(FEED_WAIT, feed.next()).await {
            Ok(Some(Err(StoreError::DbNotFound(_)))) => {}
            other => panic!("a live feed of a missing database gave {other:?}"),
        },
        Err(e) => panic!("a live feed of a missing database gave {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// equivalence of every view between the two backends

mod equivalence {
    use super::*;

    /// A small deterministic generator, so both backends get the very same documents.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next(items.len() as u64) as usize]
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next(100) < percent
        }
    }

    /// About 60 documents of every type the views look at, with fields missing, mixed-case addresses, deleted
    /// flags and equal keys; `modb` gives ids the `YYYYMM-` prefix.
    fn varied_docs(modb: bool) -> Vec<Doc> {
        let accounts = [
            "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a01",
            "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a02",
            "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b03",
        ];
        let faxboxes = [
            "2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c01",
            "2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c02",
            "3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d03",
        ];
        let owners = ["4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e01", "4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e02"];
        let statuses = ["pending", "locked", "processing", "completed", "failed", "pending"];
        let domains = ["Acme.Example", "beta.example", "FAX.example"];
        let types = ["fax", "faxbox", "user", "account", "callflow", "fax_smtp_log", "voicemail", "fax"];
        let mut rng = Lcg(0x5eed);
        let mut docs = Vec::new();
        for i in 0..60u32 {
            let id = if modb {
                format!("202401-{:032x}", 0xd0c0_0000u64 + u64::from(i))
            } else {
                format!("{:032x}", 0xd0c0_0000u64 + u64::from(i))
            };
            let kind = types[i as usize % types.len()];
            let mut d = doc(json!({"_id": id, "pvt_type": kind}));
            let created = G + (rng.next(12) as i64) * 10;
            let letter = rng.pick(&["a", "b", "c", "d"]);
            let email = format!("{}{:03}@{}", letter.to_uppercase(), rng.next(40), rng.pick(&domains));
            match kind {
                "fax" => {
                    if rng.chance(90) {
                        set(&mut d, "pvt_account_id", json!(rng.pick(&accounts)));
                    }
                    if rng.chance(80) {
                        set(&mut d, "faxbox_id", json!(rng.pick(&faxboxes)));
                    }
                    if rng.chance(40) {
                        set(&mut d, "owner_id", json!(rng.pick(&owners)));
                    }
                    if rng.chance(95) {
                        set(&mut d, "pvt_job_status", json!(rng.pick(&statuses)));
                    }
                    if rng.chance(90) {
                        set(&mut d, "pvt_created", json!(created));
                    }
                    if rng.chance(85) {
                        set(&mut d, "pvt_modified", json!(created + rng.next(5) as i64 * 7));
                    }
                    if rng.chance(50) {
                        set(&mut d, "retry_after", json!(rng.next(4) * 30));
                    }
                    if rng.chance(60) {
                        set(&mut d, "attempts", json!(rng.next(3)));
                    }
                    if rng.chance(60) {
                        set(&mut d, "retries", json!(rng.next(4)));
                    }
                    set(&mut d, "to_number", json!(format!("1555{:04}", rng.next(10_000))));
                    if rng.chance(80) {
                        set(&mut d, "from_number", json!(format!("1666{:04}", rng.next(10_000))));
                    }
                    if rng.chance(30) {
                        set(&mut d, "from_name", json!("Sender Name"));
                    }
                    if rng.chance(60) {
                        set(&mut d, "folder", json!(rng.pick(&["inbox", "outbox"])));
                    }
                    if rng.chance(50) {
                        set(&mut d, "pvt_job_node", json!(rng.pick(&["fax@node1", "fax@node2"])));
                    }
                }
                "faxbox" => {
                    set(&mut d, "pvt_account_id", json!(rng.pick(&accounts)));
                    if rng.chance(80) {
                        set(&mut d, "name", json!(format!("Faxbox {i:02}")));
                    }
                    set(&mut d, "pvt_created", json!(created));
                    if rng.chance(85) {
                        set(&mut d, "pvt_smtp_email_address", json!(format!("{:08x}@FAX.example", 0x1000_0000u32 + i)));
                    }
                    if rng.chance(40) {
                        set(&mut d, "custom_smtp_email_address", json!(email));
                    }
                    if rng.chance(80) {
                        let entry = |rng: &mut Lcg| {
                            json!(format!("{}{:03}@{}", rng.pick(&["a", "B", "c"]), rng.next(40), rng.pick(&domains)))
                        };
                        let list = vec![entry(&mut rng), json!(""), entry(&mut rng), json!(7)];
                        set(&mut d, "smtp_permission_list", json!(list));
                    }
                    if rng.chance(40) {
                        set(&mut d, "owner_id", json!(rng.pick(&owners)));
                    }
                    if i % 16 == 1 || rng.chance(40) {
                        set(&mut d, "pvt_cloud_printer_id", json!(format!("printer-{:02}", rng.next(20))));
                        set(&mut d, "pvt_cloud_state", json!(rng.pick(&["registered", "claimed"])));
                    }
                    if rng.chance(20) {
                        set(&mut d, "pvt_cloud_xmpp_jid", json!("jid@xmpp.example"));
                    }
                    if rng.chance(30) {
                        set(&mut d, "flags", json!(["outbound"]));
                    }
                }
                "user" => {
                    if rng.chance(80) {
                        set(&mut d, "email", json!(email));
                    }
                    if rng.chance(80) {
                        set(&mut d, "username", json!(format!("{}{:03}", letter.to_uppercase(), rng.next(40))));
                    }
                    // For the credentials views: `enabled` of every truthiness, hashes present or not, some
                    // equal; chosen by `i`, not the generator, so the other documents stay as they were.
                    match i % 5 {
                        1 => set(&mut d, "enabled", json!(true)),
                        2 => set(&mut d, "enabled", json!(false)),
                        3 => set(&mut d, "enabled", json!(1)),
                        4 => set(&mut d, "enabled", json!("")),
                        _ => {}
                    }
                    if i % 3 != 0 {
                        set(&mut d, "pvt_md5_auth", json!(format!("{:032x}", 0xc0ed_0000u64 + u64::from(i / 8 % 2))));
                    }
                    if i % 7 != 2 {
                        set(&mut d, "pvt_sha1_auth", json!(format!("{:040x}", 0x05ea_0000u64 + u64::from(i / 8 % 3))));
                    }
                    if i % 3 != 0 {
                        set(&mut d, "pvt_account_id", json!(accounts[i as usize % accounts.len()]));
                    }
                }
                "account" => {
                    if rng.chance(85) {
                        set(&mut d, "name", json!(format!("{} Account {:02}", letter.to_uppercase(), rng.next(30))));
                    }
                    if rng.chance(80) {
                        set(&mut d, "realm", json!(format!("{}{:03}.{}", letter, rng.next(40), rng.pick(&domains))));
                    }
                    set(&mut d, "pvt_account_db", json!(db::account_db(&format!("{:032x}", i))));
                    set(&mut d, "pvt_tree", json!([accounts[0]]));
                }
                "callflow" => {
                    let numbers: Vec<String> = (0..rng.next(3)).map(|_| format!("1777{:04}", rng.next(50))).collect();
                    if rng.chance(85) {
                        set(&mut d, "numbers", json!(numbers));
                    }
                    set(&mut d, "name", json!(format!("Callflow {i:02}")));
                }
                "fax_smtp_log" => {
                    set(&mut d, "from", json!(email));
                    set(&mut d, "to", json!("15550001@fax.example"));
                    if rng.chance(60) {
                        set(&mut d, "errors", json!(["faxbox not found"]));
                    } else if rng.chance(50) {
                        set(&mut d, "errors", json!([]));
                    }
                    set(&mut d, "pvt_created", json!(created));
                }
                _ => {
                    set(&mut d, "pvt_created", json!(created));
                }
            }
            if i % 11 == 5 {
                d.insert("pvt_deleted".into(), json!(true));
            }
            docs.push(d);
        }
        // Real Kazoo documents, as stored by Kazoo 4.3.
        for name in ["faxbox.json", "fax-received.json", "account.json", "user.json"] {
            let path = faxbox_tests::shared_dir().join("kazoo-samples").join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut sample: Doc = serde_json::from_str(&text).expect("sample json");
            sample.remove("_rev");
            sample.remove("_attachments");
            docs.push(sample);
        }
        docs
    }

    fn set(d: &mut Doc, key: &str, value: Value) {
        d.insert(key.to_string(), value);
    }

    /// Rows with their documents' `_rev` removed (the backends number revisions differently).
    fn comparable(rows: Vec<ViewRow>) -> Vec<ViewRow> {
        rows.into_iter()
            .map(|mut row| {
                if let Some(doc) = row.doc.as_mut() {
                    doc.remove("_rev");
                }
                row
            })
            .collect()
    }

    async fn load(store: &dyn Store, dbs: &[String]) {
        for name in dbs {
            fresh_db(store, name).await;
            push_design_docs(store, name).await.expect("push design docs");
            let docs = varied_docs(DbClass::of(name) == DbClass::Modb);
            for result in store.bulk_save(name, docs).await.expect("bulk_save") {
                assert!(matches!(result, BulkResult::Saved { .. }), "{name}: {result:?}");
            }
        }
    }

    #[tokio::test]
    async fn every_view_matches() {
        let _turn = GLOBAL_DBS.lock().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let embedded = kz_data::embedded::EmbeddedStore::open(dir.path()).expect("open the embedded store");
        let couch = couch_store().await;
        let account = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a01";
        let dbs =
            vec![db::FAXES.to_string(), db::ACCOUNTS.to_string(), db::account_db(account), db::modb(account, 2024, 1)];
        load(&embedded, &dbs).await;
        load(&couch, &dbs).await;

        let mut views_compared = 0;
        for name in &dbs {
            let class = DbClass::of(name);
            for (doc_class, design) in all_design_docs() {
                if doc_class != class {
                    continue;
                }
                let design_name = design["_id"].as_str().and_then(|id| id.strip_prefix("_design/")).expect("id");
                for (view, def) in design["views"].as_object().expect("views") {
                    let path = format!("{design_name}/{view}");
                    views_compared += 1;
                    let mut variants = vec![
                        ViewOptions::default(),
                        ViewOptions::default().descending(),
                        ViewOptions { skip: Some(3), ..ViewOptions::default().limit(5) },
                    ];
                    if def.get("reduce").is_some() {
                        variants.push(ViewOptions { group: true, ..Default::default() });
                        variants.push(ViewOptions::default().group_level(1));
                        variants.push(ViewOptions::default().reduce(false));
                        variants.push(ViewOptions::default().reduce(false).include_docs());
                    } else {
                        variants.push(ViewOptions::default().include_docs());
                    }
                    for opts in variants {
                        let left = embedded
                            .query(name, &path, &opts)
                            .await
                            .unwrap_or_else(|e| panic!("embedded {name} {path}: {e}"));
                        let right = couch
                            .query(name, &path, &opts)
                            .await
                            .unwrap_or_else(|e| panic!("couchdb {name} {path}: {e}"));
                        let (left, right) = (comparable(left), comparable(right));
                        if left != right {
                            let at = left
                                .iter()
                                .zip(&right)
                                .position(|(l, r)| l != r)
                                .unwrap_or(left.len().min(right.len()));
                            panic!(
                                "{name} {path} {opts:?}: embedded has {} rows, couchdb {}; first difference at row {at}:\n  embedded: {:?}\n  couchdb:  {:?}",
                                left.len(),
                                right.len(),
                                left.get(at),
                                right.get(at)
                            );
                        }
                        if opts == ViewOptions::default() {
                            assert!(!right.is_empty(), "{name} {path}: no rows, the documents miss this view");
                        }
                    }
                }
            }
        }
        // Every view of every design document in priv/couchdb was looked at: each class has a database here.
        let all_views: usize =
            all_design_docs().iter().map(|(_, d)| d["views"].as_object().map_or(0, |v| v.len())).sum();
        assert_eq!(views_compared, all_views);
        for name in &dbs[2..] {
            couch.db_delete(name).await.expect("cleanup");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// CouchDB backend only: what happens when the server goes away

mod couchdb_only {
    use super::*;
    use faxbox_tests::couch_server::CouchTestServer;

    async fn start(dir: &std::path::Path, port: u16) -> CouchTestServer {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || CouchTestServer::start(&dir, port)).await.expect("start a test server")
    }

    #[tokio::test]
    async fn live_feed_resumes_after_a_server_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = start(dir.path(), 0).await;
        let port = server.port();
        let store = CouchStore::connect(server.url()).await.expect("connect");
        let db = "restart";
        assert!(store.db_create(db).await.expect("db_create"));
        let mut feed = store.changes_live(db, None).await.expect("changes_live");
        let a = save(&store, db, json!({"_id": "a"})).await;
        assert_eq!(next_change(&mut feed).await.rev, rev_of(&a));

        server.stop();
        // While it is down, calls fail as temporary failures and the feed keeps retrying.
        assert!(matches!(store.get(db, "a").await, Err(StoreError::Unavailable(_))));
        assert!(matches!(store.save(db, doc(json!({"_id": "b"}))).await, Err(StoreError::Unavailable(_))));
        tokio::time::sleep(Duration::from_millis(800)).await;

        let _server = start(dir.path(), port).await;
        let b = save(&store, db, json!({"_id": "b"})).await;
        // Resumed after `a`: the next change is `b`, not a replay.
        let change = next_change(&mut feed).await;
        assert_eq!((change.id, change.rev), ("b".to_string(), rev_of(&b)));
    }
}
