//! Sends email to the email-to-fax server over TCP with a real client (Python's smtplib, as scripts and small
//! MTAs use it) and checks what that client reports.

mod smtp_support;

use std::path::PathBuf;
use std::time::Duration;

use fax::smtp::{Limits, Running};
use serde_json::{Value, json};
use smtp_support::*;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// Runs `tests/smtp/send_fax.py` and returns its JSON lines.
async fn smtplib(port: u16, rcpts: &[&str], files: &[&str]) -> Vec<Value> {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(repo_file("tests/smtp/send_fax.py")).args(["--port", &port.to_string(), "--from", SENDER]);
    for rcpt in rcpts {
        cmd.args(["--to", rcpt]);
    }
    for file in files {
        cmd.arg(repo_file("apps/fax/tests/fixtures").join(file));
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "send_fax.py failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).expect("a json line")).collect()
}

#[tokio::test]
async fn python_smtplib_sends_faxes_and_hears_why_one_is_refused() {
    let world = World::new().await;
    let server = Running::start("127.0.0.1:0".parse().expect("addr"), world.ctx.clone(), Limits::default())
        .await
        .expect("start");
    let port = server.local_addr().port();
    let results = smtplib(
        port,
        &["+14155551212@a1b2c3d4.fax.test", "+14155551212@nowhere.test"],
        &["pdf_and_jpeg.eml", "text_only.eml", "octet_stream_pdf.eml"],
    )
    .await;
    assert_eq!(results.len(), 3, "{results:?}");
    for r in &results {
        assert_eq!(r["mail"], json!([250, "2.1.0 sender Ok"]));
        assert_eq!(r["rcpt"]["+14155551212@a1b2c3d4.fax.test"], json!([250, "2.1.5 recipient Ok"]));
        assert_eq!(r["rcpt"]["+14155551212@nowhere.test"], json!([554, "5.1.1 Not Found"]));
    }
    let queued = |r: &Value| {
        let text = r["data"][1].as_str().expect("data reply").to_string();
        assert_eq!(r["data"][0], json!(250), "{r}");
        queued_id(&format!("250 {text}"))
    };
    let first = queued(&results[0]);
    assert_eq!(results[1]["data"], json!([554, "5.6.0 no valid attachment"]));
    let third = queued(&results[2]);
    assert_ne!(first, third);
    let jobs = world.jobs().await;
    assert_eq!(jobs.len(), 2);
    server.stop(Duration::from_secs(2)).await;
}
