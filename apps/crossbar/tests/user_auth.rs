//! Logs users in through `PUT /v2/user_auth` in an account with hundreds of users: the right password gets a
//! token for the right user, a wrong one Kazoo's `invalid_credentials`, and the user is found with one keyed read
//! of the credentials view (`users/creds_by_md5`, `users/creds_by_sha`), not by reading every user.

mod support;

use crossbar::users::{self, NewUser};
use kz_core::db;
use kz_data::Store;
use serde_json::{Value, json};
use support::{Harness, md5_hex, sha1_hex};

const REALM: &str = "crowd.example.com";
const USERS: usize = 250;

fn username(i: usize) -> String {
    format!("user{i:03}@{REALM}")
}

fn password(i: usize) -> String {
    format!("pw-{i}")
}

/// `PUT /v2/user_auth` on `base`: the status and the body.
async fn login(client: &reqwest::Client, base: &str, data: Value) -> (u16, Value) {
    let resp = client
        .put(format!("{base}/v2/user_auth"))
        .header("Content-Type", "application/json")
        .body(json!({ "data": data }).to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

fn md5_of(user: &str, password: &str) -> String {
    md5_hex(&format!("{}:{password}", user.to_lowercase()))
}

/// Kazoo's answer to refused credentials.
fn assert_refused(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}");
    assert_eq!(body["error"], "401", "{what}");
    assert_eq!(body["message"], "invalid_credentials", "{what}");
    assert_eq!(body["data"]["message"], "invalid credentials", "{what}");
    assert!(body.get("auth_token").is_none_or(|t| t == ""), "{what}: no token");
}

#[tokio::test]
async fn logins_find_their_user_by_key_among_hundreds() {
    let h = Harness::start().await;
    let account = h.child_account(&h.master_token, &h.master_id, "Crowd", REALM).await;
    let account_db = db::account_db(&account);
    let mut ids = Vec::new();
    for i in 0..USERS {
        let user =
            users::insert(h.store.as_ref(), &account, &NewUser::admin(&username(i), &password(i))).await.expect("user");
        ids.push(user.id.expect("user id"));
    }
    // One more through the API, with a mixed-case username: its hashes must be the ones the view is keyed by.
    let created = h
        .m(
            "PUT",
            &format!("/v2/accounts/{account}/users"),
            Some(json!({"data": {"username": "Late.Comer@Crowd.Example.com", "password": "late-pw",
                                 "first_name": "Late", "last_name": "Comer"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let late_id = created.data()["id"].as_str().expect("id").to_string();

    // The harness's store records the view queries it answers.
    let (client, base) = (&h.client, h.base.as_str());
    h.store.take_queries();

    // md5: the right user, by realm, with one keyed read of the md5 view.
    let creds = md5_of(&username(137), &password(137));
    let (status, body) = login(client, base, json!({"credentials": creds, "realm": REALM})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["owner_id"], ids[137].as_str());
    assert_eq!(body["data"]["account_id"], account.as_str());
    assert_eq!(body["data"]["account_name"], "Crowd");
    assert!(body["auth_token"].as_str().is_some_and(|t| t.len() == 64));
    let user_reads: Vec<_> = h.store.take_queries().into_iter().filter(|(db, _, _)| *db == account_db).collect();
    assert_eq!(user_reads, vec![(account_db.clone(), "users/creds_by_md5".to_string(), Some(json!(creds)))]);

    // sha, by account name; and the user created through the API.
    let sha = sha1_hex(&format!("{}:{}", username(249), password(249)));
    let (status, body) =
        login(client, base, json!({"credentials": sha, "account_name": "crowd", "method": "sha"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["owner_id"], ids[249].as_str());
    let user_reads: Vec<_> = h.store.take_queries().into_iter().filter(|(db, _, _)| *db == account_db).collect();
    assert_eq!(user_reads, vec![(account_db.clone(), "users/creds_by_sha".to_string(), Some(json!(sha)))]);
    let (status, body) =
        login(client, base, json!({"credentials": md5_of("late.comer@crowd.example.com", "late-pw"), "realm": REALM}))
            .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["owner_id"], late_id.as_str());

    // A wrong password, another user's password, md5 credentials sent as sha: Kazoo's 401.
    let wrong = md5_of(&username(137), "not-it");
    assert_refused_login(client, base, json!({"credentials": wrong, "realm": REALM}), "wrong password").await;
    let crossed = md5_of(&username(137), &password(138));
    assert_refused_login(client, base, json!({"credentials": crossed, "realm": REALM}), "another's password").await;
    let as_sha = json!({"credentials": md5_of(&username(5), &password(5)), "realm": REALM, "method": "sha"});
    assert_refused_login(client, base, as_sha, "md5 as sha").await;

    // A disabled user, a deleted one and one stored without `enabled` cannot log in (Kazoo's view skips them).
    let disabled = h
        .m("PATCH", &format!("/v2/accounts/{account}/users/{}", ids[10]), Some(json!({"data": {"enabled": false}})))
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    let creds = json!({"credentials": md5_of(&username(10), &password(10)), "realm": REALM});
    assert_refused_login(client, base, creds, "disabled").await;
    let deleted = h.m("DELETE", &format!("/v2/accounts/{account}/users/{}", ids[11]), None).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    let creds = json!({"credentials": md5_of(&username(11), &password(11)), "realm": REALM});
    assert_refused_login(client, base, creds, "deleted").await;
    let mut bare = h.store.get(&account_db, &ids[12]).await.expect("user 12");
    bare.remove("enabled");
    h.store.save(&account_db, bare).await.expect("save");
    let creds = json!({"credentials": md5_of(&username(12), &password(12)), "realm": REALM});
    assert_refused_login(client, base, creds, "no enabled flag").await;

    // The others are untouched.
    let creds = json!({"credentials": md5_of(&username(13), &password(13)), "realm": REALM});
    assert_eq!(login(client, base, creds).await.0, 201);
}

async fn assert_refused_login(client: &reqwest::Client, base: &str, data: Value, what: &str) {
    let (status, body) = login(client, base, data).await;
    assert_refused(status, &body, what);
}
