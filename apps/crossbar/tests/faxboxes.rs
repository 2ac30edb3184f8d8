//! Drives `/v2/accounts/{id}/faxboxes` over HTTP: defaults, generated addresses, the `faxes` copy, uniqueness,
//! read-only fields, validation errors, rollback, change events, and Kazoo's own documents.

mod support;

use kz_core::db;
use kz_data::{Store, ViewOptions};
use serde_json::{Value, json};
use support::{Harness, next_events, stored};

fn address_like(address: &str, domain: &str) -> bool {
    match address.split_once('.') {
        Some((label, rest)) => {
            label.len() == 8
                && label.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && rest == domain
        }
        None => false,
    }
}

/// The account-database faxbox and its `faxes` copy are the same document but for `_rev` and `pvt_account_db`.
async fn assert_copy_in_step(h: &Harness, account: &str, id: &str) -> (Value, Value) {
    let mut own = stored(h.store.as_ref(), &db::account_db(account), id).await;
    let mut copy = stored(h.store.as_ref(), db::FAXES, id).await;
    assert_eq!(copy["pvt_account_db"], "faxes");
    assert_eq!(own["pvt_account_db"], db::account_db(account).as_str());
    let (o, c) = (own.clone(), copy.clone());
    for doc in [&mut own, &mut copy] {
        let m = doc.as_object_mut().expect("object");
        m.remove("_rev");
        m.remove("pvt_account_db");
    }
    assert_eq!(own, copy, "the faxes copy differs from the account-db faxbox");
    (o, c)
}

#[tokio::test]
async fn create_applies_defaults_and_stores_both_copies() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let a = h
        .m(
            "PUT",
            &format!("/v2/accounts/{acct}/faxboxes"),
            Some(json!({"data": {"name": "Front desk", "caller_id": "+15551234567",
                                 "notifications": {"inbound": {"email": {"send_to": ["ops@acme.example.com"]}}}}})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let d = a.data();
    let id = d["id"].as_str().expect("id").to_string();
    assert!(kz_core::ids::is_id(&id), "{id}");
    assert_eq!(d["name"], "Front desk");
    assert_eq!(d["caller_name"], "Kazoo Fax Printer");
    assert_eq!(d["fax_header"], "Kazoo Fax Printer");
    assert_eq!(d["retries"], 1);
    assert_eq!(d["attempts"], 0);
    assert_eq!(d["media"], json!({}));
    assert_eq!(d["smtp_permission_list"], json!([]));
    let address = d["smtp_email_address"].as_str().expect("generated address");
    assert!(address_like(address, "fax.kazoo.io"), "{address}");
    assert!(d.get("pvt_smtp_email_address").is_none() && d.get("pvt_type").is_none() && d.get("_rev").is_none());

    let (own, copy) = assert_copy_in_step(&h, &acct, &id).await;
    assert_eq!(own["pvt_type"], "faxbox");
    assert_eq!(own["pvt_account_id"], acct.as_str());
    assert_eq!(own["pvt_reseller_id"], h.master_id.as_str());
    assert_eq!(own["pvt_smtp_email_address"], address);
    assert!(own["pvt_created"].as_i64().unwrap_or(0) > 63_000_000_000, "Gregorian seconds");
    assert_eq!(a.body["revision"], own["_rev"]);
    for doc in [&own, &copy] {
        let errors = support::kazoo_schema_errors("faxbox.json", doc);
        assert!(errors.is_empty(), "stored faxbox against Kazoo's faxbox.json: {errors:?}");
    }
    // The generated address finds the box through the faxes view email lookup uses.
    let rows = h.store.query(db::FAXES, "faxbox/email_address", &ViewOptions::key(address)).await.expect("view");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id.as_deref(), Some(id.as_str()));
    assert_eq!(rows[0].value, json!(acct));
}

#[tokio::test]
async fn the_resellers_domain_names_generated_addresses() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    // The master is Acme's reseller; its configs_fax sets the domain for every account under it.
    h.ctx.config.account_set(&h.master_id, "fax", "default_smtp_domain", json!("fax.example.com")).await.expect("set");
    for _ in 0..3 {
        let a = h.m("PUT", &format!("/v2/accounts/{acct}/faxboxes"), Some(json!({"data": {"name": "Box"}}))).await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        let address = a.data()["smtp_email_address"].as_str().expect("address");
        assert!(address_like(address, "fax.example.com"), "{address}");
    }
    // Acme's own configs_fax is not what counts: the reseller's is.
    h.ctx.config.account_set(&acct, "fax", "default_smtp_domain", json!("own.example.com")).await.expect("set");
    let a = h.m("PUT", &format!("/v2/accounts/{acct}/faxboxes"), Some(json!({"data": {"name": "Box"}}))).await;
    assert!(address_like(a.data()["smtp_email_address"].as_str().unwrap_or_default(), "fax.example.com"));
    // Without reseller config, system_config/fax decides.
    h.ctx.config.set_default("fax", "default_smtp_domain", json!("system.example.com")).await.expect("set");
    let other = h.child_account(&h.master_token, &h.master_id, "Other", "other.example.com").await;
    h.ctx.config.account_set(&h.master_id, "fax", "unrelated", json!(1)).await.expect("set");
    let doc = stored(h.store.as_ref(), &db::account_db(&h.master_id), "configs_fax").await;
    let mut doc = doc.as_object().cloned().expect("object");
    doc.remove("default_smtp_domain");
    h.store.save(&db::account_db(&h.master_id), doc).await.expect("drop the reseller's domain");
    h.ctx.config.flush();
    let a = h.m("PUT", &format!("/v2/accounts/{other}/faxboxes"), Some(json!({"data": {"name": "Box"}}))).await;
    let address = a.data()["smtp_email_address"].as_str().unwrap_or_default().to_string();
    assert!(address_like(&address, "system.example.com"), "{address}");
}

#[tokio::test]
async fn list_get_update_patch_delete() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let base = format!("/v2/accounts/{acct}/faxboxes");
    let empty = h.m("GET", &base, None).await;
    assert_eq!((empty.status, empty.data().clone()), (200, json!([])));
    assert_eq!(empty.body["revision"], "undefined");

    let created = h
        .m(
            "PUT",
            &base,
            Some(
                json!({"data": {"name": "One", "caller_name": "Acme Fax", "smtp_email_address": "mine@evil.example.com",
                                 "pvt_smtp_email_address": "mine@evil.example.com", "cloud_state": "claimed"}}),
            ),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.data()["id"].as_str().expect("id").to_string();
    let address = created.data()["smtp_email_address"].as_str().expect("address").to_string();
    assert!(address_like(&address, "fax.kazoo.io"), "a client-sent address is ignored: {address}");
    assert!(created.data().get("cloud_state").is_none());
    h.m("PUT", &base, Some(json!({"data": {"name": "Two"}}))).await;

    let list = h.m("GET", &base, None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["revision"], "automatic");
    assert_eq!(list.body["page_size"], 2);
    let items = list.data().as_array().expect("list");
    let one = items.iter().find(|i| i["id"] == id.as_str()).expect("listed");
    assert_eq!(one["name"], "One");
    assert_eq!(one["smtp_email_address"], address.as_str());
    assert_eq!(one["caller_name"], "Acme Fax");
    assert!(one.get("pvt_type").is_none());

    let got = h.m("GET", &format!("{base}/{id}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.data()["smtp_email_address"], address.as_str());

    // POST replaces the public fields: what is left out goes back to its default; read-only fields stay.
    let posted = h
        .m(
            "POST",
            &format!("{base}/{id}"),
            Some(
                json!({"data": {"name": "One renamed", "retries": 3, "smtp_email_address": "other@evil.example.com"}}),
            ),
        )
        .await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    assert_eq!(posted.data()["name"], "One renamed");
    assert_eq!(posted.data()["caller_name"], "Kazoo Fax Printer");
    assert_eq!(posted.data()["smtp_email_address"], address.as_str());
    let (own, _) = assert_copy_in_step(&h, &acct, &id).await;
    assert_eq!(own["pvt_smtp_email_address"], address.as_str());
    assert!(own.get("smtp_email_address").is_none() && own.get("cloud_state").is_none(), "read-only names not stored");
    assert_eq!(own["name"], "One renamed");
    assert_eq!(own["pvt_created"], stored(h.store.as_ref(), db::FAXES, &id).await["pvt_created"]);

    // PATCH changes only what is sent; null removes.
    let patched = h
        .m("PATCH", &format!("{base}/{id}"), Some(json!({"data": {"fax_identity": "+15550001111", "retries": null}})))
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.data()["name"], "One renamed");
    assert_eq!(patched.data()["fax_identity"], "+15550001111");
    assert_eq!(patched.data()["retries"], 1, "a removed field takes its default again");
    let (own, copy) = assert_copy_in_step(&h, &acct, &id).await;
    assert_eq!(copy["fax_identity"], "+15550001111");
    assert_eq!(own["pvt_modified"], copy["pvt_modified"]);

    // A stale or unknown id.
    assert_eq!(h.m("GET", &format!("{base}/0123456789abcdef0123456789abcdef"), None).await.status, 404);
    let user = h
        .m(
            "PUT",
            &format!("/v2/accounts/{acct}/users"),
            Some(json!({"data": {"username": "u", "first_name": "U", "last_name": "V"}})),
        )
        .await;
    let user_id = user.data()["id"].as_str().expect("user").to_string();
    assert_eq!(h.m("GET", &format!("{base}/{user_id}"), None).await.status, 404, "a user is not a faxbox");

    // DELETE soft-deletes both; views and GET forget the box.
    let del = h.m("DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!(del.status, 200);
    assert_eq!(del.data()["_read_only"]["deleted"], true);
    assert_eq!(stored(h.store.as_ref(), &db::account_db(&acct), &id).await["pvt_deleted"], true);
    assert_eq!(stored(h.store.as_ref(), db::FAXES, &id).await["pvt_deleted"], true);
    assert_eq!(h.m("GET", &format!("{base}/{id}"), None).await.status, 404);
    assert_eq!(h.m("DELETE", &format!("{base}/{id}"), None).await.status, 404);
    let list = h.m("GET", &base, None).await;
    assert_eq!(list.data().as_array().map(Vec::len), Some(1));
    let rows =
        h.store.query(db::FAXES, "faxbox/email_address", &ViewOptions::key(address.clone())).await.expect("view");
    assert!(rows.is_empty(), "a deleted box's address is free again");
}

#[tokio::test]
async fn custom_addresses_are_unique_system_wide() {
    let h = Harness::start().await;
    let a = h.child_account(&h.master_token, &h.master_id, "Alpha", "alpha.example.com").await;
    let b = h.child_account(&h.master_token, &h.master_id, "Beta", "beta.example.com").await;
    let first = h
        .m(
            "PUT",
            &format!("/v2/accounts/{a}/faxboxes"),
            Some(json!({"data": {"name": "Sales", "custom_smtp_email_address": "Sales.Fax.Example.com"}})),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let first_id = first.data()["id"].as_str().expect("id").to_string();
    let generated = first.data()["smtp_email_address"].as_str().expect("address").to_string();

    // Another account, another case: refused.
    let dup = h
        .m(
            "PUT",
            &format!("/v2/accounts/{b}/faxboxes"),
            Some(json!({"data": {"name": "Copycat", "custom_smtp_email_address": "sales.fax.example.COM"}})),
        )
        .await;
    assert_eq!(dup.status, 400, "{:?}", dup.body);
    assert_eq!(dup.body["message"], "validation error");
    let err = &dup.data()["custom_smtp_email_address"]["unique"];
    assert_eq!(err["message"], "email address must be unique");
    assert_eq!(err["cause"], "sales.fax.example.COM");
    let listed = h.m("GET", &format!("/v2/accounts/{b}/faxboxes"), None).await;
    assert_eq!(listed.data(), &json!([]), "nothing stored");

    // Another box's generated address is taken too.
    let dup = h
        .m(
            "PUT",
            &format!("/v2/accounts/{b}/faxboxes"),
            Some(json!({"data": {"name": "Copycat", "custom_smtp_email_address": generated.to_uppercase()}})),
        )
        .await;
    assert_eq!(dup.status, 400);

    // The owner of the address may keep it.
    let same = h
        .m(
            "POST",
            &format!("/v2/accounts/{a}/faxboxes/{first_id}"),
            Some(json!({"data": {"name": "Sales desk", "custom_smtp_email_address": "sales.fax.example.com"}})),
        )
        .await;
    assert_eq!(same.status, 200, "{:?}", same.body);

    // Once the owner drops it, another account may take it.
    let dropped = h
        .m(
            "PATCH",
            &format!("/v2/accounts/{a}/faxboxes/{first_id}"),
            Some(json!({"data": {"custom_smtp_email_address": null}})),
        )
        .await;
    assert_eq!(dropped.status, 200);
    assert!(dropped.data().get("custom_smtp_email_address").is_none());
    let taken = h
        .m(
            "PUT",
            &format!("/v2/accounts/{b}/faxboxes"),
            Some(json!({"data": {"name": "New owner", "custom_smtp_email_address": "sales.fax.example.com"}})),
        )
        .await;
    assert_eq!(taken.status, 201, "{:?}", taken.body);
}

#[tokio::test]
async fn validation_errors_have_kazoos_shape() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let base = format!("/v2/accounts/{acct}/faxboxes");
    let a = h
        .m(
            "PUT",
            &base,
            Some(json!({"data": {"retries": 9, "caller_id": 42,
                                 "notifications": {"outbound": {"callback": {"url": "ftp://x", "method": "get"},
                                                                "email": {"send_to": "not-an-email"}}}}})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"], "400");
    assert_eq!(a.body["message"], "validation error");
    assert_eq!(a.body["status"], "error");
    let d = a.data();
    assert_eq!(d["name"]["required"]["message"], "Field is required but missing");
    assert_eq!(d["retries"]["maximum"]["message"], "Value must be at most 4");
    assert_eq!(d["retries"]["maximum"]["target"], 4);
    assert_eq!(d["caller_id"]["type"]["message"], "Value did not match type(s): string");
    assert_eq!(d["notifications.outbound.callback.url"]["pattern"]["message"], "Failed to match pattern '^https?://'");
    assert_eq!(d["notifications.outbound.callback.method"]["enum"]["target"], json!(["post", "put"]));
    assert!(d["notifications.outbound.email.send_to"]["wrong_format"].is_object(), "{d}");
    let too_long = h.m("PUT", &base, Some(json!({"data": {"name": "x".repeat(129)}}))).await;
    assert_eq!(too_long.data()["name"]["maxLength"]["target"], 128);

    // Strings that are numbers or booleans are taken as such, as Kazoo does.
    let fixed = h
        .m("PUT", &base, Some(json!({"data": {"name": "Box", "retries": "2", "media": {"fax_option": "true"}}})))
        .await;
    assert_eq!(fixed.status, 201, "{:?}", fixed.body);
    assert_eq!(fixed.data()["retries"], 2);
    assert_eq!(fixed.data()["media"]["fax_option"], true);

    // owner_id must be a user of this account.
    let nobody =
        h.m("PUT", &base, Some(json!({"data": {"name": "Box", "owner_id": "0123456789abcdef0123456789abcdef"}}))).await;
    assert_eq!(nobody.status, 400);
    assert_eq!(nobody.data()["owner_id"]["not_found"]["cause"], "0123456789abcdef0123456789abcdef");
    let master_admin = h.m("GET", &format!("/v2/accounts/{}/users", h.master_id), None).await;
    let foreign = master_admin.data()[0]["id"].as_str().expect("master admin").to_string();
    let other = h.m("PUT", &base, Some(json!({"data": {"name": "Box", "owner_id": foreign}}))).await;
    assert_eq!(other.status, 400, "a user of another account is not an owner here");
    let user = h
        .m(
            "PUT",
            &format!("/v2/accounts/{acct}/users"),
            Some(json!({"data": {"username": "u", "first_name": "U", "last_name": "V"}})),
        )
        .await;
    let user_id = user.data()["id"].as_str().expect("user").to_string();
    let owned = h.m("PUT", &base, Some(json!({"data": {"name": "Box", "owner_id": user_id}}))).await;
    assert_eq!(owned.status, 201);
    assert_eq!(owned.data()["owner_id"], user_id.as_str());
}

#[tokio::test]
async fn a_failed_faxes_copy_is_rolled_back() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let base = format!("/v2/accounts/{acct}/faxboxes");
    let adb = db::account_db(&acct);
    let listing = |h: &Harness| {
        let adb = adb.clone();
        let store = h.store.clone();
        async move { store.query(&adb, "faxbox/crossbar_listing", &ViewOptions::default()).await.expect("view") }
    };

    // Create: the copy fails, so the new box is removed from the account database.
    h.store.refuse_saves_to(Some(db::FAXES));
    let a = h.m("PUT", &base, Some(json!({"data": {"name": "Doomed"}}))).await;
    assert_eq!(a.status, 409, "{:?}", a.body);
    assert_eq!(a.body["message"], "datastore_conflict");
    h.store.refuse_saves_to(None);
    assert!(listing(&h).await.is_empty(), "the account-db box was removed");
    assert_eq!(h.m("GET", &base, None).await.data(), &json!([]));

    // Update: the previous version comes back.
    let made = h.m("PUT", &base, Some(json!({"data": {"name": "Original", "caller_name": "Kept"}}))).await;
    assert_eq!(made.status, 201);
    let id = made.data()["id"].as_str().expect("id").to_string();
    h.store.refuse_saves_to(Some(db::FAXES));
    let changed = h.m("POST", &format!("{base}/{id}"), Some(json!({"data": {"name": "Changed"}}))).await;
    assert_eq!(changed.status, 409);
    let patched = h.m("PATCH", &format!("{base}/{id}"), Some(json!({"data": {"caller_name": "Lost"}}))).await;
    assert_eq!(patched.status, 409);
    // Delete: the box stays.
    let deleted = h.m("DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!(deleted.status, 409);
    h.store.refuse_saves_to(None);
    let got = h.m("GET", &format!("{base}/{id}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.data()["name"], "Original");
    assert_eq!(got.data()["caller_name"], "Kept");
    assert_copy_in_step(&h, &acct, &id).await;
    assert_eq!(listing(&h).await.len(), 1);

    // A store that is down: 503, and nothing changes.
    h.store.set_down(true);
    let down = h.m("POST", &format!("{base}/{id}"), Some(json!({"data": {"name": "Changed"}}))).await;
    assert_eq!(down.status, 503);
    h.store.set_down(false);
    assert_eq!(h.m("GET", &format!("{base}/{id}"), None).await.data()["name"], "Original");
}

#[tokio::test]
async fn every_change_is_announced_on_the_bus() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let adb = db::account_db(&acct);
    let mut events = h.conf_events().await;
    let base = format!("/v2/accounts/{acct}/faxboxes");
    let made = h.m("PUT", &base, Some(json!({"data": {"name": "Box"}}))).await;
    let id = made.data()["id"].as_str().expect("id").to_string();
    h.m("POST", &format!("{base}/{id}"), Some(json!({"data": {"name": "Box 2"}}))).await;
    h.m("PATCH", &format!("{base}/{id}"), Some(json!({"data": {"retries": 2}}))).await;
    h.m("DELETE", &format!("{base}/{id}"), None).await;
    // A refused change is not announced.
    h.m("PUT", &base, Some(json!({"data": {}}))).await;

    let seen = next_events(&mut events, 9).await;
    let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("doc_created.{adb}.faxbox.{id}"),
            format!("doc_created.faxes.faxbox.{id}"),
            format!("doc_edited.{adb}.faxbox.{id}"),
            format!("doc_edited.faxes.faxbox.{id}"),
            format!("doc_edited.{adb}.faxbox.{id}"),
            format!("doc_edited.faxes.faxbox.{id}"),
            format!("doc_deleted.{adb}.faxbox.{id}"),
            format!("doc_deleted.faxes.faxbox.{id}"),
        ]
    );
    let (_, copy_created) = &seen[1];
    assert_eq!(copy_created["Event-Category"], "configuration");
    assert_eq!(copy_created["Event-Name"], "doc_created");
    assert_eq!(copy_created["Database"], "faxes");
    assert_eq!(copy_created["Type"], "faxbox");
    assert_eq!(copy_created["ID"], id.as_str());
    assert_eq!(copy_created["Account-ID"], acct.as_str());
    assert_eq!(copy_created["Node"], support::NODE);
    assert_eq!(seen[7].1["Is-Soft-Deleted"], true);

    // With no exchange to publish on, changes still succeed.
    let bare = std::sync::Arc::new(crossbar::ApiContext {
        store: h.store.clone(),
        bus: std::sync::Arc::new(kz_amqp::local::LocalBus::new()),
        config: h.ctx.config.clone(),
        node: "faxd@nobus".into(),
    });
    let other = support::serve(bare).await;
    let resp = h
        .client
        .put(format!("{other}{base}"))
        .header("X-Auth-Token", &h.master_token)
        .body(json!({"data": {"name": "Quiet"}}).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn kazoos_own_faxbox_loads_and_keeps_its_fields() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let path = support::shared_dir().join("kazoo-samples/faxbox.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("sample")).expect("json");
    let id = sample["_id"].as_str().expect("id").to_string();
    let mut doc = sample.as_object().cloned().expect("object");
    doc.remove("_rev");
    doc.remove("owner_id");
    doc.insert("pvt_account_db".into(), json!(db::account_db(&acct)));
    h.store.put_raw(&db::account_db(&acct), Value::Object(doc.clone())).await;
    doc.insert("pvt_account_db".into(), json!("faxes"));
    h.store.put_raw(db::FAXES, Value::Object(doc)).await;

    let got = h.m("GET", &format!("/v2/accounts/{acct}/faxboxes/{id}"), None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.data()["smtp_email_address"], "329d06cb.fax.kazoo.io");
    assert_eq!(got.data()["fax_header"], "2600Hz Fax Printer");
    assert_eq!(got.data()["ui_metadata"]["ui"], "monster-ui");

    let patched =
        h.m("PATCH", &format!("/v2/accounts/{acct}/faxboxes/{id}"), Some(json!({"data": {"retries": 2}}))).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let (own, _) = assert_copy_in_step(&h, &acct, &id).await;
    for (key, value) in sample.as_object().expect("object") {
        if ["_rev", "retries", "pvt_modified", "owner_id", "pvt_account_db"].contains(&key.as_str()) {
            continue;
        }
        assert_eq!(&own[key], value, "{key} kept through our types");
    }
    assert_eq!(own["retries"], 2);
    let listed = h.m("GET", &format!("/v2/accounts/{acct}/faxboxes"), None).await;
    assert_eq!(listed.data()[0]["id"], id.as_str());
}
