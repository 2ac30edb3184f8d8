//! Exercises the embedded store through the `Store` trait, checking what a caller of the seam sees.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use kz_core::db::{self, DbClass};
use serde_json::{Value, json};

use super::EmbeddedStore;
use crate::{BulkResult, Doc, Store, StoreError, StoreErrorKind, ViewOptions, ViewRow, design};

fn doc(v: Value) -> Doc {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn open() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (dir, store)
}

fn rev_of(d: &Doc) -> String {
    d["_rev"].as_str().expect("_rev").to_string()
}

fn generation(rev: &str) -> u64 {
    rev.split('-').next().and_then(|n| n.parse().ok()).expect("generation")
}

fn is_rev(rev: &str) -> bool {
    let (n, hash) = rev.split_once('-').unwrap_or(("", ""));
    n.parse::<u64>().is_ok() && hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn databases_are_created_listed_and_deleted_with_couchdb_names() {
    let (_dir, s) = open();
    assert_eq!(s.backend(), "embedded");
    assert!(s.db_create("faxes").await.expect("create"));
    assert!(!s.db_create("faxes").await.expect("create again"));
    let acct = "0123456789abcdef0123456789abcdef";
    // The raw form is accepted and means the encoded one.
    assert!(s.db_create(&db::account_db_raw(acct)).await.expect("create raw"));
    assert!(!s.db_create(&db::account_db(acct)).await.expect("create encoded"));
    assert!(s.db_exists(&db::account_db(acct)).await.expect("exists"));
    assert_eq!(s.db_list().await.expect("list"), vec![db::account_db(acct), "faxes".to_string()]);
    for bad in ["Faxes", "_users", "1x", ""] {
        assert!(matches!(s.db_create(bad).await, Err(StoreError::Invalid(_))), "{bad}");
    }
    assert!(s.db_delete("faxes").await.expect("delete"));
    assert!(!s.db_delete("faxes").await.expect("delete again"));
    assert!(!s.db_exists("faxes").await.expect("exists"));
    assert!(matches!(s.get("faxes", "x").await, Err(StoreError::DbNotFound(_))));
    assert!(matches!(s.save("faxes", doc(json!({}))).await, Err(StoreError::DbNotFound(_))));
    assert!(matches!(s.query("faxes", "faxes/jobs", &ViewOptions::default()).await, Err(StoreError::DbNotFound(_))));
    assert!(matches!(s.changes("faxes", None, None).await, Err(StoreError::DbNotFound(_))));
    assert!(matches!(s.bulk_save("faxes", vec![]).await, Err(StoreError::DbNotFound(_))));
}

#[tokio::test]
async fn documents_follow_couchdb_revision_rules() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    let saved = s.save("d", doc(json!({"b": 1, "a": {"z": 1, "y": 2}}))).await.expect("save");
    let id = saved["_id"].as_str().expect("_id").to_string();
    assert!(kz_core::ids::is_id(&id), "{id}");
    let r1 = rev_of(&saved);
    assert!(is_rev(&r1) && generation(&r1) == 1, "{r1}");
    // Field order is kept, metadata first.
    let got = s.get("d", &id).await.expect("get");
    assert_eq!(got, saved);
    assert_eq!(
        serde_json::to_string(&got).ok(),
        Some(format!(r#"{{"_id":"{id}","_rev":"{r1}","b":1,"a":{{"z":1,"y":2}}}}"#))
    );

    // No rev on a live document, or a stale one: conflict.
    assert!(matches!(s.save("d", doc(json!({"_id": id, "b": 2}))).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.save("d", doc(json!({"_id": id, "_rev": "1-00", "b": 2}))).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.save("d", doc(json!({"_id": "new", "_rev": r1}))).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.save("d", doc(json!({"_id": id, "_rev": "junk"}))).await, Err(StoreError::Invalid(_))));

    let mut update = got.clone();
    update.insert("b".into(), json!(2));
    let updated = s.save("d", update).await.expect("update");
    let r2 = rev_of(&updated);
    assert_eq!(generation(&r2), 2);
    assert_eq!(s.get("d", &id).await.expect("get")["b"], json!(2));
    assert!(matches!(s.delete("d", &id, &r1).await, Err(StoreError::Conflict(_))));

    // Delete, then the tombstone takes a new document without a rev, one generation up.
    let r3 = s.delete("d", &id, &r2).await.expect("delete");
    assert_eq!(generation(&r3), 3);
    assert!(matches!(s.get("d", &id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete("d", &id, &r3).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete("d", &id, &r2).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.delete("d", "never", &r2).await, Err(StoreError::NotFound(_))));
    let again = s.save("d", doc(json!({"_id": id, "c": 3}))).await.expect("recreate");
    assert_eq!(generation(&rev_of(&again)), 4);
    assert_eq!(s.get("d", &id).await.expect("get").get("b"), None);

    // `_deleted: true` deletes.
    let gone = s.save("d", doc(json!({"_id": id, "_rev": rev_of(&again), "_deleted": true}))).await.expect("delete");
    assert_eq!(gone["_deleted"], json!(true));
    assert!(matches!(s.get("d", &id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.get("d", "missing").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.save("d", doc(json!({"_id": "_bad"}))).await, Err(StoreError::Invalid(_))));
    let design = s.save("d", doc(json!({"_id": "_design/x", "views": {}}))).await.expect("design");
    assert_eq!(design["_id"], json!("_design/x"));
}

#[tokio::test]
async fn bulk_save_reports_each_document() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    let first = s.save("d", doc(json!({"_id": "a"}))).await.expect("save");
    let results = s
        .bulk_save(
            "d",
            vec![
                doc(json!({"_id": "a", "v": 1})),
                doc(json!({"_id": "a", "_rev": rev_of(&first), "v": 2})),
                doc(json!({"_id": "b"})),
                doc(json!({"_id": "b"})),
                doc(json!({"_id": "_nope"})),
                doc(json!({"v": 3})),
            ],
        )
        .await
        .expect("bulk");
    assert_eq!(results.len(), 6);
    assert!(matches!(&results[0], BulkResult::Failed { id, error: StoreErrorKind::Conflict, .. } if id == "a"));
    assert!(matches!(&results[1], BulkResult::Saved { id, rev } if id == "a" && generation(rev) == 2));
    assert!(matches!(&results[2], BulkResult::Saved { id, .. } if id == "b"));
    assert!(matches!(&results[3], BulkResult::Failed { error: StoreErrorKind::Conflict, .. }));
    assert!(matches!(&results[4], BulkResult::Failed { error: StoreErrorKind::Invalid, .. }));
    let BulkResult::Saved { id, .. } = &results[5] else { panic!("saved: {:?}", results[5]) };
    assert!(kz_core::ids::is_id(id));
    assert_eq!(s.get("d", "a").await.expect("a")["v"], json!(2));
    assert_eq!(s.get("d", id).await.expect("generated")["v"], json!(3));
}

#[tokio::test]
async fn attachments_bump_revisions_and_show_as_stubs() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    // A new document holding only the attachment.
    let pdf = Bytes::from_static(b"%PDF-1.4 hello");
    let r1 = s.put_attachment("d", "j", "original.pdf", "application/pdf", pdf.clone(), None).await.expect("put");
    assert_eq!(generation(&r1), 1);
    let got = s.get_attachment("d", "j", "original.pdf").await.expect("get");
    assert_eq!(got.content_type, "application/pdf");
    assert_eq!(got.data, pdf);
    let d = s.get("d", "j").await.expect("doc");
    assert_eq!(
        d["_attachments"],
        json!({"original.pdf": {"content_type": "application/pdf", "revpos": 1,
            "digest": format!("md5-{}", super::digest::base64(&super::digest::md5(&pdf))),
            "length": pdf.len(), "stub": true}})
    );
    // A wrong or missing rev conflicts.
    let tiff = Bytes::from(vec![0u8, 1, 2, 255]);
    assert!(matches!(
        s.put_attachment("d", "j", "fax.tiff", "image/tiff", tiff.clone(), None).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.put_attachment("d", "j", "fax.tiff", "image/tiff", tiff.clone(), Some("1-0")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.put_attachment("d", "nope", "f", "text/plain", tiff.clone(), Some(&r1)).await,
        Err(StoreError::Conflict(_))
    ));
    let r2 = s.put_attachment("d", "j", "fax.tiff", "image/tiff", tiff.clone(), Some(&r1)).await.expect("second");
    assert_eq!(generation(&r2), 2);
    // Saving the document keeps its attachments, whatever stubs the client sends.
    let mut d = s.get("d", "j").await.expect("doc");
    d.insert("pvt_job_status".into(), json!("pending"));
    d.insert("_attachments".into(), json!({}));
    let saved = s.save("d", d).await.expect("save");
    let r3 = rev_of(&saved);
    assert_eq!(generation(&r3), 3);
    let stubs = saved["_attachments"].as_object().expect("stubs");
    assert_eq!(stubs.keys().collect::<Vec<_>>(), vec!["original.pdf", "fax.tiff"]);
    assert_eq!(stubs["fax.tiff"]["revpos"], json!(2));
    assert_eq!(stubs["fax.tiff"]["length"], json!(4));
    assert_eq!(s.get_attachment("d", "j", "fax.tiff").await.expect("tiff").data, tiff);
    // Removing one keeps the other.
    assert!(matches!(s.delete_attachment("d", "j", "fax.tiff", &r2).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.delete_attachment("d", "j", "other", &r3).await, Err(StoreError::NotFound(_))));
    let r4 = s.delete_attachment("d", "j", "fax.tiff", &r3).await.expect("delete att");
    assert_eq!(generation(&r4), 4);
    assert!(matches!(s.get_attachment("d", "j", "fax.tiff").await, Err(StoreError::NotFound(_))));
    let d = s.get("d", "j").await.expect("doc");
    assert_eq!(d["pvt_job_status"], json!("pending"));
    assert_eq!(d["_attachments"].as_object().map(|m| m.len()), Some(1));
    // Deleting the document drops its attachments, also for a document created again.
    s.delete("d", "j", &r4).await.expect("delete");
    assert!(matches!(s.get_attachment("d", "j", "original.pdf").await, Err(StoreError::NotFound(_))));
    let again = s.save("d", doc(json!({"_id": "j"}))).await.expect("recreate");
    assert_eq!(again.get("_attachments"), None);
    assert!(matches!(s.get_attachment("d", "j", "original.pdf").await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        s.put_attachment("d", "j", "_x", "text/plain", Bytes::new(), Some(&rev_of(&again))).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    let before = s.write_stats();
    let n = 300;
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.save("d", doc(json!({"_id": format!("doc{i:04}"), "i": i}))).await }));
    }
    for t in tasks {
        t.await.expect("join").expect("every concurrent write succeeds");
    }
    let after = s.write_stats();
    let writes = after.writes - before.writes;
    let commits = after.commits - before.commits;
    assert_eq!(writes, n);
    assert!(commits < writes, "{commits} commits for {writes} writes");
    let changes = s.changes("d", None, None).await.expect("changes");
    assert_eq!(changes.results.len(), n as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_in_a_group_does_not_fail_the_others() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    let mut tasks = Vec::new();
    // Twenty writers race for the same new id; exactly one wins, the other writes in their groups succeed.
    for i in 0..20 {
        let s1 = s.clone();
        tasks.push(tokio::spawn(async move { s1.save("d", doc(json!({"_id": "same", "i": i}))).await }));
        let s2 = s.clone();
        tasks.push(tokio::spawn(async move { s2.save("d", doc(json!({"_id": format!("own{i}")}))).await }));
    }
    let mut wins = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((wins, conflicts), (21, 19));
}

#[tokio::test]
async fn changes_list_each_document_once_at_its_latest_change() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    let a = s.save("d", doc(json!({"_id": "a"}))).await.expect("a");
    s.save("d", doc(json!({"_id": "b"}))).await.expect("b");
    s.save("d", doc(json!({"_id": "c"}))).await.expect("c");
    let a2 = s.save("d", doc(json!({"_id": "a", "_rev": rev_of(&a)}))).await.expect("a2");
    let del = s.delete("d", "b", &rev_of(&s.get("d", "b").await.expect("b"))).await.expect("delete b");
    s.save("d", doc(json!({"_id": "_local/x"}))).await.expect("local");

    let all = s.changes("d", None, None).await.expect("changes");
    let ids: Vec<_> = all.results.iter().map(|c| (c.id.as_str(), c.deleted)).collect();
    assert_eq!(ids, vec![("c", false), ("a", false), ("b", true)]);
    assert_eq!(all.results[1].rev, rev_of(&a2));
    assert_eq!(all.results[2].rev, del);
    assert_eq!(all.last_seq, "5");
    let page = s.changes("d", None, Some(2)).await.expect("page");
    assert_eq!(page.results.len(), 2);
    assert_eq!(page.last_seq, page.results[1].seq);
    let rest = s.changes("d", Some(&page.last_seq), None).await.expect("rest");
    assert_eq!(rest.results.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["b"]);
    let none = s.changes("d", Some(&all.last_seq), None).await.expect("none");
    assert!(none.results.is_empty());
    assert_eq!(none.last_seq, all.last_seq);
    assert!(matches!(s.changes("d", Some("bogus"), None).await, Err(StoreError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_follow_commits() {
    let (_dir, s) = open();
    s.db_create("d").await.expect("create");
    s.db_create("other").await.expect("create");
    let old = s.save("d", doc(json!({"_id": "old"}))).await.expect("old");
    let mut from_now = s.changes_live("d", None).await.expect("live");
    let mut from_start = s.changes_live("d", Some("0")).await.expect("live");
    s.save("other", doc(json!({"_id": "elsewhere"}))).await.expect("other");
    s.save("d", doc(json!({"_id": "new"}))).await.expect("new");
    s.delete("d", "old", &rev_of(&old)).await.expect("delete");

    let c = next(&mut from_now).await;
    assert_eq!((c.id.as_str(), c.deleted), ("new", false));
    let c = next(&mut from_now).await;
    assert_eq!((c.id.as_str(), c.deleted), ("old", true));
    let c = next(&mut from_start).await;
    assert_eq!(c.id, "old");
    assert_eq!(c.seq, "1");
    assert_eq!(next(&mut from_start).await.id, "new");
    assert_eq!(next(&mut from_start).await.id, "old");
    // Deleting the database ends the feed with an error.
    s.db_delete("d").await.expect("delete db");
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), from_now.next()).await.expect("an item");
    assert!(matches!(end, Some(Err(StoreError::DbNotFound(_)))), "{end:?}");
    assert!(matches!(s.changes_live("d", None).await, Err(StoreError::DbNotFound(_))));
}

type Feed = futures::stream::BoxStream<'static, crate::StoreResult<crate::Change>>;

async fn next(feed: &mut Feed) -> crate::Change {
    tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
        .await
        .expect("a change within 5 s")
        .expect("stream open")
        .expect("change")
}

/// A fax job as the `faxes` database holds it.
fn job(id: &str, account: &str, status: &str, created: u64) -> Doc {
    doc(json!({
        "_id": id, "pvt_type": "fax", "pvt_job_status": status, "pvt_account_id": account, "faxbox_id": "fb1",
        "to_number": "+15551230000", "from_number": "+15559870000", "pvt_created": created,
        "pvt_modified": created, "retry_after": 0, "attempts": 0, "retries": 3
    }))
}

async fn faxes_db(s: &EmbeddedStore) {
    s.db_create("faxes").await.expect("create");
    assert_eq!(design::push_design_docs(s, "faxes").await.expect("push"), 2);
}

fn keys(rows: &[ViewRow]) -> Vec<Value> {
    rows.iter().map(|r| r.key.clone()).collect()
}

fn ids(rows: &[ViewRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_deref().unwrap_or("-")).collect()
}

#[tokio::test]
async fn views_need_their_design_document() {
    let (_dir, s) = open();
    s.db_create("faxes").await.expect("create");
    s.save("faxes", job("j1", "a", "pending", 1)).await.expect("job");
    let q = ViewOptions::default();
    assert!(matches!(s.query("faxes", "faxes/jobs", &q).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.query("faxes", "nonsense", &q).await, Err(StoreError::Invalid(_))));
    // Saving the design document builds the rows of the documents already there.
    design::push_design_docs(&s, "faxes").await.expect("push");
    assert_eq!(ids(&s.query("faxes", "faxes/jobs", &q).await.expect("jobs")), vec!["j1"]);
    assert!(matches!(s.query("faxes", "faxes/nope", &q).await, Err(StoreError::NotFound(_))));
    // A view with no twin is refused as such.
    let custom = doc(json!({"_id": "_design/custom", "views": {"v": {"map": "function(doc) { emit(doc.x, 1); }"}}}));
    s.save("faxes", custom).await.expect("custom design saves");
    match s.query("faxes", "custom/v", &q).await {
        Err(StoreError::Invalid(msg)) => assert!(msg.contains("custom/v has no embedded implementation"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // Deleting the design document removes the view.
    let d = s.get("faxes", "_design/faxes").await.expect("design");
    s.delete("faxes", "_design/faxes", &rev_of(&d)).await.expect("delete design");
    assert!(matches!(s.query("faxes", "faxes/jobs", &q).await, Err(StoreError::NotFound(_))));
    // A design document of another class's database works wherever it is saved.
    s.db_create("scratch").await.expect("scratch");
    for d in design::design_docs(DbClass::Faxes) {
        s.save("scratch", d).await.expect("design");
    }
    s.save("scratch", job("j1", "a", "pending", 1)).await.expect("job");
    assert_eq!(ids(&s.query("scratch", "faxes/jobs", &q).await.expect("jobs")), vec!["j1"]);
}

#[tokio::test]
async fn view_rows_follow_document_writes() {
    let (_dir, s) = open();
    faxes_db(&s).await;
    let q = ViewOptions::default();
    let saved = s.save("faxes", job("j1", "a", "pending", 10)).await.expect("save");
    assert_eq!(
        keys(&s.query("faxes", "faxes/schedule_accounts", &q.clone().reduce(false)).await.expect("q")),
        vec![json!("a")]
    );
    // Status moves: the pending row goes, a processing row appears.
    let mut d = saved.clone();
    d.insert("pvt_job_status".into(), json!("processing"));
    d.insert("pvt_job_node".into(), json!("faxd@n1"));
    let saved = s.save("faxes", d).await.expect("update");
    assert!(s.query("faxes", "faxes/schedule_accounts", &q).await.expect("q").is_empty());
    let processing = s.query("faxes", "faxes/processing_by_node", &ViewOptions::key("faxd@n1")).await.expect("q");
    assert_eq!(ids(&processing), vec!["j1"]);
    assert_eq!(processing[0].value["node"], json!("faxd@n1"));
    // An attachment does not disturb the rows; a delete removes them.
    let rev = s
        .put_attachment("faxes", "j1", "f.tiff", "image/tiff", Bytes::from_static(b"II*"), Some(&rev_of(&saved)))
        .await
        .expect("att");
    assert_eq!(s.query("faxes", "faxes/processing_by_node", &q).await.expect("q").len(), 1);
    s.delete("faxes", "j1", &rev).await.expect("delete");
    assert!(s.query("faxes", "faxes/processing_by_node", &q).await.expect("q").is_empty());
    assert!(s.query("faxes", "faxes/crossbar_listing", &q).await.expect("q").is_empty());
}

#[tokio::test]
async fn view_queries_honour_couchdb_parameters() {
    let (_dir, s) = open();
    faxes_db(&s).await;
    let acct = "0123456789abcdef0123456789abcdef";
    let mut docs = Vec::new();
    for (i, status) in ["pending", "pending", "completed", "pending", "failed", "locked"].iter().enumerate() {
        docs.push(job(&format!("j{i}"), acct, status, 100 + i as u64));
    }
    docs.push(job("k1", "ffffffffffffffffffffffffffffffff", "pending", 50));
    docs.push(job("k0", "ffffffffffffffffffffffffffffffff", "pending", 50));
    assert!(s.bulk_save("faxes", docs).await.expect("bulk").iter().all(|r| matches!(r, BulkResult::Saved { .. })));
    let v = "faxes/list_by_account_state";

    // A prefix range closed by `{}`.
    let pending =
        s.query("faxes", v, &ViewOptions::range(json!([acct, "pending"]), json!([acct, "pending", {}]))).await;
    let pending = pending.expect("range");
    assert_eq!(ids(&pending), vec!["j0", "j1", "j3"]);
    assert_eq!(pending[0].key, json!([acct, "pending", 100]));
    assert_eq!(pending[0].value["status"], json!("pending"));
    assert!(pending[0].doc.is_none());
    // Descending swaps the bounds.
    let desc = ViewOptions::range(json!([acct, "pending", {}]), json!([acct, "pending"])).descending();
    assert_eq!(ids(&s.query("faxes", v, &desc).await.expect("desc")), vec!["j3", "j1", "j0"]);
    assert!(matches!(
        s.query("faxes", v, &ViewOptions::range(json!([acct, "z"]), json!([acct, "a"]))).await,
        Err(StoreError::Invalid(_))
    ));
    // Limit, skip, inclusive_end.
    let all = ViewOptions::range(json!([acct]), json!([acct, {}]));
    assert_eq!(ids(&s.query("faxes", v, &all).await.expect("all")), vec!["j2", "j4", "j5", "j0", "j1", "j3"]);
    let page = ViewOptions { skip: Some(1), ..all.clone() }.limit(2);
    assert_eq!(ids(&s.query("faxes", v, &page).await.expect("page")), vec!["j4", "j5"]);
    let exclusive =
        ViewOptions { inclusive_end: Some(false), ..ViewOptions::range(json!([acct]), json!([acct, "pending", 101])) };
    assert_eq!(ids(&s.query("faxes", v, &exclusive).await.expect("exclusive")), vec!["j2", "j4", "j5", "j0"]);
    let exclusive_desc = ViewOptions {
        inclusive_end: Some(false),
        ..ViewOptions::range(json!([acct, "pending", 101]), json!([acct, "locked", 105])).descending()
    };
    assert_eq!(ids(&s.query("faxes", v, &exclusive_desc).await.expect("exclusive desc")), vec!["j1", "j0"]);
    // key, keys (in the order given, equal keys by doc id), include_docs.
    let k = "ffffffffffffffffffffffffffffffff";
    let by_key = s.query("faxes", v, &ViewOptions::key(json!([k, "pending", 50])).include_docs()).await.expect("key");
    assert_eq!(ids(&by_key), vec!["k0", "k1"]);
    assert_eq!(by_key[1].doc.as_ref().map(|d| d["_id"].clone()), Some(json!("k1")));
    let many = ViewOptions {
        keys: Some(vec![json!([acct, "locked", 105]), json!(["none"]), json!([k, "pending", 50])]),
        ..Default::default()
    };
    assert_eq!(ids(&s.query("faxes", v, &many).await.expect("keys")), vec!["j5", "k0", "k1"]);
    let many_desc = ViewOptions { descending: true, limit: Some(2), ..many };
    assert_eq!(ids(&s.query("faxes", v, &many_desc).await.expect("keys")), vec!["j5", "k1"]);
    // Grouping a map view is refused as CouchDB does.
    assert!(matches!(s.query("faxes", v, &ViewOptions::default().group_level(1)).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.query("faxes", v, &ViewOptions::default().reduce(true)).await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn reduce_views_sum_count_and_group() {
    let (_dir, s) = open();
    faxes_db(&s).await;
    let (a, b) = ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    let docs = vec![
        job("1", a, "pending", 1),
        job("2", a, "locked", 2),
        job("3", a, "completed", 3),
        job("4", b, "pending", 4),
        doc(json!({"_id": "fb", "pvt_type": "faxbox", "smtp_permission_list": ["X@y.com", "x@Y.com", "z@y.com"]})),
    ];
    s.bulk_save("faxes", docs).await.expect("bulk");
    let v = "faxes/schedule_accounts";
    let total = s.query("faxes", v, &ViewOptions::default()).await.expect("reduce");
    assert_eq!(total, vec![ViewRow { id: None, key: Value::Null, value: json!(3), doc: None }]);
    let grouped = s.query("faxes", v, &ViewOptions { group: true, ..Default::default() }).await.expect("group");
    assert_eq!(keys(&grouped), vec![json!(a), json!(b)]);
    assert_eq!(grouped.iter().map(|r| r.value.clone()).collect::<Vec<_>>(), vec![json!(2), json!(1)]);
    let level1 = s.query("faxes", v, &ViewOptions::default().group_level(1)).await.expect("level");
    assert_eq!(level1, grouped);
    let only_b = s.query("faxes", v, &ViewOptions::key(b)).await.expect("key");
    assert_eq!(only_b[0].value, json!(1));
    let none = s.query("faxes", v, &ViewOptions::key("c")).await.expect("none");
    assert!(none.is_empty());
    let desc = s.query("faxes", v, &ViewOptions { group: true, ..Default::default() }.descending().limit(1)).await;
    assert_eq!(keys(&desc.expect("desc")), vec![json!(b)]);
    assert!(matches!(s.query("faxes", v, &ViewOptions::default().include_docs()).await, Err(StoreError::Invalid(_))));
    let keys_no_group = ViewOptions { keys: Some(vec![json!(a)]), ..Default::default() };
    assert!(matches!(s.query("faxes", v, &keys_no_group).await, Err(StoreError::Invalid(_))));
    let keys_group = ViewOptions { keys: Some(vec![json!(b), json!(a)]), group: true, ..Default::default() };
    let by_keys = s.query("faxes", v, &keys_group).await.expect("keys group");
    assert_eq!(keys(&by_keys), vec![json!(b), json!(a)]);
    // `_count` over lowercased permission entries.
    let perms = s.query("faxes", "faxbox/email_permissions", &ViewOptions { group: true, ..Default::default() }).await;
    let perms = perms.expect("count");
    assert_eq!(keys(&perms), vec![json!("x@y.com"), json!("z@y.com")]);
    assert_eq!(perms[0].value, json!(2));

    // group_level over array keys, with a `_sum` and a `_stats` reduce of a custom design of known views.
    s.db_create("modb").await.expect("modb");
    let mut design = design::design_docs(DbClass::Modb).remove(0);
    let views = design.get_mut("views").and_then(Value::as_object_mut).expect("views");
    views["list_by_faxbox"]["reduce"] = json!("_count");
    views["list_by_folder"]["reduce"] = json!("_stats");
    s.save("modb", design).await.expect("design");
    let faxes = [("f1", "inbox", 10), ("f1", "inbox", 11), ("f1", "outbox", 12), ("f2", "inbox", 13)];
    for (i, (faxbox, folder, created)) in faxes.iter().enumerate() {
        let d = json!({"_id": format!("x{i}"), "pvt_type": "fax", "faxbox_id": faxbox, "folder": folder,
            "pvt_created": created});
        s.save("modb", doc(d)).await.expect("fax");
    }
    let q = |level| ViewOptions::default().group_level(level);
    let l1 = s.query("modb", "faxes/list_by_faxbox", &q(1)).await.expect("l1");
    assert_eq!(keys(&l1), vec![json!(["f1"]), json!(["f2"])]);
    assert_eq!(l1.iter().map(|r| r.value.clone()).collect::<Vec<_>>(), vec![json!(3), json!(1)]);
    let l2 = s.query("modb", "faxes/list_by_faxbox", &q(2)).await.expect("l2");
    assert_eq!(keys(&l2), vec![json!(["f1", "inbox"]), json!(["f1", "outbox"]), json!(["f2", "inbox"])]);
    assert_eq!(l2.iter().map(|r| r.value.clone()).collect::<Vec<_>>(), vec![json!(2), json!(1), json!(1)]);
    let l0 = s.query("modb", "faxes/list_by_faxbox", &q(0)).await.expect("l0");
    assert_eq!(l0, vec![ViewRow { id: None, key: Value::Null, value: json!(4), doc: None }]);
    let range =
        ViewOptions { group_level: Some(2), ..ViewOptions::range(json!(["f1", "inbox"]), json!(["f1", "inbox", {}])) };
    assert_eq!(
        keys(&s.query("modb", "faxes/list_by_faxbox", &range).await.expect("range")),
        vec![json!(["f1", "inbox"])]
    );
    // `_stats` needs numbers: the values here are objects, refused like CouchDB's builtin_reduce_error.
    assert!(matches!(s.query("modb", "faxes/list_by_folder", &q(1)).await, Err(StoreError::Invalid(_))));
    let map_rows = s.query("modb", "faxes/list_by_folder", &ViewOptions::default().reduce(false)).await.expect("map");
    assert_eq!(map_rows.len(), 4);
}

#[tokio::test]
async fn changing_a_design_document_rebuilds_only_its_changed_views() {
    let (_dir, s) = open();
    faxes_db(&s).await;
    s.save("faxes", job("j1", "a", "pending", 1)).await.expect("job");
    let mut d = s.get("faxes", "_design/faxes").await.expect("design");
    let views = d.get_mut("views").and_then(Value::as_object_mut).expect("views");
    views.shift_remove("jobs");
    views["schedule_accounts"]["reduce"] = json!("_count");
    s.save("faxes", d).await.expect("update design");
    assert!(matches!(s.query("faxes", "faxes/jobs", &ViewOptions::default()).await, Err(StoreError::NotFound(_))));
    let counted = s.query("faxes", "faxes/schedule_accounts", &ViewOptions::default()).await.expect("count");
    assert_eq!(counted[0].value, json!(1));
    // Pushing the shipped design documents again restores them.
    assert_eq!(design::push_design_docs(&s, "faxes").await.expect("push"), 1);
    assert_eq!(ids(&s.query("faxes", "faxes/jobs", &ViewOptions::default()).await.expect("jobs")), vec!["j1"]);
    assert_eq!(design::push_design_docs(&s, "faxes").await.expect("push"), 0);
}

#[tokio::test]
async fn everything_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = EmbeddedStore::open(dir.path()).expect("open");
        faxes_db(&s).await;
        s.save("faxes", job("j1", "a", "pending", 1)).await.expect("job");
        s.put_attachment("faxes", "att", "a.txt", "text/plain", Bytes::from_static(b"hi"), None).await.expect("att");
    }
    let s = Arc::new(EmbeddedStore::open(dir.path()).expect("reopen"));
    assert_eq!(s.get("faxes", "j1").await.expect("doc")["pvt_job_status"], json!("pending"));
    assert_eq!(s.get_attachment("faxes", "att", "a.txt").await.expect("att").data, Bytes::from_static(b"hi"));
    // Views keep being maintained after the restart.
    s.save("faxes", job("j2", "b", "pending", 2)).await.expect("job");
    let group = ViewOptions { group: true, ..Default::default() };
    let grouped = s.query("faxes", "faxes/schedule_accounts", &group).await.expect("group");
    assert_eq!(keys(&grouped), vec![json!("a"), json!("b")]);
    assert_eq!(s.changes("faxes", None, None).await.expect("changes").results.len(), 5);
}

#[tokio::test]
async fn reopening_rebuilds_rows_of_an_older_twin_revision_and_drops_unknown_maps() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = EmbeddedStore::open(dir.path()).expect("open");
        faxes_db(&s).await;
        s.save("faxes", job("j1", "a", "pending", 1)).await.expect("job");
    }
    {
        // What an older build would have left: rows of a previous twin revision (here: lost), and a stored view
        // whose map function this build has no twin for.
        let conn = rusqlite::Connection::open(dir.path().join(super::schema::FILE_NAME)).expect("sqlite");
        conn.execute_batch(
            "UPDATE views SET twin = 0 WHERE name = 'faxes/jobs';
             DELETE FROM view_rows WHERE view = (SELECT id FROM views WHERE name = 'faxes/jobs');
             UPDATE views SET map = 'function(doc) {}' WHERE name = 'faxes/crossbar_listing';",
        )
        .expect("age the views");
    }
    let s = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(ids(&s.query("faxes", "faxes/jobs", &ViewOptions::default()).await.expect("jobs")), vec!["j1"]);
    assert!(matches!(
        s.query("faxes", "faxes/crossbar_listing", &ViewOptions::default()).await,
        Err(StoreError::Invalid(_))
    ));
    // Pushing the design documents again brings the dropped view back.
    let mut d = s.get("faxes", "_design/faxes").await.expect("design");
    d.insert("touched".into(), json!(true));
    s.save("faxes", d).await.expect("resave design");
    assert_eq!(s.query("faxes", "faxes/crossbar_listing", &ViewOptions::default()).await.expect("listing").len(), 1);
}
