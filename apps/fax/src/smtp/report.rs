//! Reports a refused email-to-fax attempt: a `fax_smtp_log` document for the account, a notice to the sender, and
//! a system alert for the operators.
//!
//! Ports `fax_smtp:maybe_faxbox_log` and the system report that follows it (spec §2.7, §5.7). When the account is
//! known, the `fax_smtp_log` document goes into the account's current monthly database (created with its design
//! documents if missing) if the faxbox's `log_errors` says so, else if `log_faxbox_errors` (account, reseller,
//! then system) does. Then Kazoo's three branches ([`Branch`]): with neither faxbox nor account, a
//! `system_alert` only if `report_anonymous_system_errors`; for an "SMTP error" (what the sender got wrong, or
//! a document that would not convert), the `outbound_smtp_fax_error` notification if `report_smtp_errors`;
//! for any other failure, a `system_alert` (`System Alert: Fax SMTP Error`, the newest error as its message, the
//! failure's fields as its details) if `report_faxbox_system_errors`. Kazoo told the sender nothing in that
//! last branch, and users were left guessing when a sender was refused or a number was wrong (kazoo#3323): here
//! the sender of a known account is also notified there, under `report_smtp_errors`. A null sender
//! (`MAIL FROM:<>`, a bounce) is never reported, and nothing here ever delays or changes the SMTP answer beyond
//! a bounded wait.

use std::time::Duration;

use kz_amqp::kapi::{
    self,
    notifications::{AlertDetails, OutboundSmtpFaxError, SystemAlert},
};
use kz_config::FaxConfig;
use kz_core::{db, ids, time};
use kz_data::{Doc, design};
use serde_json::{Map, Value, json};
use tracing::{debug, warn};

use super::SmtpContext;
use crate::registry::{LookupContext, Route};

/// The `pvt_type` of the log documents.
pub const LOG_TYPE: &str = "fax_smtp_log";

/// What a system alert of the email-to-fax server is about (its subject is `System Alert: Fax SMTP Error`).
pub const ALERT_SUBJECT: &str = "Fax SMTP Error";

/// The errors Kazoo flags as "SMTP errors" (`has_smtp_errors`): the message itself is at fault.
pub const SMTP_ERRORS: &[&str] = &["invalid address", "invalid body", "no valid attachment", "message decode failed"];

/// The prefix of a conversion failure ([`crate::converter`]). In Kazoo a conversion fails only after a valid
/// attachment was found, which sets `has_smtp_errors` too: it is an SMTP error.
pub const BAD_FILE_PREFIX: &str = "bad_file:";

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

/// Which branch of Kazoo's `maybe_system_report` a failure takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// Neither faxbox nor account is known: a system alert if `report_anonymous_system_errors`.
    Anonymous,
    /// An SMTP error: `outbound_smtp_fax_error` if `report_smtp_errors`.
    Smtp,
    /// Anything else: a system alert if `report_faxbox_system_errors`.
    System,
}

impl Failure {
    /// Whether Kazoo would have flagged this failure `has_smtp_errors`.
    pub fn is_smtp_error(&self) -> bool {
        self.errors.iter().any(|e| SMTP_ERRORS.contains(&e.as_str()) || e.starts_with(BAD_FILE_PREFIX))
    }

    /// The branch of the system report, in Kazoo's order of clauses.
    pub fn branch(&self) -> Branch {
        if self.context.faxbox_id.is_none() && self.context.account_id.is_none() {
            Branch::Anonymous
        } else if self.is_smtp_error() {
            Branch::Smtp
        } else {
            Branch::System
        }
    }
}

/// Logs, notifies and alerts a failure, as far as the account and the configuration allow. Never fails: what
/// cannot be written or published is logged and dropped.
pub async fn report(ctx: &SmtpContext, fax: &FaxConfig, failure: &Failure) {
    if failure.from.is_empty() || failure.errors.is_empty() {
        return;
    }
    let account_id = failure.context.account_id.as_deref();
    let branch = failure.branch();
    let (tell_sender, alert) = match branch {
        Branch::Anonymous => (false, fax.report_anonymous_system_errors),
        Branch::Smtp => (fax.report_smtp_errors, false),
        Branch::System => (fax.report_smtp_errors, fax.report_faxbox_system_errors),
    };
    let work = async {
        if let Some(account_id) = account_id
            && should_log(ctx, fax, account_id, failure).await
            && let Err(e) = write_log(ctx, account_id, failure).await
        {
            warn!(account_id, error = %e, "fax smtp log not written");
        }
        if tell_sender
            && let Some(account_id) = account_id
            && let Err(e) = notify(ctx, account_id, failure).await
        {
            warn!(account_id, error = %e, "fax smtp error notification not sent");
        }
        if alert && let Err(e) = system_alert(ctx, failure).await {
            warn!(account_id = account_id.unwrap_or_default(), error = %e, "fax smtp system alert not sent");
        }
        if account_id.is_none() && !alert {
            debug!(from = %failure.from, to = %failure.to, "email-to-fax failure of no known account, not reported");
        }
    };
    if tokio::time::timeout(REPORT_TIMEOUT, work).await.is_err() {
        warn!(account_id = account_id.unwrap_or_default(), ?branch, "fax smtp error report timed out");
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

/// The fields of a failure under Kazoo's names (`fax_smtp:to_proplist/1`): the `Details` of its system alert,
/// and, normalized, the body of its log document. `Errors` are oldest first.
pub fn details(failure: &Failure) -> Map<String, Value> {
    let c = &failure.context;
    let text = |s: &str| Some(json!(s)).filter(|_| !s.is_empty());
    let fields = [
        ("To", Some(json!(failure.to.to_ascii_lowercase()))),
        ("From", Some(json!(failure.from))),
        ("Original-Number", text(&c.original_number)),
        ("Translated-Number", text(&c.number)),
        ("FaxBox-Domain", text(&c.faxbox_domain)),
        ("FaxBox-Owner-ID", c.owner_id.as_ref().map(|v| json!(v))),
        ("FaxBox-Owner-Email", c.owner_email.as_ref().map(|v| json!(v))),
        ("Content-Type", failure.content_type.as_ref().map(|v| json!(v))),
        ("Filename", failure.filename.as_ref().map(|v| json!(v))),
        ("Errors", Some(json!(failure.errors))),
        ("Account-ID", c.account_id.as_ref().map(|v| json!(v))),
        ("FaxBox-ID", c.faxbox_id.as_ref().map(|v| json!(v))),
    ];
    fields.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect()
}

/// Kazoo's `kz_json:normalize_key/1`: lowercase, dashes to underscores.
fn normalize_key(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

/// The `fax_smtp_log` document of a failure of account `account_id`, for monthly database `(year, month)`.
pub fn log_doc(account_id: &str, failure: &Failure, year: i32, month: u32, now: i64) -> Doc {
    let modb = db::modb(account_id, year, month);
    let mut doc: Doc = details(failure).into_iter().map(|(k, v)| (normalize_key(&k), v)).collect();
    doc.insert("_id".into(), json!(db::modb_doc_id(year, month, &ids::new_id())));
    doc.insert("account_id".into(), json!(account_id));
    doc.insert("pvt_type".into(), json!(LOG_TYPE));
    doc.insert("pvt_account_id".into(), json!(account_id));
    doc.insert("pvt_account_db".into(), json!(modb));
    doc.insert("pvt_created".into(), json!(now));
    doc.insert("pvt_modified".into(), json!(now));
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

/// Publishes `system_alert` to the operators: the newest error as its message, the failure's fields as details.
async fn system_alert(ctx: &SmtpContext, failure: &Failure) -> Result<(), kapi::KapiError> {
    let newest = failure.errors.last().map(String::as_str).unwrap_or_default();
    let mut msg = SystemAlert::new(&ctx.node, ALERT_SUBJECT, newest);
    msg.details = Some(AlertDetails::Fields(details(failure)));
    msg.account_id = failure.context.account_id.clone();
    kapi::publish(ctx.bus.as_ref(), &msg).await?;
    debug!(account_id = msg.account_id.as_deref().unwrap_or_default(), message = newest, "fax smtp system alert sent");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(account: Option<&str>, faxbox: Option<&str>, errors: &[&str]) -> Failure {
        Failure {
            from: "a@b.test".into(),
            to: "+14155551212@Fax.Test".into(),
            context: LookupContext {
                account_id: account.map(String::from),
                faxbox_id: faxbox.map(String::from),
                number: "+14155551212".into(),
                ..LookupContext::default()
            },
            errors: errors.iter().map(|e| e.to_string()).collect(),
            ..Failure::default()
        }
    }

    #[test]
    fn branches_follow_kazoos_clauses() {
        let acc = Some("acc");
        assert_eq!(failure(None, None, &["invalid address"]).branch(), Branch::Anonymous);
        assert_eq!(failure(None, None, &["realm x not found in accounts db"]).branch(), Branch::Anonymous);
        assert_eq!(failure(acc, Some("fb"), &["no valid attachment", "logo.png: too small"]).branch(), Branch::Smtp);
        assert_eq!(failure(acc, Some("fb"), &["message decode failed"]).branch(), Branch::Smtp);
        assert_eq!(failure(acc, Some("fb"), &["bad_file: no pages"]).branch(), Branch::Smtp);
        assert_eq!(failure(acc, None, &["no matching rules in account acc for a@b.test"]).branch(), Branch::System);
        assert_eq!(failure(acc, Some("fb"), &["message too large"]).branch(), Branch::System);
    }

    #[test]
    fn the_log_document_is_the_normalized_details() {
        let f = failure(Some("acc"), Some("fb"), &["first", "second"]);
        let d = details(&f);
        assert_eq!(d["To"], json!("+14155551212@fax.test"));
        assert_eq!(d["Translated-Number"], json!("+14155551212"));
        assert_eq!(d["Errors"], json!(["first", "second"]));
        assert!(!d.contains_key("Original-Number") && !d.contains_key("Filename"));
        let doc = log_doc("acc", &f, 2024, 3, 63_880_000_000);
        for (k, v) in &d {
            assert_eq!(doc.get(&normalize_key(k)), Some(v), "{k}");
        }
        assert_eq!(doc["faxbox_id"], json!("fb"));
        assert_eq!(doc["pvt_type"], json!(LOG_TYPE));
        assert!(doc["_id"].as_str().is_some_and(|id| id.starts_with("202403-")));
    }
}
