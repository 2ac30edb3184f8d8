//! Reads and writes system and account configuration the way Kazoo does.
//!
//! Ports `kapps_config` and `kapps_account_config`. System configuration lives in the `system_config` database,
//! one document per category (`_id` = the category, e.g. `fax`), with values under the node name, the zone name
//! or `default`, looked up in that order; a key read with a default and found nowhere gets the default written
//! back under `default`, so `system_config` documents fill themselves in. Account configuration lives in the
//! account database as `configs_<category>` (`pvt_type = account_config`) and is read account -> reseller ->
//! system ([`Config::account_get_global`]).
//!
//! Reads are cached for at most [`CACHE_TTL`], so a change written by `sup`, the API or straight into the store
//! takes effect in every running node within a second, without a restart.

pub mod convert;
pub mod fax;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kz_core::db;
use kz_data::{Doc, Store, StoreError};
use serde_json::{Map, Value};

pub use convert::ConvertConfig;
pub use fax::FaxConfig;

/// How long a read configuration document may be served from cache.
pub const CACHE_TTL: Duration = Duration::from_millis(500);

/// The section of a `system_config` document that applies to every node.
pub const DEFAULT_SECTION: &str = "default";

/// How many times a write is retried after a revision conflict with a concurrent writer.
const WRITE_ATTEMPTS: usize = 5;

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not write {doc} after {WRITE_ATTEMPTS} conflicting attempts")]
    Contended { doc: String },
    #[error("invalid {category} configuration: {reason}")]
    Invalid { category: String, reason: String },
}

pub type ConfigResult<T> = Result<T, ConfigError>;

/// Documents read recently, by (database, id), with when they were read; `None` = known missing.
type DocCache = HashMap<(String, String), (Instant, Option<Doc>)>;

/// Handle to system and account configuration. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Config {
    store: Arc<dyn Store>,
    node: String,
    zone: Option<String>,
    cache: Arc<Mutex<DocCache>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("node", &self.node).field("zone", &self.zone).finish()
    }
}

impl Config {
    /// Configuration for node `node` (e.g. `faxd@host`), in zone `zone` if any.
    pub fn new(store: Arc<dyn Store>, node: impl Into<String>, zone: Option<String>) -> Self {
        Config { store, node: node.into(), zone, cache: Arc::new(Mutex::new(HashMap::new())) }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Reads a document through the cache; `None` when it (or its database) does not exist.
    async fn read_doc(&self, dbname: &str, id: &str) -> ConfigResult<Option<Doc>> {
        let key = (dbname.to_string(), id.to_string());
        if let Ok(cache) = self.cache.lock()
            && let Some((at, doc)) = cache.get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(doc.clone());
        }
        let doc = match self.store.get(dbname, id).await {
            Ok(doc) => Some(doc),
            Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), doc.clone()));
        }
        Ok(doc)
    }

    fn forget(&self, dbname: &str, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&(dbname.to_string(), id.to_string()));
        }
    }

    /// Drops every cached document (Kazoo's `flush`).
    pub fn flush(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// The sections of a `system_config` document that apply to this node, most specific first.
    fn sections(&self) -> Vec<&str> {
        let mut s = vec![self.node.as_str()];
        if let Some(zone) = &self.zone {
            s.push(zone.as_str());
        }
        s.push(DEFAULT_SECTION);
        s
    }

    /// The whole `system_config/<category>` document, if any.
    pub async fn system_doc(&self, category: &str) -> ConfigResult<Option<Doc>> {
        self.read_doc(db::SYSTEM_CONFIG, category).await
    }

    /// A key of `system_config/<category>` looked up node -> zone -> default; `None` when set nowhere.
    pub async fn get(&self, category: &str, key: &str) -> ConfigResult<Option<Value>> {
        self.get_path(category, &[key]).await
    }

    /// Like [`Config::get`], but a key set nowhere gets `default` written under `default` and returned.
    pub async fn get_or_default(&self, category: &str, key: &str, default: Value) -> ConfigResult<Value> {
        if let Some(v) = self.get(category, key).await? {
            return Ok(v);
        }
        self.write_keys(category, DEFAULT_SECTION, vec![(key.to_string(), default.clone())], false).await?;
        Ok(default)
    }

    /// A key path of `system_config/<category>` (Kazoo's `[<<"fax">>, <<"max_pages">>]`: nested objects inside
    /// a section) looked up node -> zone -> default; `None` when set nowhere.
    pub async fn get_path(&self, category: &str, path: &[&str]) -> ConfigResult<Option<Value>> {
        let Some(doc) = self.system_doc(category).await? else {
            return Ok(None);
        };
        Ok(self.lookup(&doc, path).cloned())
    }

    /// The value at `path` in the first section of `doc` that has one, node -> zone -> default.
    fn lookup<'a>(&self, doc: &'a Doc, path: &[&str]) -> Option<&'a Value> {
        self.sections().into_iter().find_map(|s| doc.get(s).and_then(|sec| value_at(sec, path)))
    }

    /// Reads several key paths at once, each looked up node -> zone -> default; the paths set nowhere get their
    /// default written back under `default` (one write) and returned. The answer is in the order asked.
    pub async fn get_paths_or_default(&self, category: &str, paths: &[(&[&str], Value)]) -> ConfigResult<Vec<Value>> {
        let doc = self.system_doc(category).await?.unwrap_or_default();
        let mut values = Vec::with_capacity(paths.len());
        let mut missing = Vec::new();
        for (path, default) in paths {
            match self.lookup(&doc, path) {
                Some(v) => values.push(v.clone()),
                None => {
                    missing.push((path.iter().map(|k| k.to_string()).collect::<Vec<_>>(), default.clone()));
                    values.push(default.clone());
                }
            }
        }
        if !missing.is_empty() {
            self.write_paths(category, DEFAULT_SECTION, missing).await?;
        }
        Ok(values)
    }

    /// Writes values at key paths inside one section, creating the database, document and intermediate objects
    /// as needed, never replacing a value already there (default write-back racing another node's) nor an
    /// intermediate that is not an object.
    async fn write_paths(&self, category: &str, section: &str, paths: Vec<(Vec<String>, Value)>) -> ConfigResult<()> {
        let dbname = db::SYSTEM_CONFIG;
        self.store.db_create(dbname).await?;
        self.update_doc(dbname, category, Map::new, |doc| {
            let sec = doc.entry(section.to_string()).or_insert_with(|| Value::Object(Map::new()));
            let mut changed = false;
            for (path, value) in &paths {
                let Some((last, parents)) = path.split_last() else { continue };
                let mut at = Some(&mut *sec);
                for key in parents {
                    at = at
                        .and_then(Value::as_object_mut)
                        .map(|obj| obj.entry(key.clone()).or_insert_with(|| Value::Object(Map::new())));
                }
                if let Some(obj) = at.and_then(Value::as_object_mut)
                    && !obj.contains_key(last)
                {
                    obj.insert(last.clone(), value.clone());
                    changed = true;
                }
            }
            changed
        })
        .await
    }

    /// Sets a key for this node only (Kazoo's `kapps_config:set`).
    pub async fn set(&self, category: &str, key: &str, value: Value) -> ConfigResult<()> {
        let node = self.node.clone();
        self.write_keys(category, &node, vec![(key.to_string(), value)], true).await
    }

    /// Sets a key for every node (Kazoo's `kapps_config:set_default`).
    pub async fn set_default(&self, category: &str, key: &str, value: Value) -> ConfigResult<()> {
        self.write_keys(category, DEFAULT_SECTION, vec![(key.to_string(), value)], true).await
    }

    /// Sets a key under a given section (a node name, a zone, or `default`).
    pub async fn set_in_section(&self, category: &str, section: &str, key: &str, value: Value) -> ConfigResult<()> {
        self.write_keys(category, section, vec![(key.to_string(), value)], true).await
    }

    /// Writes keys into one section of `system_config/<category>`, creating the database and document as
    /// needed. With `overwrite` false, keys already present in that section are left alone (default write-back
    /// racing another node's).
    async fn write_keys(
        &self,
        category: &str,
        section: &str,
        keys: Vec<(String, Value)>,
        overwrite: bool,
    ) -> ConfigResult<()> {
        let dbname = db::SYSTEM_CONFIG;
        self.store.db_create(dbname).await?;
        self.update_doc(dbname, category, Map::new, |doc| {
            let sec = doc.entry(section.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !sec.is_object() {
                *sec = Value::Object(Map::new());
            }
            let mut changed = false;
            if let Some(obj) = sec.as_object_mut() {
                for (k, v) in &keys {
                    if (overwrite || !obj.contains_key(k)) && obj.get(k) != Some(v) {
                        obj.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
            }
            changed
        })
        .await
    }

    /// Reads `dbname/id` (or starts from `init()` plus its `_id` when missing), lets `change` edit it, and saves it
    /// with `pvt_modified` = now when `change` says it changed anything, retrying on revision conflicts with
    /// concurrent writers. The cached copy is dropped either way.
    async fn update_doc(
        &self,
        dbname: &str,
        id: &str,
        init: impl Fn() -> Doc,
        mut change: impl FnMut(&mut Doc) -> bool,
    ) -> ConfigResult<()> {
        for _ in 0..WRITE_ATTEMPTS {
            let mut doc = match self.store.get(dbname, id).await {
                Ok(doc) => doc,
                Err(StoreError::NotFound(_)) => {
                    let mut d = Map::new();
                    d.insert("_id".into(), Value::String(id.to_string()));
                    d.extend(init());
                    d
                }
                Err(e) => return Err(e.into()),
            };
            if !change(&mut doc) {
                self.forget(dbname, id);
                return Ok(());
            }
            doc.insert("pvt_modified".into(), Value::from(kz_core::time::now_s()));
            match self.store.save(dbname, doc).await {
                Ok(_) => {
                    self.forget(dbname, id);
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ConfigError::Contended { doc: format!("{dbname}/{id}") })
    }

    /// The merged view of `system_config/<category>` for this node: `defaults` overlaid by `default`, zone and
    /// node sections. Keys missing from every section are written back under `default` (one write).
    pub async fn load_category(
        &self,
        category: &str,
        defaults: &Map<String, Value>,
    ) -> ConfigResult<Map<String, Value>> {
        let doc = self.system_doc(category).await?.unwrap_or_default();
        let mut merged = defaults.clone();
        let mut missing = Vec::new();
        for (k, v) in defaults {
            let found = self.sections().into_iter().any(|s| doc.get(s).and_then(|sec| sec.get(k)).is_some());
            if !found {
                missing.push((k.clone(), v.clone()));
            }
        }
        for s in self.sections().into_iter().rev() {
            if let Some(Value::Object(sec)) = doc.get(s) {
                for (k, v) in sec {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        if !missing.is_empty() {
            self.write_keys(category, DEFAULT_SECTION, missing, false).await?;
        }
        Ok(merged)
    }

    /// The typed fax configuration in force on this node.
    pub async fn fax(&self) -> ConfigResult<FaxConfig> {
        let merged = self.load_category(fax::CATEGORY, &fax::defaults_map()).await?;
        serde_json::from_value(Value::Object(merged))
            .map_err(|e| ConfigError::Invalid { category: fax::CATEGORY.into(), reason: e.to_string() })
    }

    // ----- account configuration -----

    fn account_doc_id(category: &str) -> String {
        format!("configs_{category}")
    }

    /// The `configs_<category>` document of an account, if any.
    pub async fn account_doc(&self, account_id: &str, category: &str) -> ConfigResult<Option<Doc>> {
        self.read_doc(&db::account_db(account_id), &Self::account_doc_id(category)).await
    }

    /// A key of the account's own `configs_<category>` document.
    pub async fn account_get(&self, account_id: &str, category: &str, key: &str) -> ConfigResult<Option<Value>> {
        Ok(self.account_doc(account_id, category).await?.and_then(|d| d.get(key).cloned()))
    }

    /// Sets a key in the account's `configs_<category>` document (`kapps_account_config:set`).
    pub async fn account_set(&self, account_id: &str, category: &str, key: &str, value: Value) -> ConfigResult<()> {
        let dbname = db::account_db(account_id);
        let id = Self::account_doc_id(category);
        let init = || {
            let mut d = Map::new();
            d.insert("pvt_type".into(), Value::String("account_config".into()));
            d.insert("pvt_account_id".into(), Value::String(account_id.to_string()));
            d.insert("pvt_account_db".into(), Value::String(dbname.clone()));
            d.insert("pvt_created".into(), Value::from(kz_core::time::now_s()));
            d
        };
        self.update_doc(&dbname, &id, init, |doc| {
            doc.insert(key.to_string(), value.clone());
            true
        })
        .await
    }

    /// The reseller of an account: its `pvt_reseller_id`, else the root of its `pvt_tree`, else none.
    pub async fn reseller_of(&self, account_id: &str) -> ConfigResult<Option<String>> {
        let Some(acct) = self.read_doc(db::ACCOUNTS, account_id).await? else {
            return Ok(None);
        };
        if let Some(r) = acct.get("pvt_reseller_id").and_then(Value::as_str) {
            return Ok(Some(r.to_string()));
        }
        Ok(acct
            .get("pvt_tree")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            .map(String::from))
    }

    /// Kazoo's `kapps_account_config:get_global`: the account's `configs_<category>` when that document
    /// exists (a missing key there falls straight to system config), else the reseller's, else
    /// `system_config/<category>` (with default write-back).
    pub async fn account_get_global(
        &self,
        account_id: &str,
        category: &str,
        key: &str,
        default: Value,
    ) -> ConfigResult<Value> {
        if let Some(doc) = self.account_doc(account_id, category).await? {
            if let Some(v) = doc.get(key) {
                return Ok(v.clone());
            }
            return self.get_or_default(category, key, default).await;
        }
        if let Some(reseller) = self.reseller_of(account_id).await?
            && reseller != account_id
            && let Some(v) = self.account_get(&reseller, category, key).await?
        {
            return Ok(v);
        }
        self.get_or_default(category, key, default).await
    }

    /// Kazoo's `get_from_reseller`: the reseller's `configs_<category>` key (never the account's own), else
    /// system config.
    pub async fn reseller_get(
        &self,
        account_id: &str,
        category: &str,
        key: &str,
        default: Value,
    ) -> ConfigResult<Value> {
        if let Some(reseller) = self.reseller_of(account_id).await?
            && let Some(v) = self.account_get(&reseller, category, key).await?
        {
            return Ok(v);
        }
        self.get_or_default(category, key, default).await
    }
}

/// The value at a key path inside a JSON object (`["fax", "max_pages"]` is `v.fax.max_pages`).
pub fn value_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |at, key| at.get(key))
}

/// Parses a value typed on a command line the way `sup` users expect: JSON numbers, booleans, `null`, objects
/// and arrays become those; anything else (including quoted JSON strings) is a string.
pub fn parse_cli_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Object(_) | Value::Array(_) | Value::Null)) => v,
        Ok(Value::String(s)) => Value::String(s),
        Err(_) => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests;
