//! Builds the outbound job of an accepted email and commits it with its documents in one write.
//!
//! Ports `fax_smtp:add_fax_document` and the save at the end of `fax_smtp:handle_message` (spec §2.6, §2.7).
//! Kazoo saved the job as `attaching files`, then the attachment, then flipped the job to `pending`, and only
//! once the session had ended, so a crash or a lost connection in between lost or stranded the fax. Here the
//! job is written `attaching files` together with every original document ([`Store::save_with_attachments`])
//! before the `250` goes out; [`crate::converter`] then adds the fax TIFF and PDF and releases it `pending`
//! (or converts it after a restart).
//!
//! **Idempotent intake.** A client that loses the `250` sends the same message again. When the message has a
//! `Message-ID`, the job id is derived from (Message-ID, sender, faxbox, number), so the second copy collides
//! with the first: a conflict on save means "already queued" and is answered `250` without a second job, as long
//! as the first was created within [`DEDUP_WINDOW_S`]. A job already sent and moved to the account's monthly
//! database (`YYYYMM-<id>`) is found there. Messages without a `Message-ID` get a random id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kz_core::{db, ids, time};
use kz_data::{Doc, NewAttachment, Store, StoreError};
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use tracing::debug;

use super::SmtpContext;
use super::attachments::{Picked, Picks};
use crate::registry::Route;

/// How long the same message (same Message-ID, sender, faxbox and number) counts as a duplicate, in seconds.
pub const DEDUP_WINDOW_S: i64 = 86_400;

/// Kazoo's default `retries` for an email-to-fax job when the faxbox sets none.
const DEFAULT_RETRIES: i64 = 3;

/// How many times a save is tried when its id keeps colliding (only a race with a deletion does that).
const SAVE_ATTEMPTS: usize = 3;

/// The outcome of queueing one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// A new job, committed with its documents.
    New(String),
    /// The same message was queued before, within [`DEDUP_WINDOW_S`]: nothing was written.
    Duplicate(String),
}

impl Queued {
    pub fn id(&self) -> &str {
        match self {
            Queued::New(id) | Queued::Duplicate(id) => id,
        }
    }
}

/// Why a job could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The store could not commit: a temporary failure (`451`).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the document as malformed.
    #[error("store refused the job: {0}")]
    Refused(String),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => QueueError::Refused(m),
            other => QueueError::Unavailable(other.to_string()),
        }
    }
}

/// Facts about the faxbox's owner and account that the job document copies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The faxbox's `fax_timezone`, else (absent or `inherit`) the owner's, else the account's.
    pub timezone: Option<String>,
    /// The faxbox's `pvt_reseller_id`, else the account's reseller.
    pub reseller_id: Option<String>,
}

/// A non-empty string field of a document, trimmed.
pub(crate) fn text<'a>(doc: &'a Doc, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The job id of a message for one destination: 32 hex derived from what makes it the same fax (its
/// Message-ID and Date, the sender, the faxbox and the number). With a `Date` (Unix seconds), the first 12 hex
/// are that time in milliseconds, like [`ids::new_id`]'s: the ids of fresh mail sort near the end of the store's
/// indexes, where they are appended, rather than anywhere. A message sent again is the same bytes, Date included,
/// so it gets the same id.
pub fn dedup_id(message_id: &str, date: Option<i64>, from: &str, faxbox_id: &str, number: &str) -> String {
    let mut md5 = Md5::new();
    let date_text = date.map(|d| d.to_string()).unwrap_or_default();
    for part in ["fax_smtp", message_id, &date_text, from, faxbox_id, number] {
        md5.update(part.as_bytes());
        md5.update([0u8]);
    }
    let hash = hex::encode(md5.finalize());
    match date.filter(|d| *d > 0).and_then(|d| d.checked_mul(1000)).filter(|ms| *ms < 1 << 48) {
        Some(ms) => format!("{ms:012x}{}", &hash[..20]),
        None => hash,
    }
}

/// The attachment names of the documents, in order: `original_file.<ext>`, `original_file_2.<ext>`, ...
pub fn attachment_names(documents: &[Picked]) -> Vec<String> {
    documents
        .iter()
        .enumerate()
        .map(|(i, d)| match i {
            0 => format!("original_file.{}", d.extension),
            n => format!("original_file_{}.{}", n + 1, d.extension),
        })
        .collect()
}

/// The faxbox's `notifications.outbound`.
fn outbound(faxbox: &Doc) -> Option<&Value> {
    faxbox.get("notifications").and_then(|n| n.get("outbound"))
}

/// The `send_to` list of the faxbox's `notifications.outbound.email`, as a list.
fn outbound_recipients(faxbox: &Doc) -> Vec<String> {
    match outbound(faxbox).and_then(|o| o.get("email")).and_then(|e| e.get("send_to")) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// The job's `notifications`: the faxbox's `notifications.outbound`, with `email.send_to` replaced by the
/// sorted, deduplicated union of the sender, the owner's email and the faxbox's outbound recipients.
fn notifications(route: &Route, from: &str) -> Value {
    let mut send_to: Vec<String> = [from.to_string()]
        .into_iter()
        .chain(route.owner_email.clone())
        .chain(outbound_recipients(&route.faxbox))
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    send_to.sort();
    send_to.dedup();
    let mut out = outbound(&route.faxbox).and_then(Value::as_object).cloned().unwrap_or_default();
    let email = out.entry("email").or_insert_with(|| Value::Object(Map::new()));
    if !email.is_object() {
        *email = Value::Object(Map::new());
    }
    if let Some(email) = email.as_object_mut() {
        email.insert("send_to".into(), json!(send_to));
    }
    Value::Object(out)
}

/// The `tx_result` skeleton: the defaults of the `faxes` schema.
fn tx_result_skeleton() -> Value {
    json!({
        "error_message": "",
        "fax_bad_rows": 0,
        "fax_error_correction": false,
        "fax_receiver_id": "",
        "fax_speed": 0,
        "pages_sent": 0,
        "success": false,
        "time_elapsed": 0,
    })
}

/// Whether the faxbox asks for a cover sheet in front of its faxes (`cover_page`, a boolean, false when absent;
/// the string `"true"` a JavaScript client may store counts too).
fn wants_cover_page(faxbox: &Doc) -> bool {
    match faxbox.get("cover_page") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The job document of spec §2.6 for one route, `attaching files` until [`crate::converter`] converts it, listing
/// its documents in order. A faxbox with `cover_page` set gives the job `cover_page.body`, the email's body text,
/// for the cover sheet the conversion puts in front ([`crate::convert_plan`]). `now` is in Gregorian seconds.
pub fn job_doc(id: &str, route: &Route, from: &str, picks: &Picks, facts: &Facts, now: i64) -> Doc {
    let fb = &route.faxbox;
    let mut doc = Map::new();
    let mut put = |k: &str, v: Value| {
        doc.insert(k.to_string(), v);
    };
    put("_id", json!(id));
    if let Some(v) = text(fb, "caller_name") {
        put("from_name", json!(v));
    }
    if let Some(v) = text(fb, "fax_header") {
        put("fax_identity_name", json!(v));
    }
    if let Some(v) = text(fb, "caller_id") {
        put("from_number", json!(v));
    }
    if let Some(v) = text(fb, "fax_identity") {
        put("fax_identity_number", json!(v));
    }
    if let Some(tz) = &facts.timezone {
        put("fax_timezone", json!(tz));
    }
    put("to_name", json!(route.number));
    put("to_number", json!(route.number));
    let retries = fb.get("retries").and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()));
    put("retries", json!(retries.unwrap_or(DEFAULT_RETRIES)));
    put("notifications", notifications(route, from));
    put("faxbox_id", json!(route.faxbox_id));
    if let Some(owner) = &route.owner_id {
        put("owner_id", json!(owner));
    }
    put("folder", json!("outbox"));
    if let Some(subject) = &picks.subject {
        put("subject", json!(subject));
    }
    if wants_cover_page(fb) {
        put("cover_page", json!({"body": picks.body_text.as_deref().unwrap_or_default()}));
    }
    put("pvt_type", json!("fax"));
    put("pvt_job_status", json!(crate::converter::ATTACHING));
    put("attempts", json!(0));
    put("tx_result", tx_result_skeleton());
    let documents: Vec<Value> = attachment_names(&picks.documents)
        .into_iter()
        .zip(&picks.documents)
        .map(|(name, d)| {
            let mut entry = json!({"name": name, "content_type": d.content_type});
            if let (Some(f), Some(o)) = (&d.filename, entry.as_object_mut()) {
                o.insert("filename".into(), json!(f));
            }
            entry
        })
        .collect();
    put("documents", Value::Array(documents));
    put("pvt_account_id", json!(route.account_id));
    put("pvt_account_db", json!(db::FAXES));
    if let Some(reseller) = &facts.reseller_id {
        put("pvt_reseller_id", json!(reseller));
    }
    put("pvt_created", json!(now));
    put("pvt_modified", json!(now));
    doc
}

/// How long the facts of a faxbox are reused: the registry's own bound on how late a change to a faxbox, its
/// owner or its account may be seen.
pub const FACTS_TTL: Duration = Duration::from_secs(1);

/// Faxboxes whose facts are kept at most; past it the cache starts over.
const FACTS_CACHE_MAX: usize = 10_000;

/// The facts of recently used faxboxes, each kept for [`FACTS_TTL`]: a burst of mail to one faxbox reads its
/// owner and account once a second rather than for every message.
#[derive(Debug, Default, Clone)]
pub struct FactsCache {
    entries: Arc<Mutex<HashMap<FaxboxKey, (Instant, Facts)>>>,
}

/// (account id, faxbox id).
type FaxboxKey = (String, String);

impl FactsCache {
    fn get(&self, key: &FaxboxKey) -> Option<Facts> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|(at, _)| at.elapsed() < FACTS_TTL).map(|(_, facts)| facts.clone())
    }

    fn put(&self, key: FaxboxKey, facts: Facts) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= FACTS_CACHE_MAX {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), facts));
        }
    }
}

/// [`read_facts`] through the context's [`FactsCache`].
pub async fn facts(ctx: &SmtpContext, route: &Route) -> Facts {
    let key = (route.account_id.clone(), route.faxbox_id.clone());
    if let Some(facts) = ctx.facts.get(&key) {
        return facts;
    }
    let facts = read_facts(ctx, route).await;
    ctx.facts.put(key, facts.clone());
    facts
}

/// Reads what the job copies from the owner and the account. A read that fails leaves the fact out: the save
/// that follows reports a store outage.
pub async fn read_facts(ctx: &SmtpContext, route: &Route) -> Facts {
    let store = ctx.store.as_ref();
    let account_db = db::account_db(&route.account_id);
    let timezone = match text(&route.faxbox, "fax_timezone") {
        Some(tz) if !tz.eq_ignore_ascii_case("inherit") => Some(tz.to_string()),
        _ => {
            let mut found = None;
            if let Some(owner) = &route.owner_id {
                found = field_of(store, &account_db, owner, "timezone").await;
            }
            if found.is_none() {
                found = field_of(store, &account_db, &route.account_id, "timezone").await;
            }
            if found.is_none() {
                found = field_of(store, db::ACCOUNTS, &route.account_id, "timezone").await;
            }
            found
        }
    };
    let reseller_id = match text(&route.faxbox, "pvt_reseller_id") {
        Some(r) => Some(r.to_string()),
        None => ctx.config.reseller_of(&route.account_id).await.ok().flatten(),
    };
    Facts { timezone, reseller_id }
}

async fn field_of(store: &dyn Store, dbname: &str, id: &str, key: &str) -> Option<String> {
    match store.get(dbname, id).await {
        Ok(doc) => text(&doc, key).map(String::from),
        Err(e) => {
            debug!(db = dbname, doc_id = id, error = %e, "no document to read a job fact from");
            None
        }
    }
}

/// Whether a stored job was created within the dedup window (a job without `pvt_created` counts as recent).
fn is_recent(doc: &Doc, now: i64) -> bool {
    doc.get("pvt_created").and_then(Value::as_i64).is_none_or(|created| now - created < DEDUP_WINDOW_S)
}

/// Whether job `id` was already sent and moved to the account's monthly database within the window.
async fn moved_recently(store: &dyn Store, account_id: &str, id: &str, now: i64) -> Result<bool, QueueError> {
    let unix = time::gregorian_to_unix(now);
    let mut months = vec![time::year_month(unix), time::year_month(unix - DEDUP_WINDOW_S)];
    months.dedup();
    for (year, month) in months {
        match store.get(&db::modb(account_id, year, month), &db::modb_doc_id(year, month, id)).await {
            Ok(doc) if is_recent(&doc, now) => return Ok(true),
            Ok(_) | Err(StoreError::NotFound(_) | StoreError::DbNotFound(_) | StoreError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Queues the fax of `picks` to `route` for sender `from`: one job, its documents attached in order, committed
/// in one write. Answers `Duplicate` (and writes nothing) for a message already queued within the window.
pub async fn queue(ctx: &SmtpContext, route: &Route, from: &str, picks: &Picks) -> Result<Queued, QueueError> {
    let store = ctx.store.as_ref();
    let facts = facts(ctx, route).await;
    let attachments: Vec<NewAttachment> = attachment_names(&picks.documents)
        .into_iter()
        .zip(&picks.documents)
        .map(|(name, d)| NewAttachment { name, content_type: d.content_type.clone(), data: Bytes::clone(&d.data) })
        .collect();
    let now = time::now_s();
    let mut derived =
        picks.message_id.as_deref().map(|mid| dedup_id(mid, picks.date, from, &route.faxbox_id, &route.number));
    if let Some(id) = &derived
        && moved_recently(store, &route.account_id, id, now).await?
    {
        return Ok(Queued::Duplicate(id.clone()));
    }
    for _ in 0..SAVE_ATTEMPTS {
        let id = derived.clone().unwrap_or_else(ids::new_id);
        let doc = job_doc(&id, route, from, picks, &facts, now);
        match store.save_with_attachments(db::FAXES, doc, attachments.clone()).await {
            Ok(_) => return Ok(Queued::New(id)),
            Err(StoreError::Conflict(_)) if derived.is_some() => match store.get(db::FAXES, &id).await {
                Ok(existing) if is_recent(&existing, now) => return Ok(Queued::Duplicate(id)),
                // The same message long ago: a new fax, under a new id.
                Ok(_) => derived = None,
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            },
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(QueueError::Unavailable("the job id kept conflicting".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picked(ext: &str, filename: Option<&str>) -> Picked {
        Picked {
            content_type: "application/pdf".into(),
            extension: ext.into(),
            filename: filename.map(String::from),
            data: Bytes::from_static(b"%PDF-"),
        }
    }

    #[test]
    fn dedup_ids_are_stable_32_hex_and_depend_on_every_part() {
        let date = Some(1_790_000_000);
        let a = dedup_id("m1@x", date, "s@x", "fb1", "+15551234567");
        assert!(ids::is_id(&a), "{a}");
        assert_eq!(a, dedup_id("m1@x", date, "s@x", "fb1", "+15551234567"));
        for other in [
            dedup_id("m2@x", date, "s@x", "fb1", "+15551234567"),
            dedup_id("m1@x", Some(1_790_000_001), "s@x", "fb1", "+15551234567"),
            dedup_id("m1@x", None, "s@x", "fb1", "+15551234567"),
            dedup_id("m1@x", date, "t@x", "fb1", "+15551234567"),
            dedup_id("m1@x", date, "s@x", "fb2", "+15551234567"),
            dedup_id("m1@x", date, "s@x", "fb1", "+15551234568"),
            dedup_id("m1@xs", date, "@x", "fb1", "+15551234567"),
        ] {
            assert_ne!(a, other);
            assert!(ids::is_id(&other), "{other}");
        }
    }

    #[test]
    fn dedup_ids_of_later_mail_sort_later() {
        // The Date leads the id, as the time leads fresh ids; without a Date the id is all hash.
        let early = dedup_id("z@x", Some(1_790_000_000), "s@x", "fb1", "+1");
        let late = dedup_id("a@x", Some(1_790_000_060), "s@x", "fb1", "+1");
        assert!(early < late, "{early} {late}");
        assert!(early.starts_with(&format!("{:012x}", 1_790_000_000_000_i64)), "{early}");
        let fresh = ids::new_id();
        assert!(late < fresh, "mail dated 2026-09 sorts before an id made now: {late} {fresh}");
        for bad in [None, Some(0), Some(-5), Some(i64::MAX)] {
            assert_eq!(dedup_id("m@x", bad, "s", "f", "1").len(), 32);
        }
    }

    #[test]
    fn attachments_are_numbered_from_the_second() {
        let docs = [picked("pdf", None), picked("jpg", Some("a.jpg")), picked("tiff", None)];
        assert_eq!(attachment_names(&docs), ["original_file.pdf", "original_file_2.jpg", "original_file_3.tiff"]);
    }

    #[test]
    fn notifications_merge_sender_owner_and_faxbox_recipients() {
        let faxbox = json!({
            "notifications": {"outbound": {"email": {"send_to": ["Z@x.com", "a@x.com"]}, "sms": {"send_to": "1"}}}
        });
        let route = Route {
            account_id: "a".into(),
            faxbox_id: "f".into(),
            faxbox: faxbox.as_object().cloned().unwrap_or_default(),
            owner_id: None,
            owner_email: Some("Owner@x.com".into()),
            original_number: "1".into(),
            number: "+1".into(),
            faxbox_domain: "d".into(),
        };
        assert_eq!(
            notifications(&route, "a@x.com"),
            json!({"email": {"send_to": ["a@x.com", "owner@x.com", "z@x.com"]}, "sms": {"send_to": "1"}})
        );
        let bare = Route { faxbox: Map::new(), owner_email: None, ..route };
        assert_eq!(notifications(&bare, "s@x.com"), json!({"email": {"send_to": ["s@x.com"]}}));
    }

    fn route_with(faxbox: Value) -> Route {
        Route {
            account_id: "a".into(),
            faxbox_id: "f".into(),
            faxbox: faxbox.as_object().cloned().unwrap_or_default(),
            owner_id: None,
            owner_email: None,
            original_number: "4155551212".into(),
            number: "+14155551212".into(),
            faxbox_domain: "d".into(),
        }
    }

    fn picks(body_text: Option<&str>) -> Picks {
        Picks {
            documents: vec![picked("pdf", Some("report.pdf"))],
            subject: Some("Quarterly report".into()),
            message_id: None,
            date: None,
            body_text: body_text.map(String::from),
            skipped: Vec::new(),
        }
    }

    fn kazoo_faxes_errors(doc: &Doc) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-schemas/faxes.json");
        let text = std::fs::read_to_string(&path).expect("Kazoo's faxes schema");
        let schema: Value = serde_json::from_str(&text).expect("schema json");
        let validator = jsonschema::draft4::options().build(&schema).expect("schema compiles");
        let instance = Value::Object(doc.clone());
        validator.iter_errors(&instance).map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_cover_page_faxbox_gives_its_jobs_the_email_body() {
        let now = 63_850_000_000;
        let facts = Facts::default();
        let route = route_with(json!({"caller_name": "Acme", "caller_id": "+14155550100", "cover_page": true}));
        let doc = job_doc("j1", &route, "s@x.com", &picks(Some("Please find the report.")), &facts, now);
        assert_eq!(doc["cover_page"], json!({"body": "Please find the report."}));
        assert_eq!(doc["subject"], json!("Quarterly report"));
        assert_eq!((&doc["from_name"], &doc["from_number"]), (&json!("Acme"), &json!("+14155550100")));
        assert!(kazoo_faxes_errors(&doc).is_empty(), "{:?}", kazoo_faxes_errors(&doc));
        let no_body = job_doc("j2", &route, "s@x.com", &picks(None), &facts, now);
        assert_eq!(no_body["cover_page"], json!({"body": ""}));
        let as_text = route_with(json!({"cover_page": "true"}));
        assert!(job_doc("j3", &as_text, "s@x.com", &picks(None), &facts, now).contains_key("cover_page"));
        for faxbox in [json!({}), json!({"cover_page": false}), json!({"cover_page": "no"})] {
            let doc = job_doc("j4", &route_with(faxbox.clone()), "s@x.com", &picks(Some("b")), &facts, now);
            assert!(!doc.contains_key("cover_page"), "{faxbox}");
        }
    }

    #[test]
    fn recent_means_within_the_window() {
        let now = 63_850_000_000;
        let created = |t: i64| json!({"pvt_created": t}).as_object().cloned().unwrap_or_default();
        assert!(is_recent(&created(now - 10), now));
        assert!(!is_recent(&created(now - DEDUP_WINDOW_S), now));
        assert!(is_recent(&Map::new(), now));
    }
}
