//! Measures the embedded store: durable write throughput with and without group commit, and view latency.
//!
//! Prints a Markdown table (`cargo bench -p kz_data --bench store`). Writes are fax-job-like documents of about
//! 1 KB saved into `faxes` with its design documents in place, so each write also maintains the view rows, and
//! each is durable (fsync) before it returns. The view part loads 100,000 jobs with `bulk_save`, then times
//! the queries the fax app runs most: a `list_by_account_state` page and the `schedule_accounts` reduce.

use std::time::{Duration, Instant};

use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store, ViewOptions, design};
use serde_json::{Value, json};

const ACCOUNTS: usize = 100;
const MIN_TIME: Duration = Duration::from_secs(2);
const MIN_WRITES: usize = 2_000;
const MAX_TIME: Duration = Duration::from_secs(20);
const VIEW_DOCS: usize = 100_000;
const QUERIES: usize = 1_000;

/// The account of job `i`: a hundred consecutive jobs per account, so accounts and statuses are independent.
fn account(i: usize) -> String {
    format!("{:032x}", 0x5eed_0000_u64 + (i / 100 % ACCOUNTS) as u64)
}

/// A fax job of about 1 KB, shaped like the ones `fax_smtp` and the API write.
fn fax_job(i: usize, status: &str) -> Doc {
    let created = 63_850_000_000_u64 + i as u64;
    let doc = json!({
        "_id": kz_core::ids::new_id(),
        "pvt_type": "fax",
        "pvt_job_status": status,
        "pvt_account_id": account(i),
        "pvt_account_db": format!("account%2F{}", account(i)),
        "faxbox_id": format!("{:032x}", i % 500),
        "owner_id": format!("{:032x}", i % 1_000),
        "to_number": format!("+1415555{:04}", i % 10_000),
        "from_number": "+14155550100",
        "from_name": "Front Desk",
        "fax_identity_name": "ACME Corp",
        "fax_identity_number": "+14155550100",
        "pvt_created": created,
        "pvt_modified": created,
        "retry_after": 60,
        "attempts": 0,
        "retries": 3,
        "pvt_job_node": "faxd@node1.example.com",
        "notifications": {
            "email": {"send_to": ["front.desk@example.com", "billing@example.com"]},
            "sms": {"send_to": []}
        },
        "document": {
            "url": format!("http://127.0.0.1:8000/fax/{i}.pdf"),
            "method": "get",
            "content_type": "application/pdf",
            "name": "invoice-2024-0042.pdf",
            "host": "127.0.0.1",
            "referer": "fax_smtp"
        },
        "smtp": {"from": "front.desk@example.com", "subject": "Invoice 2024-0042 for your records", "size": 48213},
        "tx_result": {"success": false, "result_code": 0, "result_text": "", "pages_sent": 0, "time_elapsed": 0},
        "pvt_vsn": "1",
        "comment": "Please find attached the invoice for March; call us if anything looks off.",
    });
    match doc {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

fn status(i: usize) -> &'static str {
    match i % 100 {
        0..=9 => "pending",
        10..=11 => "locked",
        12..=14 => "processing",
        15..=29 => "failed",
        _ => "completed",
    }
}

/// Opens a store in `dir` with the `faxes` database, holding its design documents when `views` is set.
async fn open_faxes(dir: &std::path::Path, views: bool) -> EmbeddedStore {
    let store = EmbeddedStore::open(dir).expect("open the store");
    store.db_create("faxes").await.expect("create faxes");
    if views {
        design::push_design_docs(&store, "faxes").await.expect("push design docs");
    }
    store
}

/// Durable writes per second with `writers` concurrent writers, writes per commit, and writes made.
async fn write_rate(writers: usize, views: bool) -> (f64, f64, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_faxes(dir.path(), views).await;
    let before = store.write_stats();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            let mut i = w;
            loop {
                store.save("faxes", fax_job(i, "pending")).await.expect("durable write");
                n += 1;
                i += writers;
                let elapsed = start.elapsed();
                // Every writer stops at the same time, once the whole run has both enough time and writes.
                if elapsed >= MAX_TIME || (elapsed >= MIN_TIME && n * writers >= MIN_WRITES) {
                    return n;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("writer task");
    }
    let secs = start.elapsed().as_secs_f64();
    let after = store.write_stats();
    let per_commit = (after.writes - before.writes) as f64 / (after.commits - before.commits).max(1) as f64;
    (total as f64 / secs, per_commit, total)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

async fn view_latency() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_faxes(dir.path(), true).await;
    let start = Instant::now();
    for chunk in (0..VIEW_DOCS).collect::<Vec<_>>().chunks(1_000) {
        let docs = chunk.iter().map(|i| fax_job(*i, status(*i))).collect();
        store.bulk_save("faxes", docs).await.expect("bulk load");
    }
    let load = start.elapsed();
    let mut rows = vec![(
        format!("load {VIEW_DOCS} jobs with bulk_save (1,000 per call), 15 views maintained"),
        format!("{:.1} s ({:.0} docs/s)", load.as_secs_f64(), VIEW_DOCS as f64 / load.as_secs_f64()),
    )];

    let mut page = Vec::with_capacity(QUERIES);
    let mut returned = 0;
    for q in 0..QUERIES {
        let acct = account(q * 700);
        let opts = ViewOptions::range(json!([acct, "pending"]), json!([acct, "pending", {}])).limit(25);
        let t = Instant::now();
        returned += store.query("faxes", "faxes/list_by_account_state", &opts).await.expect("query").len();
        page.push(t.elapsed());
    }
    page.sort();
    rows.push((
        format!("`faxes/list_by_account_state` key range, limit 25 ({} rows avg)", returned / QUERIES),
        format!("p50 {} / p99 {}", ms(percentile(&page, 0.5)), ms(percentile(&page, 0.99))),
    ));

    let mut reduce = Vec::with_capacity(QUERIES);
    let mut groups = 0;
    for _ in 0..QUERIES {
        let t = Instant::now();
        let opts = ViewOptions::default().group_level(1);
        groups = store.query("faxes", "faxes/schedule_accounts", &opts).await.expect("reduce").len();
        reduce.push(t.elapsed());
    }
    reduce.sort();
    let rows_reduced = (0..VIEW_DOCS).filter(|i| matches!(status(*i), "pending" | "locked")).count();
    rows.push((
        format!("`faxes/schedule_accounts` `_sum`, group_level=1 ({rows_reduced} rows into {groups} groups)"),
        format!("p50 {} / p99 {}", ms(percentile(&reduce, 0.5)), ms(percentile(&reduce, 0.99))),
    ));
    rows
}

/// The median time of overwriting 4 KB and `fdatasync` in a file of the bench's temporary directory: what a lone
/// writer's commit pays at least (SQLite reuses its WAL file, so commits overwrite), and what group commit shares.
fn fdatasync_latency() -> Duration {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = std::fs::File::create(dir.path().join("probe")).expect("probe file");
    let page = [0u8; 4096];
    file.write_all_at(&page, 0).expect("write");
    file.sync_all().expect("fsync");
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        file.write_all_at(&page, 0).expect("write");
        file.sync_data().expect("fdatasync");
        times.push(t.elapsed());
    }
    times.sort();
    percentile(&times, 0.5)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let sync = fdatasync_latency();
        let mut table = vec![("4 KB overwrite + fdatasync on the bench disk (p50)".to_string(), ms(sync))];
        let mut ratios = Vec::new();
        for views in [true, false] {
            let (one, one_per_commit, one_total) = write_rate(1, views).await;
            let (fifty, fifty_per_commit, fifty_total) = write_rate(50, views).await;
            let what = if views { "with the 15 `faxes` views maintained" } else { "no design docs (documents only)" };
            table.push((
                format!("durable writes/s, 1 writer, ~1 KB job into `faxes`, {what}"),
                format!("{one:.0} ({one_total} writes, {one_per_commit:.1} per commit)"),
            ));
            table.push((
                format!("durable writes/s, 50 concurrent writers, {what}"),
                format!("{fifty:.0} ({fifty_total} writes, {fifty_per_commit:.1} per commit)"),
            ));
            ratios.push((format!("ratio 50 writers / 1 writer, {what}"), format!("{:.1}x", fifty / one)));
        }
        table.extend(ratios);
        table.extend(view_latency().await);
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("| embedded store, {cores} cores | result |");
        println!("|---|---|");
        for (what, result) in table {
            println!("| {what} | {result} |");
        }
    });
}
