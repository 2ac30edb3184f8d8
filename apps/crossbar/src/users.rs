//! Manages an account's users: `/v2/accounts/{id}/users[/{user_id}]`.
//!
//! Ports `cb_users_v2`: users live in the account database (`pvt_type = user`); the password is never stored,
//! only Kazoo's `pvt_md5_auth` / `pvt_sha1_auth` hashes of `username:password` (username lowercased), which
//! `user_auth` compares; the username is unique within the account. Deletion is Kazoo's soft delete
//! (`pvt_deleted: true`), which every view leaves out. Listings come from `users/list_by_username`, so every
//! user here has a username (Kazoo allows users without one; a fax service's users all log in or send mail).

use kz_data::TypedDoc;
use std::sync::Arc;

use axum::extract::{Path, State};
use bytes::Bytes;
use kz_core::{db, ids, time};
use kz_data::{Doc, Store, StoreError, ViewOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Api;
use crate::auth::{Auth, credential_hashes};
use crate::docs::{is_private_key, live_of_type, merge_into, public_fields};
use crate::envelope::{ApiError, Reply, ValidationErrors, request_data};
use crate::events::Change;

/// The `pvt_type` of user documents.
pub const PVT_TYPE: &str = "user";

/// A user document. Fields it does not name stay in `extra`, so Kazoo's documents survive a round trip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `user` or `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_account_db: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_md5_auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_sha1_auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_modified: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_deleted: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl kz_data::TypedDoc for User {}

impl User {
    /// What the API shows: the public fields and `id`.
    pub fn public(&self) -> Value {
        let mut out = public_fields(&self.to_doc());
        out.insert("id".into(), json!(self.id));
        Value::Object(out)
    }
}

/// A user to create: its public fields (checked) and its password.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewUser {
    pub public: Map<String, Value>,
    pub password: Option<String>,
}

impl NewUser {
    /// An account's first administrator.
    pub fn admin(username: &str, password: &str) -> NewUser {
        let mut public = Map::new();
        public.insert("username".into(), Value::String(username.to_string()));
        public.insert("first_name".into(), Value::String("Account".into()));
        public.insert("last_name".into(), Value::String("Admin".into()));
        public.insert("priv_level".into(), Value::String("admin".into()));
        if username.contains('@') {
            public.insert("email".into(), Value::String(username.to_string()));
        }
        apply_defaults(&mut public);
        NewUser { public, password: Some(password.to_string()) }
    }
}

/// Kazoo's `users` schema defaults for the fields this API knows.
fn apply_defaults(public: &mut Map<String, Value>) {
    let defaults = [
        ("enabled", Value::Bool(true)),
        ("priv_level", Value::String("user".into())),
        ("require_password_update", Value::Bool(false)),
        ("verified", Value::Bool(false)),
        ("vm_to_email_enabled", Value::Bool(true)),
    ];
    for (k, v) in defaults {
        public.entry(k.to_string()).or_insert(v);
    }
}

/// Saves a new user into the account's database.
pub async fn insert(store: &dyn Store, account_id: &str, new: &NewUser) -> Result<User, StoreError> {
    let account_db = db::account_db(account_id);
    let now = time::now_s();
    let mut doc = public_fields(&new.public);
    doc.remove("id");
    doc.remove("password");
    doc.insert("_id".into(), Value::String(ids::new_id()));
    doc.insert("pvt_type".into(), Value::String(PVT_TYPE.into()));
    doc.insert("pvt_vsn".into(), Value::String("1".into()));
    doc.insert("pvt_account_id".into(), Value::String(account_id.to_string()));
    doc.insert("pvt_account_db".into(), Value::String(account_db.clone()));
    doc.insert("pvt_created".into(), Value::from(now));
    doc.insert("pvt_modified".into(), Value::from(now));
    if let (Some(password), Some(username)) = (&new.password, doc.get("username").and_then(Value::as_str)) {
        let (md5, sha1) = credential_hashes(username, password);
        doc.insert("pvt_md5_auth".into(), Value::String(md5));
        doc.insert("pvt_sha1_auth".into(), Value::String(sha1));
    }
    let saved = store.save(&account_db, doc).await?;
    User::from_doc(saved).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn type_error(errors: &mut ValidationErrors, field: &str, want: &str, value: &Value) {
    errors.add(
        &[field],
        "type",
        json!({"message": format!("Value did not match type(s): {want}"), "target": want, "value": value}),
    );
}

fn length_errors(errors: &mut ValidationErrors, field: &str, text: &str, min: usize, max: usize) {
    let n = text.chars().count();
    if n < min {
        errors.add(
            &[field],
            "minLength",
            json!({"message": format!("String must be at least {min} characters"), "target": min, "cause": text,
                   "value": text}),
        );
    } else if n > max {
        errors.add(
            &[field],
            "maxLength",
            json!({"message": format!("String must not be more than {max} characters"), "target": max,
                   "cause": text, "value": text}),
        );
    }
}

/// A plausible email address: one `@` between a non-empty local part and a dotted domain, no spaces.
pub fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Checks a user's public fields the way Kazoo's `users` schema does, fills in its defaults and lowercases the
/// username.
fn check(public: &mut Map<String, Value>) -> Result<(), ValidationErrors> {
    apply_defaults(public);
    let mut errors = ValidationErrors::default();
    for field in ["enabled", "require_password_update", "verified", "vm_to_email_enabled"] {
        match public.get(field) {
            Some(Value::Bool(_)) | None => {}
            Some(Value::String(s)) if s == "true" || s == "false" => {
                let b = s == "true";
                public.insert(field.into(), Value::Bool(b));
            }
            Some(other) => type_error(&mut errors, field, "boolean", &other.clone()),
        }
    }
    for (field, required, min, max) in [
        ("first_name", true, 1, 128),
        ("last_name", true, 1, 128),
        ("username", true, 1, 256),
        ("email", false, 3, 254),
        ("timezone", false, 1, 64),
    ] {
        match public.get(field) {
            None if required => errors.required(field),
            None => {}
            Some(Value::String(s)) => length_errors(&mut errors, field, s, min, max),
            Some(other) => type_error(&mut errors, field, "string", other),
        }
    }
    if let Some(Value::String(username)) = public.get("username").cloned() {
        let username = username.trim().to_lowercase();
        if !username.is_empty() && !username.chars().all(|c| c.is_alphanumeric() || "+@._-".contains(c)) {
            errors.add(
                &["username"],
                "pattern",
                json!({"message": "Failed to match pattern '^([+@.\\w_-]+)$'", "target": "^([+@.\\w_-]+)$",
                       "value": username}),
            );
        }
        public.insert("username".into(), Value::String(username));
    }
    if let Some(Value::String(email)) = public.get("email")
        && !is_email(email)
    {
        errors.add(
            &["email"],
            "wrong_format",
            json!({"message": "Field is not in the correct format", "value": email, "format": "email"}),
        );
    }
    match public.get("priv_level") {
        Some(Value::String(p)) if p == "user" || p == "admin" => {}
        Some(other) => errors.add(
            &["priv_level"],
            "enum",
            json!({"message": "Value not found in enumerated list of values", "target": ["user", "admin"],
                   "value": other}),
        ),
        None => {}
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Takes the password out of the request data; it must be a non-empty string when sent.
fn take_password(data: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match data.remove("password") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(p)) if !p.is_empty() => Ok(Some(p)),
        Some(other) => {
            let mut errors = ValidationErrors::default();
            if other.is_string() {
                errors.add(
                    &["password"],
                    "minLength",
                    json!({"message": "String must be at least 1 characters", "target": 1}),
                );
            } else {
                type_error(&mut errors, "password", "string", &other);
            }
            Err(ApiError::validation(errors))
        }
    }
}

/// The user of the account holding `username` (lowercased), other than `except`.
async fn username_owner(
    store: &dyn Store,
    account_db: &str,
    username: &str,
    except: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let rows = store.query(account_db, "users/list_by_username", &ViewOptions::key(username.to_lowercase())).await?;
    Ok(rows.into_iter().filter_map(|r| r.id).find(|id| Some(id.as_str()) != except))
}

fn username_taken(username: &str) -> ApiError {
    let mut errors = ValidationErrors::default();
    errors.message("username", "unique", "User name already in use", Some(Value::String(username.to_string())));
    ApiError::validation(errors)
}

/// Loads an undeleted user of an account.
pub async fn load(store: &dyn Store, account_id: &str, user_id: &str) -> Result<User, ApiError> {
    let doc = store.get(&db::account_db(account_id), user_id).await.map_err(|e| ApiError::from_store(e, user_id))?;
    if !live_of_type(&doc, PVT_TYPE) {
        return Err(ApiError::bad_identifier(user_id));
    }
    User::from_doc(doc).map_err(ApiError::fault)
}

/// `GET /v2/accounts/{id}/users`.
pub async fn list(State(api): State<Arc<Api>>, auth: Auth, Path(account_id): Path<String>) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let rows = api
        .ctx
        .store
        .query(&db::account_db(&account_id), "users/list_by_username", &ViewOptions::default().include_docs())
        .await?;
    let items = rows
        .into_iter()
        .filter_map(|r| r.doc)
        .filter(|d| live_of_type(d, PVT_TYPE))
        .map(|d| {
            let pick = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
            json!({
                "id": pick("_id"),
                "username": pick("username"),
                "email": pick("email"),
                "first_name": pick("first_name"),
                "last_name": pick("last_name"),
                "priv_level": pick("priv_level"),
                "timezone": pick("timezone"),
                "enabled": d.get("enabled").cloned().unwrap_or(Value::Bool(true)),
            })
        })
        .collect();
    Ok(Reply::list(items))
}

/// `PUT /v2/accounts/{id}/users`.
pub async fn create(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let mut data = request_data(&body)?;
    let password = take_password(&mut data)?;
    let mut public = public_fields(&data);
    public.remove("id");
    check(&mut public).map_err(ApiError::validation)?;
    let store = api.ctx.store.as_ref();
    let account_db = db::account_db(&account_id);
    let username = public.get("username").and_then(Value::as_str).unwrap_or_default().to_string();
    if username_owner(store, &account_db, &username, None).await?.is_some() {
        return Err(username_taken(&username));
    }
    let user = insert(store, &account_id, &NewUser { public, password }).await?;
    let doc = user.to_doc();
    api.publish(Change::Created, &account_db, &doc).await;
    Ok(Reply::created(user.public()).revision_of(&doc))
}

/// `GET /v2/accounts/{id}/users/{user_id}`.
pub async fn get(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, user_id)): Path<(String, String)>,
) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let user = load(api.ctx.store.as_ref(), &account_id, &user_id).await?;
    Ok(Reply::ok(user.public()).revision_of(&user.to_doc()))
}

/// `POST /v2/accounts/{id}/users/{user_id}`: replaces the public fields.
pub async fn post(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let mut data = request_data(&body)?;
    let password = take_password(&mut data)?;
    let data = public_fields(&data);
    update(&api, &auth, &account_id, &user_id, password, |_| data).await
}

/// `PATCH /v2/accounts/{id}/users/{user_id}`: changes only the fields sent.
pub async fn patch(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let mut data = request_data(&body)?;
    let password = take_password(&mut data)?;
    let data = public_fields(&data);
    update(&api, &auth, &account_id, &user_id, password, |current| {
        let mut public = public_fields(&current.to_doc());
        merge_into(&mut public, &data);
        public
    })
    .await
}

async fn update(
    api: &Api,
    auth: &Auth,
    account_id: &str,
    user_id: &str,
    password: Option<String>,
    new_public: impl FnOnce(&User) -> Map<String, Value>,
) -> Result<Reply, ApiError> {
    api.authorize(auth, account_id).await?;
    let store = api.ctx.store.as_ref();
    let current = load(store, account_id, user_id).await?;
    let mut public = new_public(&current);
    public.remove("id");
    check(&mut public).map_err(ApiError::validation)?;
    let account_db = db::account_db(account_id);
    let username = public.get("username").and_then(Value::as_str).unwrap_or_default().to_string();
    if username_owner(store, &account_db, &username, Some(user_id)).await?.is_some() {
        return Err(username_taken(&username));
    }
    let renamed = current.username.as_deref().map(str::to_lowercase).as_deref() != Some(username.as_str());
    if renamed && password.is_none() && current.pvt_md5_auth.is_some() {
        let mut errors = ValidationErrors::default();
        errors.message("password", "required", "The password must be provided when updating the username", None);
        return Err(ApiError::validation(errors));
    }
    let mut doc: Doc = current.to_doc().into_iter().filter(|(k, _)| is_private_key(k)).collect();
    doc.extend(public);
    if let Some(password) = &password {
        let (md5, sha1) = credential_hashes(&username, password);
        doc.insert("pvt_md5_auth".into(), Value::String(md5));
        doc.insert("pvt_sha1_auth".into(), Value::String(sha1));
    }
    doc.insert("pvt_modified".into(), Value::from(time::now_s()));
    let saved = store.save(&account_db, doc).await.map_err(|e| ApiError::from_store(e, user_id))?;
    api.publish(Change::Edited, &account_db, &saved).await;
    let user = User::from_doc(saved.clone()).map_err(ApiError::fault)?;
    Ok(Reply::ok(user.public()).revision_of(&saved))
}

/// `DELETE /v2/accounts/{id}/users/{user_id}`: Kazoo's soft delete.
pub async fn delete(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, user_id)): Path<(String, String)>,
) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let store = api.ctx.store.as_ref();
    let current = load(store, &account_id, &user_id).await?;
    let mut doc = current.to_doc();
    doc.insert("pvt_deleted".into(), Value::Bool(true));
    doc.insert("pvt_modified".into(), Value::from(time::now_s()));
    let account_db = db::account_db(&account_id);
    let saved = store.save(&account_db, doc).await.map_err(|e| ApiError::from_store(e, &user_id))?;
    api.publish(Change::Deleted, &account_db, &saved).await;
    let user = User::from_doc(saved.clone()).map_err(ApiError::fault)?;
    let mut public = user.public();
    if let Value::Object(m) = &mut public {
        m.insert("_read_only".into(), json!({"deleted": true}));
    }
    Ok(Reply::ok(public).revision_of(&saved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazoo_sample_user_round_trips_unchanged() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-samples/user.json");
        let text = std::fs::read_to_string(&path).expect("kazoo sample user");
        let original: Value = serde_json::from_str(&text).expect("json");
        let user = User::from_doc(original.as_object().cloned().unwrap_or_default()).expect("parse");
        assert_eq!(user.username.as_deref(), Some("john.doe@test.com"));
        assert_eq!(user.priv_level.as_deref(), Some("user"));
        assert_eq!(Value::Object(user.to_doc()), original);
        let public = user.public();
        assert!(public.get("pvt_md5_auth").is_none());
        assert_eq!(public["id"], "bd1683a4a288c4f0b8a34a02906d3520");
    }

    #[test]
    fn check_applies_defaults_and_rules() {
        let mut ok = json!({"first_name": "A", "last_name": "B", "username": "Someone@Example.com"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        check(&mut ok).expect("valid");
        assert_eq!(ok["username"], "someone@example.com");
        assert_eq!(ok["priv_level"], "user");
        assert_eq!(ok["enabled"], true);
        let mut bad = json!({"last_name": "", "username": "no spaces", "email": "x", "priv_level": "root"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let e = check(&mut bad).expect_err("invalid");
        let m = e.as_map();
        assert!(m["first_name"].get("required").is_some());
        assert!(m["last_name"].get("minLength").is_some());
        assert!(m["username"].get("pattern").is_some());
        assert!(m["email"].get("wrong_format").is_some());
        assert_eq!(m["priv_level"]["enum"]["target"], json!(["user", "admin"]));
    }

    #[test]
    fn emails() {
        assert!(is_email("a@b.com"));
        assert!(!is_email("a@b"));
        assert!(!is_email("@b.com"));
        assert!(!is_email("a b@c.com"));
        assert!(!is_email("a@b@c.com"));
    }
}
