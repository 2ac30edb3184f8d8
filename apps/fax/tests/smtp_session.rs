//! Drives email-to-fax sessions over in-memory streams and checks every reply line a client sees (spec §2.1),
//! with the real faxbox registry over an embedded store.

mod smtp_support;

use std::time::Duration;

use fax::smtp::Limits;
use serde_json::json;
use smtp_support::*;

#[tokio::test]
async fn greeting_helo_and_ehlo() {
    let world = World::new().await;
    let mut c = world.client().await;
    c.expect("HELO", "501 5.5.4 Syntax: HELO domain").await;
    c.expect("EHLO", "501 5.5.4 Syntax: EHLO domain").await;
    c.expect("HELO client.test", "250 fax.test").await;
    c.expect("EHLO client.test", &ehlo()).await;
    c.expect("ehlo lower.case", &ehlo()).await;
    c.expect("QUIT", "221 2.0.0 Bye").await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn commands_out_of_order_or_unknown_get_kazoos_answers() {
    let world = World::new().await;
    let mut c = world.client().await;
    c.expect("MAIL FROM:<alice@sender.test>", "503 5.5.1 Error: send HELO/EHLO first").await;
    c.expect("EHLO client.test", &ehlo()).await;
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "503 5.5.1 Error: need MAIL command").await;
    c.expect("DATA", "503 5.5.1 Error: need MAIL command").await;
    c.expect("FOO bar", "500 5.5.1 Error: command not recognized : 'FOO'").await;
    c.expect("xyzzy", "500 5.5.1 Error: command not recognized : 'XYZZY'").await;
    c.expect("VRFY alice", "252 2.5.0 VRFY disabled by policy, just send some mail").await;
    c.expect("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "502 5.5.1 Error: AUTH not implemented").await;
    c.expect("STARTTLS", "502 5.5.1 Error: command not implemented").await;
    c.expect("NOOP", "250 2.0.0 Ok").await;
    c.expect("MAIL FROM:<not an address>", "501 5.1.7 Bad sender address syntax").await;
    c.expect("MAIL FROM:<alice@sender.test> FOO=BAR", "555 5.5.4 Unsupported option: FOO=BAR").await;
    c.expect("MAIL FROM:<alice@sender.test>", "250 2.1.0 sender Ok").await;
    c.expect("MAIL FROM:<alice@sender.test>", "503 5.5.1 Error: nested MAIL command").await;
    c.expect("DATA", "503 5.5.1 Error: need RCPT command").await;
    c.expect("RSET", "250 2.0.0 Ok").await;
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "503 5.5.1 Error: need MAIL command").await;
    // HAProxy's header is consumed without an answer: the next reply is NOOP's.
    c.send(b"PROXY TCP4 192.0.2.1 192.0.2.2 56324 25\r\n").await;
    c.expect("NOOP", "250 2.0.0 Ok").await;
    c.expect("QUIT", "221 2.0.0 Bye").await;
}

#[tokio::test]
async fn long_lines_are_refused_and_the_session_goes_on() {
    let world = World::new().await;
    let mut c = world.client().await;
    let long = format!("NOOP {}", "x".repeat(5000));
    c.expect(&long, "500 5.5.2 line too long").await;
    c.expect("NOOP", "250 2.0.0 Ok").await;
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let world = World::new().await;
    let limits = Limits { max_errors: 3, ..Limits::default() };
    let mut c = world.client_with(limits).await;
    c.expect("BAD1", "500 5.5.1 Error: command not recognized : 'BAD1'").await;
    c.expect("BAD2", "500 5.5.1 Error: command not recognized : 'BAD2'").await;
    c.send(b"BAD3\r\n").await;
    assert_eq!(c.reply().await, "500 5.5.1 Error: command not recognized : 'BAD3'");
    assert_eq!(c.reply().await, "421 4.7.0 fax.test Error: too many errors");
    assert!(c.closed().await);
}

#[tokio::test]
async fn an_idle_client_is_timed_out() {
    let world = World::new().await;
    let limits = Limits { idle_timeout: Duration::from_millis(200), ..Limits::default() };
    let mut c = world.client_with(limits).await;
    assert_eq!(c.reply().await, "421 4.4.2 fax.test Error: timeout exceeded");
    assert!(c.closed().await);
}

#[tokio::test]
async fn sizes_are_limited_at_mail_and_at_data() {
    let world = World::new().await;
    world.set_fax("smtp_max_msg_size", json!(2000)).await;
    let mut c = world.client().await;
    c.expect("EHLO client.test", &ehlo_with(2000)).await;
    c.expect(
        "MAIL FROM:<alice@sender.test> SIZE=2001",
        "552 5.3.4 Estimated message length 2001 exceeds limit of 2000",
    )
    .await;
    c.expect("MAIL FROM:<alice@sender.test> SIZE=2000", "250 2.1.0 sender Ok").await;
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "250 2.1.5 recipient Ok").await;
    let big = fixture("pdf_and_jpeg.eml");
    assert_eq!(c.data(&big).await, "552 5.3.4 Message too large");
    // The session goes on, with a fresh transaction.
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "503 5.5.1 Error: need MAIL command").await;
    c.expect("MAIL FROM:<alice@sender.test>", "250 2.1.0 sender Ok").await;
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "250 2.1.5 recipient Ok").await;
    c.expect("DATA", "354 enter mail, end with line containing only '.'").await;
    assert_eq!(c.cmd(".").await, "552 5.6.0 Message too small");
    assert!(world.jobs().await.is_empty());
    let logs = world.smtp_logs().await;
    assert_eq!(logs.len(), 1, "the oversized message is logged");
    assert_eq!(logs[0]["errors"], json!(["message too large"]));
}

#[tokio::test]
async fn recipients_are_looked_up_one_by_one() {
    let mut world = World::new().await;
    let mut c = world.client().await;
    c.expect("EHLO client.test", &ehlo()).await;
    c.expect("MAIL FROM:<Alice@Sender.TEST>", "250 2.1.0 sender Ok").await;
    // No faxbox at that address, and no account with that realm.
    c.expect("RCPT TO:<+14155551212@nowhere.test>", "554 5.1.1 Not Found").await;
    // A number that does not reconcile.
    c.expect("RCPT TO:<12@a1b2c3d4.fax.test>", "554 5.1.1 Not Found").await;
    // The quiet faxbox has no permission list and no owner.
    c.expect(&format!("RCPT TO:<+14155551212@{QUIET_DOMAIN}>"), "554 5.7.1 not allowed").await;
    // The session goes on: a good one is still accepted.
    c.expect("RCPT TO:<+1 (415) 555-1212@A1B2C3D4.fax.test>", "501 5.1.3 Bad recipient address syntax").await;
    c.expect("RCPT TO:<\"+1 (415) 555-1212\"@A1B2C3D4.fax.test>", "250 2.1.5 recipient Ok").await;
    c.expect("RSET", "250 2.0.0 Ok").await;
    c.expect("MAIL FROM:<mallory@evil.test>", "250 2.1.0 sender Ok").await;
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "554 5.7.1 not allowed").await;

    // The account is known for the last three refusals: each is logged (the quiet faxbox does not log) and
    // notified to its sender.
    let logs = world.smtp_logs().await;
    let mut errors: Vec<String> =
        logs.iter().map(|l| l["errors"][0].as_str().unwrap_or_default().to_string()).collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            format!("address mallory@evil.test is not allowed on faxbox {FAXBOX_ID}"),
            "fax number 12 is invalid".to_string(),
        ]
    );
    let invalid = logs.iter().find(|l| l["errors"][0] == json!("fax number 12 is invalid")).expect("log");
    assert_eq!(invalid["to"], json!("12@a1b2c3d4.fax.test"));
    assert_eq!(invalid["from"], json!("alice@sender.test"));
    assert_eq!(invalid["original_number"], json!("12"));
    assert_eq!(invalid["faxbox_domain"], json!(FAXBOX_DOMAIN));
    assert_eq!(invalid["faxbox_id"], json!(FAXBOX_ID));
    assert_eq!(invalid["faxbox_owner_id"], json!(OWNER_ID));
    assert_eq!(invalid["faxbox_owner_email"], json!("owner@acme.test"));
    assert_eq!(invalid["account_id"], json!(ACCOUNT_ID));
    assert_eq!(invalid["pvt_type"], json!("fax_smtp_log"));
    let id = invalid["_id"].as_str().expect("id");
    assert!(kz_core::db::modb_id_month(id).is_some(), "{id}");

    let mut notices = Vec::new();
    while let Some(n) = world.notice(Duration::from_millis(500)).await {
        notices.push(n);
    }
    assert_eq!(notices.len(), 3, "{notices:#?}");
    let quiet = notices.iter().find(|n| n["FaxBox-ID"] == json!(QUIET_FAXBOX_ID)).expect("quiet faxbox notice");
    assert_eq!(quiet["Event-Category"], json!("notification"));
    assert_eq!(quiet["Event-Name"], json!("outbound_smtp_fax_error"));
    assert_eq!(quiet["Account-ID"], json!(ACCOUNT_ID));
    assert_eq!(quiet["Fax-From-Email"], json!("alice@sender.test"));
    assert_eq!(quiet["Fax-To-Email"], json!(format!("+14155551212@{QUIET_DOMAIN}")));
    assert_eq!(quiet["FaxBox-Name"], json!("Quiet"));
    assert_eq!(quiet["Errors"], json!(["faxbox permissions is empty and policy doesn't allow it"]));
    assert_eq!(quiet["Number"], json!("+14155551212"));
    assert_eq!(quiet["Original-Number"], json!("+14155551212"));
    assert!(quiet["Timestamp"].as_i64().is_some_and(|t| t > 63_000_000_000));
}

#[tokio::test]
async fn a_null_sender_is_refused_and_never_notified() {
    let mut world = World::new().await;
    let mut c = world.client().await;
    c.expect("EHLO client.test", &ehlo()).await;
    c.expect("MAIL FROM:<>", "250 2.1.0 sender Ok").await;
    c.expect("RCPT TO:<+14155551212@a1b2c3d4.fax.test>", "554 5.7.1 not allowed").await;
    c.expect("DATA", "503 5.5.1 Error: need RCPT command").await;
    assert!(world.smtp_logs().await.is_empty());
    assert_eq!(world.notice(Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn recipients_are_limited_per_transaction() {
    let world = World::new().await;
    let limits = Limits { max_recipients: 2, ..Limits::default() };
    let mut c = world.client_with(limits).await;
    c.envelope(SENDER, &["+14155551212@a1b2c3d4.fax.test", "+14155551213@a1b2c3d4.fax.test"]).await;
    c.expect("RCPT TO:<+14155551214@a1b2c3d4.fax.test>", "452 4.5.3 too many recipients").await;
}

#[tokio::test]
async fn pipelined_commands_get_their_answers_in_order() {
    let world = World::new().await;
    let mut c = world.client().await;
    c.expect("EHLO client.test", &ehlo()).await;
    let batch = "MAIL FROM:<alice@sender.test>\r\nRCPT TO:<+14155551212@a1b2c3d4.fax.test>\r\n\
                 RCPT TO:<1@nowhere.test>\r\nDATA\r\n";
    c.send(batch.as_bytes()).await;
    assert_eq!(c.reply().await, "250 2.1.0 sender Ok");
    assert_eq!(c.reply().await, "250 2.1.5 recipient Ok");
    assert_eq!(c.reply().await, "554 5.1.1 Not Found");
    assert_eq!(c.reply().await, "354 enter mail, end with line containing only '.'");
    let mut body = wire_form(&fixture("pdf_and_jpeg.eml"));
    body.extend_from_slice(b"QUIT\r\n");
    c.send(&body).await;
    queued_id(&c.reply().await);
    assert_eq!(c.reply().await, "221 2.0.0 Bye");
}

#[tokio::test]
async fn a_client_silent_in_the_middle_of_data_is_timed_out() {
    let world = World::new().await;
    let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() };
    let mut c = world.client_with(limits).await;
    c.envelope(SENDER, &["+14155551212@a1b2c3d4.fax.test"]).await;
    c.expect("DATA", "354 enter mail, end with line containing only '.'").await;
    c.send(b"Subject: half\r\n\r\nand then nothing").await;
    assert_eq!(c.reply().await, "421 4.4.2 fax.test Error: timeout exceeded");
    assert!(c.closed().await);
    assert!(world.jobs().await.is_empty());
}

#[tokio::test]
async fn a_session_ends_at_its_total_time_limit_even_when_busy() {
    let world = World::new().await;
    let limits = Limits { session_timeout: Duration::from_millis(400), ..Limits::default() };
    let mut c = world.client_with(limits).await;
    let started = std::time::Instant::now();
    loop {
        // The limit may strike while the client is between commands: the answer is there either way.
        c.try_send(b"NOOP\r\n").await;
        let reply = c.reply().await;
        if reply != "250 2.0.0 Ok" {
            assert_eq!(reply, "421 4.4.2 fax.test Error: timeout exceeded");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(c.closed().await);
}
