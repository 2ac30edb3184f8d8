//! Types the faxbox document (`pvt_type = faxbox`), keeping every field it does not know.
//!
//! Mirrors Kazoo's `faxbox.json` crossbar schema and the private fields `cb_faxboxes` sets (spec §3.1). A faxbox
//! lives in its account database and, with the same `_id` and `pvt_account_db = "faxes"`, as a copy in the
//! `faxes` database that email lookup reads. Unknown fields stay in `extra`, so a Kazoo document survives a
//! round trip unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `pvt_type` of faxbox documents.
pub const PVT_TYPE: &str = "faxbox";

/// A faxbox document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faxbox {
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax_timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_permission_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_smtp_email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_errors: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_account_db: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_reseller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_smtp_email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_modified: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvt_deleted: Option<bool>,
    /// Every other field, kept as it came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl kz_data::TypedDoc for Faxbox {}

impl Faxbox {
    /// The `send_to` list of `notifications.<direction>.email`, else of `notifications.email` (a string or a
    /// list in Kazoo's documents), lowercased and without empties.
    pub fn email_recipients(&self, direction: &str) -> Vec<String> {
        let Some(n) = &self.notifications else { return Vec::new() };
        let pick = |v: Option<&Value>| -> Option<Vec<String>> {
            match v? {
                Value::String(s) => Some(vec![s.clone()]),
                Value::Array(a) => Some(a.iter().filter_map(Value::as_str).map(String::from).collect()),
                _ => None,
            }
        };
        let direct = pick(n.get(direction).and_then(|d| d.get("email")).and_then(|e| e.get("send_to")));
        let general = || pick(n.get("email").and_then(|e| e.get("send_to")));
        direct
            .or_else(general)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kz_data::TypedDoc;
    use serde_json::json;

    #[test]
    fn kazoo_sample_round_trips_unchanged() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-samples/faxbox.json");
        let text = std::fs::read_to_string(&path).expect("kazoo sample faxbox");
        let original: Value = serde_json::from_str(&text).expect("json");
        let doc = original.as_object().cloned().expect("object");
        let fb = Faxbox::from_doc(doc).expect("parse");
        assert_eq!(fb.pvt_type.as_deref(), Some(PVT_TYPE));
        assert!(fb.pvt_smtp_email_address.is_some());
        assert_eq!(Value::Object(fb.to_doc()), original);
    }

    #[test]
    fn recipients_prefer_the_direction() {
        let fb = Faxbox {
            notifications: Some(
                json!({"outbound": {"email": {"send_to": ["A@x.com", ""]}}, "email": {"send_to": "b@y.com"}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            ..Default::default()
        };
        assert_eq!(fb.email_recipients("outbound"), ["a@x.com"]);
        assert_eq!(fb.email_recipients("inbound"), ["b@y.com"]);
        assert!(Faxbox::default().email_recipients("outbound").is_empty());
    }
}
