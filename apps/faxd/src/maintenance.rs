//! Runs the maintenance functions `sup` calls, in Kazoo's `sup MODULE FUNCTION ARGS...` form.
//!
//! Ports the `*_maintenance` modules the fax app relies on: `kapps_config` and `kapps_account_config` (system and
//! account configuration), `kapps_util:get_master_account_id`, `kapps_maintenance:refresh_views` and
//! `crossbar_maintenance:create_account`. Each function returns a [`Reply`] that `sup` renders for people (plain
//! values, Kazoo-style `{ok, ...}` tuples, tables) or passes on as JSON with `--json`.

use std::sync::Arc;

use kz_config::{Config, ConfigError, parse_cli_value};
use kz_core::{db, ids, time};
use kz_data::{Doc, Store, StoreError, ViewOptions};
use md5::Digest;
use serde::Serialize;
use serde_json::{Value, json};

/// The system_config category and key holding the master account id (as Kazoo keeps it).
const ACCOUNTS_CATEGORY: &str = "accounts";
const MASTER_ACCOUNT_KEY: &str = "master_account_id";

/// What a maintenance function answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// A plain value; `null` prints as `undefined`, like Kazoo.
    Value { value: Value },
    /// Kazoo's `{ok, Value}`.
    Ok { value: Value },
    /// A table with named columns.
    Table { columns: Vec<String>, rows: Vec<Vec<Value>> },
    /// A line of text.
    Message { text: String },
}

/// Why a maintenance function failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintError {
    #[error("unknown command: {module} {function}")]
    Unknown { module: String, function: String },
    #[error("usage: sup {0}")]
    Usage(&'static str),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MaintError {
    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            MaintError::Unknown { .. } => "unknown_command",
            MaintError::Usage(_) => "usage",
            MaintError::Refused(_) => "refused",
            MaintError::Config(_) => "config",
            MaintError::Store(StoreError::Unavailable(_)) => "store_unavailable",
            MaintError::Store(_) => "store",
        }
    }
}

/// The maintenance functions of one node, over its store and configuration.
#[derive(Clone)]
pub struct Maintenance {
    store: Arc<dyn Store>,
    config: Config,
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance").field("config", &self.config).finish()
    }
}

impl Maintenance {
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Maintenance { store, config }
    }

    /// Runs `sup MODULE FUNCTION ARGS...`.
    pub async fn run(&self, module: &str, function: &str, args: &[String]) -> Result<Reply, MaintError> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match (module, function, a.as_slice()) {
            ("kapps_config", "get", [cat, key]) => self.config_get(cat, key).await,
            ("kapps_config", "get", _) => Err(MaintError::Usage("kapps_config get <category> <key>")),
            ("kapps_config", "set", [cat, key, value]) => {
                self.config.set(cat, key, parse_cli_value(value)).await?;
                Ok(Reply::Ok { value: parse_cli_value(value) })
            }
            ("kapps_config", "set", _) => Err(MaintError::Usage("kapps_config set <category> <key> <value>")),
            ("kapps_config", "set_default", [cat, key, value]) => {
                self.config.set_default(cat, key, parse_cli_value(value)).await?;
                Ok(Reply::Ok { value: parse_cli_value(value) })
            }
            ("kapps_config", "set_default", _) => {
                Err(MaintError::Usage("kapps_config set_default <category> <key> <value>"))
            }
            ("kapps_config", "flush", []) => {
                self.config.flush();
                Ok(Reply::Message { text: "flushed".into() })
            }
            ("kapps_account_config", "get", [account, cat, key]) => {
                let account = self.existing_account(account).await?;
                let default = default_of(cat, key);
                let value = self.config.account_get_global(&account, cat, key, default).await?;
                Ok(Reply::Value { value })
            }
            ("kapps_account_config", "get", _) => {
                Err(MaintError::Usage("kapps_account_config get <account_id> <category> <key>"))
            }
            ("kapps_account_config", "set", [account, cat, key, value]) => {
                let account = self.existing_account(account).await?;
                self.config.account_set(&account, cat, key, parse_cli_value(value)).await?;
                Ok(Reply::Ok { value: parse_cli_value(value) })
            }
            ("kapps_account_config", "set", _) => {
                Err(MaintError::Usage("kapps_account_config set <account_id> <category> <key> <value>"))
            }
            ("kapps_util", "get_master_account_id", []) => match self.master_account_id().await? {
                Some(id) => Ok(Reply::Ok { value: Value::String(id) }),
                None => Err(MaintError::Refused(
                    "no master account: create one with 'sup crossbar_maintenance create_account'".into(),
                )),
            },
            ("kapps_maintenance", "refresh_views", []) => {
                let report = kz_data::design::refresh_views(self.store.as_ref()).await?;
                Ok(Reply::Message {
                    text: format!(
                        "refreshed views in {} databases ({} design documents updated)",
                        report.databases, report.written
                    ),
                })
            }
            ("crossbar_maintenance", "create_account", [name, realm, username, password]) => {
                let created = self.create_account(name, realm, username, password).await?;
                Ok(Reply::Ok { value: created })
            }
            ("crossbar_maintenance", "create_account", _) => {
                Err(MaintError::Usage("crossbar_maintenance create_account <name> <realm> <username> <password>"))
            }
            _ => Err(MaintError::Unknown { module: module.into(), function: function.into() }),
        }
    }

    async fn config_get(&self, category: &str, key: &str) -> Result<Reply, MaintError> {
        let value = match default_of(category, key) {
            Value::Null => self.config.get(category, key).await?.unwrap_or(Value::Null),
            default => self.config.get_or_default(category, key, default).await?,
        };
        Ok(Reply::Value { value })
    }

    async fn existing_account(&self, account_id: &str) -> Result<String, MaintError> {
        let id = account_id.to_ascii_lowercase();
        match self.store.get(db::ACCOUNTS, &id).await {
            Ok(_) => Ok(id),
            Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => {
                Err(MaintError::Refused(format!("account {account_id} not found")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers right now (for `/health`).
    pub async fn store_reachable(&self) -> bool {
        self.store.db_exists(db::SYSTEM_CONFIG).await.is_ok()
    }

    /// The master account id from `system_config/accounts`, if one was created.
    pub async fn master_account_id(&self) -> Result<Option<String>, MaintError> {
        Ok(self.config.get(ACCOUNTS_CATEGORY, MASTER_ACCOUNT_KEY).await?.and_then(|v| v.as_str().map(String::from)))
    }

    /// Creates an account (its document in `accounts` and in its own database), its database with design
    /// documents, and an admin user. The first account becomes the master account.
    pub async fn create_account(
        &self,
        name: &str,
        realm: &str,
        username: &str,
        password: &str,
    ) -> Result<Value, MaintError> {
        let realm = realm.trim().to_ascii_lowercase();
        let username = username.trim().to_ascii_lowercase();
        if name.trim().is_empty() {
            return Err(MaintError::Refused("account name must not be empty".into()));
        }
        if !is_realm(&realm) {
            return Err(MaintError::Refused(format!("realm {realm:?} is not a domain name")));
        }
        if username.is_empty() || password.is_empty() {
            return Err(MaintError::Refused("username and password must not be empty".into()));
        }
        kz_data::design::refresh_views(self.store.as_ref()).await?;
        let taken =
            self.store.query(db::ACCOUNTS, "accounts/listing_by_realm", &ViewOptions::key(realm.clone())).await?;
        if !taken.is_empty() {
            return Err(MaintError::Refused(format!("realm {realm} is already used by another account")));
        }

        let master = self.master_account_id().await?;
        let account_id = ids::new_id();
        let account_db = db::account_db(&account_id);
        let now = time::now_s();
        let is_master = master.is_none();
        let tree: Vec<Value> = master.iter().map(|m| Value::String(m.clone())).collect();
        let reseller = master.clone().unwrap_or_else(|| account_id.clone());

        let account = json!({
            "_id": account_id,
            "name": name.trim(),
            "realm": realm,
            "enabled": true,
            "pvt_type": "account",
            "pvt_vsn": "1",
            "pvt_account_id": account_id,
            "pvt_account_db": account_db,
            "pvt_tree": tree,
            "pvt_reseller_id": reseller,
            "pvt_reseller": is_master,
            "pvt_superduper_admin": is_master,
            "pvt_enabled": true,
            "pvt_api_key": ids::rand_hex(32),
            "pvt_created": now,
            "pvt_modified": now,
        });
        let user_id = ids::new_id();
        let credentials = format!("{username}:{password}");
        let mut user = json!({
            "_id": user_id,
            "username": username,
            "first_name": "Account",
            "last_name": "Admin",
            "priv_level": "admin",
            "enabled": true,
            "pvt_type": "user",
            "pvt_vsn": "1",
            "pvt_account_id": account_id,
            "pvt_account_db": account_db,
            "pvt_md5_auth": hex::encode(md5::Md5::digest(credentials.as_bytes())),
            "pvt_sha1_auth": hex::encode(sha1::Sha1::digest(credentials.as_bytes())),
            "pvt_created": now,
            "pvt_modified": now,
        });
        if username.contains('@') {
            user["email"] = Value::String(username.clone());
        }

        self.store.db_create(&account_db).await?;
        let created = async {
            kz_data::design::push_design_docs(self.store.as_ref(), &account_db).await?;
            self.store.save(&account_db, as_doc(account.clone())).await?;
            self.store.save(&account_db, as_doc(user)).await?;
            self.store.save(db::ACCOUNTS, as_doc(account)).await?;
            Ok::<_, StoreError>(())
        }
        .await;
        if let Err(e) = created {
            // Leave nothing half-made behind: the account database goes, and with it the user.
            let _ = self.store.db_delete(&account_db).await;
            return Err(e.into());
        }
        if is_master {
            self.config.set_default(ACCOUNTS_CATEGORY, MASTER_ACCOUNT_KEY, Value::String(account_id.clone())).await?;
        }
        Ok(json!({
            "account_id": account_id,
            "account_db": account_db,
            "user_id": user_id,
            "name": name.trim(),
            "realm": realm,
            "master": is_master,
        }))
    }
}

fn as_doc(v: Value) -> Doc {
    match v {
        Value::Object(m) => m,
        _ => Doc::new(),
    }
}

/// The built-in default of a configuration key, or `null` when the category has none.
fn default_of(category: &str, key: &str) -> Value {
    match category {
        kz_config::fax::CATEGORY => kz_config::fax::default_of(key).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// A realm must look like a domain name: dot-separated labels of letters, digits and hyphens.
fn is_realm(realm: &str) -> bool {
    !realm.is_empty()
        && realm.len() <= 253
        && realm.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
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
        assert!(!is_realm("a..b"));
        assert!(!is_realm("-a.com"));
        assert!(!is_realm("a b.com"));
    }

    #[test]
    fn fax_defaults_are_known() {
        assert_eq!(default_of("fax", "default_smtp_domain"), json!("fax.kazoo.io"));
        assert_eq!(default_of("fax", "nope"), Value::Null);
        assert_eq!(default_of("other", "default_smtp_domain"), Value::Null);
    }
}
