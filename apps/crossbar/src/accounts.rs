//! Creates, reads and updates accounts: `/v2/accounts/{id}` and the account creation `sup` uses.
//!
//! Ports `cb_accounts` (create a child under `{id}` with `PUT`, read with `GET`, change with `POST`/`PATCH`) and
//! `crossbar_maintenance:create_account/4`. An account document lives twice with the same `_id`: in its own
//! database (`account%2Fxx%2Fyy%2Frest`, created with its design documents) and in `accounts`, where realm and
//! name lookups and the `pvt_tree` scoping read it. `pvt_tree` lists the ancestors root first;
//! `pvt_reseller_id` is the nearest reseller among them (the master account at the top). The first account
//! created without a parent becomes the master account (`system_config/accounts.master_account_id`).

use kz_data::TypedDoc;
use std::sync::Arc;

use axum::extract::{Path, State};
use bytes::Bytes;
use kz_config::{Config, ConfigError};
use kz_core::{db, ids, time};
use kz_data::{Doc, Store, StoreError, ViewOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::Api;
use crate::auth::Auth;
use crate::docs::{is_private_key, merge_into, public_fields};
use crate::envelope::{ApiError, Reply, ValidationErrors, request_data};
use crate::events::Change;
use crate::users::{self, NewUser};

/// The `pvt_type` of account documents.
pub const PVT_TYPE: &str = "account";
/// Where the master account id is kept (Kazoo's `system_config/accounts.master_account_id`).
pub const MASTER_CATEGORY: &str = "accounts";
pub const MASTER_KEY: &str = "master_account_id";

/// An account document. Fields it does not name stay in `extra`, so Kazoo's documents survive a round trip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_account_db: Option<String>,
    /// Ancestors, root first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_tree: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_reseller_id: Option<String>,
    /// This account is a reseller (its descendants' config falls back to its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_reseller: Option<bool>,
    /// Tokens of this account may act on every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_superduper_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_modified: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_deleted: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl kz_data::TypedDoc for Account {}

impl Account {
    /// Not deleted and not disabled.
    pub fn is_active(&self) -> bool {
        self.pvt_deleted != Some(true) && self.pvt_enabled != Some(false)
    }

    /// The reseller this account answers to: `pvt_reseller_id`, else the root of its tree, else itself.
    pub fn reseller_id(&self) -> Option<String> {
        self.pvt_reseller_id
            .clone()
            .or_else(|| self.pvt_tree.as_ref().and_then(|t| t.first().cloned()))
            .or_else(|| self.id.clone())
    }

    /// What the API shows: the public fields, `id`, and Kazoo's leaked private ones.
    pub fn public(&self) -> Value {
        let mut out = public_fields(&self.to_doc());
        out.insert("id".into(), json!(self.id));
        out.insert("created".into(), json!(self.pvt_created));
        out.insert("enabled".into(), Value::Bool(self.pvt_enabled != Some(false)));
        out.insert("superduper_admin".into(), Value::Bool(self.pvt_superduper_admin == Some(true)));
        out.insert("is_reseller".into(), Value::Bool(self.pvt_reseller == Some(true)));
        out.insert("reseller_id".into(), json!(self.reseller_id()));
        Value::Object(out)
    }
}

/// Reads an account from `accounts`; `None` when there is no such account.
pub async fn load(store: &dyn Store, account_id: &str) -> Result<Option<Account>, ApiError> {
    match store.get(db::ACCOUNTS, account_id).await {
        Ok(doc) => Account::from_doc(doc).map(Some).map_err(ApiError::fault),
        Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The master account id, if one was created.
pub async fn master_account_id(config: &Config) -> Result<Option<String>, ConfigError> {
    Ok(config.get(MASTER_CATEGORY, MASTER_KEY).await?.and_then(|v| v.as_str().map(String::from)))
}

/// A realm looks like a domain name: 4 to 253 characters, dot-separated labels of letters, digits and hyphens
/// (Kazoo's schema allows `^[.\w-]+$`; this keeps what an email domain can be).
pub fn is_realm(realm: &str) -> bool {
    (4..=253).contains(&realm.len())
        && realm.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The first user of a new account, made with it (`sup crossbar_maintenance create_account`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdminUser {
    pub username: String,
    pub password: String,
}

/// What a new account is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewAccount {
    pub name: String,
    pub realm: String,
    pub timezone: Option<String>,
    /// Other public fields to store as given.
    pub extra: Map<String, Value>,
    /// An admin user to create in the account, in the same all-or-nothing step.
    pub admin: Option<AdminUser>,
}

/// A created account.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedAccount {
    /// The account document as stored in its own database.
    pub account: Account,
    pub account_id: String,
    pub account_db: String,
    /// The admin user's id, when one was made.
    pub user_id: Option<String>,
    /// This account became the master account.
    pub master: bool,
}

/// Why an account could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field is missing or malformed.
    #[error("{message}")]
    Invalid { field: &'static str, code: &'static str, message: String },
    /// Another account has this realm (compared lowercased).
    #[error("realm {0} is already used by another account")]
    RealmTaken(String),
    #[error("parent account {0} not found")]
    ParentNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, code, message } => {
                let mut errors = ValidationErrors::default();
                errors.message(field, code, &message, None);
                ApiError::validation(errors)
            }
            AccountError::RealmTaken(realm) => {
                let mut errors = ValidationErrors::default();
                errors.message("realm", "unique", "Account realm already in use", Some(Value::String(realm)));
                ApiError::validation(errors)
            }
            AccountError::ParentNotFound(id) => ApiError::bad_identifier(&id),
            AccountError::Store(s) => s.into(),
            AccountError::Config(c) => c.into(),
        }
    }
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> AccountError {
    AccountError::Invalid { field, code, message: message.into() }
}

/// Checks and normalises the name, realm and timezone of an account.
fn check_fields(name: &str, realm: &str, timezone: Option<&str>) -> Result<(String, String), AccountError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "required", "account name must not be empty"));
    }
    if name.chars().count() > 128 {
        return Err(invalid("name", "maxLength", "account name must not be more than 128 characters"));
    }
    let realm = realm.trim().to_lowercase();
    if realm.is_empty() {
        return Err(invalid("realm", "required", "account realm must not be empty"));
    }
    if !is_realm(&realm) {
        return Err(invalid("realm", "pattern", format!("realm {realm:?} is not a domain name")));
    }
    if let Some(tz) = timezone
        && !(5..=32).contains(&tz.len())
    {
        return Err(invalid("timezone", "pattern", format!("timezone {tz:?} is not a timezone name")));
    }
    Ok((name.to_string(), realm))
}

/// Makes sure `accounts` exists with its views.
async fn ensure_accounts_db(store: &dyn Store) -> Result<(), StoreError> {
    store.db_create(db::ACCOUNTS).await?;
    kz_data::design::push_design_docs(store, db::ACCOUNTS).await?;
    Ok(())
}

/// The account holding `realm` (lowercased), other than `except`.
async fn realm_owner(store: &dyn Store, realm: &str, except: Option<&str>) -> Result<Option<String>, StoreError> {
    let rows = store.query(db::ACCOUNTS, "accounts/listing_by_realm", &ViewOptions::key(realm.to_lowercase())).await?;
    Ok(rows.into_iter().filter_map(|r| r.id).find(|id| Some(id.as_str()) != except))
}

/// Creates an account under `parent` (or, without one, under the master account; the first account becomes
/// the master), with its database, design documents and, if asked, an admin user. Nothing is left behind when
/// a step fails.
pub async fn create(
    store: &dyn Store,
    config: &Config,
    parent: Option<&str>,
    new: NewAccount,
) -> Result<CreatedAccount, AccountError> {
    let (name, realm) = check_fields(&new.name, &new.realm, new.timezone.as_deref())?;
    let admin = match &new.admin {
        Some(a) => {
            let username = a.username.trim().to_lowercase();
            if username.is_empty() || a.password.is_empty() {
                return Err(invalid("username", "required", "username and password must not be empty"));
            }
            Some(NewUser::admin(&username, &a.password))
        }
        None => None,
    };
    ensure_accounts_db(store).await?;
    if realm_owner(store, &realm, None).await?.is_some() {
        return Err(AccountError::RealmTaken(realm));
    }

    let parent_id = match parent {
        Some(p) => Some(p.to_ascii_lowercase()),
        None => master_account_id(config).await?,
    };
    let parent_account = match &parent_id {
        Some(pid) => {
            let doc = match store.get(db::ACCOUNTS, pid).await {
                Ok(doc) => doc,
                Err(StoreError::NotFound(_)) => return Err(AccountError::ParentNotFound(pid.clone())),
                Err(e) => return Err(e.into()),
            };
            let acct = Account::from_doc(doc).map_err(|e| invalid("parent", "invalid", e.to_string()))?;
            if acct.pvt_deleted == Some(true) {
                return Err(AccountError::ParentNotFound(pid.clone()));
            }
            Some(acct)
        }
        None => None,
    };

    let account_id = ids::new_id();
    let account_db = db::account_db(&account_id);
    let now = time::now_s();
    let is_master = parent_account.is_none();
    let (tree, reseller) = match &parent_account {
        Some(p) => {
            let pid = p.id.clone().unwrap_or_default();
            let mut tree = p.pvt_tree.clone().unwrap_or_default();
            tree.push(pid.clone());
            let reseller = if p.pvt_reseller == Some(true) { Some(pid) } else { p.reseller_id() };
            (tree, reseller.unwrap_or_else(|| account_id.clone()))
        }
        None => (Vec::new(), account_id.clone()),
    };
    let mut extra = public_fields(&new.extra);
    for k in ["id", "name", "realm", "timezone", "enabled"] {
        extra.remove(k);
    }
    extra.insert("pvt_vsn".into(), Value::String("1".into()));
    let account = Account {
        id: Some(account_id.clone()),
        rev: None,
        name: Some(name),
        realm: Some(realm),
        timezone: new.timezone.clone(),
        enabled: Some(true),
        pvt_type: Some(PVT_TYPE.into()),
        pvt_account_id: Some(account_id.clone()),
        pvt_account_db: Some(account_db.clone()),
        pvt_tree: Some(tree),
        pvt_reseller_id: Some(reseller),
        pvt_reseller: Some(is_master),
        pvt_superduper_admin: Some(is_master),
        pvt_enabled: Some(true),
        pvt_api_key: Some(ids::rand_hex(32)),
        pvt_created: Some(now),
        pvt_modified: Some(now),
        pvt_deleted: None,
        extra,
    };

    store.db_create(&account_db).await?;
    let made = async {
        kz_data::design::push_design_docs(store, &account_db).await?;
        let saved = store.save(&account_db, account.to_doc()).await?;
        let user_id = match &admin {
            Some(user) => Some(users::insert(store, &account_id, user).await?.id.unwrap_or_default()),
            None => None,
        };
        store.save(db::ACCOUNTS, account.to_doc()).await?;
        Ok::<_, StoreError>((saved, user_id))
    }
    .await;
    let (saved, user_id) = match made {
        Ok(v) => v,
        Err(e) => {
            // Leave nothing half-made behind: the account database goes, and with it the user.
            if let Err(cleanup) = store.db_delete(&account_db).await {
                warn!(account_db = %account_db, error = %cleanup, "could not remove a half-created account database");
            }
            return Err(e.into());
        }
    };
    if is_master {
        config.set_default(MASTER_CATEGORY, MASTER_KEY, Value::String(account_id.clone())).await?;
    }
    info!(account_id = %account_id, master = is_master, "account created");
    let account = Account::from_doc(saved).map_err(|e| invalid("account", "invalid", e.to_string()))?;
    Ok(CreatedAccount { account, account_id, account_db, user_id, master: is_master })
}

/// Reads the account document from its own database (falling back on the `accounts` copy).
async fn load_primary(store: &dyn Store, account: &Account) -> Result<Account, ApiError> {
    let id = account.id.clone().unwrap_or_default();
    match store.get(&db::account_db(&id), &id).await {
        Ok(doc) => Account::from_doc(doc).map_err(ApiError::fault),
        Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => Ok(account.clone()),
        Err(e) => Err(e.into()),
    }
}

/// Saves a changed account in its own database, then its copy in `accounts`; when the copy fails, the
/// previous version is put back.
async fn save_both(store: &dyn Store, previous: &Account, mut updated: Account) -> Result<Doc, ApiError> {
    let id = previous.id.clone().unwrap_or_default();
    let account_db = db::account_db(&id);
    updated.rev = previous.rev.clone();
    let saved = store.save(&account_db, updated.to_doc()).await.map_err(|e| ApiError::from_store(e, &id))?;
    let copied = crate::docs::write_copy(store, db::ACCOUNTS, saved.clone()).await;
    if let Err(e) = copied {
        warn!(account_id = %id, error = %e, "account copy in accounts failed, restoring the previous version");
        let mut back = previous.to_doc();
        back.insert("_rev".into(), saved.get("_rev").cloned().unwrap_or(Value::Null));
        if let Err(restore) = store.save(&account_db, back).await {
            warn!(account_id = %id, error = %restore, "could not restore the previous account version");
        }
        return Err(ApiError::from_store(e, &id));
    }
    Ok(saved)
}

/// `GET /v2/accounts/{id}`.
pub async fn get(State(api): State<Arc<Api>>, auth: Auth, Path(account_id): Path<String>) -> Result<Reply, ApiError> {
    let account = api.authorize(&auth, &account_id).await?;
    let primary = load_primary(api.ctx.store.as_ref(), &account).await?;
    Ok(Reply::ok(primary.public()).revision_of(&primary.to_doc()))
}

/// `PUT /v2/accounts/{parent_id}`: creates a child account.
pub async fn create_child(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path(parent_id): Path<String>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    api.authorize(&auth, &parent_id).await?;
    let data = public_fields(&request_data(&body)?);
    let mut errors = ValidationErrors::default();
    let text = |k: &str, errors: &mut ValidationErrors| match data.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        None => None,
        Some(other) => {
            errors.add(
                &[k],
                "type",
                json!({"message": "Value did not match type(s): string", "target": "string", "value": other}),
            );
            None
        }
    };
    let name = text("name", &mut errors);
    let realm = text("realm", &mut errors);
    let timezone = text("timezone", &mut errors);
    if name.is_none() && !errors.as_map().contains_key("name") {
        errors.required("name");
    }
    if realm.is_none() && !errors.as_map().contains_key("realm") {
        errors.required("realm");
    }
    errors.into_result()?;
    let new = NewAccount {
        name: name.unwrap_or_default(),
        realm: realm.unwrap_or_default(),
        timezone,
        extra: data.clone(),
        admin: None,
    };
    let created = create(api.ctx.store.as_ref(), &api.ctx.config, Some(&parent_id), new).await?;
    let doc = created.account.to_doc();
    api.publish(Change::Created, &created.account_db, &doc).await;
    api.publish(Change::Created, db::ACCOUNTS, &doc).await;
    Ok(Reply::created(created.account.public()).revision_of(&doc))
}

/// `POST /v2/accounts/{id}`: replaces the public fields (the realm is kept when none is sent).
pub async fn post(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let data = public_fields(&request_data(&body)?);
    update(&api, &auth, &account_id, |current| {
        let mut public = data.clone();
        if !public.contains_key("realm")
            && let Some(realm) = &current.realm
        {
            public.insert("realm".into(), Value::String(realm.clone()));
        }
        public
    })
    .await
}

/// `PATCH /v2/accounts/{id}`: changes only the fields sent.
pub async fn patch(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let data = public_fields(&request_data(&body)?);
    update(&api, &auth, &account_id, |current| {
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
    new_public: impl FnOnce(&Account) -> Map<String, Value>,
) -> Result<Reply, ApiError> {
    let listed = api.authorize(auth, account_id).await?;
    let store = api.ctx.store.as_ref();
    let current = load_primary(store, &listed).await?;
    let mut public = new_public(&current);
    public.remove("id");
    let str_of = |k: &str| public.get(k).and_then(Value::as_str).map(String::from);
    let mut errors = ValidationErrors::default();
    for k in ["name", "realm", "timezone"] {
        if let Some(v) = public.get(k).filter(|v| !v.is_string() && !v.is_null()) {
            errors.add(
                &[k],
                "type",
                json!({"message": "Value did not match type(s): string", "target": "string",
                                            "value": v}),
            );
        }
    }
    errors.into_result()?;
    let (name, realm) = check_fields(
        &str_of("name").unwrap_or_default(),
        &str_of("realm").unwrap_or_default(),
        str_of("timezone").as_deref(),
    )?;
    if realm_owner(store, &realm, Some(account_id)).await?.is_some() {
        return Err(AccountError::RealmTaken(realm).into());
    }
    public.insert("name".into(), Value::String(name));
    public.insert("realm".into(), Value::String(realm));
    let mut doc: Doc = current.to_doc().into_iter().filter(|(k, _)| is_private_key(k)).collect();
    doc.extend(public);
    doc.insert("pvt_modified".into(), Value::from(time::now_s()));
    let updated = Account::from_doc(doc).map_err(|e| {
        let mut errors = ValidationErrors::default();
        errors.message("account", "invalid", &e.to_string(), None);
        ApiError::validation(errors)
    })?;
    let saved = save_both(store, &current, updated).await?;
    api.publish(Change::Edited, &db::account_db(account_id), &saved).await;
    api.publish(Change::Edited, db::ACCOUNTS, &saved).await;
    let account = Account::from_doc(saved.clone()).map_err(ApiError::fault)?;
    Ok(Reply::ok(account.public()).revision_of(&saved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms() {
        assert!(is_realm("example.com"));
        assert!(is_realm("fax-1.example.com"));
        assert!(is_realm("localhost"));
        assert!(!is_realm(""));
        assert!(!is_realm("a.b"));
        assert!(!is_realm("a..bc"));
        assert!(!is_realm("-a.com"));
        assert!(!is_realm("a b.com"));
    }

    #[test]
    fn kazoo_sample_account_round_trips_unchanged() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-samples/account.json");
        let text = std::fs::read_to_string(&path).expect("kazoo sample account");
        let original: Value = serde_json::from_str(&text).expect("json");
        let account = Account::from_doc(original.as_object().cloned().unwrap_or_default()).expect("parse");
        assert_eq!(account.pvt_superduper_admin, Some(true));
        assert_eq!(account.pvt_tree.as_deref(), Some(&["11111111111111111111111111111111".to_string()][..]));
        assert_eq!(account.reseller_id().as_deref(), Some("11111111111111111111111111111111"));
        assert_eq!(Value::Object(account.to_doc()), original);
        let public = account.public();
        assert!(public.get("pvt_api_key").is_none());
        assert_eq!(public["id"], "1760753c8d022d650418fbbe6a1a10e0");
        assert_eq!(public["superduper_admin"], true);
    }
}
