//! Runs the maintenance functions `sup` calls, in Kazoo's `sup MODULE FUNCTION ARGS...` form.
//!
//! Ports the `*_maintenance` modules the fax app relies on: `kapps_config` and `kapps_account_config` (system and
//! account configuration), `kapps_util:get_master_account_id`, `kapps_maintenance:refresh_views` and
//! `crossbar_maintenance:create_account`. Each function returns a [`Reply`] that `sup` renders for people (plain
//! values, Kazoo-style `{ok, ...}` tuples, tables) or passes on as JSON with `--json`.

use std::sync::Arc;

use kz_config::{Config, ConfigError, parse_cli_value};
use kz_core::db;
use kz_data::{Store, StoreError};
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
    fax: fax::maintenance::MaintenanceContext,
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance").field("config", &self.config).finish()
    }
}

impl Maintenance {
    pub fn new(store: Arc<dyn Store>, config: Config, registry: fax::registry::Registry) -> Self {
        let fax = fax::maintenance::MaintenanceContext { store: store.clone(), config: config.clone(), registry };
        Maintenance { store, config, fax }
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
            ("fax_maintenance", function, _) => self.fax_maintenance(function, args).await,
            _ => Err(MaintError::Unknown { module: module.into(), function: function.into() }),
        }
    }

    async fn fax_maintenance(&self, function: &str, args: &[String]) -> Result<Reply, MaintError> {
        use fax::maintenance::{MaintenanceError, Output};
        match fax::maintenance::run(&self.fax, function, args).await {
            Ok(Output::Table { columns, rows }) => Ok(Reply::Table { columns, rows }),
            Ok(Output::Message(text)) => Ok(Reply::Message { text }),
            Ok(Output::Ok(value)) => Ok(Reply::Ok { value }),
            Err(MaintenanceError::Usage(usage)) => Err(MaintError::Usage(usage)),
            Err(MaintenanceError::Store(e)) => Err(MaintError::Store(e)),
            Err(MaintenanceError::Unknown(_)) => {
                Err(MaintError::Unknown { module: "fax_maintenance".into(), function: function.into() })
            }
            Err(e) => Err(MaintError::Refused(e.to_string())),
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
        use crossbar::accounts::{AccountError, AdminUser, NewAccount, create};
        let new = NewAccount {
            name: name.to_string(),
            realm: realm.to_string(),
            admin: Some(AdminUser { username: username.to_string(), password: password.to_string() }),
            ..Default::default()
        };
        let created = create(self.store.as_ref(), &self.config, None, new).await.map_err(|e| match e {
            AccountError::Store(s) => MaintError::Store(s),
            AccountError::Config(c) => MaintError::Config(c),
            other => MaintError::Refused(other.to_string()),
        })?;
        Ok(json!({
            "account_id": created.account_id,
            "account_db": created.account_db,
            "user_id": created.user_id,
            "name": created.account.name,
            "realm": created.account.realm,
            "master": created.master,
        }))
    }
}

/// The built-in default of a configuration key, or `null` when the category has none.
fn default_of(category: &str, key: &str) -> Value {
    match category {
        kz_config::fax::CATEGORY => kz_config::fax::default_of(key).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fax_defaults_are_known() {
        assert_eq!(default_of("fax", "default_smtp_domain"), json!("fax.kazoo.io"));
        assert_eq!(default_of("fax", "nope"), Value::Null);
        assert_eq!(default_of("other", "default_smtp_domain"), Value::Null);
    }
}
