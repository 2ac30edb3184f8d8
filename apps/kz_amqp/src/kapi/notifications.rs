//! Defines the fax notifications that Kazoo's teletype turns into emails, and the system alert for operators.
//!
//! This ports the fax part of Kazoo 4.3's `kapi_notifications`: inbound_fax, inbound_fax_error,
//! outbound_fax, outbound_fax_error and outbound_smtp_fax_error, with `Event-Category=notification` on the
//! `notifications` topic exchange, routed `notifications.fax.<inbound|inbound_error|outbound|outbound_error|
//! outbound_smtp_error>`, each with its required headers plus the generic optional ones every notification
//! accepts ([`NotifyHeaders`]). It also ports `system_alert` (routed `notifications.system.alert`), which
//! `fax_smtp` raises for a failure that is not the sender's to fix (`kz_notify` builds the same message).
//!
use serde::{Deserialize, Serialize};

use super::call::FaxData;
use super::{Check, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, OneOrMany, Routed};

/// The notifications exchange (topic).
pub const EXCHANGE: &str = "notifications";
/// `Event-Category` of every notification.
pub const EVENT_CATEGORY: &str = "notification";

/// The generic optional headers of every notification (preview mode and overrides of the rendered email).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyHeaders {
    #[serde(rename = "To", default, skip_serializing_if = "Option::is_none")]
    pub to: Option<OneOrMany>,
    #[serde(rename = "Cc", default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<OneOrMany>,
    #[serde(rename = "Bcc", default, skip_serializing_if = "Option::is_none")]
    pub bcc: Option<OneOrMany>,
    #[serde(rename = "From", default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Reply-To", default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(rename = "Subject", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "HTML", default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(rename = "Text", default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The database holding the fax document (the account MODB for a received or sent fax).
    #[serde(rename = "Account-DB", default, skip_serializing_if = "Option::is_none")]
    pub account_db: Option<String>,
    #[serde(rename = "Preview", default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Flex<bool>>,
    #[serde(rename = "Attachment-URL", default, skip_serializing_if = "Option::is_none")]
    pub attachment_url: Option<String>,
}

/// Who is notified: `{"email": {"send_to": [...]}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaxNotifications {
    #[serde(rename = "email", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailNotify>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// The email part of [`FaxNotifications`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailNotify {
    #[serde(rename = "send_to", default, skip_serializing_if = "Option::is_none")]
    pub send_to: Option<OneOrMany>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl FaxNotifications {
    /// Notifications to these addresses.
    pub fn email_to(addresses: Vec<String>) -> Self {
        FaxNotifications {
            email: Some(EmailNotify { send_to: Some(OneOrMany::Many(addresses)), extra: JsonMap::new() }),
            extra: JsonMap::new(),
        }
    }

    /// The addresses to email.
    pub fn send_to(&self) -> Vec<String> {
        self.email.as_ref().and_then(|e| e.send_to.as_ref()).map(OneOrMany::to_vec).unwrap_or_default()
    }
}

macro_rules! impl_notification {
    ($name:ident, $api:literal, $event:literal, $key:literal, |$s:ident, $c:ident| $check:block) => {
        impl KapiMessage for $name {
            const API: &'static str = $api;
            const EVENT_CATEGORY: &'static str = EVENT_CATEGORY;
            const EVENT_NAME: &'static str = $event;
            const EXCHANGE: &'static str = EXCHANGE;

            fn headers(&self) -> &DefaultHeaders {
                &self.headers
            }

            fn validate_fields(&self) -> Result<(), KapiError> {
                let $c = Check::new(Self::API);
                let $s = self;
                $check
            }
        }

        impl Routed for $name {
            fn routing_key(&self) -> String {
                $key.to_string()
            }
        }
    };
}

/// A fax was received (`fax_request` → teletype `fax_inbound_to_email`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundFax {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Account-ID", default)]
    pub account_id: String,
    /// The received fax document's id (`YYYYMM-<32hex>` in the MODB).
    #[serde(rename = "Fax-ID", default)]
    pub fax_id: String,
    #[serde(rename = "From-User", default)]
    pub from_user: String,
    #[serde(rename = "From-Realm", default)]
    pub from_realm: String,
    #[serde(rename = "To-User", default)]
    pub to_user: String,
    #[serde(rename = "To-Realm", default)]
    pub to_realm: String,
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(rename = "Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    #[serde(rename = "Caller-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    #[serde(rename = "Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_name: Option<String>,
    #[serde(rename = "Callee-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_number: Option<String>,
    #[serde(rename = "Fax-Info", default, skip_serializing_if = "Option::is_none")]
    pub fax_info: Option<FaxData>,
    #[serde(rename = "Fax-Notifications", default, skip_serializing_if = "Option::is_none")]
    pub fax_notifications: Option<FaxNotifications>,
    /// Gregorian seconds.
    #[serde(rename = "Fax-Timestamp", default, skip_serializing_if = "Option::is_none")]
    pub fax_timestamp: Option<Flex<i64>>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub notify: NotifyHeaders,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl InboundFax {
    pub fn new(node: &str, account_id: &str, fax_id: &str) -> Self {
        InboundFax {
            headers: DefaultHeaders::for_message::<Self>(node),
            account_id: account_id.to_string(),
            fax_id: fax_id.to_string(),
            ..Default::default()
        }
    }
}

impl_notification!(InboundFax, "notifications.inbound_fax", "inbound_fax", "notifications.fax.inbound", |s, c| {
    c.required("Account-ID", &s.account_id)?;
    c.required("Fax-ID", &s.fax_id)?;
    c.required("From-Realm", &s.from_realm)?;
    c.required("From-User", &s.from_user)?;
    c.required("To-Realm", &s.to_realm)?;
    c.required("To-User", &s.to_user)
});

/// Receiving a fax failed (`fax_request` → teletype `fax_inbound_error_to_email`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundFaxError {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Account-ID", default)]
    pub account_id: String,
    #[serde(rename = "From-User", default)]
    pub from_user: String,
    #[serde(rename = "From-Realm", default)]
    pub from_realm: String,
    #[serde(rename = "To-User", default)]
    pub to_user: String,
    #[serde(rename = "To-Realm", default)]
    pub to_realm: String,
    #[serde(rename = "Fax-ID", default, skip_serializing_if = "Option::is_none")]
    pub fax_id: Option<String>,
    #[serde(rename = "Fax-Error", default, skip_serializing_if = "Option::is_none")]
    pub fax_error: Option<String>,
    /// Teletype's filtered template skips codes in `filter_error_codes`.
    #[serde(rename = "Fax-Result-Code", default, skip_serializing_if = "Option::is_none")]
    pub fax_result_code: Option<Flex<i64>>,
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(rename = "Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    #[serde(rename = "Caller-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    #[serde(rename = "Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_name: Option<String>,
    #[serde(rename = "Callee-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_number: Option<String>,
    #[serde(rename = "Fax-Info", default, skip_serializing_if = "Option::is_none")]
    pub fax_info: Option<FaxData>,
    #[serde(rename = "Fax-Notifications", default, skip_serializing_if = "Option::is_none")]
    pub fax_notifications: Option<FaxNotifications>,
    #[serde(rename = "Fax-Timestamp", default, skip_serializing_if = "Option::is_none")]
    pub fax_timestamp: Option<Flex<i64>>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub notify: NotifyHeaders,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl InboundFaxError {
    pub fn new(node: &str, account_id: &str) -> Self {
        InboundFaxError {
            headers: DefaultHeaders::for_message::<Self>(node),
            account_id: account_id.to_string(),
            ..Default::default()
        }
    }
}

impl_notification!(
    InboundFaxError,
    "notifications.inbound_fax_error",
    "inbound_fax_error",
    "notifications.fax.inbound_error",
    |s, c| {
        c.required("Account-ID", &s.account_id)?;
        c.required("From-Realm", &s.from_realm)?;
        c.required("From-User", &s.from_user)?;
        c.required("To-Realm", &s.to_realm)?;
        c.required("To-User", &s.to_user)
    }
);

/// A fax was sent (`fax_worker` → teletype `fax_outbound_to_email`, and `fax_cloud`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundFax {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Account-ID", default)]
    pub account_id: String,
    #[serde(rename = "Caller-ID-Number", default)]
    pub caller_id_number: String,
    #[serde(rename = "Callee-ID-Number", default)]
    pub callee_id_number: String,
    /// The job id before the move to the MODB (teletype looks in both places).
    #[serde(rename = "Fax-ID", default)]
    pub fax_id: String,
    #[serde(rename = "Fax-JobId", default)]
    pub fax_jobid: String,
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(rename = "Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    #[serde(rename = "Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_name: Option<String>,
    #[serde(rename = "Fax-Info", default, skip_serializing_if = "Option::is_none")]
    pub fax_info: Option<FaxData>,
    #[serde(rename = "Fax-Notifications", default, skip_serializing_if = "Option::is_none")]
    pub fax_notifications: Option<FaxNotifications>,
    #[serde(rename = "Fax-Timestamp", default, skip_serializing_if = "Option::is_none")]
    pub fax_timestamp: Option<Flex<i64>>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub notify: NotifyHeaders,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl OutboundFax {
    pub fn new(node: &str, account_id: &str, job_id: &str, caller_id_number: &str, callee_id_number: &str) -> Self {
        OutboundFax {
            headers: DefaultHeaders::for_message::<Self>(node),
            account_id: account_id.to_string(),
            caller_id_number: caller_id_number.to_string(),
            callee_id_number: callee_id_number.to_string(),
            fax_id: job_id.to_string(),
            fax_jobid: job_id.to_string(),
            ..Default::default()
        }
    }
}

impl_notification!(OutboundFax, "notifications.outbound_fax", "outbound_fax", "notifications.fax.outbound", |s, c| {
    c.required("Account-ID", &s.account_id)?;
    c.required("Callee-ID-Number", &s.callee_id_number)?;
    c.required("Caller-ID-Number", &s.caller_id_number)?;
    c.required("Fax-ID", &s.fax_id)?;
    c.required("Fax-JobId", &s.fax_jobid)
});

/// Sending a fax failed for good (`fax_worker` → teletype `fax_outbound_error_to_email`, and `fax_cloud`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundFaxError {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Fax-ID", default)]
    pub fax_id: String,
    #[serde(rename = "Fax-JobId", default)]
    pub fax_jobid: String,
    #[serde(rename = "Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `Application-Data.Fax-Result-Text` of the last event, else the job's `tx_result.result_text`.
    #[serde(rename = "Fax-Error", default, skip_serializing_if = "Option::is_none")]
    pub fax_error: Option<String>,
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(rename = "Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    #[serde(rename = "Caller-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    #[serde(rename = "Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_name: Option<String>,
    #[serde(rename = "Callee-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_number: Option<String>,
    #[serde(rename = "Fax-Info", default, skip_serializing_if = "Option::is_none")]
    pub fax_info: Option<FaxData>,
    #[serde(rename = "Fax-Notifications", default, skip_serializing_if = "Option::is_none")]
    pub fax_notifications: Option<FaxNotifications>,
    #[serde(rename = "Fax-Timestamp", default, skip_serializing_if = "Option::is_none")]
    pub fax_timestamp: Option<Flex<i64>>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub notify: NotifyHeaders,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl OutboundFaxError {
    pub fn new(node: &str, job_id: &str) -> Self {
        OutboundFaxError {
            headers: DefaultHeaders::for_message::<Self>(node),
            fax_id: job_id.to_string(),
            fax_jobid: job_id.to_string(),
            ..Default::default()
        }
    }
}

impl_notification!(
    OutboundFaxError,
    "notifications.outbound_fax_error",
    "outbound_fax_error",
    "notifications.fax.outbound_error",
    |s, c| {
        c.required("Fax-ID", &s.fax_id)?;
        c.required("Fax-JobId", &s.fax_jobid)
    }
);

/// An email-to-fax message was refused (`fax_smtp` → teletype `fax_outbound_smtp_error_to_email`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundSmtpFaxError {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Account-ID", default)]
    pub account_id: String,
    #[serde(rename = "Fax-From-Email", default)]
    pub fax_from_email: String,
    /// The errors of the SMTP session, oldest first; never empty.
    #[serde(rename = "Errors", default)]
    pub errors: Vec<String>,
    /// Gregorian seconds (required in 4.3, though Kazoo's schema omits it).
    #[serde(rename = "Timestamp", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Flex<i64>>,
    #[serde(rename = "Fax-To-Email", default, skip_serializing_if = "Option::is_none")]
    pub fax_to_email: Option<String>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    #[serde(rename = "FaxBox-Name", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_name: Option<String>,
    #[serde(rename = "FaxBox-Timezone", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_timezone: Option<String>,
    /// The fax number after translation.
    #[serde(rename = "Number", default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// The fax number as the sender wrote it.
    #[serde(rename = "Original-Number", default, skip_serializing_if = "Option::is_none")]
    pub original_number: Option<String>,
    #[serde(flatten)]
    pub notify: NotifyHeaders,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl OutboundSmtpFaxError {
    pub fn new(node: &str, account_id: &str, from_email: &str, errors: Vec<String>, timestamp: i64) -> Self {
        OutboundSmtpFaxError {
            headers: DefaultHeaders::for_message::<Self>(node),
            account_id: account_id.to_string(),
            fax_from_email: from_email.to_string(),
            errors,
            timestamp: Some(Flex::Value(timestamp)),
            ..Default::default()
        }
    }
}

impl_notification!(
    OutboundSmtpFaxError,
    "notifications.outbound_smtp_fax_error",
    "outbound_smtp_fax_error",
    "notifications.fax.outbound_smtp_error",
    |s, c| {
        c.required("Account-ID", &s.account_id)?;
        c.required("Fax-From-Email", &s.fax_from_email)?;
        if s.errors.is_empty() {
            return Err(c.missing("Errors"));
        }
        c.present("Timestamp", &s.timestamp)
    }
);

/// The `Subject` prefix of every system alert (`kz_notify:system_alert/3`).
pub const SYSTEM_ALERT_PREFIX: &str = "System Alert: ";

/// The `Details` of a system alert: the fields of the failure (what `fax_smtp` and `kz_notify:detailed_alert`
/// send), or a text (teletype accepts both; Kazoo's generated schema types it as a string only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlertDetails {
    Fields(JsonMap),
    Text(String),
}

/// Something went wrong that the system administrators should know of (`fax_smtp` → teletype `system_alert`).
///
/// Its `Subject` is required, so the generic [`NotifyHeaders`] (where `Subject` is optional) are not flattened
/// in: their other fields, like any unknown one, stay in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemAlert {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    /// `System Alert: <what>`.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    #[serde(rename = "Message", default)]
    pub message: String,
    #[serde(rename = "Details", default, skip_serializing_if = "Option::is_none")]
    pub details: Option<AlertDetails>,
    /// The account concerned, when one is known.
    #[serde(rename = "Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "Account-DB", default, skip_serializing_if = "Option::is_none")]
    pub account_db: Option<String>,
    #[serde(rename = "Request-ID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "Section", default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl SystemAlert {
    /// An alert about `what` (the subject becomes `System Alert: <what>`) with message `message`.
    pub fn new(node: &str, what: &str, message: &str) -> Self {
        SystemAlert {
            headers: DefaultHeaders::for_message::<Self>(node),
            subject: format!("{SYSTEM_ALERT_PREFIX}{what}"),
            message: message.to_string(),
            ..Default::default()
        }
    }
}

impl_notification!(SystemAlert, "notifications.system_alert", "system_alert", "notifications.system.alert", |s, c| {
    c.required("Message", &s.message)?;
    c.required("Subject", &s.subject)
});
