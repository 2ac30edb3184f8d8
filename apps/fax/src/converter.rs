//! Converts the documents of an email-to-fax job into its fax TIFF and PDF, then releases the job to be sent.
//!
//! Ports `kz_fax_attachment:save_outbound` as `fax_smtp` uses it (spec §5.6, §2.7): a job saved `attaching files`
//! with its originals gets `fax_file.tiff` (if `store_fax_tiff`) and `pdf_file.pdf` (if `store_fax_pdf`),
//! `pvt_pages` and `pvt_size`, and turns `pending`, in one write. A document that cannot be converted fails the
//! job with a `bad_file` result and tells the sender why (`outbound_smtp_fax_error`).
//!
//! Jobs wait in a bounded queue ([`Converter`]) and are converted one per core on a low-priority thread pool
//! ([`fax_media::pool::Pool`]), never on the threads that serve sessions: a burst of email is accepted at the
//! speed of the store, and converted with the CPU the sessions leave. Every queued job is already durable, so
//! nothing is lost when the queue is full or the node stops: jobs left `attaching files` are found again in the
//! store, when the server starts and whenever the queue has overflowed ([`recover`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fax_media::convert::Input;
use fax_media::pool::Pool;
use kz_core::{db, time};
use kz_data::{Doc, NewAttachment, StoreError, ViewOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

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
    let from = crate::convert_plan::first_recipient(job).unwrap_or_default().to_string();
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
        None => {
            let options = crate::convert_plan::options(&ctx.config, &job).await;
            ctx.converter.pool.convert(inputs, options).await.map(Some).map_err(|e| e.to_string())
        }
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

/// Queues every job left `attaching files` (by a crash, a stop between the `250` and the conversion, or a full
/// queue) for conversion. Returns how many were found.
///
/// `faxes/list_by_account_state` is keyed `[account, state, created]`: the search goes account by account (one
/// row to find the next account, then that account's `attaching files` range), so a store of millions of jobs is
/// never read whole.
pub async fn recover(ctx: &SmtpContext) -> Result<usize, ConvertJobError> {
    const VIEW: &str = "faxes/list_by_account_state";
    let mut found = 0;
    let mut after: Option<String> = None;
    loop {
        let next = ViewOptions {
            // Objects sort after every other key: [account, {}] is past all of that account's rows.
            startkey: after.as_ref().map(|a| json!([a, {}])),
            limit: Some(1),
            ..ViewOptions::default()
        };
        let rows = match ctx.store.query(db::FAXES, VIEW, &next).await {
            Ok(rows) => rows,
            Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => return Ok(found),
            Err(e) => return Err(e.into()),
        };
        let Some(account) = rows.first().and_then(|r| r.key.get(0)).and_then(Value::as_str).map(String::from) else {
            return Ok(found);
        };
        let stranded = ViewOptions::range(json!([account, ATTACHING]), json!([account, ATTACHING, {}]));
        for row in ctx.store.query(db::FAXES, VIEW, &stranded).await? {
            if let Some(id) = row.id {
                ctx.converter.submit(id, None);
                found += 1;
            }
        }
        after = Some(account);
    }
}

/// How many jobs may wait for conversion in memory. Past it, jobs wait in the store (they are durable from the
/// `250` on) and are queued again once the queue has drained.
pub const QUEUE_CAPACITY: usize = 10_000;

/// A job waiting for conversion.
struct Task {
    job_id: String,
    sender: Option<Sender>,
}

/// The conversion queue of a node and its workers: one per thread of its [`Pool`]. Cloning shares them.
#[derive(Clone)]
pub struct Converter {
    inner: Arc<Inner>,
    pool: Pool,
}

struct Inner {
    tx: mpsc::Sender<Task>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Task>>,
    /// A job was turned away by a full queue: the store must be searched once the queue is empty.
    overflowed: AtomicBool,
    /// Jobs queued or being converted.
    backlog: AtomicUsize,
    /// Jobs a full queue turned away (they waited in the store instead), since the start.
    turned_away: AtomicUsize,
    /// Set while workers run; cancelling it stops them.
    running: Mutex<Option<CancellationToken>>,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter").field("pool", &self.pool).field("backlog", &self.backlog()).finish()
    }
}

impl Converter {
    /// A queue of `capacity` jobs converted on `pool`. Nothing is converted until [`Converter::start`].
    pub fn new(pool: Pool, capacity: usize) -> Converter {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let inner = Inner {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            overflowed: AtomicBool::new(false),
            backlog: AtomicUsize::new(0),
            turned_away: AtomicUsize::new(0),
            running: Mutex::new(None),
        };
        Converter { inner: Arc::new(inner), pool }
    }

    /// A queue of [`QUEUE_CAPACITY`] jobs on a background pool of one low-priority thread per core.
    pub fn background() -> std::io::Result<Converter> {
        Ok(Converter::new(Pool::background("fax-convert")?, QUEUE_CAPACITY))
    }

    /// Jobs queued or being converted.
    pub fn backlog(&self) -> usize {
        self.inner.backlog.load(Ordering::Relaxed)
    }

    /// Jobs a full queue turned away since the start (they were queued again from the store later).
    pub fn turned_away(&self) -> usize {
        self.inner.turned_away.load(Ordering::Relaxed)
    }

    /// Queues job `job_id` for conversion. `sender` is who to tell of a failure (`None`: the job's first
    /// notification address). When the queue is full the job stays `attaching files` in the store and is queued
    /// again later.
    pub fn submit(&self, job_id: String, sender: Option<Sender>) {
        self.inner.backlog.fetch_add(1, Ordering::Relaxed);
        match self.inner.tx.try_send(Task { job_id, sender }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(task) | mpsc::error::TrySendError::Closed(task)) => {
                self.inner.backlog.fetch_sub(1, Ordering::Relaxed);
                self.inner.turned_away.fetch_add(1, Ordering::Relaxed);
                if !self.inner.overflowed.swap(true, Ordering::Relaxed) {
                    warn!(job_id = %task.job_id, capacity = self.inner.tx.max_capacity(), "conversion queue full; jobs wait in the store");
                }
            }
        }
    }

    /// Starts the workers (one per pool thread) for the server of `ctx`, unless they already run.
    pub fn start(&self, ctx: Arc<SmtpContext>) {
        let Ok(mut running) = self.inner.running.lock() else { return };
        if running.is_some() {
            return;
        }
        let stop = CancellationToken::new();
        for _ in 0..self.pool.threads() {
            tokio::spawn(work(ctx.clone(), self.clone(), stop.clone()));
        }
        *running = Some(stop);
    }

    /// Stops the workers. Conversions under way are abandoned: their jobs stay `attaching files` and are
    /// converted after the next start.
    pub fn stop(&self) {
        if let Ok(mut running) = self.inner.running.lock()
            && let Some(stop) = running.take()
        {
            stop.cancel();
        }
    }

    async fn next(&self, stop: &CancellationToken) -> Option<Task> {
        let mut rx = tokio::select! {
            _ = stop.cancelled() => return None,
            rx = self.inner.rx.lock() => rx,
        };
        tokio::select! {
            _ = stop.cancelled() => None,
            task = rx.recv() => task,
        }
    }
}

/// One worker: converts queued jobs one at a time until stopped.
async fn work(ctx: Arc<SmtpContext>, converter: Converter, stop: CancellationToken) {
    while let Some(task) = converter.next(&stop).await {
        let Task { job_id, sender } = task;
        let converted = tokio::select! {
            _ = stop.cancelled() => return,
            converted = convert_job(&ctx, &job_id, sender) => converted,
        };
        converter.inner.backlog.fetch_sub(1, Ordering::Relaxed);
        if let Err(e) = converted {
            warn!(job_id = %job_id, error = %e, "email-to-fax job not converted, left for recovery");
        }
        if converter.inner.tx.capacity() == converter.inner.tx.max_capacity()
            && converter.inner.overflowed.swap(false, Ordering::Relaxed)
        {
            match recover(&ctx).await {
                Ok(found) => debug!(found, "jobs turned away by a full conversion queue queued again"),
                Err(e) => {
                    warn!(error = %e, "jobs waiting in the store not looked for");
                    converter.inner.overflowed.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}
