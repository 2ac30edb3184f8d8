//! Resolves one recipient against the store, without the cache: spec §2.3 steps 1-8 and §2.4, in Kazoo's order.
//!
//! Ports `fax_smtp:check_faxbox/1` and what it calls (`maybe_faxbox`, `maybe_faxbox_domain`,
//! `maybe_faxbox_by_owner_email`, `maybe_faxbox_by_owner_id`, `maybe_faxbox_by_rules`, `check_number`,
//! `check_permissions`). Like Kazoo it keeps a list of errors while it falls from one way of finding the
//! faxbox to the next; a refusal carries the newest one.

use kz_core::db;
use kz_core::e164::{NumberRules, digits_only};
use kz_data::{Doc, StoreError, ViewOptions, ViewRow};
use serde_json::{Map, Value};
use std::sync::Arc;
use tracing::{debug, warn};

use super::{Answer, Inner, LookupContext, LookupError, Route};

/// The `system_config` category holding the reconcile regex and E.164 converters.
const NUMBER_MANAGER: &str = "number_manager";

/// What a lookup has found so far (Kazoo's `#state{}` of `fax_smtp`).
struct Probe<'a> {
    /// The sender, lowercased.
    from: &'a str,
    /// Errors met, oldest first; a refusal reports the last one.
    errors: Vec<String>,
    ctx: LookupContext,
    faxbox: Option<Doc>,
}

impl Probe<'_> {
    fn error(&mut self, text: String) {
        debug!(reason = %text, "faxbox lookup step failed");
        self.errors.push(text);
    }

    fn select(&mut self, faxbox: Doc) {
        self.ctx.faxbox_id = str_field(&faxbox, "_id").map(String::from);
        self.faxbox = Some(faxbox);
        self.errors.clear();
    }

    /// The context of a refusal, with the faxbox if one was selected.
    fn context(&self, faxbox: Option<&Doc>) -> Box<LookupContext> {
        let mut ctx = self.ctx.clone();
        ctx.faxbox = faxbox.or(self.faxbox.as_ref()).cloned();
        Box::new(ctx)
    }

    fn not_found(&self, reason: String, faxbox: Option<&Doc>) -> LookupError {
        debug!(reason = %reason, from = self.from, "email-to-fax recipient not found");
        LookupError::NotFound { reason, context: self.context(faxbox) }
    }

    fn not_allowed(&self, reason: String, faxbox: &Doc) -> LookupError {
        debug!(reason = %reason, from = self.from, "email-to-fax sender not allowed");
        LookupError::NotAllowed { reason, context: self.context(Some(faxbox)) }
    }
}

fn str_field<'a>(doc: &'a Doc, field: &str) -> Option<&'a str> {
    doc.get(field).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn is_deleted(doc: &Doc) -> bool {
    doc.get("pvt_deleted").and_then(Value::as_bool).unwrap_or(false)
}

/// Kazoo's `kz_term:is_true/1` on a configuration value.
fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl Inner {
    /// The answer for recipient `rcpt` and sender `from`, both already trimmed and lowercased.
    pub(super) async fn resolve(&self, rcpt: &str, from: &str) -> Answer {
        let Some((local, domain)) = rcpt.split_once('@') else {
            debug!(rcpt, "email-to-fax recipient is not an address");
            return Err(LookupError::NotFound { reason: "invalid address".into(), context: Box::default() });
        };
        let mut probe = Probe {
            from,
            errors: Vec::new(),
            ctx: LookupContext {
                original_number: local.to_string(),
                number: digits_only(local),
                faxbox_domain: domain.to_string(),
                ..LookupContext::default()
            },
            faxbox: None,
        };
        if !self.by_address(&mut probe).await? {
            self.by_realm(&mut probe).await?;
        }
        self.check_number(probe).await
    }

    // ----- step 3: the faxbox address -----

    /// Finds the faxbox whose address (generated or custom) is the recipient's domain, through its copy in
    /// `faxes`; the copy counts only while the account-database faxbox still exists with that address and its
    /// account is not deleted.
    async fn by_address(&self, p: &mut Probe<'_>) -> Result<bool, LookupError> {
        let domain = p.ctx.faxbox_domain.clone();
        let rows =
            self.rows(db::FAXES, "faxbox/email_address", &ViewOptions::key(domain.as_str()).include_docs()).await?;
        let mut ids: Vec<&str> = rows.iter().filter_map(|r| r.id.as_deref()).collect();
        ids.dedup();
        if ids.len() != 1 {
            if ids.len() > 1 {
                debug!(domain = %domain, faxboxes = ids.len(), "several faxboxes share an address, trying the realm");
            }
            return Ok(false);
        }
        let row = &rows[0];
        let faxbox_id = ids[0];
        let account_id = row
            .doc
            .as_ref()
            .and_then(|d| str_field(d, "pvt_account_id"))
            .or_else(|| row.value.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if account_id.is_empty() {
            return Ok(false);
        }
        let Some(faxbox) = self.open(&db::account_db(&account_id), faxbox_id).await? else {
            debug!(faxbox_id, account_id = %account_id, "faxes copy of a faxbox that no longer exists, ignored");
            return Ok(false);
        };
        let has_address = ["pvt_smtp_email_address", "custom_smtp_email_address"]
            .iter()
            .any(|f| str_field(&faxbox, f).is_some_and(|a| a.trim().to_lowercase() == domain));
        if str_field(&faxbox, "pvt_type") != Some(crate::faxbox::PVT_TYPE) || !has_address {
            debug!(faxbox_id, domain = %domain, "faxes copy of a faxbox is stale, ignored");
            return Ok(false);
        }
        if self.open(db::ACCOUNTS, &account_id).await?.is_none() {
            debug!(faxbox_id, account_id = %account_id, "faxbox of a deleted account, ignored");
            return Ok(false);
        }
        p.ctx.account_id = Some(account_id.clone());
        p.select(faxbox);
        self.load_owner(p, &account_id).await?;
        Ok(true)
    }

    /// Sets the owner of the selected faxbox from its `owner_id`, when that user exists.
    async fn load_owner(&self, p: &mut Probe<'_>, account_id: &str) -> Result<(), LookupError> {
        p.ctx.owner_id = None;
        p.ctx.owner_email = None;
        let Some(owner_id) = p.faxbox.as_ref().and_then(|f| str_field(f, "owner_id")).map(String::from) else {
            return Ok(());
        };
        if let Some(user) = self.open(&db::account_db(account_id), &owner_id).await? {
            p.ctx.owner_email = str_field(&user, "email").map(String::from);
            p.ctx.owner_id = Some(owner_id);
        }
        Ok(())
    }

    // ----- steps 4-6: the account realm, the sender as a user, the permission rules -----

    async fn by_realm(&self, p: &mut Probe<'_>) -> Result<(), LookupError> {
        let domain = p.ctx.faxbox_domain.clone();
        let rows = self.rows(db::ACCOUNTS, "accounts/listing_by_realm", &ViewOptions::key(domain.as_str())).await?;
        let account_id = match rows.as_slice() {
            [] => {
                p.error(format!("realm {domain} not found in accounts db"));
                return Ok(());
            }
            [row] => row
                .id
                .clone()
                .or_else(|| row.value.get("account_id").and_then(Value::as_str).map(String::from))
                .unwrap_or_default(),
            _ => {
                p.error(format!("accounts query by realm {domain} return more than one document"));
                return Ok(());
            }
        };
        p.ctx.account_id = Some(account_id.clone());
        let account_db = db::account_db(&account_id);
        if self.by_sender(p, &account_id, &account_db).await? {
            return Ok(());
        }
        self.by_rules(p, &account_id, &account_db).await
    }

    /// Selects the one faxbox the sender owns, when the sender is a user of the account.
    async fn by_sender(&self, p: &mut Probe<'_>, account_id: &str, account_db: &str) -> Result<bool, LookupError> {
        let from = p.from;
        let users = self.rows(account_db, "users/list_by_email", &ViewOptions::key(from)).await?;
        let user_id = match users.as_slice() {
            [] => {
                p.error(format!("user {from} does not exist in account {account_id}, trying by rules"));
                return Ok(false);
            }
            [user] => user.id.clone().unwrap_or_default(),
            _ => {
                p.error(format!("more then one user with email {from} in account {account_id}, trying by rules"));
                return Ok(false);
            }
        };
        let boxes =
            self.rows(account_db, "faxbox/list_by_ownerid", &ViewOptions::key(user_id.as_str()).include_docs()).await?;
        p.ctx.owner_id = Some(user_id.clone());
        p.ctx.owner_email = Some(from.to_string());
        match boxes.as_slice() {
            [ViewRow { doc: Some(faxbox), .. }] => {
                p.select(faxbox.clone());
                return Ok(true);
            }
            [] | [_] => p.error(format!("user {user_id} : {from} does not have a faxbox")),
            _ => p.error(format!("user {user_id} : {from} has multiples faxboxes")),
        }
        Ok(false)
    }

    /// Selects the first faxbox (in view order) with a permission entry matching the sender.
    async fn by_rules(&self, p: &mut Probe<'_>, account_id: &str, account_db: &str) -> Result<(), LookupError> {
        let rows = self.rows(account_db, "faxbox/email_permissions", &ViewOptions::default().include_docs()).await?;
        if rows.is_empty() {
            p.error(format!("no faxboxes for account {account_id}"));
            return Ok(());
        }
        for row in rows {
            let (Some(key), Some(faxbox)) = (row.key.as_str(), row.doc) else { continue };
            if self.rule_matches(p.from, key, &faxbox) {
                p.select(faxbox);
                return self.load_owner(p, account_id).await;
            }
        }
        p.error(format!("no matching rules in account {account_id} for {}", p.from));
        Ok(())
    }

    /// Whether a row of `faxbox/email_permissions` matches the sender. The view key is the entry lowercased,
    /// which changes regex escapes such as `\S`; the faxbox's own entries behind the key are matched when found,
    /// so that the rule that selects a faxbox is the rule its permission check applies.
    fn rule_matches(&self, from: &str, key: &str, faxbox: &Doc) -> bool {
        let mut entries = permission_list(faxbox).into_iter().filter(|e| e.to_lowercase() == key).peekable();
        if entries.peek().is_none() {
            return self.patterns.matches(from, key);
        }
        entries.any(|e| self.patterns.matches(from, e))
    }

    // ----- steps 7-8: the number, then the sender's permission -----

    async fn check_number(&self, mut p: Probe<'_>) -> Answer {
        let digits = p.ctx.number.clone();
        if digits.is_empty() {
            let original = &p.ctx.original_number;
            let reason = if p.faxbox.is_none() {
                format!("fax number {original} is empty, no faxbox to report to")
            } else {
                format!("fax number {original} is empty")
            };
            return Err(p.not_found(reason, None));
        }
        let Some(faxbox) = p.faxbox.take() else {
            let reason = p.errors.last().cloned().unwrap_or_else(|| "no faxbox found".into());
            return Err(p.not_found(reason, None));
        };
        let rules = self.number_rules().await?;
        match rules.reconcile(&digits) {
            Some(number) => p.ctx.number = number,
            None => return Err(p.not_found(format!("fax number {digits} is invalid"), Some(&faxbox))),
        }
        self.check_permissions(p, faxbox).await
    }

    async fn check_permissions(&self, p: Probe<'_>, faxbox: Doc) -> Answer {
        let entries = permission_list(&faxbox);
        let owner_email = p.ctx.owner_email.as_deref().map(|e| e.trim().to_lowercase());
        let allowed = if entries.is_empty() && owner_email.is_none() {
            if !self.allow_all_when_empty().await? {
                let reason = "faxbox permissions is empty and policy doesn't allow it".to_string();
                return Err(p.not_allowed(reason, &faxbox));
            }
            true
        } else {
            entries.iter().any(|e| self.patterns.matches(p.from, e)) || owner_email.as_deref() == Some(p.from)
        };
        if !allowed {
            let id = str_field(&faxbox, "_id").unwrap_or_default();
            return Err(p.not_allowed(format!("address {} is not allowed on faxbox {id}", p.from), &faxbox));
        }
        let ctx = p.ctx;
        Ok(Route {
            account_id: ctx
                .account_id
                .or_else(|| str_field(&faxbox, "pvt_account_id").map(String::from))
                .unwrap_or_default(),
            faxbox_id: ctx.faxbox_id.unwrap_or_default(),
            faxbox,
            owner_id: ctx.owner_id,
            owner_email: ctx.owner_email,
            original_number: ctx.original_number,
            number: ctx.number,
            faxbox_domain: ctx.faxbox_domain,
        })
    }

    // ----- configuration -----

    /// The number rules in force: `reconcile_regex` and `e164_converters` of `system_config/number_manager`
    /// (node, zone, then `default` section), Kazoo's defaults for what is not set.
    async fn number_rules(&self) -> Result<Arc<NumberRules>, LookupError> {
        let mut source = Map::new();
        for key in ["reconcile_regex", "e164_converters"] {
            let value = self.config.get(NUMBER_MANAGER, key).await.map_err(config_unavailable)?;
            if let Some(value) = value {
                source.insert(key.to_string(), value);
            }
        }
        Ok(self.number_rules.rules_for(Value::Object(source)))
    }

    /// `allow_all_addresses_when_empty` of the fax configuration (written back with its default when unset).
    async fn allow_all_when_empty(&self) -> Result<bool, LookupError> {
        let key = "allow_all_addresses_when_empty";
        let default = Value::Bool(kz_config::FaxConfig::default().allow_all_addresses_when_empty);
        let value =
            self.config.get_or_default(kz_config::fax::CATEGORY, key, default).await.map_err(config_unavailable)?;
        Ok(is_true(&value))
    }

    // ----- store access -----

    /// Rows of a view; a missing database has none. Any other failure (including a missing view) makes the
    /// lookup unavailable rather than wrong.
    async fn rows(&self, dbname: &str, view: &str, opts: &ViewOptions) -> Result<Vec<ViewRow>, LookupError> {
        match self.store.query(dbname, view, opts).await {
            Ok(rows) => Ok(rows),
            Err(StoreError::DbNotFound(_)) => Ok(Vec::new()),
            Err(e) => {
                warn!(db = dbname, view, error = %e, "faxbox lookup query failed");
                Err(LookupError::Unavailable(format!("querying {view} in {dbname}: {e}")))
            }
        }
    }

    /// A live document: `None` when missing or soft-deleted (`pvt_deleted`).
    async fn open(&self, dbname: &str, id: &str) -> Result<Option<Doc>, LookupError> {
        if id.is_empty() {
            return Ok(None);
        }
        match self.store.get(dbname, id).await {
            Ok(doc) if is_deleted(&doc) => Ok(None),
            Ok(doc) => Ok(Some(doc)),
            Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => Ok(None),
            Err(e) => {
                warn!(db = dbname, id, error = %e, "faxbox lookup read failed");
                Err(LookupError::Unavailable(format!("reading {id} in {dbname}: {e}")))
            }
        }
    }
}

/// The string entries of a faxbox's `smtp_permission_list`.
fn permission_list(faxbox: &Doc) -> Vec<&str> {
    faxbox
        .get("smtp_permission_list")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn config_unavailable(e: kz_config::ConfigError) -> LookupError {
    warn!(error = %e, "faxbox lookup could not read configuration");
    LookupError::Unavailable(format!("reading configuration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configuration_truth_follows_kazoo() {
        assert!(is_true(&json!(true)));
        assert!(is_true(&json!("TRUE")));
        assert!(!is_true(&json!("yes")));
        assert!(!is_true(&json!(1)));
        assert!(!is_true(&Value::Null));
    }

    #[test]
    fn permission_lists_keep_strings_only() {
        let doc = json!({"smtp_permission_list": ["a@b.c", 3, null, ".*@x"]});
        let doc = doc.as_object().cloned().unwrap_or_default();
        assert_eq!(permission_list(&doc), ["a@b.c", ".*@x"]);
        assert!(permission_list(&Doc::new()).is_empty());
    }
}
