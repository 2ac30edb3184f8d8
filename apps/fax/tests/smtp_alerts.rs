//! Checks the system alerts of the email-to-fax server (spec §2.7, `fax_smtp:maybe_system_report`): one per
//! failure that is not an SMTP error (a refused sender, an oversized message), none for an SMTP error (the sender
//! is told instead), none when `report_faxbox_system_errors` is off, and for a failure of no known account only
//! when `report_anonymous_system_errors` is on. Alerts are read from the bus as Kazoo's teletype would.

mod smtp_support;

use std::time::Duration;

use futures::StreamExt;
use kz_amqp::kapi::KapiMessage;
use kz_amqp::kapi::notifications::{self, AlertDetails, SystemAlert};
use kz_amqp::{DeliveryStream, QueueOptions};
use serde_json::{Value, json};
use smtp_support::*;

const RCPT: &str = "+14155551212@a1b2c3d4.fax.test";
const STRANGER: &str = "mallory@evil.test";
/// How long a test waits to be sure that nothing comes. Reports are published before the SMTP answer, so an
/// alert that was going to come is already queued when the answer is read.
const QUIET: Duration = Duration::from_millis(400);

/// The `system_alert` notifications published on the world's bus, consumed as teletype binds them.
struct Alerts(DeliveryStream);

impl Alerts {
    async fn bind(world: &World) -> Alerts {
        let bus = world.bus.as_ref();
        let queue = bus.declare_queue("", QueueOptions::exclusive()).await.expect("queue");
        bus.bind(&queue, notifications::EXCHANGE, "notifications.system.alert").await.expect("bind");
        Alerts(bus.consume(&queue, 10).await.expect("consume"))
    }

    /// The next alert within `wait`, checked against Kazoo's `system_alert` definition.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let delivery = tokio::time::timeout(wait, self.0.next()).await.ok()??;
        let body = delivery.message.body.clone();
        delivery.ack().await.expect("ack");
        SystemAlert::decode(&body).unwrap_or_else(|e| panic!("not a valid system_alert: {e}"));
        Some(serde_json::from_slice(&body).expect("json alert"))
    }
}

/// One session where `from` sends to `rcpt`; returns the answer to RCPT.
async fn refused(world: &World, from: &str, rcpt: &str) -> String {
    let mut c = world.client().await;
    c.expect("EHLO client.test", &ehlo()).await;
    c.expect(&format!("MAIL FROM:<{from}>"), "250 2.1.0 sender Ok").await;
    let answer = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
    c.expect("QUIT", "221 2.0.0 Bye").await;
    answer
}

#[tokio::test]
async fn a_refusal_that_is_not_an_smtp_error_raises_a_system_alert() {
    let mut world = World::new().await;
    let mut alerts = Alerts::bind(&world).await;
    assert_eq!(refused(&world, STRANGER, RCPT).await, "554 5.7.1 not allowed");

    let reason = format!("address {STRANGER} is not allowed on faxbox {FAXBOX_ID}");
    let alert = alerts.next(WAIT).await.expect("a system alert");
    assert_eq!(alert["Event-Category"], json!("notification"));
    assert_eq!(alert["Event-Name"], json!("system_alert"));
    assert_eq!(alert["App-Name"], json!("fax"));
    assert_eq!(alert["Subject"], json!("System Alert: Fax SMTP Error"));
    assert_eq!(alert["Message"], json!(reason));
    assert_eq!(alert["Account-ID"], json!(ACCOUNT_ID));
    assert_eq!(
        alert["Details"],
        json!({
            "To": RCPT,
            "From": STRANGER,
            "Original-Number": "+14155551212",
            "Translated-Number": "+14155551212",
            "FaxBox-Domain": FAXBOX_DOMAIN,
            "FaxBox-Owner-ID": OWNER_ID,
            "FaxBox-Owner-Email": "owner@acme.test",
            "Errors": [reason],
            "Account-ID": ACCOUNT_ID,
            "FaxBox-ID": FAXBOX_ID,
        })
    );
    // The log document holds the same fields, and the sender is told as well.
    let logs = world.smtp_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["errors"], json!([reason]));
    assert_eq!(logs[0]["translated_number"], json!("+14155551212"));
    let notice = world.notice(WAIT).await.expect("the sender is told");
    assert_eq!(notice["Errors"], json!([reason]));
    assert_eq!(alerts.next(QUIET).await, None, "one alert per failure");

    // An SMTP error (a message that cannot be decoded) is the sender's to fix: a notice, no alert.
    let mut c = world.client().await;
    c.envelope(SENDER, &[RCPT]).await;
    assert_eq!(c.data(b"::::\r\n").await, "554 5.6.0 Message decode failed");
    c.expect("QUIT", "221 2.0.0 Bye").await;
    assert_eq!(world.notice(WAIT).await.expect("the sender is told")["Errors"], json!(["message decode failed"]));
    assert_eq!(alerts.next(QUIET).await, None);
}

#[tokio::test]
async fn a_message_over_the_size_limit_raises_a_system_alert() {
    let world = World::new().await;
    let mut alerts = Alerts::bind(&world).await;
    world.set_fax("smtp_max_msg_size", json!(2000)).await;
    let mut c = world.client().await;
    c.expect("EHLO client.test", &ehlo_with(2000)).await;
    c.expect(&format!("MAIL FROM:<{SENDER}>"), "250 2.1.0 sender Ok").await;
    c.expect(&format!("RCPT TO:<{RCPT}>"), "250 2.1.5 recipient Ok").await;
    assert_eq!(c.data(&fixture("pdf_and_jpeg.eml")).await, "552 5.3.4 Message too large");

    let alert = alerts.next(WAIT).await.expect("a system alert");
    assert_eq!(alert["Message"], json!("message too large"));
    assert_eq!(alert["Account-ID"], json!(ACCOUNT_ID));
    assert_eq!(alert["Details"]["From"], json!(SENDER));
    assert_eq!(alert["Details"]["FaxBox-ID"], json!(FAXBOX_ID));
    assert_eq!(alert["Details"]["Errors"], json!(["message too large"]));
}

#[tokio::test]
async fn report_faxbox_system_errors_off_holds_the_alert_back() {
    let mut world = World::new().await;
    let mut alerts = Alerts::bind(&world).await;
    world.set_fax("report_faxbox_system_errors", json!(false)).await;
    assert_eq!(refused(&world, STRANGER, RCPT).await, "554 5.7.1 not allowed");

    // The failure was reported (logged, the sender told), only the alert is held back.
    assert_eq!(world.smtp_logs().await.len(), 1);
    assert_eq!(world.notice(WAIT).await.expect("the sender is told")["Fax-From-Email"], json!(STRANGER));
    assert_eq!(alerts.next(QUIET).await, None);

    // Back on, the same refusal raises one.
    world.set_fax("report_faxbox_system_errors", json!(true)).await;
    assert_eq!(refused(&world, STRANGER, RCPT).await, "554 5.7.1 not allowed");
    assert_eq!(alerts.next(WAIT).await.expect("a system alert")["Details"]["From"], json!(STRANGER));
}

#[tokio::test]
async fn a_failure_of_no_known_account_is_alerted_only_when_anonymous_reports_are_on() {
    let mut world = World::new().await;
    let mut alerts = Alerts::bind(&world).await;
    let nowhere = "+14155551212@nowhere.test";
    let reason = "realm nowhere.test not found in accounts db";

    // Off by default: nothing at all is reported.
    assert_eq!(refused(&world, SENDER, nowhere).await, "554 5.1.1 Not Found");
    assert_eq!(alerts.next(QUIET).await, None);
    assert_eq!(world.notice(Duration::from_millis(50)).await, None);
    assert!(world.smtp_logs().await.is_empty());

    // On, it is alerted, whatever `report_faxbox_system_errors` says (Kazoo's first clause).
    world.set_fax("report_anonymous_system_errors", json!(true)).await;
    world.set_fax("report_faxbox_system_errors", json!(false)).await;
    assert_eq!(refused(&world, SENDER, nowhere).await, "554 5.1.1 Not Found");
    let alert = alerts.next(WAIT).await.expect("a system alert");
    assert_eq!(alert["Subject"], json!("System Alert: Fax SMTP Error"));
    assert_eq!(alert["Message"], json!(reason));
    assert!(alert.get("Account-ID").is_none(), "{alert}");
    assert_eq!(
        alert["Details"],
        json!({
            "To": nowhere,
            "From": SENDER,
            "Original-Number": "+14155551212",
            "Translated-Number": "14155551212",
            "FaxBox-Domain": "nowhere.test",
            "Errors": [reason],
        })
    );
    let typed = SystemAlert::decode(&serde_json::to_vec(&alert).expect("json")).expect("alert");
    assert!(matches!(typed.details, Some(AlertDetails::Fields(_))));
    // Still no account to log into, and no sender notice.
    assert!(world.smtp_logs().await.is_empty());
    assert_eq!(world.notice(Duration::from_millis(50)).await, None);
}
