//! Authenticates API clients: user and API-key logins that issue tokens, token checks, account scoping.
//!
//! Ports `cb_user_auth` (`PUT /v2/user_auth`: MD5 or SHA-1 of `username:password` and an account name or realm,
//! the user found by that hash in the account's `users/creds_by_md5` or `users/creds_by_sha` view),
//! `cb_api_auth` (`PUT /v2/api_auth`: the account's `pvt_api_key`), `crossbar_auth:create_auth_token/2` and the
//! `token_auth` database tokens of `cb_token_auth`, and the rule of `cb_simple_authz`: a token acts on its own
//! account and its descendants (its id is in their `pvt_tree`), a superduper admin's on every account. Tokens are
//! documents in `token_auth`, so every node accepts a token any node issued; a node keeps the ones it checked
//! for a few seconds.

use kz_data::TypedDoc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use bytes::Bytes;
use kz_core::{db, ids, time};
use kz_data::{StoreError, ViewOptions};
use serde_json::{Map, Value, json};
use tracing::{debug, info, warn};

use crate::Api;
use crate::accounts::{self, Account};
use crate::envelope::{ApiError, Reply, ValidationErrors, request_data, token_of};
use crate::users::User;

/// The database holding auth tokens (Kazoo's `token_auth`).
pub const TOKEN_DB: &str = "token_auth";

/// The system_config category and key of the token lifetime, in seconds.
pub const CONFIG_CATEGORY: &str = "crossbar";
pub const TOKEN_EXPIRY_KEY: &str = "token_auth_expiry_s";
/// A token's lifetime when none is configured: one hour.
pub const DEFAULT_TOKEN_EXPIRY_S: i64 = 3600;

/// How long a checked token is trusted without reading it again.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Past this many cached tokens the cache is emptied, so it cannot grow without bound.
const CACHE_MAX: usize = 10_000;

/// Who a request acts as: a checked, unexpired token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub token: String,
    pub account_id: String,
    /// The user who logged in (`None` for an API-key token).
    pub owner_id: Option<String>,
    /// The token's account is a superduper admin (it may act on every account).
    pub superduper: bool,
    /// Unix time the token expires.
    pub expires: i64,
}

/// Tokens checked recently, by token.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Instant, Auth)>>,
}

impl TokenCache {
    fn get(&self, token: &str) -> Option<Auth> {
        let entries = self.entries.lock().ok()?;
        let (at, auth) = entries.get(token)?;
        (at.elapsed() < CACHE_TTL && auth.expires > time::now_unix()).then(|| auth.clone())
    }

    fn put(&self, auth: Auth) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
            entries.insert(auth.token.clone(), (Instant::now(), auth));
        }
    }

    fn forget(&self, token: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(token);
        }
    }
}

/// A token is a short run of letters and digits; anything else is refused before the store is asked.
fn plausible_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Api {
    /// Checks a token: known, unexpired, its account still there and enabled.
    pub async fn check_token(&self, token: &str) -> Result<Auth, ApiError> {
        if !plausible_token(token) {
            return Err(ApiError::invalid_credentials());
        }
        if let Some(auth) = self.tokens.get(token) {
            return Ok(auth);
        }
        let store = &self.ctx.store;
        let doc = match store.get(TOKEN_DB, token).await {
            Ok(doc) => doc,
            Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => return Err(ApiError::invalid_credentials()),
            Err(e) => return Err(e.into()),
        };
        let account_id = doc.get("account_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let expires = doc.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if account_id.is_empty() || expires <= time::now_unix() {
            self.tokens.forget(token);
            debug!(expires, "token expired or malformed");
            return Err(ApiError::invalid_credentials());
        }
        let Some(account) = accounts::load(store.as_ref(), &account_id).await?.filter(Account::is_active) else {
            return Err(ApiError::invalid_credentials());
        };
        let auth = Auth {
            token: token.to_string(),
            account_id,
            owner_id: doc.get("owner_id").and_then(Value::as_str).map(String::from),
            superduper: account.pvt_superduper_admin == Some(true),
            expires,
        };
        self.tokens.put(auth.clone());
        Ok(auth)
    }

    /// Loads account `account_id` for a request made with `auth`, refusing (403) when the token's account is
    /// neither that account, nor one of its ancestors, nor a superduper admin.
    pub async fn authorize(&self, auth: &Auth, account_id: &str) -> Result<Account, ApiError> {
        let allowed_blind = auth.superduper || auth.account_id == account_id;
        if !ids::is_id(account_id) {
            return Err(if allowed_blind { ApiError::bad_identifier(account_id) } else { ApiError::forbidden() });
        }
        match accounts::load(self.ctx.store.as_ref(), account_id).await? {
            Some(account) if account.pvt_deleted != Some(true) => {
                let in_tree = account.pvt_tree.as_ref().is_some_and(|t| t.iter().any(|a| a == &auth.account_id));
                if allowed_blind || in_tree {
                    Ok(account)
                } else {
                    info!(auth_account = %auth.account_id, account = %account_id, "token refused on this account");
                    Err(ApiError::forbidden())
                }
            }
            _ => Err(if allowed_blind { ApiError::bad_identifier(account_id) } else { ApiError::forbidden() }),
        }
    }

    /// Writes a new token for `account_id` (and the user `owner_id`) into `token_auth`.
    async fn issue_token(&self, account_id: &str, owner_id: Option<&str>, method: &str) -> Result<String, ApiError> {
        let ttl = self
            .ctx
            .config
            .get_or_default(CONFIG_CATEGORY, TOKEN_EXPIRY_KEY, Value::from(DEFAULT_TOKEN_EXPIRY_S))
            .await?
            .as_i64()
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_TOKEN_EXPIRY_S);
        let token = ids::rand_hex(32);
        let now = time::now_s();
        let mut doc = Map::new();
        doc.insert("_id".into(), Value::String(token.clone()));
        doc.insert("account_id".into(), Value::String(account_id.to_string()));
        if let Some(owner) = owner_id {
            doc.insert("owner_id".into(), Value::String(owner.to_string()));
        }
        doc.insert("method".into(), Value::String(method.to_string()));
        doc.insert("exp".into(), Value::from(time::now_unix() + ttl));
        doc.insert("pvt_type".into(), Value::String("token_auth".into()));
        doc.insert("pvt_created".into(), Value::from(now));
        doc.insert("pvt_modified".into(), Value::from(now));
        let store = &self.ctx.store;
        match store.save(TOKEN_DB, doc.clone()).await {
            Err(StoreError::DbNotFound(_)) => {
                store.db_create(TOKEN_DB).await?;
                store.save(TOKEN_DB, doc).await?;
            }
            other => {
                other?;
            }
        }
        Ok(token)
    }

    /// The data Kazoo returns with a new token (`crossbar_util:response_auth/3`).
    async fn auth_response(&self, account: &Account, owner: Option<&User>) -> Result<Value, ApiError> {
        let id = account.id.clone().unwrap_or_default();
        let master = accounts::master_account_id(&self.ctx.config).await?;
        let language = owner
            .and_then(|u| u.extra.get("language"))
            .or_else(|| account.extra.get("language"))
            .and_then(Value::as_str)
            .unwrap_or("en-us");
        let mut data = json!({
            "account_id": id,
            "account_name": account.name,
            "apps": [],
            "is_master_account": master.as_deref() == Some(id.as_str()),
            "is_reseller": account.pvt_reseller == Some(true),
            "language": language,
            "reseller_id": account.reseller_id(),
        });
        if let (Some(user), Value::Object(m)) = (owner, &mut data) {
            m.insert("owner_id".into(), json!(user.id));
        }
        Ok(data)
    }
}

impl FromRequestParts<Arc<Api>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Auth, ApiError> {
        let token = token_of(&parts.headers).ok_or_else(ApiError::invalid_credentials)?;
        api.check_token(&token).await
    }
}

/// Accounts a login names: by name (`account_name`) or realm (`realm`, `account_realm`), lowercased.
async fn named_accounts(api: &Api, data: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let text = |k: &str| data.get(k).and_then(Value::as_str).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let (view, key) = if let Some(realm) = text("account_realm").or_else(|| text("realm")) {
        ("accounts/listing_by_realm", realm)
    } else if let Some(name) = text("account_name") {
        ("accounts/listing_by_name", name)
    } else {
        return Ok(Vec::new());
    };
    let rows = match api.ctx.store.query(db::ACCOUNTS, view, &ViewOptions::key(key)).await {
        Ok(rows) => rows,
        Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(rows.into_iter().filter_map(|r| r.id).collect())
}

/// `PUT /v2/user_auth`: `{"credentials": md5("username:password"), "account_name" | "realm": ...}`.
pub async fn user_auth(State(api): State<Arc<Api>>, body: Bytes) -> Result<Reply, ApiError> {
    let data = request_data(&body)?;
    let mut errors = ValidationErrors::default();
    let credentials = match data.get("credentials") {
        Some(Value::String(c)) if !c.trim().is_empty() => c.trim().to_ascii_lowercase(),
        Some(Value::String(_)) | None => {
            errors.required("credentials");
            String::new()
        }
        Some(other) => {
            errors.add(
                &["credentials"],
                "type",
                json!({"message": "Value did not match type(s): string", "target": "string", "value": other}),
            );
            String::new()
        }
    };
    let method = data.get("method").and_then(Value::as_str).unwrap_or("md5").to_ascii_lowercase();
    if !matches!(method.as_str(), "md5" | "sha") {
        errors.add(
            &["method"],
            "enum",
            json!({"message": "Value not found in enumerated list of values", "target": ["md5", "sha"],
                   "value": method}),
        );
    }
    errors.into_result()?;

    for account_id in named_accounts(&api, &data).await? {
        let Some(account) = accounts::load(api.ctx.store.as_ref(), &account_id).await?.filter(Account::is_active)
        else {
            continue;
        };
        if let Some(user) = find_user_by_credentials(&api, &account_id, &credentials, &method).await? {
            let user_id = user.id.clone().unwrap_or_default();
            let token = api.issue_token(&account_id, Some(&user_id), "cb_user_auth").await?;
            info!(account_id = %account_id, user_id = %user_id, "user logged in");
            let data = api.auth_response(&account, Some(&user)).await?;
            return Ok(Reply::created(data).with_auth_token(token));
        }
    }
    info!("user login refused");
    Err(ApiError::invalid_credentials())
}

/// The account-database view listing enabled users by their stored hash for a login `method`
/// (`cb_user_auth`'s `users/creds_by_md5` and `users/creds_by_sha`).
pub fn credentials_view(method: &str) -> &'static str {
    if method == "sha" { "users/creds_by_sha" } else { "users/creds_by_md5" }
}

/// The enabled, undeleted user of an account whose stored hash is `credentials`: one keyed read of the
/// credentials view, whatever the number of users. When several users share the hash, the first row wins, as in
/// Kazoo.
async fn find_user_by_credentials(
    api: &Api,
    account_id: &str,
    credentials: &str,
    method: &str,
) -> Result<Option<User>, ApiError> {
    let account_db = db::account_db(account_id);
    let view = credentials_view(method);
    let opts = ViewOptions::key(credentials).include_docs();
    let rows = match api.ctx.store.query(&account_db, view, &opts).await {
        Ok(rows) => rows,
        Err(StoreError::DbNotFound(_)) => return Ok(None),
        Err(StoreError::NotFound(e)) => {
            warn!(account_id, view, error = %e, "credentials view missing, no user can log in: refresh the views");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(rows.into_iter().filter_map(|r| r.doc).find_map(|doc| User::from_doc(doc).ok()))
}

/// `PUT /v2/api_auth`: `{"api_key": ...}`, the account's `pvt_api_key`.
pub async fn api_auth(State(api): State<Arc<Api>>, body: Bytes) -> Result<Reply, ApiError> {
    let data = request_data(&body)?;
    let Some(key) = data.get("api_key").and_then(Value::as_str).map(str::trim).filter(|k| !k.is_empty()) else {
        let mut errors = ValidationErrors::default();
        errors.required("api_key");
        return Err(ApiError::validation(errors));
    };
    let rows = match api.ctx.store.query(db::ACCOUNTS, "accounts/listing_by_id", &ViewOptions::default()).await {
        Ok(rows) => rows,
        Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for id in rows.into_iter().filter_map(|r| r.id) {
        let Some(account) = accounts::load(api.ctx.store.as_ref(), &id).await? else { continue };
        let matches = account.pvt_api_key.as_deref().is_some_and(|k| constant_time_eq(k, key));
        if matches && account.is_active() {
            let token = api.issue_token(&id, None, "cb_api_auth").await?;
            info!(account_id = %id, "api key login");
            let data = api.auth_response(&account, None).await?;
            return Ok(Reply::created(data).with_auth_token(token));
        }
    }
    info!("api key login refused");
    Err(ApiError::invalid_credentials())
}

/// Compares two secrets in time independent of where they first differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hashes of `username:password` as Kazoo stores them (`pvt_md5_auth`, `pvt_sha1_auth`), the username lowercased.
pub fn credential_hashes(username: &str, password: &str) -> (String, String) {
    use md5::Digest;
    let creds = format!("{}:{password}", username.trim().to_lowercase());
    (hex::encode(md5::Md5::digest(creds.as_bytes())), hex::encode(sha1::Sha1::digest(creds.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_of_lowercased_username_and_password() {
        // Kazoo's credentials are md5("username:password"), the username lowercased.
        let (md5, sha1) = credential_hashes("John.Doe@Test.com", "pw");
        let (md5b, sha1b) = credential_hashes("john.doe@test.com", "pw");
        assert_eq!(md5, md5b);
        assert_eq!(sha1, sha1b);
        assert_eq!(md5.len(), 32);
        assert_eq!(sha1.len(), 40);
        // md5sum / sha1sum of "a:b".
        assert_eq!(credential_hashes("A", "b").0, "d8160c9b3dc20d4e931aeb4f45262155");
        assert_eq!(credential_hashes("a", "b").1, "dcea6d9ccd3d20ba1549f6d9b5dde60742158882");
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[test]
    fn tokens_are_plain_words() {
        assert!(plausible_token(&ids::rand_hex(32)));
        assert!(!plausible_token(""));
        assert!(!plausible_token("../x"));
        assert!(!plausible_token(&"a".repeat(129)));
    }
}
