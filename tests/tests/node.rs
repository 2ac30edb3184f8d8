//! Whole-system tests of a faxd node driven by the real `sup`, as the README tells a newcomer to do.

use std::time::{Duration, Instant};

use faxbox_tests::node::{FaxdNode, free_port, sup_at};
use serde_json::Value;

fn json_reply(node: &FaxdNode, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = node.sup(&full);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("sup {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["ok"], true, "sup {args:?}: {v}");
    v["reply"]["value"].clone()
}

#[test]
fn newcomer_walkthrough_on_embedded_defaults() {
    let node = FaxdNode::start("faxd@test1", "");

    // The documented default, written back into system_config/fax.
    assert_eq!(node.sup_ok(&["kapps_config", "get", "fax", "default_smtp_domain"]), "fax.kazoo.io");
    assert_eq!(
        node.sup_ok(&["kapps_config", "set", "fax", "default_smtp_domain", "fax.example.com"]),
        "{ok, fax.example.com}"
    );
    assert_eq!(node.sup_ok(&["kapps_config", "get", "fax", "default_smtp_domain"]), "fax.example.com");

    // Values that look like JSON are stored as such.
    node.sup_ok(&["kapps_config", "set_default", "fax", "max_outbound", "3"]);
    assert_eq!(json_reply(&node, &["kapps_config", "get", "fax", "max_outbound"]), Value::from(3));
    node.sup_ok(&["kapps_config", "set", "fax", "store_fax_pdf", "false"]);
    assert_eq!(json_reply(&node, &["kapps_config", "get", "fax", "store_fax_pdf"]), Value::Bool(false));
    node.sup_ok(&["kapps_config", "set", "fax", "fax_settings", r#"{"override_fax_identity":false}"#]);
    assert_eq!(
        json_reply(&node, &["kapps_config", "get", "fax", "fax_settings"]),
        serde_json::json!({"override_fax_identity": false})
    );
    // An unknown key of an unknown category is undefined, not an error.
    assert_eq!(node.sup_ok(&["kapps_config", "get", "nothing_here", "nope"]), "undefined");

    // No master account before the first account exists.
    let none = node.sup(&["kapps_util", "get_master_account_id"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no master account"));

    // The first account becomes the master account.
    let created = json_reply(
        &node,
        &["crossbar_maintenance", "create_account", "Acme", "acme.example.com", "admin@acme.example.com", "secret"],
    );
    let account_id = created["account_id"].as_str().expect("account_id").to_string();
    assert!(kz_core::ids::is_id(&account_id), "{account_id}");
    assert_eq!(created["master"], true);
    assert_eq!(node.sup_ok(&["kapps_util", "get_master_account_id"]), format!("{{ok, {account_id}}}"));

    // A second account is not the master, and a taken realm is refused with a clear reason.
    let second = json_reply(
        &node,
        &["crossbar_maintenance", "create_account", "Beta", "beta.example.com", "boss@beta.example.com", "pw"],
    );
    assert_eq!(second["master"], false);
    let dup = node.sup(&["crossbar_maintenance", "create_account", "Gamma", "ACME.example.com", "x@y.z", "pw"]);
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already used"), "{dup:?}");
    assert_eq!(node.sup_ok(&["kapps_util", "get_master_account_id"]), format!("{{ok, {account_id}}}"));

    // Account config: account -> reseller -> system.
    let beta = second["account_id"].as_str().expect("beta id");
    assert_eq!(node.sup_ok(&["kapps_account_config", "get", beta, "fax", "max_outbound"]), "3");
    node.sup_ok(&["kapps_account_config", "set", &account_id, "fax", "max_outbound", "7"]);
    assert_eq!(node.sup_ok(&["kapps_account_config", "get", beta, "fax", "max_outbound"]), "7", "from the reseller");
    node.sup_ok(&["kapps_account_config", "set", beta, "fax", "max_outbound", "2"]);
    assert_eq!(node.sup_ok(&["kapps_account_config", "get", beta, "fax", "max_outbound"]), "2");
    let missing = node.sup(&["kapps_account_config", "get", "0123456789abcdef0123456789abcdef", "fax", "x"]);
    assert_eq!(missing.status.code(), Some(1));

    assert!(node.sup_ok(&["kapps_maintenance", "refresh_views"]).starts_with("refreshed views in"));

    // The fax maintenance functions answer through the same endpoint.
    let jobs = node.sup_ok(&["fax_maintenance", "pending_jobs"]);
    assert!(jobs.contains("| Job ") && jobs.ends_with("(no rows)"), "{jobs}");
    let restart = node.sup(&["fax_maintenance", "restart_job", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(restart.status.code(), Some(1));

    // Usage and unknown commands are errors with a reason.
    let usage = node.sup(&["kapps_config", "get", "fax"]);
    assert_eq!(usage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: sup kapps_config get"));
    let unknown = node.sup(&["no_such_module", "f"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown command"));
}

#[test]
fn settings_survive_a_restart_and_sigterm_stops_cleanly() {
    let mut node = FaxdNode::start("faxd@restart", "");
    node.sup_ok(&["kapps_config", "set", "fax", "default_smtp_domain", "kept.example.com"]);
    let started = Instant::now();
    let status = node.terminate(Duration::from_secs(10)).expect("faxd stops within 10 s after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = node.log();
    assert!(log.contains("node stopped"), "{log}");

    // Same data directory, same node name: the setting is still there.
    node.restart();
    assert_eq!(node.sup_ok(&["kapps_config", "get", "fax", "default_smtp_domain"]), "kept.example.com");
}

#[test]
fn sup_without_a_node_says_so() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = sup_at(&url, &["kapps_config", "get", "fax", "default_smtp_domain"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no faxd node answers at"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn a_bad_config_file_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[store]\nbackend = \"embedded\"\nurl_typo = \"x\"\n").expect("write");
    let out = std::process::Command::new(faxbox_tests::node::faxd_bin())
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run faxd");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("url_typo"), "{err}");
}

#[test]
fn faxd_convert_makes_one_fax_of_several_documents_or_says_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = faxbox_tests::repo_root().join("tests/fixtures/itu/itu1.tif");
    let text = dir.path().join("note.txt");
    std::fs::write(&text, "Dear reader,\nthis page follows the chart.\n").expect("write text");
    let out_tiff = dir.path().join("fax.tiff");
    let out_pdf = dir.path().join("fax.pdf");
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(faxbox_tests::node::faxd_bin()).arg("convert").args(args).output().expect("run")
    };
    let ok = run(&[
        chart.as_os_str(),
        text.as_os_str(),
        "-o".as_ref(),
        out_tiff.as_os_str(),
        "--pdf".as_ref(),
        out_pdf.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(stdout.starts_with("2 pages in ") && stdout.contains("(2 documents)"), "{stdout}");
    let tiff = std::fs::read(&out_tiff).expect("tiff written");
    assert_eq!(&tiff[..4], b"II*\0");
    assert_eq!(fax_media::tiff::page_count(&tiff).expect("page count"), 2);
    assert!(std::fs::read(&out_pdf).expect("pdf written").starts_with(b"%PDF-"));

    let broken = dir.path().join("broken.pdf");
    std::fs::write(&broken, b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog").expect("write");
    let bad = run(&[broken.as_os_str(), "-o".as_ref(), dir.path().join("bad.tiff").as_os_str()]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.lines().any(|l| l.starts_with("faxd convert:") && l.contains("broken.pdf") && l.contains("truncated")),
        "{err}"
    );
    assert!(!dir.path().join("bad.tiff").exists(), "no output on failure");
    // Among several documents, the one at fault is named.
    let mixed = run(&[text.as_os_str(), broken.as_os_str(), "-o".as_ref(), dir.path().join("bad.tiff").as_os_str()]);
    assert_eq!(mixed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        err.trim().starts_with("faxd convert:") && err.contains("broken.pdf") && !err.contains("note.txt"),
        "{err}"
    );
}
