//! `sup fax_maintenance` functions over fixture jobs in the `faxes` database of an embedded store.

use std::sync::Arc;

use fax::maintenance::{MaintenanceContext, MaintenanceError, Output, run};
use fax::registry::{Lookup, Registry};
use kz_config::Config;
use kz_core::{db, time};
use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store, StoreError};
use serde_json::{Value, json};

const ACCT_A: &str = "a0000000000000000000000000000001";
const ACCT_B: &str = "b0000000000000000000000000000002";
const FB_1: &str = "f0000000000000000000000000000001";
const FB_2: &str = "f0000000000000000000000000000002";
const J1: &str = "01000000000000000000000000000001";
const J2: &str = "01000000000000000000000000000002";
const J3: &str = "01000000000000000000000000000003";
const J4: &str = "01000000000000000000000000000004";
const J5: &str = "01000000000000000000000000000005";
const J6: &str = "01000000000000000000000000000006";

/// 2024-01-01 00:00:00 UTC in Gregorian seconds.
const G2024: i64 = 63_871_286_400;

fn doc(v: Value) -> Doc {
    v.as_object().cloned().expect("fixture is an object")
}

fn job(id: &str, account: &str, faxbox: Option<&str>, status: &str, modified: i64, attempts: u32, extra: Value) -> Doc {
    let mut d = doc(json!({
        "_id": id, "pvt_type": "fax", "pvt_job_status": status, "pvt_account_id": account, "pvt_account_db": "faxes",
        "from_number": "+14155550000", "from_name": "Acme Fax", "to_number": format!("+1415555{}", &id[28..]),
        "to_name": "Remote", "attempts": attempts, "retries": 3, "folder": "outbox",
        "pvt_created": modified - 60, "pvt_modified": modified
    }));
    if let Some(fb) = faxbox {
        d.insert("faxbox_id".into(), json!(fb));
    }
    if let Value::Object(m) = extra {
        d.extend(m);
    }
    d
}

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: MaintenanceContext,
}

async fn fixture(with_views: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    if with_views {
        kz_data::design::refresh_views(store.as_ref()).await.expect("views");
    } else {
        store.db_create(db::FAXES).await.expect("faxes");
    }
    let jobs = [
        job(J1, ACCT_A, Some(FB_1), "pending", G2024 + 3_661, 0, json!({})),
        job(J2, ACCT_A, None, "locked", G2024 + 7_200, 1, json!({})),
        job(J3, ACCT_B, Some(FB_2), "processing", G2024 + 86_400, 1, json!({"pvt_job_node": "faxd@node1"})),
        job(J4, ACCT_A, Some(FB_1), "completed", G2024 + 100, 1, json!({})),
        job(J5, ACCT_B, Some(FB_2), "pending", G2024 + 60, 2, json!({"retry_after": 7_200})),
        job(J6, ACCT_A, Some(FB_1), "pending", G2024, 0, json!({"pvt_deleted": true})),
    ];
    for j in jobs {
        store.save(db::FAXES, j).await.expect("save job");
    }
    store
        .save(db::FAXES, doc(json!({"_id": FB_1, "pvt_type": "faxbox", "name": "copy", "pvt_account_id": ACCT_A})))
        .await
        .expect("faxbox copy");
    let config = Config::new(store.clone(), "faxd@test", None);
    let registry = Registry::new(store.clone(), config.clone());
    Fixture { _dir: dir, ctx: MaintenanceContext { store, config, registry } }
}

async fn call(f: &Fixture, function: &str, args: &[&str]) -> Result<Output, MaintenanceError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run(&f.ctx, function, &args).await
}

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Output {
    Output::Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
}

const BY_STATE: &[&str] = &["Job", "Date", "State", "Account", "Faxbox", "From", "To"];

#[tokio::test]
async fn pending_jobs_lists_due_and_locked_jobs_in_due_order() {
    let f = fixture(true).await;
    let out = call(&f, "pending_jobs", &[]).await.expect("pending_jobs");
    assert_eq!(
        out,
        table(
            &["Job", "Date", "Account", "Faxbox", "From", "To", "Tries"],
            vec![
                // Due at modified + retry_after: J1 (01:01:01), J2 (02:00:00), J5 (00:01:00 + 2 h).
                vec![
                    json!(J1),
                    json!("2024-01-01 01:01:01"),
                    json!(ACCT_A),
                    json!(FB_1),
                    json!("+14155550000"),
                    json!("+14155550001"),
                    json!("0/3")
                ],
                vec![
                    json!(J2),
                    json!("2024-01-01 02:00:00"),
                    json!(ACCT_A),
                    json!("(none)"),
                    json!("+14155550000"),
                    json!("+14155550002"),
                    json!("1/3")
                ],
                vec![
                    json!(J5),
                    json!("2024-01-01 00:01:00"),
                    json!(ACCT_B),
                    json!(FB_2),
                    json!("+14155550000"),
                    json!("+14155550005"),
                    json!("2/3")
                ],
            ]
        )
    );
}

#[tokio::test]
async fn active_jobs_lists_processing_jobs_by_node() {
    let f = fixture(true).await;
    let out = call(&f, "active_jobs", &[]).await.expect("active_jobs");
    assert_eq!(
        out,
        table(
            &["Node", "Job", "Date", "Account", "FaxBox", "From", "To"],
            vec![vec![
                json!("faxd@node1"),
                json!(J3),
                json!("2024-01-02 00:00:00"),
                json!(ACCT_B),
                json!(FB_2),
                json!("+14155550000"),
                json!("+14155550003")
            ]]
        )
    );
}

#[tokio::test]
async fn account_and_faxbox_jobs_by_state() {
    let f = fixture(true).await;
    let row = |id: &str, date: &str, state: &str, acct: &str, fb: &str, to: &str| {
        vec![json!(id), json!(date), json!(state), json!(acct), json!(fb), json!("+14155550000"), json!(to)]
    };
    // The state defaults to pending; the deleted job never shows.
    assert_eq!(
        call(&f, "account_jobs", &[ACCT_A]).await.expect("account_jobs"),
        table(BY_STATE, vec![row(J1, "2024-01-01 01:01:01", "pending", ACCT_A, FB_1, "+14155550001")])
    );
    assert_eq!(
        call(&f, "account_jobs", &[ACCT_A, "locked"]).await.expect("account_jobs locked"),
        table(BY_STATE, vec![row(J2, "2024-01-01 02:00:00", "locked", ACCT_A, "(none)", "+14155550002")])
    );
    assert_eq!(call(&f, "account_jobs", &[ACCT_A, "failed"]).await.expect("none"), table(BY_STATE, vec![]));
    assert_eq!(
        call(&f, "faxbox_jobs", &[FB_1, "completed"]).await.expect("faxbox_jobs"),
        table(BY_STATE, vec![row(J4, "2024-01-01 00:01:40", "completed", ACCT_A, FB_1, "+14155550004")])
    );
    assert_eq!(
        call(&f, "faxbox_jobs", &[FB_2]).await.expect("faxbox_jobs pending"),
        table(BY_STATE, vec![row(J5, "2024-01-01 00:01:00", "pending", ACCT_B, FB_2, "+14155550005")])
    );
}

#[tokio::test]
async fn restart_and_update_jobs() {
    let f = fixture(true).await;
    let store = f.ctx.store.clone();
    let before = store.get(db::FAXES, J4).await.expect("job");
    let out = call(&f, "restart_job", &[J4]).await.expect("restart");
    let after = store.get(db::FAXES, J4).await.expect("job");
    assert_eq!(after["pvt_job_status"], json!("pending"));
    let modified = after["pvt_modified"].as_i64().expect("modified");
    assert!((time::now_s() - modified).abs() <= 5, "pvt_modified is now");
    assert_ne!(after["_rev"], before["_rev"]);
    assert_eq!(after["to_number"], before["to_number"], "the rest of the job is kept");
    assert_eq!(
        out,
        Output::Ok(json!({
            "job_id": J4, "pvt_job_status": "pending", "previous_status": "completed",
            "pvt_modified": modified, "_rev": after["_rev"]
        }))
    );
    // The restarted job is now listed as pending.
    match call(&f, "account_jobs", &[ACCT_A]).await.expect("list") {
        Output::Table { rows, .. } => {
            let ids: Vec<&Value> = rows.iter().map(|r| &r[0]).collect();
            assert_eq!(ids, [&json!(J4), &json!(J1)]);
        }
        other => panic!("expected a table, got {other:?}"),
    }

    match call(&f, "restart_job", &[J4]).await {
        Err(MaintenanceError::Refused(text)) => {
            assert_eq!(text, format!("job_not_already_in_state: job {J4} is already pending"))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.get(db::FAXES, J4).await.expect("job")["_rev"], after["_rev"], "nothing written");

    let out = call(&f, "update_job", &[J3, "failed"]).await.expect("update");
    assert!(matches!(out, Output::Ok(ref v) if v["previous_status"] == json!("processing")), "{out:?}");
    assert_eq!(store.get(db::FAXES, J3).await.expect("job")["pvt_job_status"], json!("failed"));
    // The state with a space, as the SMTP path writes it, is one of Kazoo's.
    call(&f, "update_job", &[J3, "attaching files"]).await.expect("attaching files");

    match call(&f, "update_job", &[J1, "sent"]).await {
        Err(MaintenanceError::Refused(text)) => assert!(text.starts_with("invalid state \"sent\""), "{text}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match call(&f, "update_job", &["ffffffffffffffffffffffffffffffff", "pending"]).await {
        Err(MaintenanceError::Refused(text)) => assert_eq!(text, "job ffffffffffffffffffffffffffffffff not found"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match call(&f, "update_job", &[FB_1, "pending"]).await {
        Err(MaintenanceError::Refused(text)) => assert_eq!(text, format!("{FB_1} is not a fax job")),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn flush_empties_the_registry_cache() {
    let f = fixture(true).await;
    let r = f.ctx.registry.lookup("4155551212@nowhere.example", "a@b.c").await;
    assert!(r.is_err());
    assert_eq!(f.ctx.registry.cached(), 1);
    assert_eq!(call(&f, "flush", &[]).await.expect("flush"), Output::Message("flushed".into()));
    assert_eq!(f.ctx.registry.cached(), 0);
}

#[tokio::test]
async fn refresh_views_installs_the_faxes_design_documents() {
    let f = fixture(false).await;
    assert!(matches!(call(&f, "pending_jobs", &[]).await, Err(MaintenanceError::Store(StoreError::NotFound(_)))));
    assert_eq!(
        call(&f, "refresh_views", &[]).await.expect("refresh"),
        Output::Message("refreshed views of faxes (2 design documents updated)".into())
    );
    assert_eq!(
        call(&f, "refresh_views", &[]).await.expect("refresh again"),
        Output::Message("refreshed views of faxes (0 design documents updated)".into())
    );
    match call(&f, "pending_jobs", &[]).await.expect("pending_jobs") {
        Output::Table { rows, .. } => assert_eq!(rows.len(), 3),
        other => panic!("expected a table, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_arguments_and_unknown_functions() {
    let f = fixture(true).await;
    for (function, args, usage) in [
        ("pending_jobs", vec!["x"], "fax_maintenance pending_jobs"),
        ("account_jobs", vec![], "fax_maintenance account_jobs <account_id> [state]"),
        ("faxbox_jobs", vec!["a", "b", "c"], "fax_maintenance faxbox_jobs <faxbox_id> [state]"),
        ("restart_job", vec![], "fax_maintenance restart_job <job_id>"),
        ("update_job", vec![J1], "fax_maintenance update_job <job_id> <state>"),
    ] {
        match call(&f, function, &args).await {
            Err(e @ MaintenanceError::Usage(_)) => assert_eq!(e.to_string(), format!("usage: sup {usage}")),
            other => panic!("{function}: expected usage, got {other:?}"),
        }
    }
    match call(&f, "migrate_everything", &[]).await {
        Err(e @ MaintenanceError::Unknown(_)) => {
            assert_eq!(e.to_string(), "unknown function: fax_maintenance migrate_everything")
        }
        other => panic!("expected unknown, got {other:?}"),
    }
}
