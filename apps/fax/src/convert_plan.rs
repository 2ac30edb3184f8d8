//! Decides how a fax job's documents are converted: the limits in force and the job's cover sheet, if any.
//!
//! Ports the settings `kz_fax_converter` reads before it runs a conversion: Kazoo bounds each conversion command by
//! `system_config/kazoo_convert` `fax.convert_command_timeout`; here the same category also bounds pages and pixels
//! ([`kz_config::ConvertConfig`]), read through the configuration cache so a change applies within a second.
//! Kazoo has no cover sheet; a job whose faxbox sets `cover_page` carries `cover_page.body` (the email's body text,
//! see [`crate::smtp::job`]) and gets a sheet naming the sender (the job's `from_name` and `from_number`, else the
//! first address its notifications go to), the recipient, the subject and that text; the converter adds the
//! fax's page count.

use std::time::Duration;

use fax_media::convert::ConvertOptions;
use fax_media::render::cover::Cover;
use kz_config::{Config, ConvertConfig};
use kz_data::Doc;
use serde_json::Value;
use tracing::warn;

use crate::smtp::job::text;

/// The conversion options of `job`: the limits configured for this node and its cover sheet.
pub async fn options(config: &Config, job: &Doc) -> ConvertOptions {
    let limits = match config.convert().await {
        Ok(limits) => limits,
        Err(e) => {
            warn!(error = %e, "conversion configuration unreadable, using the defaults");
            ConvertConfig::default()
        }
    };
    ConvertOptions { cover: cover(job), ..with_limits(&limits) }
}

/// The default options bounded by `limits`.
pub fn with_limits(limits: &ConvertConfig) -> ConvertOptions {
    ConvertOptions {
        max_pages: usize::try_from(limits.max_pages).unwrap_or(usize::MAX),
        max_pixels: limits.max_pixels,
        timeout: Duration::from_millis(limits.timeout_ms),
        ..ConvertOptions::default()
    }
}

/// The cover sheet a job asks for with `cover_page` (`{"body": ...}`, or `true` for a sheet without a message);
/// `None` when it asks for none.
pub fn cover(job: &Doc) -> Option<Cover> {
    let body = match job.get("cover_page")? {
        Value::Object(o) => o.get("body").and_then(Value::as_str).unwrap_or_default().trim().to_string(),
        Value::Bool(true) => String::new(),
        _ => return None,
    };
    let sender = match name_and_number(text(job, "from_name"), text(job, "from_number")) {
        s if s.is_empty() => first_recipient(job).unwrap_or_default().to_string(),
        s => s,
    };
    Some(Cover {
        sender,
        recipient: name_and_number(text(job, "to_name"), text(job, "to_number")),
        subject: text(job, "subject").unwrap_or_default().to_string(),
        body,
    })
}

/// `Name (number)`, or whichever of the two there is (once when they are the same); empty when neither.
fn name_and_number(name: Option<&str>, number: Option<&str>) -> String {
    match (name, number) {
        (Some(name), Some(number)) if name == number => name.to_string(),
        (Some(name), Some(number)) => format!("{name} ({number})"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => String::new(),
    }
}

/// The first address of the job's `notifications.email.send_to` (the sender's, for an email-to-fax job).
pub(crate) fn first_recipient(job: &Doc) -> Option<&str> {
    match job.get("notifications")?.get("email")?.get("send_to")? {
        Value::String(s) => Some(s.as_str()),
        Value::Array(a) => a.iter().filter_map(Value::as_str).next(),
        _ => None,
    }
    .map(str::trim)
    .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Doc {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn limits_come_from_the_configuration() {
        let limits = ConvertConfig { timeout_ms: 1_500, max_pages: 7, max_pixels: 1_000 };
        let opts = with_limits(&limits);
        assert_eq!((opts.max_pages, opts.max_pixels, opts.timeout), (7, 1_000, Duration::from_millis(1_500)));
        assert_eq!(opts.cover, None);
        let d = ConvertOptions::default();
        assert_eq!((opts.resolution, opts.threads), (d.resolution, d.threads), "the rest is the converter's");
    }

    #[test]
    fn a_job_without_cover_page_has_no_sheet() {
        assert_eq!(cover(&doc(json!({"subject": "x", "from_name": "Acme"}))), None);
        assert_eq!(cover(&doc(json!({"cover_page": false}))), None);
        assert_eq!(cover(&doc(json!({"cover_page": "yes"}))), None);
    }

    #[test]
    fn the_sheet_names_sender_recipient_subject_and_message() {
        let job = doc(json!({
            "from_name": "Acme", "from_number": "+14155550100", "to_name": "+14155551212",
            "to_number": "+14155551212", "subject": " Quarterly report ",
            "cover_page": {"body": "  Please find the report.\n"},
            "notifications": {"email": {"send_to": ["alice@sender.test"]}},
        }));
        assert_eq!(
            cover(&job),
            Some(Cover {
                sender: "Acme (+14155550100)".into(),
                recipient: "+14155551212".into(),
                subject: "Quarterly report".into(),
                body: "Please find the report.".into(),
            })
        );
        let named = doc(json!({"to_name": "Bob", "to_number": "+1415", "cover_page": true}));
        let sheet = cover(&named).expect("sheet");
        assert_eq!((sheet.recipient.as_str(), sheet.subject.as_str(), sheet.body.as_str()), ("Bob (+1415)", "", ""));
    }

    #[test]
    fn without_name_or_number_the_sender_is_the_senders_address() {
        let job =
            doc(json!({"cover_page": {"body": "b"}, "notifications": {"email": {"send_to": ["a@x.test", "b@x"]}}}));
        assert_eq!(cover(&job).expect("sheet").sender, "a@x.test");
        let single = doc(json!({"cover_page": {}, "notifications": {"email": {"send_to": "c@x.test"}}}));
        assert_eq!(cover(&single).expect("sheet").sender, "c@x.test");
        let number_only = doc(json!({"cover_page": {}, "from_number": "+1555", "notifications": {}}));
        assert_eq!(cover(&number_only).expect("sheet").sender, "+1555");
        assert_eq!(cover(&doc(json!({"cover_page": {}}))).expect("sheet").sender, "");
    }

    #[tokio::test]
    async fn options_read_kazoo_convert_and_the_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = kz_data::embedded::EmbeddedStore::open(dir.path()).expect("store");
        let config = Config::new(std::sync::Arc::new(store), "faxd@a", None);
        let job = doc(json!({"subject": "S", "cover_page": {"body": "B"}}));
        let opts = options(&config, &job).await;
        assert_eq!((opts.max_pages, opts.max_pixels, opts.timeout), (100, 50_000_000, Duration::from_secs(180)));
        assert_eq!(opts.cover.as_ref().map(|c| (c.subject.as_str(), c.body.as_str())), Some(("S", "B")));
        config
            .set_default("kazoo_convert", "fax", json!({"max_pages": 1, "convert_command_timeout": 2_000}))
            .await
            .expect("set");
        let opts = options(&config, &doc(json!({}))).await;
        assert_eq!((opts.max_pages, opts.timeout, opts.cover), (1, Duration::from_secs(2), None));
    }

    #[test]
    fn name_and_number_reads_naturally() {
        assert_eq!(name_and_number(Some("A"), Some("1")), "A (1)");
        assert_eq!(name_and_number(Some("1"), Some("1")), "1");
        assert_eq!(name_and_number(None, Some("1")), "1");
        assert_eq!(name_and_number(Some("A"), None), "A");
        assert_eq!(name_and_number(None, None), "");
    }
}
