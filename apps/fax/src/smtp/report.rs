//! Reports a refused email-to-fax attempt: a `fax_smtp_log` document for the account, and a notice to the sender.
//!
//! Ports `fax_smtp:maybe_faxbox_log` and the system report that follows it (spec §2.7, §5.7). When the account is
//! known, the `fax_smtp_log` document goes into the account's current monthly database (created with its design
//! documents if missing) if the faxbox's `log_errors` says so, else if `log_faxbox_errors` (account, reseller,
//! then system) does; and the `outbound_smtp_fax_error` notification goes out when `report_smtp_errors` is on,
//! so the sender learns why the fax went nowhere. Kazoo sent that notice for a few "SMTP errors" only, and users
//! were left guessing when a sender was refused or a number was wrong (kazoo#3323); here every refusal of a
//! known account is reported. A null sender (`MAIL FROM:<>`, a bounce) is never written to, and nothing here
//! ever delays or changes the SMTP answer beyond a bounded wait.

use std::time::Duration;

use kz_amqp::kapi::{self, notifications::OutboundSmtpFaxError};
use kz_config::FaxConfig;
use kz_core::{db, ids, time};
use kz_data::{Doc, design};
use serde_json::{Map, Value, json};
use tracing::{debug, warn};

use super::SmtpContext;
use crate::registry::{LookupContext, Route};

/// The `pvt_type` of the log documents.
pub const LOG_TYPE: &str = "fax_smtp_log";

/// The longest a report may hold up the session.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A refused attempt: who sent what to where, and why it was refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    /// The envelope sender, lowercased.
    pub from: String,
    /// The recipient address, as given.
    pub to: String,
    /// What the lookup found out about the recipient.
    pub context: LookupContext,
    /// The errors, oldest first (never empty).
    pub errors: Vec<String>,
    /// Type and filename of the part the failure concerns, if any.
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// The context of an accepted route, for a failure after RCPT (at DATA).
pub fn context_of(route: &Route) -> LookupContext {
    LookupContext {
        account_id: Some(route.account_id.clone()),
        faxbox_id: Some(route.faxbox_id.clone()),
        faxbox: Some(route.faxbox.clone()),
        owner_id: route.owner_id.clone(),
        owner_email: route.owner_email.clone(),
        original_number: route.original_number.clone(),
        number: route.number.clone(),
        faxbox_domain: route.faxbox_domain.clone(),
    }
}

/// Logs and notifies a failure, as far as the account and the configuration allow. Never fails: what cannot be
/// written is logged and dropped.
pub async fn report(ctx: &SmtpContext, fax: &FaxConfig, failure: &Failure) {
    if failure.from.is_empty() || failure.errors.is_empty() {
        return;
    }
    let Some(account_id) = failure.context.account_id.clone() else {
        debug!(from = %failure.from, to = %failure.to, "email-to-fax failure of no known account, not reported");
        return;
    };
    let work = async {
        if should_log(ctx, fax, &account_id, failure).await
            && let Err(e) = write_log(ctx, &account_id, failure).await
        {
            warn!(account_id = %account_id, error = %e, "fax smtp log not written");
        }
        if fax.report_smtp_errors
            && let Err(e) = notify(ctx, &account_id, failure).await
        {
            warn!(account_id = %account_id, error = %e, "fax smtp error notification not sent");
        }
    };
    if tokio::time::timeout(REPORT_TIMEOUT, work).await.is_err() {
        warn!(account_id = %account_id, "fax smtp error report timed out");
    }
}

fn faxbox_field<'a>(failure: &'a Failure, key: &str) -> Option<&'a Value> {
    failure.context.faxbox.as_ref().and_then(|f| f.get(key))
}

fn faxbox_text<'a>(failure: &'a Failure, key: &str) -> Option<&'a str> {
    faxbox_field(failure, key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Kazoo's `kz_term:is_true`, with its `undefined` for anything else.
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The faxbox's `log_errors` decides; without it, `log_faxbox_errors` (account, reseller, system) does.
async fn should_log(ctx: &SmtpContext, fax: &FaxConfig, account_id: &str, failure: &Failure) -> bool {
    if let Some(explicit) = faxbox_field(failure, "log_errors").and_then(truth) {
        return explicit;
    }
    let default = Value::Bool(fax.log_faxbox_errors);
    match ctx.config.account_get_global(account_id, kz_config::fax::CATEGORY, "log_faxbox_errors", default).await {
        Ok(v) => truth(&v).unwrap_or(fax.log_faxbox_errors),
        Err(e) => {
            warn!(account_id, error = %e, "log_faxbox_errors unreadable, using the system value");
            fax.log_faxbox_errors
        }
    }
}

/// The `fax_smtp_log` document of a failure, for monthly database `modb` of `(year, month)`.
pub fn log_doc(account_id: &str, failure: &Failure, year: i32, month: u32, now: i64) -> Doc {
    let c = &failure.context;
    let mut doc = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            doc.insert(k.to_string(), v);
        }
    };
    let modb = db::modb(account_id, year, month);
    put("_id", Some(json!(db::modb_doc_id(year, month, &ids::new_id()))));
    put("to", Some(json!(failure.to.to_ascii_lowercase())));
    put("from", Some(json!(failure.from)));
    put("original_number", Some(json!(c.original_number)).filter(|_| !c.original_number.is_empty()));
    put("translated_number", Some(json!(c.number)).filter(|_| !c.number.is_empty()));
    put("faxbox_domain", Some(json!(c.faxbox_domain)).filter(|_| !c.faxbox_domain.is_empty()));
    put("faxbox_owner_id", c.owner_id.as_ref().map(|v| json!(v)));
    put("faxbox_owner_email", c.owner_email.as_ref().map(|v| json!(v)));
    put("content_type", failure.content_type.as_ref().map(|v| json!(v)));
    put("filename", failure.filename.as_ref().map(|v| json!(v)));
    put("errors", Some(json!(failure.errors)));
    put("account_id", Some(json!(account_id)));
    put("faxbox_id", c.faxbox_id.as_ref().map(|v| json!(v)));
    put("pvt_type", Some(json!(LOG_TYPE)));
    put("pvt_account_id", Some(json!(account_id)));
    put("pvt_account_db", Some(json!(modb)));
    put("pvt_created", Some(json!(now)));
    put("pvt_modified", Some(json!(now)));
    doc
}

/// Writes the log document into the account's current monthly database, creating it if needed.
async fn write_log(ctx: &SmtpContext, account_id: &str, failure: &Failure) -> Result<(), kz_data::StoreError> {
    let now = time::now_s();
    let (year, month) = time::year_month(time::gregorian_to_unix(now));
    let modb = db::modb(account_id, year, month);
    let store = ctx.store.as_ref();
    if store.db_create(&modb).await? {
        design::push_design_docs(store, &modb).await?;
    }
    store.save(&modb, log_doc(account_id, failure, year, month, now)).await?;
    debug!(account_id, db = %modb, "fax smtp log written");
    Ok(())
}

/// Publishes `outbound_smtp_fax_error` to the sender.
async fn notify(ctx: &SmtpContext, account_id: &str, failure: &Failure) -> Result<(), kapi::KapiError> {
    let c = &failure.context;
    let mut msg =
        OutboundSmtpFaxError::new(&ctx.node, account_id, &failure.from, failure.errors.clone(), time::now_s());
    msg.fax_to_email = Some(failure.to.to_ascii_lowercase());
    msg.faxbox_id = c.faxbox_id.clone();
    msg.faxbox_name = faxbox_text(failure, "name").map(String::from);
    msg.faxbox_timezone = faxbox_text(failure, "fax_timezone").map(String::from);
    msg.number = Some(c.number.clone()).filter(|n| !n.is_empty());
    msg.original_number = Some(c.original_number.clone()).filter(|n| !n.is_empty());
    msg.owner_id = c.owner_id.clone();
    kapi::publish(ctx.bus.as_ref(), &msg).await
}
