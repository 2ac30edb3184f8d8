//! Runs the `sup fax_maintenance` functions: job listings, job state changes, cache flush and view refresh.
//!
//! Ports Kazoo's `fax_maintenance` (spec §9). The listings read the same views as Kazoo (`faxes/jobs`,
//! `faxes/processing_by_node`, `faxes/list_by_account_state`, `faxes/list_by_faxbox_state`) and return the
//! same columns as tables, with dates (`pvt_modified`, Gregorian seconds) shown as UTC `YYYY-MM-DD HH:MM:SS`.
//! `restart_job` and `update_job` change `pvt_job_status` with a revision check as Kazoo does, refusing a job
//! already in the requested state (`job_not_already_in_state`), and, unlike Kazoo, refusing a state Kazoo never
//! uses and a document that is not a fax job.

use std::sync::Arc;

use kz_config::Config;
use kz_core::{db, time};
use kz_data::{Store, StoreError, ViewOptions, ViewRow};
use serde_json::{Map, Value, json};
use tracing::info;

use crate::registry::Registry;

/// Every `pvt_job_status` Kazoo writes on an outbound job (spec §3.2).
pub const JOB_STATES: &[&str] = &[
    "attaching files",
    "attaching_files",
    "queued",
    "resubmitting",
    "pending",
    "locked",
    "processing",
    "completed",
    "failed",
];

/// The state `account_jobs` and `faxbox_jobs` list when none is given.
const DEFAULT_STATE: &str = "pending";

/// What the functions work on.
#[derive(Clone)]
pub struct MaintenanceContext {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub registry: Registry,
}

impl std::fmt::Debug for MaintenanceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaintenanceContext").field("store", &self.store.backend()).finish()
    }
}

/// What a function answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A table with named columns (Kazoo prints these as ASCII tables).
    Table { columns: Vec<String>, rows: Vec<Vec<Value>> },
    /// A line of text.
    Message(String),
    /// Kazoo's `ok` with a value.
    Ok(Value),
}

/// Why a function failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// Wrong arguments; the text is the usage line after `sup `.
    #[error("usage: sup {0}")]
    Usage(&'static str),
    /// The request was understood and refused.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such function in `fax_maintenance`.
    #[error("unknown function: fax_maintenance {0}")]
    Unknown(String),
}

/// Runs `sup fax_maintenance <function> <args...>`.
pub async fn run(ctx: &MaintenanceContext, function: &str, args: &[String]) -> Result<Output, MaintenanceError> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match (function, a.as_slice()) {
        ("pending_jobs", []) => pending_jobs(ctx).await,
        ("pending_jobs", _) => Err(MaintenanceError::Usage("fax_maintenance pending_jobs")),
        ("active_jobs", []) => active_jobs(ctx).await,
        ("active_jobs", _) => Err(MaintenanceError::Usage("fax_maintenance active_jobs")),
        ("account_jobs", [account_id]) => jobs_by_state(ctx, ByState::Account, account_id, DEFAULT_STATE).await,
        ("account_jobs", [account_id, state]) => jobs_by_state(ctx, ByState::Account, account_id, state).await,
        ("account_jobs", _) => Err(MaintenanceError::Usage("fax_maintenance account_jobs <account_id> [state]")),
        ("faxbox_jobs", [faxbox_id]) => jobs_by_state(ctx, ByState::Faxbox, faxbox_id, DEFAULT_STATE).await,
        ("faxbox_jobs", [faxbox_id, state]) => jobs_by_state(ctx, ByState::Faxbox, faxbox_id, state).await,
        ("faxbox_jobs", _) => Err(MaintenanceError::Usage("fax_maintenance faxbox_jobs <faxbox_id> [state]")),
        ("restart_job", [job_id]) => update_job(ctx, job_id, "pending").await,
        ("restart_job", _) => Err(MaintenanceError::Usage("fax_maintenance restart_job <job_id>")),
        ("update_job", [job_id, state]) => update_job(ctx, job_id, state).await,
        ("update_job", _) => Err(MaintenanceError::Usage("fax_maintenance update_job <job_id> <state>")),
        ("flush", []) => {
            ctx.registry.flush();
            Ok(Output::Message("flushed".into()))
        }
        ("flush", _) => Err(MaintenanceError::Usage("fax_maintenance flush")),
        ("refresh_views", []) => {
            ctx.store.db_create(db::FAXES).await?;
            let written = kz_data::design::push_design_docs(ctx.store.as_ref(), db::FAXES).await?;
            Ok(Output::Message(format!("refreshed views of {} ({written} design documents updated)", db::FAXES)))
        }
        ("refresh_views", _) => Err(MaintenanceError::Usage("fax_maintenance refresh_views")),
        _ => Err(MaintenanceError::Unknown(function.to_string())),
    }
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|c| c.to_string()).collect()
}

/// A field of a row's value, as stored (`null` when absent).
fn field(row: &ViewRow, name: &str) -> Value {
    row.value.get(name).cloned().unwrap_or(Value::Null)
}

/// A field that Kazoo prints as `(none)` when absent.
fn field_or_none(row: &ViewRow, name: &str) -> Value {
    match row.value.get(name) {
        None | Some(Value::Null) => Value::String("(none)".into()),
        Some(v) => v.clone(),
    }
}

/// The row's `modified` date, as UTC text.
fn date(row: &ViewRow) -> Value {
    row.value.get("modified").and_then(Value::as_i64).map(|s| Value::String(format_gregorian(s))).unwrap_or(Value::Null)
}

/// Gregorian seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_gregorian(gregorian: i64) -> String {
    let unix = time::gregorian_to_unix(gregorian);
    let (y, m, d) = time::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Jobs due or locked, from `faxes/jobs`.
async fn pending_jobs(ctx: &MaintenanceContext) -> Result<Output, MaintenanceError> {
    let rows = ctx.store.query(db::FAXES, "faxes/jobs", &ViewOptions::default()).await?;
    Ok(Output::Table {
        columns: columns(&["Job", "Date", "Account", "Faxbox", "From", "To", "Tries"]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    field(r, "id"),
                    date(r),
                    field(r, "account_id"),
                    field_or_none(r, "faxbox_id"),
                    field(r, "from"),
                    field(r, "to"),
                    field(r, "tries"),
                ]
            })
            .collect(),
    })
}

/// Jobs being sent, by node, from `faxes/processing_by_node`.
async fn active_jobs(ctx: &MaintenanceContext) -> Result<Output, MaintenanceError> {
    let rows = ctx.store.query(db::FAXES, "faxes/processing_by_node", &ViewOptions::default()).await?;
    Ok(Output::Table {
        columns: columns(&["Node", "Job", "Date", "Account", "FaxBox", "From", "To"]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    field(r, "node"),
                    field(r, "id"),
                    date(r),
                    field(r, "account_id"),
                    field_or_none(r, "faxbox_id"),
                    field(r, "from"),
                    field(r, "to"),
                ]
            })
            .collect(),
    })
}

#[derive(Clone, Copy)]
enum ByState {
    Account,
    Faxbox,
}

/// Jobs of one account or faxbox in one state, oldest first.
async fn jobs_by_state(
    ctx: &MaintenanceContext,
    by: ByState,
    id: &str,
    state: &str,
) -> Result<Output, MaintenanceError> {
    let view = match by {
        ByState::Account => "faxes/list_by_account_state",
        ByState::Faxbox => "faxes/list_by_faxbox_state",
    };
    let opts = ViewOptions::range(json!([id, state]), json!([id, state, {}]));
    let rows = ctx.store.query(db::FAXES, view, &opts).await?;
    Ok(Output::Table {
        columns: columns(&["Job", "Date", "State", "Account", "Faxbox", "From", "To"]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    field(r, "id"),
                    date(r),
                    field(r, "status"),
                    field(r, "account_id"),
                    field_or_none(r, "faxbox_id"),
                    field(r, "from"),
                    field(r, "to"),
                ]
            })
            .collect(),
    })
}

/// Sets a job's `pvt_job_status` (and `pvt_modified`), at the revision read.
async fn update_job(ctx: &MaintenanceContext, job_id: &str, state: &str) -> Result<Output, MaintenanceError> {
    if !JOB_STATES.contains(&state) {
        return Err(MaintenanceError::Refused(format!(
            "invalid state {state:?}: expected one of {}",
            JOB_STATES.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut doc = match ctx.store.get(db::FAXES, job_id).await {
        Ok(doc) => doc,
        Err(StoreError::NotFound(_) | StoreError::DbNotFound(_)) => {
            return Err(MaintenanceError::Refused(format!("job {job_id} not found")));
        }
        Err(e) => return Err(e.into()),
    };
    if doc.get("pvt_type").and_then(Value::as_str) != Some("fax") {
        return Err(MaintenanceError::Refused(format!("{job_id} is not a fax job")));
    }
    let previous = doc.get("pvt_job_status").cloned().unwrap_or(Value::Null);
    if previous.as_str() == Some(state) {
        info!(job_id, state, "job already in state");
        return Err(MaintenanceError::Refused(format!("job_not_already_in_state: job {job_id} is already {state}")));
    }
    let now = time::now_s();
    doc.insert("pvt_job_status".into(), Value::String(state.to_string()));
    doc.insert("pvt_modified".into(), Value::from(now));
    let saved = ctx.store.save(db::FAXES, doc).await?;
    info!(job_id, state, "job state updated");
    let mut out = Map::new();
    out.insert("job_id".into(), Value::String(job_id.to_string()));
    out.insert("pvt_job_status".into(), Value::String(state.to_string()));
    out.insert("previous_status".into(), previous);
    out.insert("pvt_modified".into(), Value::from(now));
    out.insert("_rev".into(), saved.get("_rev").cloned().unwrap_or(Value::Null));
    Ok(Output::Ok(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gregorian_dates_print_in_utc() {
        // 2016-03-28T19:02:53Z, a timestamp from a real Kazoo document.
        assert_eq!(format_gregorian(63_626_410_973), "2016-03-28 19:02:53");
        assert_eq!(format_gregorian(time::unix_to_gregorian(0)), "1970-01-01 00:00:00");
        assert_eq!(format_gregorian(time::unix_to_gregorian(951_868_799)), "2000-02-29 23:59:59");
    }

    #[test]
    fn states_are_kazoos() {
        assert!(JOB_STATES.contains(&"attaching files"));
        assert!(JOB_STATES.contains(&"pending"));
        assert!(!JOB_STATES.contains(&"sent"));
    }
}
