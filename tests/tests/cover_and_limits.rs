//! Drives a running faxd as a user and an operator would: faxboxes created through the REST API (one with a cover
//! sheet, one without), email written and sent by Python's `email` and `smtplib`, the conversion limit changed
//! with `sup kapps_config set_default kazoo_convert ...` while the node runs; then reads the jobs in its store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use fax_media::convert::{ConvertOptions, Input, convert};
use fax_media::page::Page;
use fax_media::render::cover::{self, Cover};
use faxbox_tests::node::FaxdNode;
use faxbox_tests::repo_root;
use kz_core::db;
use kz_data::Store;
use kz_data::embedded::EmbeddedStore;
use serde_json::{Value, json};

const NODE: &str = "faxd@cover.test";
const SENDER: &str = "alice@sender.test";
const NUMBER: &str = "+14155551212";
const SUBJECT: &str = "Quarterly report";
const BODY: &str = "Hello Bob,\n\nPlease find the quarterly report attached.\nCall me with any questions.\n\nAlice";

/// Builds an email with Python's `email` package (a text body and PDF attachments) and sends it with `smtplib`;
/// prints the server's DATA reply as `[code, text]`, or its refusal of the recipient.
const SEND_SCRIPT: &str = r#"
import json, smtplib, sys
from email.message import EmailMessage
port, sender, rcpt, subject, body, *pdfs = sys.argv[1:]
msg = EmailMessage()
msg["From"] = sender
msg["To"] = rcpt
msg["Subject"] = subject
msg.set_content(body)
for path in pdfs:
    with open(path, "rb") as f:
        msg.add_attachment(f.read(), maintype="application", subtype="pdf", filename=path.rsplit("/", 1)[-1])
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as smtp:
    smtp.ehlo("client.test")
    smtp.mail(sender)
    code, text = smtp.rcpt(rcpt)
    if code == 250:
        code, text = smtp.data(msg.as_bytes())
    print(json.dumps([code, text.decode()]))
"#;

/// Sends one email and returns the id of the job it queued.
fn send(node: &FaxdNode, rcpt: &str, pdfs: &[&Path]) -> String {
    let port = node.smtp_addr.rsplit(':').next().expect("port");
    let out = Command::new("python3")
        .args(["-c", SEND_SCRIPT, port, SENDER, rcpt, SUBJECT, BODY])
        .args(pdfs)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "smtplib: {stdout}{}\n{}", String::from_utf8_lossy(&out.stderr), node.log());
    let reply: Value = serde_json::from_str(stdout.trim()).expect("json reply");
    assert_eq!(reply[0], json!(250), "{reply}\n{}", node.log());
    let text = reply[1].as_str().expect("text");
    text.strip_prefix("2.0.0 queued as ").unwrap_or_else(|| panic!("{text}")).to_string()
}

/// `md5("username:password")`, the credentials of `PUT /v2/user_auth`.
fn credentials(username: &str, password: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", "import hashlib, sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())"])
        .arg(format!("{}:{password}", username.to_lowercase()))
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The API as a client uses it: one account made with `sup`, a login, then faxboxes.
struct Api {
    base: String,
    token: String,
    account_id: String,
    client: reqwest::Client,
}

impl Api {
    async fn login(node: &FaxdNode) -> Api {
        let out = node.sup_ok(&[
            "--json",
            "crossbar_maintenance",
            "create_account",
            "Acme",
            "acme.test",
            "admin@acme.test",
            "secret",
        ]);
        let created: Value = serde_json::from_str(&out).expect("sup json");
        let account_id = created["reply"]["value"]["account_id"].as_str().expect("account id").to_string();
        let client = reqwest::Client::new();
        let body = json!({"data": {"credentials": credentials("admin@acme.test", "secret"), "realm": "acme.test"}});
        let resp = client.put(format!("{}/v2/user_auth", node.api_url)).json(&body).send().await.expect("user_auth");
        assert_eq!(resp.status().as_u16(), 201);
        let reply: Value = resp.json().await.expect("json");
        let token = reply["auth_token"].as_str().expect("auth_token").to_string();
        Api { base: node.api_url.clone(), token, account_id, client }
    }

    /// Creates a faxbox; returns its id and its generated email domain.
    async fn faxbox(&self, data: Value) -> (String, String) {
        let resp = self
            .client
            .put(format!("{}/v2/accounts/{}/faxboxes", self.base, self.account_id))
            .header("X-Auth-Token", &self.token)
            .json(&json!({"data": data}))
            .send()
            .await
            .expect("create faxbox");
        assert_eq!(resp.status().as_u16(), 201);
        let reply: Value = resp.json().await.expect("json");
        let d = &reply["data"];
        (d["id"].as_str().expect("id").to_string(), d["smtp_email_address"].as_str().expect("address").to_string())
    }
}

/// The value `sup --json kapps_config get CATEGORY KEY` answers.
fn config_get(node: &FaxdNode, category: &str, key: &str) -> Value {
    let out = node.sup_ok(&["--json", "kapps_config", "get", category, key]);
    let reply: Value = serde_json::from_str(&out).expect("sup json");
    reply["reply"]["value"].clone()
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("apps/fax/tests/fixtures").join(name)
}

/// The pages of a stored job's fax.
async fn fax_pages(store: &dyn Store, job_id: &str) -> Vec<Page> {
    let tiff = store.get_attachment(db::FAXES, job_id, "fax_file.tiff").await.expect("fax_file.tiff");
    fax_media::tiff::read_pages(&tiff.data).expect("fax tiff decodes")
}

fn black_pixels(page: &Page) -> u32 {
    page.data.iter().map(|b| b.count_ones()).sum()
}

/// Runs `f` on a blocking thread (starting, stopping and driving nodes blocks).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cover_sheet_from_the_faxbox_setting_and_a_page_limit_from_kazoo_convert() {
    let node = blocking(|| FaxdNode::start(NODE, "")).await;
    let api = Api::login(&node).await;
    let common = json!({"caller_name": "Acme", "caller_id": "+14155550100", "smtp_permission_list": [SENDER]});
    let mut with_cover = common.clone();
    with_cover["name"] = json!("Reports");
    with_cover["cover_page"] = json!(true);
    let (covered_box, covered_domain) = api.faxbox(with_cover).await;
    let mut plain = common;
    plain["name"] = json!("Plain");
    let (plain_box, plain_domain) = api.faxbox(plain).await;

    let work = tempfile::tempdir().expect("tempdir");
    let two_pages = work.path().join("two_pages.pdf");
    let text = b"Page one of the quarterly report.\x0cPage two of the quarterly report.";
    std::fs::write(&two_pages, fax_media::render::text::to_pdf(text).expect("pdf")).expect("write pdf");

    let (node, ids) = blocking(move || {
        let invoice = fixture("invoice.pdf");
        let rcpt = |domain: &str| format!("{}@{domain}", NUMBER.trim_start_matches('+'));
        // (a) The same email, with a one-page PDF, to a faxbox with the cover sheet and to one without.
        let covered = send(&node, &rcpt(&covered_domain), &[&invoice]);
        let uncovered = send(&node, &rcpt(&plain_domain), &[&invoice]);
        node.wait_for_conversions(&covered_box);
        node.wait_for_conversions(&plain_box);
        // The conversion settings were read and their defaults written back, nested as Kazoo keeps them.
        let fax = config_get(&node, "kazoo_convert", "fax");
        assert_eq!(fax, json!({"convert_command_timeout": 180_000, "max_pages": 100, "max_pixels": 50_000_000}));
        // (b) An operator lowers the page limit on the running node; a two-page document is now refused.
        let lowered = r#"{"convert_command_timeout":180000,"max_pages":1,"max_pixels":50000000}"#;
        node.sup_ok(&["kapps_config", "set_default", "kazoo_convert", "fax", lowered]);
        let too_long = send(&node, &rcpt(&plain_domain), &[&two_pages]);
        node.wait_for_conversions(&plain_box);
        (node, (covered, uncovered, too_long))
    })
    .await;
    let node = blocking(move || {
        let mut node = node;
        node.terminate(Duration::from_secs(10));
        node
    })
    .await;
    // The store's writer thread ends once the node is gone; then the test may open it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = EmbeddedStore::open(&node.data_dir().join("var/store")).expect("open the node's store");
    let (covered, uncovered, too_long) = ids;

    // (a) The faxbox with the setting: a cover sheet in front of the page, naming sender, recipient and subject.
    let job = store.get(db::FAXES, &covered).await.expect("covered job");
    assert_eq!(job["pvt_job_status"], json!("pending"), "{job:?}");
    assert_eq!(job["pvt_pages"], json!(2));
    assert_eq!(job["cover_page"], json!({"body": BODY}));
    let pages = fax_pages(&store, &covered).await;
    assert_eq!(pages.len(), 2);
    assert!(black_pixels(&pages[0]) > 5_000, "the cover sheet is blank: {} black pixels", black_pixels(&pages[0]));
    let expected = Cover {
        sender: "Acme (+14155550100)".into(),
        recipient: NUMBER.into(),
        subject: SUBJECT.into(),
        body: BODY.into(),
    };
    let sheet = convert(&[Input::new(Bytes::from(cover::to_pdf(&expected, 2)))], &ConvertOptions::default())
        .expect("expected sheet");
    let sheet = fax_media::tiff::read_pages(&sheet.tiff).expect("expected sheet pages");
    assert!(pages[0] == sheet[0], "the cover sheet does not say who, to whom, what and how many pages");

    // The faxbox without it: the same email is the page alone, the very page behind the cover sheet.
    let job = store.get(db::FAXES, &uncovered).await.expect("plain job");
    assert_eq!(job["pvt_job_status"], json!("pending"), "{job:?}");
    assert_eq!(job["pvt_pages"], json!(1));
    assert!(job.get("cover_page").is_none());
    let plain_pages = fax_pages(&store, &uncovered).await;
    assert_eq!(plain_pages.len(), 1);
    assert!(plain_pages[0] == pages[1], "the document page differs with and without the cover sheet");
    assert!(plain_pages[0] != pages[0]);

    // (b) Past the configured page limit: failed, with the reason.
    let job = store.get(db::FAXES, &too_long).await.expect("too long job");
    assert_eq!(job["pvt_job_status"], json!("failed"), "{job:?}");
    let reason = job["tx_result"]["result_text"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("bad_file:") && reason.contains("too many pages") && reason.contains("limit is 1"),
        "{reason}"
    );
    assert!(job["_attachments"].get("fax_file.tiff").is_none());
    drop(node);
}
