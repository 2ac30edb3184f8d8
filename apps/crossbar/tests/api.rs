//! Drives the REST API over HTTP: envelope, logins, tokens, account scoping, accounts and users.

mod support;

use std::sync::Arc;

use base64::Engine;
use crossbar::ApiContext;
use kz_core::db;
use kz_data::Store;
use md5::Digest;
use serde_json::{Value, json};
use support::{Harness, MASTER_PASSWORD, MASTER_USER, md5_hex, next_events, serve, sha1_hex, stored};

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.bytes().enumerate().all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

#[tokio::test]
async fn envelope_matches_kazoos() {
    let h = Harness::start().await;
    let node = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(md5::Md5::digest(support::NODE.as_bytes()));

    // Success.
    let a = h.m("GET", &format!("/v2/accounts/{}", h.master_id), None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let b = &a.body;
    assert_eq!(b["status"], "success");
    assert_eq!(b["auth_token"], h.master_token.as_str());
    assert_eq!(b["version"], "4.3.0-faxbox");
    assert_eq!(b["node"], node.as_str());
    assert!(is_hex(b["request_id"].as_str().unwrap_or_default(), 32), "{b}");
    assert_eq!(a.request_id_header.as_deref(), b["request_id"].as_str());
    assert!(is_iso8601(b["timestamp"].as_str().unwrap_or_default()), "{b}");
    let own = stored(h.store.as_ref(), &db::account_db(&h.master_id), &h.master_id).await;
    assert_eq!(b["revision"], own["_rev"], "the revision is the document's _rev");
    assert_eq!(a.data()["id"], h.master_id.as_str());
    assert_eq!(a.data()["name"], "Master");
    assert!(a.data().get("pvt_api_key").is_none());

    // Errors: no token, a bad token, no such path, no such method, invalid JSON.
    let a = h.call("GET", &format!("/v2/accounts/{}", h.master_id), None, None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["status"], "error");
    assert_eq!(a.body["error"], "401");
    assert_eq!(a.body["message"], "invalid_credentials");
    assert_eq!(a.data()["message"], "invalid credentials");
    assert_eq!(a.body["auth_token"], "");
    assert_eq!(a.body["node"], node.as_str());
    assert!(is_hex(a.body["request_id"].as_str().unwrap_or_default(), 32));
    let a = h.call("GET", &format!("/v2/accounts/{}", h.master_id), Some("0123456789abcdef"), None).await;
    assert_eq!((a.status, a.body["auth_token"].as_str()), (401, Some("0123456789abcdef")));

    let a = h.m("GET", "/v2/nothing_here", None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (404, Some("404")));
    let a = h.m("DELETE", &format!("/v2/accounts/{}", h.master_id), None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.body["message"], "invalid_method");

    let resp = h
        .client
        .put(format!("{}/v2/accounts/{}/faxboxes", h.base, h.master_id))
        .header("X-Auth-Token", &h.master_token)
        .header("X-Request-ID", "my-request-1")
        .body("{\"data\": {nope")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["message"], "validation error");
    assert_eq!(body["data"]["json"]["invalid"]["target"], "body");
    assert_eq!(body["request_id"], "my-request-1");

    // The bare form (no "data" wrapper) is accepted too.
    let a = h.m("PUT", &format!("/v2/accounts/{}/faxboxes", h.master_id), Some(json!({"name": "Bare"}))).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.data()["name"], "Bare");
}

#[tokio::test]
async fn user_auth_and_api_auth() {
    let h = Harness::start().await;
    let md5 = md5_hex(&format!("{MASTER_USER}:{MASTER_PASSWORD}"));

    // By realm (any case), by account name (any case), with account_realm.
    for data in [
        json!({"credentials": md5, "realm": "MASTER.example.com"}),
        json!({"credentials": md5, "account_name": "master"}),
        json!({"credentials": md5.to_uppercase(), "account_realm": "master.example.com", "method": "md5"}),
    ] {
        let a = h.call("PUT", "/v2/user_auth", None, Some(json!({ "data": data }))).await;
        assert_eq!(a.status, 201, "{data}: {:?}", a.body);
        let token = a.body["auth_token"].as_str().expect("token");
        assert!(is_hex(token, 64), "{token}");
        assert_eq!(a.data()["account_id"], h.master_id.as_str());
        assert!(is_hex(a.data()["owner_id"].as_str().unwrap_or_default(), 32));
        assert_eq!(a.data()["account_name"], "Master");
        assert_eq!(a.data()["is_reseller"], true);
        assert_eq!(a.data()["is_master_account"], true);
        assert_eq!(a.data()["reseller_id"], h.master_id.as_str());
        assert_eq!(a.data()["apps"], json!([]));
        let token_doc = stored(h.store.as_ref(), crossbar::auth::TOKEN_DB, token).await;
        assert_eq!(token_doc["account_id"], h.master_id.as_str());
        // The token works.
        let ok = h.call("GET", &format!("/v2/accounts/{}", h.master_id), Some(token), None).await;
        assert_eq!(ok.status, 200);
    }

    // SHA-1 credentials.
    let sha = sha1_hex(&format!("{MASTER_USER}:{MASTER_PASSWORD}"));
    let a = h
        .call(
            "PUT",
            "/v2/user_auth",
            None,
            Some(json!({"data": {"credentials": sha, "realm": "master.example.com", "method": "sha"}})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);

    // Wrong password, unknown realm, no account named: 401. No credentials: 400.
    for data in [
        json!({"credentials": md5_hex(&format!("{MASTER_USER}:wrong")), "realm": "master.example.com"}),
        json!({"credentials": md5, "realm": "nobody.example.com"}),
        json!({"credentials": md5}),
    ] {
        let a = h.call("PUT", "/v2/user_auth", None, Some(json!({ "data": data }))).await;
        assert_eq!(a.status, 401, "{data}");
        assert_eq!(a.body["message"], "invalid_credentials");
    }
    let a = h.call("PUT", "/v2/user_auth", None, Some(json!({"data": {"realm": "master.example.com"}}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.data()["credentials"]["required"]["message"], "Field is required but missing");

    // API key.
    let account = stored(h.store.as_ref(), db::ACCOUNTS, &h.master_id).await;
    let key = account["pvt_api_key"].as_str().expect("api key");
    assert!(is_hex(key, 64));
    let a = h.call("PUT", "/v2/api_auth", None, Some(json!({"data": {"api_key": key}}))).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.data()["account_id"], h.master_id.as_str());
    assert!(a.data().get("owner_id").is_none());
    let token = a.body["auth_token"].as_str().expect("token").to_string();
    assert_eq!(h.call("GET", &format!("/v2/accounts/{}/users", h.master_id), Some(&token), None).await.status, 200);
    let a = h.call("PUT", "/v2/api_auth", None, Some(json!({"data": {"api_key": "f".repeat(64)}}))).await;
    assert_eq!(a.status, 401);
    let a = h.call("PUT", "/v2/api_auth", None, Some(json!({"data": {}}))).await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn tokens_are_shared_across_nodes_and_expire() {
    let h = Harness::start().await;
    // A second node over the same store accepts the first node's token.
    let other = Arc::new(ApiContext {
        store: h.store.clone(),
        bus: h.bus.clone(),
        config: kz_config::Config::new(h.store.clone(), "faxd@other", None),
        node: "faxd@other".into(),
    });
    let other_base = serve(other).await;
    let resp = h
        .client
        .get(format!("{other_base}/v2/accounts/{}", h.master_id))
        .header("X-Auth-Token", &h.master_token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);

    // A token past its expiry is refused, even by the node that issued it.
    let expired = kz_core::ids::rand_hex(32);
    let doc = json!({"_id": expired, "account_id": h.master_id, "method": "cb_user_auth",
                     "exp": kz_core::time::now_unix() - 1});
    h.store.put_raw(crossbar::auth::TOKEN_DB, doc).await;
    let a = h.call("GET", &format!("/v2/accounts/{}", h.master_id), Some(&expired), None).await;
    assert_eq!(a.status, 401);

    // A fresh token issued now lasts about the default hour.
    let token_doc = stored(h.store.as_ref(), crossbar::auth::TOKEN_DB, &h.master_token).await;
    let exp = token_doc["exp"].as_i64().expect("exp");
    let left = exp - kz_core::time::now_unix();
    assert!((3500..=3600).contains(&left), "{left}");

    // Authorization: Bearer works like X-Auth-Token.
    let resp = h
        .client
        .get(format!("{}/v2/accounts/{}", h.base, h.master_id))
        .header("Authorization", format!("Bearer {}", h.master_token))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn account_scoping() {
    let h = Harness::start().await;
    let a = h.child_account(&h.master_token, &h.master_id, "Alpha", "alpha.example.com").await;
    let b = h.child_account(&h.master_token, &h.master_id, "Beta", "beta.example.com").await;
    let a_token = h.account_admin(&a, "admin@alpha.example.com", "alpha.example.com").await;
    let b_token = h.account_admin(&b, "admin@beta.example.com", "beta.example.com").await;
    // Alpha makes a child of its own.
    let a1 = h.child_account(&a_token, &a, "Alpha One", "one.alpha.example.com").await;

    async fn status(h: &Harness, token: &str, account: &str, what: &str) -> support::Answer {
        h.call("GET", &format!("/v2/accounts/{account}{what}"), Some(token), None).await
    }
    // Own account and descendants: allowed.
    assert_eq!(status(&h, &a_token, &a, "").await.status, 200);
    assert_eq!(status(&h, &a_token, &a1, "").await.status, 200);
    assert_eq!(status(&h, &a_token, &a1, "/faxboxes").await.status, 200);
    // A sibling, a parent: forbidden.
    let denied = status(&h, &a_token, &b, "").await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["message"], "forbidden");
    assert_eq!(status(&h, &a_token, &b, "/faxboxes").await.status, 403);
    assert_eq!(status(&h, &a_token, &b, "/users").await.status, 403);
    assert_eq!(status(&h, &a_token, &h.master_id, "").await.status, 403);
    assert_eq!(status(&h, &b_token, &a1, "").await.status, 403);
    // Writing into another account is forbidden too.
    let w = h
        .call("PUT", &format!("/v2/accounts/{b}/faxboxes"), Some(&a_token), Some(json!({"data": {"name": "x"}})))
        .await;
    assert_eq!(w.status, 403);
    let w = h
        .call(
            "PUT",
            &format!("/v2/accounts/{b}"),
            Some(&a_token),
            Some(json!({"data": {"name": "x", "realm": "x.example.com"}})),
        )
        .await;
    assert_eq!(w.status, 403);
    // An unknown account: forbidden to a plain account, not found to the superduper admin.
    let nobody = "0123456789abcdef0123456789abcdef";
    assert_eq!(status(&h, &a_token, nobody, "").await.status, 403);
    assert_eq!(status(&h, &h.master_token, nobody, "").await.status, 404);
    // The master (superduper admin) reaches every account.
    for acct in [&a, &b, &a1] {
        assert_eq!(status(&h, &h.master_token, acct, "").await.status, 200);
    }
    // An API-key token of Beta is scoped the same way.
    let key = stored(h.store.as_ref(), db::ACCOUNTS, &b).await["pvt_api_key"].as_str().expect("key").to_string();
    let api = h.call("PUT", "/v2/api_auth", None, Some(json!({"data": {"api_key": key}}))).await;
    let b_api = api.body["auth_token"].as_str().expect("token").to_string();
    assert_eq!(status(&h, &b_api, &b, "").await.status, 200);
    assert_eq!(status(&h, &b_api, &a, "").await.status, 403);
}

#[tokio::test]
async fn accounts_create_read_update() {
    let h = Harness::start().await;
    let mut events = h.conf_events().await;
    let a = h
        .m(
            "PUT",
            &format!("/v2/accounts/{}", h.master_id),
            Some(json!({"data": {"name": "Acme", "realm": "Acme.Example.com", "timezone": "Europe/Paris",
                                 "pvt_superduper_admin": true}})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let id = a.data()["id"].as_str().expect("id").to_string();
    assert_eq!(a.data()["realm"], "acme.example.com");
    assert_eq!(a.data()["timezone"], "Europe/Paris");
    assert_eq!(a.data()["superduper_admin"], false, "a client cannot grant itself superduper admin");
    assert_eq!(a.data()["enabled"], true);
    assert_eq!(a.data()["reseller_id"], h.master_id.as_str());

    // Stored in accounts and in its own database, same _id and tree.
    let listed = stored(h.store.as_ref(), db::ACCOUNTS, &id).await;
    let own = stored(h.store.as_ref(), &db::account_db(&id), &id).await;
    for doc in [&listed, &own] {
        assert_eq!(doc["pvt_type"], "account");
        assert_eq!(doc["pvt_tree"], json!([h.master_id]));
        assert_eq!(doc["pvt_reseller_id"], h.master_id.as_str());
        assert_eq!(doc["pvt_account_db"], db::account_db(&id).as_str());
        assert_eq!(doc["pvt_superduper_admin"], false);
    }
    // Its database has the account views.
    let rows = h
        .store
        .query(&db::account_db(&id), "faxbox/crossbar_listing", &kz_data::ViewOptions::default())
        .await
        .expect("views pushed");
    assert!(rows.is_empty());

    // A grandchild: tree and reseller follow.
    let acme_token = h.account_admin(&id, "boss@acme.example.com", "acme.example.com").await;
    let sub = h.child_account(&acme_token, &id, "Acme Sub", "sub.acme.example.com").await;
    let sub_doc = stored(h.store.as_ref(), db::ACCOUNTS, &sub).await;
    assert_eq!(sub_doc["pvt_tree"], json!([h.master_id, id]));
    assert_eq!(sub_doc["pvt_reseller_id"], h.master_id.as_str());

    // Realms are unique, case-insensitively; name and realm are required.
    let dup = h
        .m(
            "PUT",
            &format!("/v2/accounts/{}", h.master_id),
            Some(json!({"data": {"name": "X", "realm": "ACME.example.COM"}})),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.body["message"], "validation error");
    assert_eq!(dup.data()["realm"]["unique"]["cause"], "acme.example.com");
    let missing = h.m("PUT", &format!("/v2/accounts/{}", h.master_id), Some(json!({"data": {}}))).await;
    assert_eq!(missing.status, 400);
    assert!(missing.data()["name"]["required"].is_object());
    assert!(missing.data()["realm"]["required"].is_object());

    // GET, POST, PATCH.
    let got = h.m("GET", &format!("/v2/accounts/{id}"), None).await;
    assert_eq!(got.data()["name"], "Acme");
    let posted = h
        .m("POST", &format!("/v2/accounts/{id}"), Some(json!({"data": {"name": "Acme Corp", "timezone": "UTC/Zulu"}})))
        .await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    assert_eq!(posted.data()["name"], "Acme Corp");
    assert_eq!(posted.data()["realm"], "acme.example.com", "POST without a realm keeps it");
    let patched =
        h.m("PATCH", &format!("/v2/accounts/{id}"), Some(json!({"data": {"realm": "acme.example.org"}}))).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.data()["name"], "Acme Corp");
    assert_eq!(patched.data()["realm"], "acme.example.org");
    assert_eq!(stored(h.store.as_ref(), db::ACCOUNTS, &id).await["realm"], "acme.example.org");
    assert_eq!(stored(h.store.as_ref(), &db::account_db(&id), &id).await["realm"], "acme.example.org");
    assert_eq!(stored(h.store.as_ref(), db::ACCOUNTS, &id).await["pvt_tree"], json!([h.master_id]));
    let taken =
        h.m("PATCH", &format!("/v2/accounts/{id}"), Some(json!({"data": {"realm": "Master.example.com"}}))).await;
    assert_eq!(taken.status, 400);
    assert!(taken.data()["realm"]["unique"].is_object());
    // The old realm is free again; the new one logs in.
    assert!(h.login_realm("boss@acme.example.com", "pw", "acme.example.org").await.is_some());

    let seen = next_events(&mut events, 64).await;
    let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&format!("doc_created.accounts.account.{id}").as_str()), "{keys:?}");
    assert!(keys.contains(&format!("doc_created.{}.account.{id}", db::account_db(&id)).as_str()), "{keys:?}");
    assert!(keys.contains(&format!("doc_edited.accounts.account.{id}").as_str()), "{keys:?}");
    let created = seen.iter().find(|(k, _)| k == &format!("doc_created.accounts.account.{id}")).expect("created");
    assert_eq!(created.1["Event-Category"], "configuration");
    assert_eq!(created.1["Database"], "accounts");
    assert_eq!(created.1["Type"], "account");
    assert_eq!(created.1["ID"], id.as_str());
}

#[tokio::test]
async fn users_crud() {
    let h = Harness::start().await;
    let acct = h.child_account(&h.master_token, &h.master_id, "Acme", "acme.example.com").await;
    let mut events = h.conf_events().await;
    let users = format!("/v2/accounts/{acct}/users");

    let a = h
        .m(
            "PUT",
            &users,
            Some(json!({"data": {"username": "Alice@Acme.Example.com", "password": "pw1", "first_name": "Alice",
                                 "last_name": "Smith", "email": "alice@acme.example.com", "timezone": "Europe/London",
                                 "pvt_md5_auth": "forged"}})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let uid = a.data()["id"].as_str().expect("id").to_string();
    assert_eq!(a.data()["username"], "alice@acme.example.com");
    assert_eq!(a.data()["priv_level"], "user");
    assert!(a.data().get("password").is_none());
    assert!(a.data().get("pvt_md5_auth").is_none());

    // Only hashes are stored, of the lowercased username.
    let doc = stored(h.store.as_ref(), &db::account_db(&acct), &uid).await;
    assert_eq!(doc["pvt_type"], "user");
    assert!(doc.get("password").is_none());
    assert_eq!(doc["pvt_md5_auth"], md5_hex("alice@acme.example.com:pw1").as_str());
    assert_eq!(doc["pvt_sha1_auth"], sha1_hex("alice@acme.example.com:pw1").as_str());
    let errors = support::kazoo_schema_errors("users.json", &doc);
    assert!(errors.is_empty(), "stored user against Kazoo's users.json: {errors:?}");
    assert!(h.login_realm("alice@acme.example.com", "pw1", "acme.example.com").await.is_some());

    // Usernames are unique in the account, case-insensitively; names are required.
    let dup = h
        .m(
            "PUT",
            &users,
            Some(json!({"data": {"username": "ALICE@acme.example.com", "first_name": "A", "last_name": "B"}})),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.data()["username"]["unique"]["cause"], "alice@acme.example.com");
    let bad = h.m("PUT", &users, Some(json!({"data": {"username": "bob"}}))).await;
    assert_eq!(bad.status, 400);
    assert!(bad.data()["first_name"]["required"].is_object());

    // A second user; the list shows both, without secrets.
    let b = h
        .m(
            "PUT",
            &users,
            Some(json!({"data": {"username": "bob", "password": "pw", "first_name": "Bob", "last_name": "B"}})),
        )
        .await;
    assert_eq!(b.status, 201);
    let bob = b.data()["id"].as_str().expect("id").to_string();
    let list = h.m("GET", &users, None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["page_size"], 2);
    let names: Vec<&str> =
        list.data().as_array().expect("list").iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, ["alice@acme.example.com", "bob"]);
    assert!(list.data()[0].get("pvt_md5_auth").is_none());

    // GET, POST (full replace of the public fields), PATCH.
    let got = h.m("GET", &format!("{users}/{uid}"), None).await;
    assert_eq!(got.data()["first_name"], "Alice");
    assert!(got.body["revision"].as_str().unwrap_or_default().contains('-'));
    let posted = h
        .m(
            "POST",
            &format!("{users}/{uid}"),
            Some(json!({"data": {"username": "alice@acme.example.com", "first_name": "Alicia", "last_name": "Smith"}})),
        )
        .await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    assert_eq!(posted.data()["first_name"], "Alicia");
    assert!(posted.data().get("email").is_none(), "POST replaces the public fields");
    assert!(h.login_realm("alice@acme.example.com", "pw1", "acme.example.com").await.is_some(), "hashes kept");
    let patched = h.m("PATCH", &format!("{users}/{uid}"), Some(json!({"data": {"priv_level": "admin"}}))).await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.data()["priv_level"], "admin");
    assert_eq!(patched.data()["first_name"], "Alicia");
    // Renaming needs the password; with it, the new credentials log in.
    let rename = h.m("PATCH", &format!("{users}/{uid}"), Some(json!({"data": {"username": "alicia"}}))).await;
    assert_eq!(rename.status, 400);
    assert!(rename.data()["password"]["required"].is_object());
    let rename =
        h.m("PATCH", &format!("{users}/{uid}"), Some(json!({"data": {"username": "alicia", "password": "pw2"}}))).await;
    assert_eq!(rename.status, 200);
    assert!(h.login_realm("alicia", "pw2", "acme.example.com").await.is_some());
    assert!(h.login_realm("alice@acme.example.com", "pw1", "acme.example.com").await.is_none());
    let taken =
        h.m("PATCH", &format!("{users}/{uid}"), Some(json!({"data": {"username": "BOB", "password": "x"}}))).await;
    assert_eq!(taken.status, 400);

    // DELETE: soft, gone from GET, the list and logins.
    let del = h.m("DELETE", &format!("{users}/{bob}"), None).await;
    assert_eq!(del.status, 200);
    assert_eq!(del.data()["_read_only"]["deleted"], true);
    assert_eq!(h.m("GET", &format!("{users}/{bob}"), None).await.status, 404);
    assert_eq!(h.m("DELETE", &format!("{users}/{bob}"), None).await.status, 404);
    let list = h.m("GET", &users, None).await;
    assert_eq!(list.data().as_array().map(Vec::len), Some(1));
    assert_eq!(stored(h.store.as_ref(), &db::account_db(&acct), &bob).await["pvt_deleted"], true);
    assert!(h.login_realm("bob", "pw", "acme.example.com").await.is_none());
    let missing = h.m("GET", &format!("{users}/0123456789abcdef0123456789abcdef"), None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["message"], "bad_identifier");

    let seen = next_events(&mut events, 16).await;
    let adb = db::account_db(&acct);
    let keys: Vec<String> = seen.iter().map(|(k, _)| k.clone()).collect();
    for key in [
        format!("doc_created.{adb}.user.{uid}"),
        format!("doc_edited.{adb}.user.{uid}"),
        format!("doc_deleted.{adb}.user.{bob}"),
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    let deleted = seen.iter().find(|(k, _)| k.starts_with("doc_deleted")).expect("deleted");
    assert_eq!(deleted.1["Is-Soft-Deleted"], true);
}

#[tokio::test]
async fn store_down_answers_503() {
    let h = Harness::start().await;
    h.store.set_down(true);
    let md5 = md5_hex(&format!("{MASTER_USER}:{MASTER_PASSWORD}"));
    let login = h
        .call("PUT", "/v2/user_auth", None, Some(json!({"data": {"credentials": md5, "realm": "master.example.com"}})))
        .await;
    assert_eq!(login.status, 503, "{:?}", login.body);
    assert_eq!(login.body["message"], "datastore_unreachable");
    for (method, path, body) in [
        ("GET", format!("/v2/accounts/{}", h.master_id), None),
        ("GET", format!("/v2/accounts/{}/users", h.master_id), None),
        ("GET", format!("/v2/accounts/{}/faxboxes", h.master_id), None),
        ("PUT", format!("/v2/accounts/{}/faxboxes", h.master_id), Some(json!({"data": {"name": "x"}}))),
    ] {
        let a = h.m(method, &path, body).await;
        assert_eq!(a.status, 503, "{method} {path}: {:?}", a.body);
        assert_eq!(a.body["error"], "503");
    }
    h.store.set_down(false);
    assert_eq!(h.m("GET", &format!("/v2/accounts/{}", h.master_id), None).await.status, 200);
}
