//! Sends real emails through an email-to-fax session and checks the jobs it stores (spec §2.5, §2.6): field by
//! field, against Kazoo's `faxes` schema, and attachment by attachment.

mod smtp_support;

use std::time::Duration;

use kz_core::db;
use kz_data::Doc;
use serde_json::{Value, json};
use smtp_support::*;

const RCPT: &str = "+14155551212@a1b2c3d4.fax.test";

/// Sends one email in a fresh session and returns the reply to its DATA.
async fn send(world: &World, rcpts: &[&str], message: &[u8]) -> String {
    let mut c = world.client().await;
    c.envelope(SENDER, rcpts).await;
    let reply = c.data(message).await;
    c.expect("QUIT", "221 2.0.0 Bye").await;
    reply
}

/// A document a job should list: (attachment name, content type, the sender's filename).
type Expected = (&'static str, &'static str, Option<&'static str>);

async fn job(world: &World, id: &str) -> Doc {
    world.store.get(db::FAXES, id).await.unwrap_or_else(|e| panic!("job {id}: {e}"))
}

/// How long a job may stay `attaching files` while its documents are converted.
const CONVERSION_WAIT: Duration = Duration::from_secs(60);

/// The job once its documents are converted (or failed to be): it leaves `attaching files`.
async fn settled(world: &World, id: &str) -> Doc {
    let until = tokio::time::Instant::now() + CONVERSION_WAIT;
    loop {
        let doc = job(world, id).await;
        if doc["pvt_job_status"] != json!("attaching files") {
            return doc;
        }
        assert!(tokio::time::Instant::now() < until, "job {id} still attaching files");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An email with one attachment, base64 encoded.
fn email_with(content_type: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    use std::fmt::Write;
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                encoded.push('=');
            }
        }
    }
    let mut m = String::new();
    let _ = write!(
        m,
        "From: Alice <alice@sender.test>\r\nTo: <{RCPT}>\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: {content_type}; name=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n{encoded}\r\n--b1--\r\n"
    );
    m.into_bytes()
}

/// The decoded bytes of the attachment named `filename` in an email fixture (it is base64 in the files).
fn attachment_of(fixture_name: &str, filename: &str) -> Vec<u8> {
    let raw = fixture(fixture_name);
    let message = mail_parser::MessageParser::default().parse(&raw).expect("fixture parses");
    use mail_parser::MimeHeaders;
    let part = message.attachments().find(|p| p.attachment_name() == Some(filename)).expect("attachment");
    part.contents().to_vec()
}

#[tokio::test]
async fn a_pdf_and_a_jpeg_make_one_job_with_both_documents() {
    let world = World::new().await;
    let before = kz_core::time::now_s();
    let reply = send(&world, &[RCPT], &fixture("pdf_and_jpeg.eml")).await;
    let id = queued_id(&reply);
    let doc = job(&world, &id).await;

    // Spec §2.6, field by field.
    assert_eq!(doc["_id"], json!(id));
    assert_eq!(doc["from_name"], json!("Acme Front Desk"));
    assert_eq!(doc["fax_identity_name"], json!("Acme Inc"));
    assert_eq!(doc["from_number"], json!("+14155550100"));
    assert_eq!(doc["fax_identity_number"], json!("+1 415 555 0100"));
    assert_eq!(doc["fax_timezone"], json!("Europe/Paris"), "inherit: the owner's timezone");
    assert_eq!(doc["to_name"], json!("+14155551212"));
    assert_eq!(doc["to_number"], json!("+14155551212"));
    assert_eq!(doc["retries"], json!(2));
    assert_eq!(
        doc["notifications"],
        json!({"email": {"send_to": ["alice@sender.test", "ops@acme.test", "owner@acme.test"]}})
    );
    assert_eq!(doc["faxbox_id"], json!(FAXBOX_ID));
    assert_eq!(doc["owner_id"], json!(OWNER_ID));
    assert_eq!(doc["folder"], json!("outbox"));
    assert_eq!(doc["subject"], json!("Invoice 42"));
    assert_eq!(doc["pvt_type"], json!("fax"));
    // Committed with its originals before the 250; converted after it.
    let status = doc["pvt_job_status"].clone();
    assert!(status == json!("attaching files") || status == json!("pending"), "{status}");
    assert_eq!(doc["attempts"], json!(0));
    assert_eq!(doc["pvt_account_id"], json!(ACCOUNT_ID));
    assert_eq!(doc["pvt_account_db"], json!("faxes"));
    assert_eq!(doc["pvt_reseller_id"], json!(RESELLER_ID));
    let created = doc["pvt_created"].as_i64().expect("gregorian");
    assert!(created >= before && created <= kz_core::time::now_s(), "{created}");
    let modified = doc["pvt_modified"].as_i64().expect("gregorian");
    assert!(modified >= created, "{modified}");
    assert_eq!(
        doc["tx_result"],
        json!({"error_message": "", "fax_bad_rows": 0, "fax_error_correction": false, "fax_receiver_id": "",
               "fax_speed": 0, "pages_sent": 0, "success": false, "time_elapsed": 0})
    );
    assert_eq!(
        doc["documents"],
        json!([
            {"name": "original_file.pdf", "content_type": "application/pdf", "filename": "invoice.pdf"},
            {"name": "original_file_2.jpg", "content_type": "image/jpeg", "filename": "scan.jpg"},
        ])
    );

    // Kazoo's schema accepts it.
    let schema = faxes_schema();
    let validator = jsonschema::draft4::options().should_validate_formats(true).build(&schema).expect("schema");
    let instance = Value::Object(doc.clone());
    let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");

    // Converted: both documents become one fax, the PDF's pages then the picture's.
    let doc = settled(&world, &id).await;
    assert_eq!(doc["pvt_job_status"], json!("pending"));
    let tiff = world.store.get_attachment(db::FAXES, &id, "fax_file.tiff").await.expect("fax_file.tiff");
    assert_eq!(tiff.content_type, "image/tiff");
    let pdf_pages = fax_media::render::pdf::page_count(&attachment_of("pdf_and_jpeg.eml", "invoice.pdf").into())
        .expect("pdf page count");
    let tiff_pages = fax_media::tiff::page_count(&tiff.data).expect("tiff page count");
    assert_eq!(tiff_pages, pdf_pages + 1);
    assert_eq!(doc["pvt_pages"], json!(tiff_pages));
    assert_eq!(doc["pvt_size"], json!(tiff.data.len()));
    let pdf = world.store.get_attachment(db::FAXES, &id, "pdf_file.pdf").await.expect("pdf_file.pdf");
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.data.starts_with(b"%PDF-"));
    assert_eq!(fax_media::render::pdf::page_count(&pdf.data).expect("pdf_file pages"), tiff_pages);
    let errors: Vec<String> = validator.iter_errors(&Value::Object(doc.clone())).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");

    // Both documents, byte for byte, under their names, then the fax and its PDF.
    let stubs = doc["_attachments"].as_object().expect("attachments");
    let mut names: Vec<&String> = stubs.keys().collect();
    names.sort();
    assert_eq!(names, vec!["fax_file.tiff", "original_file.pdf", "original_file_2.jpg", "pdf_file.pdf"]);
    for (name, content_type, filename) in
        [("original_file.pdf", "application/pdf", "invoice.pdf"), ("original_file_2.jpg", "image/jpeg", "scan.jpg")]
    {
        let att = world.store.get_attachment(db::FAXES, &id, name).await.expect(name);
        assert_eq!(att.content_type, content_type);
        assert_eq!(att.data.as_ref(), attachment_of("pdf_and_jpeg.eml", filename).as_slice(), "{name}");
    }
    assert_eq!(world.jobs().await.len(), 1);
    assert!(world.smtp_logs().await.is_empty());
}

#[tokio::test]
async fn each_fixture_gets_the_documents_a_user_expects() {
    let world = World::new().await;
    let cases: [(&str, Vec<Expected>); 3] = [
        ("nested_multipart.eml", vec![("original_file.tiff", "image/tiff", Some("chart.tif"))]),
        ("inline_pdf_no_filename.eml", vec![("original_file.pdf", "application/pdf", None)]),
        ("octet_stream_pdf.eml", vec![("original_file.pdf", "application/pdf", Some("x.pdf"))]),
    ];
    for (name, want) in cases {
        let id = queued_id(&send(&world, &[RCPT], &fixture(name)).await);
        let doc = job(&world, &id).await;
        let got: Vec<(String, String, Option<String>)> = doc["documents"]
            .as_array()
            .expect("documents")
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap_or_default().to_string(),
                    d["content_type"].as_str().unwrap_or_default().to_string(),
                    d.get("filename").and_then(Value::as_str).map(String::from),
                )
            })
            .collect();
        let want: Vec<(String, String, Option<String>)> =
            want.into_iter().map(|(n, t, f)| (n.to_string(), t.to_string(), f.map(String::from))).collect();
        assert_eq!(got, want, "{name}");
        let first = world.store.get_attachment(db::FAXES, &id, &want[0].0).await.expect("document");
        assert!(
            first.data.starts_with(b"%PDF-") || first.data.starts_with(b"II*\0"),
            "{name}: the document itself is attached"
        );
    }
    assert_eq!(world.jobs().await.len(), 3);
}

#[tokio::test]
async fn messages_without_anything_to_fax_are_refused_with_a_reason() {
    let mut world = World::new().await;
    for name in ["text_only.eml", "logo_only.eml", "malformed.eml"] {
        let reply = send(&world, &[RCPT], &fixture(name)).await;
        assert_eq!(reply, "554 5.6.0 no valid attachment", "{name}");
    }
    assert!(world.jobs().await.is_empty());

    let logs = world.smtp_logs().await;
    assert_eq!(logs.len(), 3);
    let logo = logs.iter().find(|l| l.get("filename") == Some(&json!("logo.png"))).expect("logo log");
    assert_eq!(logo["errors"], json!(["no valid attachment", "logo.png: image 120x40 is smaller than 700x10"]));
    assert_eq!(logo["content_type"], json!("image/png"));
    assert_eq!(logo["translated_number"], json!("+14155551212"));
    let broken = logs.iter().find(|l| l.get("filename") == Some(&json!("broken.pdf"))).expect("malformed log");
    assert_eq!(broken["errors"][0], json!("no valid attachment"));

    let notice = world.notice(WAIT).await.expect("the sender is told");
    assert_eq!(notice["Errors"], json!(["no valid attachment"]));
    assert_eq!(notice["Fax-From-Email"], json!(SENDER));
    assert_eq!(notice["FaxBox-ID"], json!(FAXBOX_ID));
    assert_eq!(notice["Owner-ID"], json!(OWNER_ID));
}

#[tokio::test]
async fn every_accepted_recipient_gets_its_own_job() {
    let world = World::new().await;
    let rcpts = [RCPT, "4155551213@a1b2c3d4.fax.test", "+1-415-555-1212@a1b2c3d4.fax.test"];
    let mut c = world.client().await;
    c.envelope(SENDER, &rcpts).await;
    c.expect("RCPT TO:<1@nowhere.test>", "554 5.1.1 Not Found").await;
    let first = queued_id(&c.data(&fixture("pdf_and_jpeg.eml")).await);
    // A second transaction in the same session is a job of its own.
    c.expect("MAIL FROM:<alice@sender.test>", "250 2.1.0 sender Ok").await;
    c.expect(&format!("RCPT TO:<{RCPT}>"), "250 2.1.5 recipient Ok").await;
    let second = queued_id(&c.data(&fixture("octet_stream_pdf.eml")).await);
    assert_ne!(first, second);

    let jobs = world.jobs().await;
    let mut numbers: Vec<&str> = jobs.iter().map(|j| j["to_number"].as_str().unwrap_or_default()).collect();
    numbers.sort();
    // The same number twice in one message is one fax.
    assert_eq!(numbers, vec!["+14155551212", "+14155551212", "+14155551213"]);
    for j in &jobs {
        let j = settled(&world, j["_id"].as_str().expect("id")).await;
        assert_eq!(j["pvt_job_status"], json!("pending"));
        assert!(j["_attachments"]["original_file.pdf"].is_object());
    }
}

#[tokio::test]
async fn the_same_message_sent_again_is_queued_once() {
    let world = World::new().await;
    let message = fixture("pdf_and_jpeg.eml");
    let id = queued_id(&send(&world, &[RCPT], &message).await);
    // The client lost the answer and sends again: same answer, no second job.
    assert_eq!(queued_id(&send(&world, &[RCPT], &message).await), id);
    assert_eq!(world.jobs().await.len(), 1);
    // To another number it is another fax.
    let other = queued_id(&send(&world, &["4155551299@a1b2c3d4.fax.test"], &message).await);
    assert_ne!(other, id);

    // Once sent, the job moves to the account's monthly database: still the same message.
    let mut moved = job(&world, &id).await;
    let rev = moved["_rev"].as_str().expect("rev").to_string();
    world.store.delete(db::FAXES, &id, &rev).await.expect("delete from faxes");
    let (year, month) = kz_core::time::year_month(kz_core::time::now_unix());
    let modb = db::modb(ACCOUNT_ID, year, month);
    world.store.db_create(&modb).await.expect("modb");
    moved.remove("_rev");
    moved.remove("_attachments");
    moved.insert("_id".into(), json!(db::modb_doc_id(year, month, &id)));
    moved.insert("pvt_job_status".into(), json!("completed"));
    world.store.save(&modb, moved.clone()).await.expect("moved job");
    assert_eq!(queued_id(&send(&world, &[RCPT], &message).await), id);
    assert_eq!(world.jobs().await.len(), 1, "only the other number's job is in faxes");

    // A day later the same message is a new fax.
    let mut stored = world.store.get(&modb, &db::modb_doc_id(year, month, &id)).await.expect("moved");
    stored.insert("pvt_created".into(), json!(kz_core::time::now_s() - 90_000));
    world.store.save(&modb, stored).await.expect("age the moved job");
    let again = queued_id(&send(&world, &[RCPT], &message).await);
    assert_eq!(world.jobs().await.len(), 2);
    let mut aged = job(&world, &again).await;
    aged.insert("pvt_created".into(), json!(kz_core::time::now_s() - 90_000));
    world.store.save(db::FAXES, aged).await.expect("age the job");
    let third = queued_id(&send(&world, &[RCPT], &message).await);
    assert_ne!(third, again);
    assert_eq!(world.jobs().await.len(), 3);
}

#[tokio::test]
async fn a_store_that_cannot_commit_gets_a_temporary_failure() {
    let world = World::new().await;
    let mut c = world.client().await;
    c.envelope(SENDER, &[RCPT]).await;
    // The recipient was found; now the jobs database goes away before the message arrives.
    world.store.db_delete(db::FAXES).await.expect("drop faxes");
    assert_eq!(c.data(&fixture("pdf_and_jpeg.eml")).await, "451 4.3.0 Error: temporary failure, try again later");
    c.expect("QUIT", "221 2.0.0 Bye").await;

    // Back in order, the client's retry is queued.
    kz_data::design::refresh_views(world.store.as_ref()).await.expect("faxes again");
    let copy = obj(json!({
        "_id": FAXBOX_ID, "pvt_type": "faxbox", "pvt_account_id": ACCOUNT_ID, "pvt_account_db": "faxes",
        "pvt_smtp_email_address": FAXBOX_DOMAIN,
    }));
    world.store.save(db::FAXES, copy).await.expect("faxbox copy");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    queued_id(&send(&world, &[RCPT], &fixture("pdf_and_jpeg.eml")).await);
    assert_eq!(world.jobs().await.len(), 1);
}

#[tokio::test]
async fn a_message_without_any_header_cannot_be_decoded() {
    let mut world = World::new().await;
    assert_eq!(send(&world, &[RCPT], b"::::\r\n").await, "554 5.6.0 Message decode failed");
    assert!(world.jobs().await.is_empty());
    assert_eq!(world.smtp_logs().await[0]["errors"], json!(["message decode failed"]));
    assert_eq!(world.notice(WAIT).await.expect("notice")["Errors"], json!(["message decode failed"]));
}

#[tokio::test]
async fn a_document_that_cannot_be_converted_fails_the_job_and_tells_the_sender() {
    let mut world = World::new().await;
    let broken = b"%PDF-1.4\nthis is not a pdf body at all, no objects, no xref, no trailer\n".repeat(4);
    let reply = send(&world, &[RCPT], &email_with("application/pdf", "broken.pdf", &broken)).await;
    let id = queued_id(&reply);
    let doc = settled(&world, &id).await;
    assert_eq!(doc["pvt_job_status"], json!("failed"));
    let tx = &doc["tx_result"];
    assert_eq!(tx["success"], json!(false));
    assert_eq!(tx["result_code"], json!(0));
    let text = tx["result_text"].as_str().expect("result_text");
    let reason = tx["error_message"].as_str().expect("error_message");
    assert!(!reason.is_empty());
    assert_eq!(text, format!("bad_file: {reason}"));
    assert_eq!(tx["pages_sent"], json!(0));
    assert!(doc["_attachments"].get("fax_file.tiff").is_none());
    assert!(doc["_attachments"]["original_file.pdf"].is_object());

    let notice = world.notice(WAIT).await.expect("the sender is told");
    assert_eq!(notice["Event-Name"], json!("outbound_smtp_fax_error"));
    assert_eq!(notice["Errors"], json!([text]));
    assert_eq!(notice["Fax-From-Email"], json!(SENDER));
    assert_eq!(notice["FaxBox-ID"], json!(FAXBOX_ID));
}

#[tokio::test]
async fn a_job_left_attaching_files_is_converted_on_recovery() {
    let world = World::new().await;
    let id = queued_id(&send(&world, &[RCPT], &fixture("octet_stream_pdf.eml")).await);
    let done = settled(&world, &id).await;
    assert_eq!(done["pvt_job_status"], json!("pending"));
    // Jobs a crash stranded between the 250 and their conversion: originals only, `attaching files`; one in the
    // job's own account, one in an account that sorts before it and one after (the search goes account by account).
    let original = world.store.get_attachment(db::FAXES, &id, "original_file.pdf").await.expect("original");
    let stranded_ids = [
        ("5e5e0000000000000000000000000001", None),
        ("5e5e0000000000000000000000000002", Some("00000000000000000000000000000001")),
        ("5e5e0000000000000000000000000003", Some("ffffffffffffffffffffffffffffff01")),
    ];
    for (stranded_id, account) in stranded_ids {
        let mut stranded = done.clone();
        for key in ["_rev", "_attachments", "pvt_pages", "pvt_size"] {
            stranded.remove(key);
        }
        stranded.insert("_id".into(), json!(stranded_id));
        stranded.insert("pvt_job_status".into(), json!("attaching files"));
        if let Some(account) = account {
            stranded.insert("pvt_account_id".into(), json!(account));
        }
        let att = kz_data::NewAttachment {
            name: "original_file.pdf".into(),
            content_type: original.content_type.clone(),
            data: original.data.clone(),
        };
        world.store.save_with_attachments(db::FAXES, stranded, vec![att]).await.expect("stranded job");
    }

    assert_eq!(fax::converter::recover(&world.ctx).await.expect("recover"), 3);
    for (stranded_id, _) in stranded_ids {
        let recovered = settled(&world, stranded_id).await;
        assert_eq!(recovered["pvt_job_status"], json!("pending"), "{stranded_id}");
        assert_eq!(recovered["pvt_pages"], done["pvt_pages"]);
        assert!(recovered["_attachments"]["fax_file.tiff"].is_object());
        assert!(recovered["_attachments"]["pdf_file.pdf"].is_object());
    }
    // Nothing is left to recover.
    assert_eq!(fax::converter::recover(&world.ctx).await.expect("recover"), 0);
}

#[tokio::test]
async fn jobs_turned_away_by_a_full_conversion_queue_are_converted_later() {
    // One conversion thread and room for one waiting job: a burst of five overflows the queue.
    let pool = fax_media::pool::Pool::new("test-burst", 1, fax_media::pool::Priority::Normal).expect("pool");
    let world = World::with_converter(fax::converter::Converter::new(pool, 1)).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let message =
            email_with("application/pdf", &format!("burst{n}.pdf"), &attachment_of("octet_stream_pdf.eml", "x.pdf"));
        ids.push(queued_id(&send(&world, &[RCPT], &message).await));
    }
    assert!(world.ctx.converter.turned_away() > 0, "the queue never overflowed: the test proves nothing");
    for id in &ids {
        let done = settled(&world, id).await;
        assert_eq!(done["pvt_job_status"], json!("pending"), "{id}");
        assert!(done["_attachments"]["fax_file.tiff"].is_object(), "{id}");
    }
    assert_eq!(world.ctx.converter.backlog(), 0);
}
