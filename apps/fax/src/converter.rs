//! Converts the documents of an email-to-fax job into its fax TIFF and PDF, then releases the job to be sent.
//!
//! Ports `kz_fax_attachment:save_outbound` as `fax_smtp` uses it (spec §5.6, §2.7): a job saved `attaching files`
//! with its originals gets `fax_file.tiff` (if `store_fax_tiff`) and `pdf_file.pdf` (if `store_fax_pdf`),
//! `pvt_pages` and `pvt_size`, and turns `pending`, in one write. A document that cannot be converted fails the
//! job with a `bad_file` result and tells the sender why (`outbound_smtp_fax_error`). The conversion runs on the
//! blocking pool ([`fax_media::convert::convert_async`]), never on the threads that serve sessions. Jobs a crash
//! left `attaching files` are found and converted when the server starts ([`recover`]).

use bytes::Bytes;
use fax_media::convert::{ConvertOptions, Input, convert_async};
use kz_core::{db, time};
use kz_data::{Doc, NewAttachment, StoreError, ViewOptions};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::registry::LookupContext;
use crate::smtp::SmtpContext;
use crate::smtp::report::{self, Failure};

/// The status of a job whose documents are not converted yet (Kazoo's SMTP value, with its space).
pub const ATTACHING: &str = "attaching files";

/// The name of the converted fax.
pub const FAX_FILE: &str = "fax_file.tiff";

/// The name of the PDF rendition.
pub const PDF_FILE: &str = "pdf_file.pdf";

/// Who to tell when the conversion fails: the envelope sender and the address the email went to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sender {
    pub from: String,
    pub to: String,
    pub context: LookupContext,
}

/// How a conversion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Converted and `pending`, with this many pages.
    Pending(u32),
    /// The documents could not be converted: the job is `failed` with this reason.
    Failed(String),
    /// The job was not `attaching files` (already converted, deleted): nothing was done.
    Skipped,
}

/// Why a job could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum ConvertJobError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The `tx_result` of a job whose documents could not be converted.
pub fn bad_file_result(reason: &str) -> Value {
    json!({
        "success": false,
        "result_code": 0,
        "result_text": format!("bad_file: {reason}"),
        "error_message": reason,
        "fax_bad_rows": 0,
        "fax_error_correction": false,
        "fax_receiver_id": "",
        "fax_speed": 0,
        "pages_sent": 0,
        "time_elapsed": 0,
    })
}

/// The names of the job's original documents, in order.
fn originals(job: &Doc) -> Vec<(String, Option<String>, Option<String>)> {
    job.get("documents")
        .and_then(Value::as_array)
        .map(|docs| {
            docs.iter()
                .filter_map(|d| {
                    let name = d.get("name")?.as_str()?.to_string();
                    let ct = d.get("content_type").and_then(Value::as_str).map(String::from);
                    let filename = d.get("filename").and_then(Value::as_str).map(String::from);
                    Some((name, ct, filename))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The sender of a job found after a restart: the first address its notifications go to.
fn sender_of(job: &Doc) -> Sender {
    let text = |k: &str| job.get(k).and_then(Value::as_str).map(String::from);
    let from = job
        .get("notifications")
        .and_then(|n| n.get("email"))
        .and_then(|e| e.get("send_to"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let number = text("to_number").unwrap_or_default();
    Sender {
        from,
        to: number.clone(),
        context: LookupContext {
            account_id: text("pvt_account_id"),
            faxbox_id: text("faxbox_id"),
            owner_id: text("owner_id"),
            original_number: number.clone(),
            number,
            ..LookupContext::default()
        },
    }
}

/// Converts the documents of job `job_id` and releases it (`pending`) or fails it (`failed`, `bad_file`). The
/// sender is told of a failure; `sender` is `None` for a job found after a restart (its first notification
/// address is used).
pub async fn convert_job(ctx: &SmtpContext, job_id: &str, sender: Option<Sender>) -> Result<Outcome, ConvertJobError> {
    let store = ctx.store.as_ref();
    let mut job = match store.get(db::FAXES, job_id).await {
        Ok(job) => job,
        Err(StoreError::NotFound(_)) => return Ok(Outcome::Skipped),
        Err(e) => return Err(e.into()),
    };
    if job.get("pvt_job_status").and_then(Value::as_str) != Some(ATTACHING) {
        return Ok(Outcome::Skipped);
    }
    let fax = match ctx.config.fax().await {
        Ok(fax) => fax,
        Err(e) => {
            warn!(job_id, error = %e, "fax configuration unreadable, using the defaults");
            kz_config::FaxConfig::default()
        }
    };
    let mut inputs = Vec::new();
    let mut fetch_error = None;
    for (name, content_type, filename) in originals(&job) {
        match store.get_attachment(db::FAXES, job_id, &name).await {
            Ok(att) => {
                let mut input = Input::new(att.data);
                input.content_type = content_type;
                input.filename = filename.or(Some(name));
                inputs.push(input);
            }
            Err(e @ (StoreError::NotFound(_) | StoreError::Invalid(_))) => {
                fetch_error = Some(format!("document {name} is missing: {e}"));
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let converted = match fetch_error {
        Some(reason) => Err(reason),
        None if !fax.store_fax_tiff && !fax.store_fax_pdf => Ok(None),
        None => convert_async(inputs, ConvertOptions::default()).await.map(Some).map_err(|e| e.to_string()),
    };
    let now = time::now_s();
    job.insert("pvt_modified".into(), json!(now));
    let (attachments, outcome) = match converted {
        Ok(converted) => {
            let mut attachments = Vec::new();
            let mut pages = 0;
            if let Some(c) = converted {
                job.insert("pvt_pages".into(), json!(c.pages));
                job.insert("pvt_size".into(), json!(c.tiff.len()));
                pages = c.pages;
                if fax.store_fax_tiff {
                    let data = Bytes::from(c.tiff);
                    attachments.push(NewAttachment { name: FAX_FILE.into(), content_type: "image/tiff".into(), data });
                }
                if fax.store_fax_pdf {
                    let data = Bytes::from(c.pdf);
                    attachments.push(NewAttachment {
                        name: PDF_FILE.into(),
                        content_type: "application/pdf".into(),
                        data,
                    });
                }
            }
            job.insert("pvt_job_status".into(), json!("pending"));
            (attachments, Outcome::Pending(pages))
        }
        Err(reason) => {
            job.insert("pvt_job_status".into(), json!("failed"));
            job.insert("tx_result".into(), bad_file_result(&reason));
            (Vec::new(), Outcome::Failed(reason))
        }
    };
    match store.save_with_attachments(db::FAXES, job.clone(), attachments).await {
        Ok(_) => {}
        // Converted meanwhile by another task (a restart racing a live session): nothing more to do.
        Err(StoreError::Conflict(_)) => return Ok(Outcome::Skipped),
        Err(e) => return Err(e.into()),
    }
    match &outcome {
        Outcome::Pending(pages) => info!(job_id, pages, "email-to-fax job converted and pending"),
        Outcome::Failed(reason) => {
            info!(job_id, reason = %reason, "email-to-fax job failed: its documents cannot be faxed");
            let sender = sender.unwrap_or_else(|| sender_of(&job));
            let failure = Failure {
                from: sender.from,
                to: sender.to,
                context: sender.context,
                errors: vec![format!("bad_file: {reason}")],
                content_type: None,
                filename: None,
            };
            report::report(ctx, &fax, &failure).await;
        }
        Outcome::Skipped => {}
    }
    Ok(outcome)
}

/// Converts every job left `attaching files` (by a crash or a stop between the `250` and the conversion).
/// Returns how many were found.
pub async fn recover(ctx: &SmtpContext) -> Result<usize, ConvertJobError> {
    let rows = match ctx.store.query(db::FAXES, "faxes/list_by_account_state", &ViewOptions::default()).await {
        Ok(rows) => rows,
        Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let stranded: Vec<String> = rows
        .into_iter()
        .filter(|r| r.key.get(1).and_then(Value::as_str) == Some(ATTACHING))
        .filter_map(|r| r.id)
        .collect();
    for id in &stranded {
        match convert_job(ctx, id, None).await {
            Ok(outcome) => info!(job_id = %id, ?outcome, "stranded email-to-fax job converted"),
            Err(e) => warn!(job_id = %id, error = %e, "stranded email-to-fax job not converted"),
        }
    }
    Ok(stranded.len())
}
