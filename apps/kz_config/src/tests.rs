//! Tests of configuration reads and writes over the embedded store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kz_data::Store;
use kz_data::embedded::EmbeddedStore;
use serde_json::{Value, json};

use super::*;

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (dir, Arc::new(store))
}

async fn raw(store: &Arc<dyn Store>, id: &str) -> Doc {
    store.get(db::SYSTEM_CONFIG, id).await.expect("system_config doc")
}

#[tokio::test]
async fn missing_key_default_is_written_back() {
    let (_d, store) = store();
    let cfg = Config::new(store.clone(), "faxd@a", None);
    assert_eq!(cfg.get("fax", "default_smtp_domain").await.expect("get"), None);
    let v = cfg.get_or_default("fax", "default_smtp_domain", json!("fax.kazoo.io")).await.expect("get");
    assert_eq!(v, json!("fax.kazoo.io"));
    let doc = raw(&store, "fax").await;
    assert_eq!(doc["default"]["default_smtp_domain"], json!("fax.kazoo.io"));
    // An existing value is never overwritten by a default.
    cfg.set_default("fax", "default_smtp_domain", json!("set.example.com")).await.expect("set");
    let v = cfg.get_or_default("fax", "default_smtp_domain", json!("fax.kazoo.io")).await.expect("get");
    assert_eq!(v, json!("set.example.com"));
}

#[tokio::test]
async fn node_then_zone_then_default() {
    let (_d, store) = store();
    let a = Config::new(store.clone(), "faxd@a", Some("east".into()));
    let b = Config::new(store.clone(), "faxd@b", Some("east".into()));
    let c = Config::new(store.clone(), "faxd@c", None);
    a.set_default("fax", "max_outbound", json!(10)).await.expect("default");
    a.set_in_section("fax", "east", "max_outbound", json!(20)).await.expect("zone");
    a.set("fax", "max_outbound", json!(30)).await.expect("node");
    assert_eq!(a.get("fax", "max_outbound").await.expect("a"), Some(json!(30)));
    assert_eq!(b.get("fax", "max_outbound").await.expect("b"), Some(json!(20)));
    assert_eq!(c.get("fax", "max_outbound").await.expect("c"), Some(json!(10)));
    let doc = raw(&store, "fax").await;
    assert_eq!(doc["faxd@a"]["max_outbound"], json!(30), "set writes under the node name");
}

#[tokio::test]
async fn a_change_in_the_store_is_seen_within_a_second() {
    let (_d, store) = store();
    let cfg = Config::new(store.clone(), "faxd@a", None);
    cfg.set_default("fax", "default_smtp_domain", json!("one.example.com")).await.expect("set");
    assert_eq!(cfg.get("fax", "default_smtp_domain").await.expect("get"), Some(json!("one.example.com")));
    // Another writer (a second node, or someone editing the document) changes it behind this handle's back.
    let mut doc = raw(&store, "fax").await;
    doc["default"]["default_smtp_domain"] = json!("two.example.com");
    store.save(db::SYSTEM_CONFIG, doc).await.expect("save");
    let started = Instant::now();
    loop {
        let v = cfg.get("fax", "default_smtp_domain").await.expect("get");
        if v == Some(json!("two.example.com")) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "change not seen within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn typed_fax_config_fills_the_document() {
    let (_d, store) = store();
    let cfg = Config::new(store.clone(), "faxd@a", None);
    cfg.set("fax", "max_outbound", json!(4)).await.expect("set");
    cfg.set_default("fax", "a_key_of_tomorrow", json!("kept")).await.expect("set");
    let fax = cfg.fax().await.expect("fax config");
    assert_eq!(fax.max_outbound, 4);
    assert_eq!(fax.default_smtp_domain, "fax.kazoo.io");
    assert_eq!(fax.extra.get("a_key_of_tomorrow"), Some(&json!("kept")));
    let doc = raw(&store, "fax").await;
    let default = doc["default"].as_object().expect("default section");
    for (k, v) in fax::defaults_map() {
        if k != "max_outbound" {
            assert_eq!(default.get(&k), Some(&v), "{k} written back");
        }
    }
    assert!(default.get("max_outbound").is_none(), "a key set for the node is not written back as default");
    let bad = Config::new(store.clone(), "faxd@b", None);
    bad.set("fax", "max_outbound", json!("lots")).await.expect("set");
    let err = bad.fax().await.expect_err("bad type");
    assert!(err.to_string().contains("fax"), "{err}");
}

#[tokio::test]
async fn account_config_account_then_reseller_then_system() {
    let (_d, store) = store();
    let cfg = Config::new(store.clone(), "faxd@a", None);
    let reseller = kz_core::ids::new_id();
    let sub = kz_core::ids::new_id();
    let other = kz_core::ids::new_id();
    store.db_create(db::ACCOUNTS).await.expect("accounts");
    for (id, tree) in [(&reseller, vec![]), (&sub, vec![reseller.clone()]), (&other, vec![reseller.clone()])] {
        store.db_create(&db::account_db(id)).await.expect("account db");
        let doc = json!({"_id": id, "pvt_type": "account", "pvt_tree": tree});
        store.save(db::ACCOUNTS, doc.as_object().cloned().expect("obj")).await.expect("save account");
    }
    cfg.set_default("fax", "max_outbound", json!(10)).await.expect("system");
    let get = |id: &str| {
        let cfg = cfg.clone();
        let id = id.to_string();
        async move { cfg.account_get_global(&id, "fax", "max_outbound", json!(99)).await.expect("get") }
    };
    assert_eq!(get(&sub).await, json!(10), "system value");
    cfg.account_set(&reseller, "fax", "max_outbound", json!(5)).await.expect("reseller");
    assert_eq!(get(&sub).await, json!(5), "reseller value");
    cfg.account_set(&sub, "fax", "max_outbound", json!(2)).await.expect("account");
    assert_eq!(get(&sub).await, json!(2), "account value");
    // The account has a configs_fax doc without the key: Kazoo falls straight to system config.
    cfg.account_set(&other, "fax", "default_smtp_domain", json!("x.example.com")).await.expect("other");
    assert_eq!(get(&other).await, json!(10));
    let doc = store.get(&db::account_db(&sub), "configs_fax").await.expect("doc");
    assert_eq!(doc["pvt_type"], json!("account_config"));
    assert_eq!(cfg.reseller_get(&sub, "fax", "max_outbound", json!(1)).await.expect("reseller"), json!(5));
}

#[test]
fn cli_values() {
    assert_eq!(parse_cli_value("5"), json!(5));
    assert_eq!(parse_cli_value("true"), json!(true));
    assert_eq!(parse_cli_value("{\"a\":1}"), json!({"a": 1}));
    assert_eq!(parse_cli_value("[1,2]"), json!([1, 2]));
    assert_eq!(parse_cli_value("fax.example.com"), json!("fax.example.com"));
    assert_eq!(parse_cli_value("\"5\""), json!("5"));
    assert_eq!(parse_cli_value("null"), Value::Null);
}
