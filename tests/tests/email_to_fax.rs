//! Sends email to a running faxd with real clients, Python's smtplib and swaks, and finds the fax jobs in its
//! store: on the embedded store (the standalone node) and on the CouchDB-compatible server (a cluster node).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use faxbox_tests::couch_server::couch_url;
use faxbox_tests::node::FaxdNode;
use faxbox_tests::repo_root;
use kz_core::db;
use kz_data::couch::CouchStore;
use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store, ViewOptions};
use serde_json::{Value, json};

const SENDER: &str = "alice@sender.test";
/// The greeting host: the node name's host part.
const NODE: &str = "faxd@fax.test";

/// One account with an owner and a faxbox reachable at `<8hex>.fax.test`, with ids unique to `tag`.
struct Fixture {
    account_id: String,
    faxbox_id: String,
    domain: String,
}

impl Fixture {
    fn new(tag: u8) -> Fixture {
        let unique = kz_core::ids::rand_hex(4);
        Fixture {
            account_id: format!("{unique}{tag:02x}0000000000000000000000a1"),
            faxbox_id: format!("{unique}{tag:02x}00000000000000000000000fb"),
            domain: format!("{unique}.fax.test"),
        }
    }

    fn rcpt(&self, number: &str) -> String {
        format!("{number}@{}", self.domain)
    }

    /// Writes the account, its owner and its faxbox (and the faxbox's `faxes` copy) into `store`.
    async fn seed(&self, store: &dyn Store) {
        let account_db = db::account_db(&self.account_id);
        for name in [db::FAXES, db::ACCOUNTS, account_db.as_str()] {
            store.db_create(name).await.expect("db");
            kz_data::design::push_design_docs(store, name).await.expect("design docs");
        }
        let owner_id = format!("{}0e", &self.account_id[..30]);
        let account = json!({"_id": self.account_id, "pvt_type": "account", "name": "Acme", "timezone": "UTC"});
        let owner = json!({"_id": owner_id, "pvt_type": "user", "email": "owner@acme.test"});
        let faxbox = json!({
            "_id": self.faxbox_id, "name": "Front desk", "caller_id": "+14155550100", "caller_name": "Acme",
            "fax_header": "Acme Inc", "fax_identity": "+14155550100", "retries": 1, "owner_id": owner_id,
            "smtp_permission_list": [SENDER], "pvt_type": "faxbox", "pvt_account_id": self.account_id,
            "pvt_account_db": account_db, "pvt_smtp_email_address": self.domain,
        });
        for (dbname, doc) in [
            (db::ACCOUNTS, &account),
            (account_db.as_str(), &account),
            (account_db.as_str(), &owner),
            (account_db.as_str(), &faxbox),
        ] {
            store.save(dbname, obj(doc)).await.expect("seed");
        }
        let mut copy = obj(&faxbox);
        copy.insert("pvt_account_db".into(), json!(db::FAXES));
        store.save(db::FAXES, copy).await.expect("faxbox copy");
    }

    /// The account's jobs in `faxes`.
    async fn jobs(&self, store: &dyn Store) -> Vec<Doc> {
        let opts = ViewOptions::range(json!([self.account_id]), json!([self.account_id, {}])).include_docs();
        let rows = store.query(db::FAXES, "faxes/list_by_account", &opts).await.expect("jobs");
        rows.into_iter().filter_map(|r| r.doc).collect()
    }
}

fn obj(v: &Value) -> Doc {
    v.as_object().cloned().expect("object")
}

fn fixture_path(name: &str) -> PathBuf {
    repo_root().join("apps/fax/tests/fixtures").join(name)
}

/// Waits until the node's SMTP server greets.
fn wait_for_smtp(node: &FaxdNode) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(&node.smtp_addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no SMTP server on {}:\n{}", node.smtp_addr, node.log());
}

/// Runs `tests/smtp/send_fax.py` (smtplib) and returns its JSON lines.
fn smtplib(node: &FaxdNode, rcpts: &[String], files: &[&str]) -> Vec<Value> {
    let port = node.smtp_addr.rsplit(':').next().expect("port");
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("tests/smtp/send_fax.py")).args(["--port", port, "--from", SENDER]);
    for rcpt in rcpts {
        cmd.args(["--to", rcpt]);
    }
    for file in files {
        cmd.arg(fixture_path(file));
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "send_fax.py: {stdout}{}\n{}", String::from_utf8_lossy(&out.stderr), node.log());
    stdout.lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

/// Runs swaks with `args` against the node and returns the server's lines of its transcript (`<-`; swaks writes
/// refusals, `<**`, on stderr). swaks reads a recipient with a leading `+` as an option: give it plain digits.
fn swaks(node: &FaxdNode, rcpt: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new("swaks")
        .args(["--server", &node.smtp_addr, "--from", SENDER, "--to", rcpt, "--helo", "client.test"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("swaks must be installed (tests/services/deps.sh test): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter_map(|l| l.strip_prefix("<-  ").or_else(|| l.strip_prefix("<** ")))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The job id of a data reply `[250, "2.0.0 queued as <id>"]`.
fn queued(data: &Value) -> String {
    assert_eq!(data[0], json!(250), "{data}");
    let text = data[1].as_str().expect("text");
    let id = text.strip_prefix("2.0.0 queued as ").unwrap_or_else(|| panic!("{text}"));
    assert!(kz_core::ids::is_id(id), "{id}");
    id.to_string()
}

/// Sends the same set of emails with both clients and checks what each hears; returns the job ids queued.
fn send_with_real_clients(node: &FaxdNode, fx: &Fixture) -> Vec<String> {
    wait_for_smtp(node);
    let good = fx.rcpt("+14155551212");
    let results = smtplib(node, &[good.clone(), fx.rcpt("12")], &["pdf_and_jpeg.eml", "text_only.eml"]);
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0]["rcpt"][&good], json!([250, "2.1.5 recipient Ok"]));
    assert_eq!(results[0]["rcpt"][fx.rcpt("12")], json!([554, "5.1.1 Not Found"]));
    let mut ids = vec![queued(&results[0]["data"])];
    assert_eq!(results[1]["data"], json!([554, "5.6.0 no valid attachment"]));

    // swaks builds its own MIME message around a PDF sent as application/octet-stream.
    let pdf = fixture_path("invoice.pdf");
    let attach = format!("@{}", pdf.display());
    let lines = swaks(node, &fx.rcpt("4155551213"), &["--attach", &attach, "--h-Subject", "From swaks"]);
    assert_eq!(lines.first().map(String::as_str), Some("220 fax.test Kazoo Email to Fax Server"), "{lines:?}");
    let id = lines.iter().find_map(|l| l.strip_prefix("250 2.0.0 queued as ")).unwrap_or_else(|| panic!("{lines:?}"));
    ids.push(id.to_string());
    assert_eq!(lines.last().map(String::as_str), Some("221 2.0.0 Bye"));

    // And sends a whole prepared message; a sender the faxbox does not allow is refused at RCPT.
    let data = format!("@{}", fixture_path("nested_multipart.eml").display());
    let lines = swaks(node, &fx.rcpt("4155551214"), &["--data", &data]);
    ids.push(lines.iter().find_map(|l| l.strip_prefix("250 2.0.0 queued as ")).expect("queued").to_string());
    let refused = Command::new("swaks")
        .args(["--server", &node.smtp_addr, "--from", "mallory@evil.test", "--to", &fx.rcpt("14155551212")])
        .args(["--quit-after", "RCPT"])
        .output()
        .expect("swaks");
    // swaks writes the server's refusals on stderr.
    let transcript =
        format!("{}{}", String::from_utf8_lossy(&refused.stdout), String::from_utf8_lossy(&refused.stderr));
    assert!(transcript.contains("<** 554 5.7.1 not allowed"), "{transcript}");
    ids
}

/// How long the jobs of one test may take to be converted after their `250`.
const CONVERSION_WAIT: Duration = Duration::from_secs(60);

/// The fixture's jobs once all `expected` are listed and none is `attaching files` any more (their documents
/// converted, or failed to be). A listing taken while a conversion rewrites a job may miss that job for a moment
/// on the CouchDB-compatible test server, so the count is part of the condition.
async fn settled_jobs(store: &dyn Store, fx: &Fixture, expected: usize) -> Vec<Doc> {
    let until = Instant::now() + CONVERSION_WAIT;
    loop {
        let jobs = fx.jobs(store).await;
        if jobs.len() >= expected && jobs.iter().all(|j| j["pvt_job_status"] != json!("attaching files")) {
            return jobs;
        }
        assert!(Instant::now() < until, "jobs still attaching files: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the stored jobs against what was sent.
async fn check_jobs(store: &dyn Store, fx: &Fixture, ids: &[String]) {
    let jobs = settled_jobs(store, fx, ids.len()).await;
    let mut stored: Vec<&str> = jobs.iter().filter_map(|j| j["_id"].as_str()).collect();
    stored.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(stored, expected);
    let by_id = |id: &str| jobs.iter().find(|j| j["_id"] == json!(id)).expect("job");

    let first = by_id(&ids[0]);
    assert_eq!(first["to_number"], json!("+14155551212"));
    assert_eq!(first["pvt_job_status"], json!("pending"));
    assert_eq!(first["faxbox_id"], json!(fx.faxbox_id));
    assert_eq!(first["subject"], json!("Invoice 42"));
    let names: Vec<&str> =
        first["documents"].as_array().expect("docs").iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["original_file.pdf", "original_file_2.jpg"]);
    let pdf = store.get_attachment(db::FAXES, &ids[0], "original_file.pdf").await.expect("pdf");
    assert_eq!(pdf.data.as_ref(), std::fs::read(fixture_path("invoice.pdf")).expect("pdf").as_slice());
    let jpg = store.get_attachment(db::FAXES, &ids[0], "original_file_2.jpg").await.expect("jpg");
    assert_eq!(jpg.data.as_ref(), std::fs::read(fixture_path("scan.jpg")).expect("jpg").as_slice());
    // Converted after the 250: the PDF's pages then the picture, as one fax and its PDF.
    let tiff = store.get_attachment(db::FAXES, &ids[0], "fax_file.tiff").await.expect("fax_file.tiff");
    let tiff_pages = fax_media::tiff::page_count(&tiff.data).expect("tiff pages");
    let invoice = bytes::Bytes::from(std::fs::read(fixture_path("invoice.pdf")).expect("pdf"));
    assert_eq!(tiff_pages, fax_media::render::pdf::page_count(&invoice).expect("pdf pages") + 1);
    assert_eq!(first["pvt_pages"], json!(tiff_pages));
    assert_eq!(first["pvt_size"], json!(tiff.data.len()));
    let rendition = store.get_attachment(db::FAXES, &ids[0], "pdf_file.pdf").await.expect("pdf_file.pdf");
    assert!(rendition.data.starts_with(b"%PDF-"));
    for id in ids {
        assert_eq!(by_id(id)["pvt_job_status"], json!("pending"), "{id}");
        assert!(by_id(id)["_attachments"]["fax_file.tiff"].is_object(), "{id}");
    }

    let swaked = by_id(&ids[1]);
    assert_eq!(swaked["to_number"], json!("+14155551213"));
    assert_eq!(swaked["subject"], json!("From swaks"));
    assert_eq!(swaked["documents"][0]["content_type"], json!("application/pdf"));
    let pdf = store.get_attachment(db::FAXES, &ids[1], "original_file.pdf").await.expect("swaks pdf");
    assert_eq!(pdf.data.as_ref(), std::fs::read(fixture_path("invoice.pdf")).expect("pdf").as_slice());

    let chart = by_id(&ids[2]);
    assert_eq!(
        chart["documents"],
        json!([{"name": "original_file.tiff", "content_type": "image/tiff", "filename": "chart.tif"}])
    );
}

/// How long a node may take to convert the documents of the emails it accepted.
/// Runs `f` on a blocking thread (starting, stopping and driving nodes blocks).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn email_to_fax_on_a_standalone_node() {
    let fx = Fixture::new(1);
    // The embedded store belongs to the node while it runs: it is seeded between a first start and a restart,
    // and read once the node has stopped.
    let mut node = blocking(|| FaxdNode::start(NODE, "")).await;
    let store_dir = node.data_dir().join("var/store");
    let mut node = blocking(move || {
        node.terminate(Duration::from_secs(10));
        node
    })
    .await;
    {
        let store = EmbeddedStore::open(&store_dir).expect("open the node's store");
        fx.seed(&store).await;
    }
    // The store's writer thread ends once the store is dropped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut node, fx, ids) = blocking(move || {
        node.restart();
        let ids = send_with_real_clients(&node, &fx);
        // The store cannot be read while the node runs: wait for the conversions that follow the 250s.
        node.wait_for_conversions(&fx.faxbox_id);
        (node, fx, ids)
    })
    .await;
    let node = blocking(move || {
        node.terminate(Duration::from_secs(10));
        node
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = EmbeddedStore::open(&store_dir).expect("reopen the node's store");
    check_jobs(&store, &fx, &ids).await;
    drop(node);
}

#[tokio::test(flavor = "multi_thread")]
async fn email_to_fax_on_a_couchdb_node() {
    let couch = couch_url().await;
    let store = CouchStore::connect(&couch).await.expect("couchdb");
    let fx = Fixture::new(2);
    fx.seed(&store).await;
    let extra = format!("[store]\nbackend = \"couchdb\"\nurl = \"{couch}\"\n");
    let (mut node, fx, ids) = blocking(move || {
        let node = FaxdNode::start(NODE, &extra);
        let ids = send_with_real_clients(&node, &fx);
        (node, fx, ids)
    })
    .await;
    check_jobs(&store, &fx, &ids).await;

    // A job a crash left between its 250 and its conversion (originals only, `attaching files`) is converted when
    // the node starts again: the search for such jobs runs on CouchDB's views too.
    let done = store.get(db::FAXES, &ids[0]).await.expect("a converted job");
    let names: Vec<String> = done["_attachments"]
        .as_object()
        .map(|a| a.keys().filter(|k| k.starts_with("original_file")).cloned().collect())
        .unwrap_or_default();
    assert!(!names.is_empty(), "no original in {done:?}");
    let mut originals = Vec::new();
    for name in names {
        let original = store.get_attachment(db::FAXES, &ids[0], &name).await.expect("original");
        originals.push(kz_data::NewAttachment { name, content_type: original.content_type, data: original.data });
    }
    let stranded_id = kz_core::ids::new_id();
    let mut stranded = done.clone();
    for key in ["_rev", "_attachments", "pvt_pages", "pvt_size"] {
        stranded.remove(key);
    }
    stranded.insert("_id".into(), json!(stranded_id));
    stranded.insert("pvt_job_status".into(), json!("attaching files"));
    store.save_with_attachments(db::FAXES, stranded, originals).await.expect("stranded job");
    let node = blocking(move || {
        node.restart();
        node
    })
    .await;
    let until = Instant::now() + CONVERSION_WAIT;
    loop {
        let job = store.get(db::FAXES, &stranded_id).await.expect("stranded job");
        if job["pvt_job_status"] == json!("pending") {
            assert!(job["_attachments"]["fax_file.tiff"].is_object(), "{job:?}");
            break;
        }
        assert!(Instant::now() < until, "stranded job not converted after a restart: {job:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(node);
}
