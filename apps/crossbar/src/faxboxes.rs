//! Manages faxboxes: `/v2/accounts/{id}/faxboxes[/{faxbox_id}]`.
//!
//! Ports `cb_faxboxes` (spec §4.1). A request's private fields and the read-only names Kazoo leaks
//! (`smtp_email_address`, `cloud_state`, `cloud_printer_id`, `cloud_connector_claim_url`) are dropped; the rest is
//! validated against `priv/schemas/faxbox.json` with its defaults. A new faxbox gets a 32-hex id and the address
//! `<8 hex>.<default_smtp_domain>`, the domain read from the reseller's `configs_fax`, then `system_config/fax`.
//! A `custom_smtp_email_address` must be unused system-wide (lowercased, `faxbox/email_address` in `faxes`).
//! Every faxbox is stored in its account database and copied, same `_id`, `pvt_account_db = "faxes"` and its own
//! `_rev`, into `faxes`, where email lookup reads it; when the copy cannot be written the account-database
//! change is undone (the new box deleted, the previous version restored), so the two never disagree for long.
//! Deletion is Kazoo's soft delete of both. Google Cloud Print registration is not ported: the service is gone.

use kz_data::TypedDoc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use bytes::Bytes;
use fax::faxbox::{self, Faxbox};
use kz_core::{db, ids, time};
use kz_data::{Doc, Store, ViewOptions};
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::Api;
use crate::accounts::Account;
use crate::auth::Auth;
use crate::docs::{is_private_key, live_of_type, merge_into, public_fields};
use crate::envelope::{ApiError, Reply, ValidationErrors, request_data};
use crate::events::Change;
use crate::schema::Schema;

/// Where a faxbox's generated address gets its domain when nothing is configured.
pub const DEFAULT_SMTP_DOMAIN: &str = "fax.kazoo.io";

/// Private fields shown read-only without their `pvt_` prefix, and stripped from requests under that name.
pub const LEAKED_FIELDS: [&str; 4] =
    ["pvt_smtp_email_address", "pvt_cloud_state", "pvt_cloud_connector_claim_url", "pvt_cloud_printer_id"];

/// Attempts at drawing an unused generated address before the last draw is kept.
const ADDRESS_DRAWS: usize = 5;

/// What a client sees of a faxbox: its public fields, `id`, and the leaked private fields.
pub fn leak(doc: &Doc) -> Value {
    let mut out = public_fields(doc);
    out.insert("id".into(), doc.get("_id").cloned().unwrap_or(Value::Null));
    for field in LEAKED_FIELDS {
        let Some(value) = doc.get(field) else { continue };
        if field == "pvt_cloud_connector_claim_url"
            && doc.get("pvt_cloud_state").and_then(Value::as_str) != Some("registered")
        {
            continue;
        }
        out.insert(field.trim_start_matches("pvt_").to_string(), value.clone());
    }
    Value::Object(out)
}

/// The public part of a request: no private fields, no `id`, none of the leaked read-only names.
fn strip_request(data: &Map<String, Value>) -> Map<String, Value> {
    let mut public = public_fields(data);
    public.remove("id");
    for field in LEAKED_FIELDS {
        public.remove(field.trim_start_matches("pvt_"));
    }
    public
}

impl Api {
    fn faxbox_schema(&self) -> Result<&Schema, ApiError> {
        self.faxbox_schema.as_ref().map_err(|e| ApiError::fault(format!("faxbox schema: {e}")))
    }

    /// Makes sure `faxes` exists with its views (once per process).
    async fn ensure_faxes(&self) -> Result<(), ApiError> {
        if self.faxes_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let store = self.ctx.store.as_ref();
        store.db_create(db::FAXES).await?;
        kz_data::design::push_design_docs(store, db::FAXES).await?;
        self.faxes_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Validates a faxbox's public fields (defaults applied), its owner and its custom address.
    async fn check_faxbox(
        &self,
        account_id: &str,
        faxbox_id: &str,
        public: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        let mut errors = match self.faxbox_schema()?.validate(public) {
            Ok(()) => ValidationErrors::default(),
            Err(e) => e,
        };
        match public.get("owner_id") {
            None => {}
            Some(Value::String(owner)) => match crate::users::load(self.ctx.store.as_ref(), account_id, owner).await {
                Ok(_) => {}
                Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => errors.message(
                    "owner_id",
                    "not_found",
                    "owner_id must be a user of the account",
                    Some(Value::String(owner.clone())),
                ),
                Err(e) => return Err(e),
            },
            Some(other) => errors.add(
                &["owner_id"],
                "type",
                json!({"message": "Value did not match type(s): string", "target": "string", "value": other}),
            ),
        }
        if let Some(v) = public.get("log_errors").filter(|v| !v.is_boolean()) {
            errors.add(
                &["log_errors"],
                "type",
                json!({"message": "Value did not match type(s): boolean", "target": "boolean", "value": v}),
            );
        }
        if let Some(Value::String(email)) = public.get("custom_smtp_email_address")
            && !self.address_is_free(email, Some(faxbox_id)).await?
        {
            errors.message(
                "custom_smtp_email_address",
                "unique",
                "email address must be unique",
                Some(Value::String(email.clone())),
            );
        }
        errors.into_result()
    }

    /// Whether no faxbox but `owner` answers to `address` (compared lowercased, generated and custom addresses
    /// alike): zero rows of `faxbox/email_address` in `faxes`, or one row of `owner` itself.
    async fn address_is_free(&self, address: &str, owner: Option<&str>) -> Result<bool, ApiError> {
        self.ensure_faxes().await?;
        let key = address.trim().to_lowercase();
        let rows = self.ctx.store.query(db::FAXES, "faxbox/email_address", &ViewOptions::key(key)).await?;
        Ok(match rows.as_slice() {
            [] => true,
            [row] => owner.is_some() && row.id.as_deref() == owner,
            _ => false,
        })
    }

    /// `<8 hex>.<default_smtp_domain>`, the domain the reseller's (then the system's).
    async fn generate_address(&self, account_id: &str) -> Result<String, ApiError> {
        let configured = self
            .ctx
            .config
            .reseller_get(account_id, "fax", "default_smtp_domain", Value::String(DEFAULT_SMTP_DOMAIN.into()))
            .await?;
        let domain = configured
            .as_str()
            .map(|d| d.trim().trim_start_matches('.').to_lowercase())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| DEFAULT_SMTP_DOMAIN.to_string());
        let mut address = String::new();
        for _ in 0..ADDRESS_DRAWS {
            address = format!("{}.{domain}", ids::rand_hex(4));
            if self.address_is_free(&address, None).await? {
                break;
            }
        }
        Ok(address)
    }
}

/// Loads an undeleted faxbox from the account database.
async fn load(store: &dyn Store, account_id: &str, faxbox_id: &str) -> Result<Doc, ApiError> {
    let doc =
        store.get(&db::account_db(account_id), faxbox_id).await.map_err(|e| ApiError::from_store(e, faxbox_id))?;
    if !live_of_type(&doc, faxbox::PVT_TYPE) {
        return Err(ApiError::bad_identifier(faxbox_id));
    }
    Ok(doc)
}

/// A faxbox document as typed, for storing.
fn typed(doc: Doc) -> Result<Faxbox, ApiError> {
    Faxbox::from_doc(doc).map_err(|e| {
        let mut errors = ValidationErrors::default();
        errors.message("faxbox", "invalid", &e.to_string(), None);
        ApiError::validation(errors)
    })
}

/// The copy of an account-database faxbox for `faxes`: same fields, `pvt_account_db = "faxes"`, no `_rev`.
fn faxes_copy(saved: &Doc) -> Doc {
    let mut copy = saved.clone();
    copy.remove("_rev");
    copy.insert("pvt_account_db".into(), Value::String(db::FAXES.into()));
    copy
}

/// `GET /v2/accounts/{id}/faxboxes`.
pub async fn list(State(api): State<Arc<Api>>, auth: Auth, Path(account_id): Path<String>) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let rows = api
        .ctx
        .store
        .query(&db::account_db(&account_id), "faxbox/crossbar_listing", &ViewOptions::default().include_docs())
        .await?;
    let items = rows.into_iter().filter_map(|r| r.doc).map(|d| leak(&d)).collect();
    Ok(Reply::list(items))
}

/// `PUT /v2/accounts/{id}/faxboxes`.
pub async fn create(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let account = api.authorize(&auth, &account_id).await?;
    let mut public = strip_request(&request_data(&body)?);
    let faxbox_id = ids::new_id();
    api.check_faxbox(&account_id, &faxbox_id, &mut public).await?;
    let account_db = db::account_db(&account_id);
    let now = time::now_s();
    let mut fb = typed(public)?;
    fb.id = Some(faxbox_id.clone());
    fb.rev = None;
    fb.pvt_type = Some(faxbox::PVT_TYPE.into());
    fb.pvt_account_id = Some(account_id.clone());
    fb.pvt_account_db = Some(account_db.clone());
    fb.pvt_reseller_id = Account::reseller_id(&account);
    fb.pvt_smtp_email_address = Some(api.generate_address(&account_id).await?);
    fb.pvt_created = Some(now);
    fb.pvt_modified = Some(now);
    fb.extra.insert("pvt_vsn".into(), Value::String("1".into()));

    api.ensure_faxes().await?;
    let store = api.ctx.store.as_ref();
    let saved = store.save(&account_db, fb.to_doc()).await?;
    let copy = match store.save(db::FAXES, faxes_copy(&saved)).await {
        Ok(copy) => copy,
        Err(e) => {
            warn!(faxbox_id = %faxbox_id, error = %e, "faxbox copy in faxes failed, removing the new faxbox");
            let rev = saved.get("_rev").and_then(Value::as_str).unwrap_or_default();
            if let Err(undo) = store.delete(&account_db, &faxbox_id, rev).await {
                warn!(faxbox_id = %faxbox_id, error = %undo, "could not remove the new faxbox after a failed copy");
            }
            return Err(ApiError::from_store(e, &faxbox_id));
        }
    };
    info!(account_id = %account_id, faxbox_id = %faxbox_id, "faxbox created");
    api.publish(Change::Created, &account_db, &saved).await;
    api.publish(Change::Created, db::FAXES, &copy).await;
    Ok(Reply::created(leak(&saved)).revision_of(&saved))
}

/// `GET /v2/accounts/{id}/faxboxes/{faxbox_id}`.
pub async fn get(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, faxbox_id)): Path<(String, String)>,
) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let doc = load(api.ctx.store.as_ref(), &account_id, &faxbox_id).await?;
    Ok(Reply::ok(leak(&doc)).revision_of(&doc))
}

/// `POST /v2/accounts/{id}/faxboxes/{faxbox_id}`: replaces the public fields.
pub async fn post(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, faxbox_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let data = strip_request(&request_data(&body)?);
    update(&api, &auth, &account_id, &faxbox_id, |_| data).await
}

/// `PATCH /v2/accounts/{id}/faxboxes/{faxbox_id}`: changes only the fields sent (`null` removes one).
pub async fn patch(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, faxbox_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let data = strip_request(&request_data(&body)?);
    update(&api, &auth, &account_id, &faxbox_id, |current| {
        let mut public = strip_request(current);
        merge_into(&mut public, &data);
        public
    })
    .await
}

async fn update(
    api: &Api,
    auth: &Auth,
    account_id: &str,
    faxbox_id: &str,
    new_public: impl FnOnce(&Doc) -> Map<String, Value>,
) -> Result<Reply, ApiError> {
    api.authorize(auth, account_id).await?;
    let store = api.ctx.store.as_ref();
    let current = load(store, account_id, faxbox_id).await?;
    let mut public = new_public(&current);
    api.check_faxbox(account_id, faxbox_id, &mut public).await?;
    let mut doc: Doc = current.iter().filter(|(k, _)| is_private_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    doc.extend(public);
    doc.insert("pvt_modified".into(), Value::from(time::now_s()));
    let doc = typed(doc)?.to_doc();
    api.ensure_faxes().await?;
    let account_db = db::account_db(account_id);
    let (saved, copy) = save_both(store, &account_db, &current, doc).await?;
    info!(account_id = %account_id, faxbox_id = %faxbox_id, "faxbox updated");
    api.publish(Change::Edited, &account_db, &saved).await;
    api.publish(Change::Edited, db::FAXES, &copy).await;
    Ok(Reply::ok(leak(&saved)).revision_of(&saved))
}

/// Saves a changed faxbox in its account database, then its `faxes` copy; when the copy fails, the previous
/// version goes back into the account database.
async fn save_both(store: &dyn Store, account_db: &str, previous: &Doc, doc: Doc) -> Result<(Doc, Doc), ApiError> {
    let id = previous.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
    let saved = store.save(account_db, doc).await.map_err(|e| ApiError::from_store(e, &id))?;
    match crate::docs::write_copy(store, db::FAXES, faxes_copy(&saved)).await {
        Ok(copy) => Ok((saved, copy)),
        Err(e) => {
            warn!(faxbox_id = %id, error = %e, "faxbox copy in faxes failed, restoring the previous version");
            let mut back = previous.clone();
            back.insert("_rev".into(), saved.get("_rev").cloned().unwrap_or(Value::Null));
            if let Err(undo) = store.save(account_db, back).await {
                warn!(faxbox_id = %id, error = %undo, "could not restore the previous faxbox version");
            }
            Err(ApiError::from_store(e, &id))
        }
    }
}

/// `DELETE /v2/accounts/{id}/faxboxes/{faxbox_id}`: soft-deletes the faxbox and its `faxes` copy.
pub async fn delete(
    State(api): State<Arc<Api>>,
    auth: Auth,
    Path((account_id, faxbox_id)): Path<(String, String)>,
) -> Result<Reply, ApiError> {
    api.authorize(&auth, &account_id).await?;
    let store = api.ctx.store.as_ref();
    let current = load(store, &account_id, &faxbox_id).await?;
    let mut doc = current.clone();
    doc.insert("pvt_deleted".into(), Value::Bool(true));
    doc.insert("pvt_modified".into(), Value::from(time::now_s()));
    api.ensure_faxes().await?;
    let account_db = db::account_db(&account_id);
    let (saved, copy) = save_both(store, &account_db, &current, doc).await?;
    info!(account_id = %account_id, faxbox_id = %faxbox_id, "faxbox deleted");
    api.publish(Change::Deleted, &account_db, &saved).await;
    api.publish(Change::Deleted, db::FAXES, &copy).await;
    let mut shown = leak(&saved);
    if let Value::Object(m) = &mut shown {
        m.insert("_read_only".into(), json!({"deleted": true}));
    }
    Ok(Reply::ok(shown).revision_of(&saved))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Doc {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn leaks_read_only_fields_without_pvt() {
        let d =
            doc(json!({"_id": "f1", "_rev": "1-a", "name": "Box", "pvt_smtp_email_address": "abcd1234.fax.kazoo.io",
                           "pvt_cloud_state": "claimed", "pvt_cloud_connector_claim_url": "https://claim",
                           "pvt_account_id": "a"}));
        let shown = leak(&d);
        assert_eq!(shown["id"], "f1");
        assert_eq!(shown["smtp_email_address"], "abcd1234.fax.kazoo.io");
        assert_eq!(shown["cloud_state"], "claimed");
        assert!(shown.get("cloud_connector_claim_url").is_none(), "only while registered");
        assert!(shown.get("pvt_account_id").is_none());
        assert!(shown.get("_rev").is_none());
        let mut registered = d.clone();
        registered.insert("pvt_cloud_state".into(), json!("registered"));
        assert_eq!(leak(&registered)["cloud_connector_claim_url"], "https://claim");
    }

    #[test]
    fn requests_lose_private_and_read_only_fields() {
        let public = strip_request(&doc(json!({"name": "Box", "id": "x", "_id": "y", "pvt_type": "user",
            "smtp_email_address": "mine@x.com", "cloud_state": "claimed", "caller_id": "+1555"})));
        assert_eq!(Value::Object(public), json!({"name": "Box", "caller_id": "+1555"}));
    }

    #[test]
    fn copies_point_at_faxes() {
        let copy = faxes_copy(&doc(json!({"_id": "f", "_rev": "3-x", "pvt_account_db": "account%2Fab"})));
        assert_eq!(Value::Object(copy), json!({"_id": "f", "pvt_account_db": "faxes"}));
    }
}
