//! Types the `system_config/fax` category, with Kazoo 4.3's defaults defined once.
//!
//! Ports the `?DEFAULT_*` macros and `kapps_config:get_*(?CONFIG_CAT, ...)` calls of `applications/fax`. Every
//! default lives in [`FaxConfig::default`]; `priv/schemas/system_config.fax.json` states the same defaults and a
//! test keeps the two equal. Keys this struct does not know are kept in `extra`, so a Kazoo document round-trips.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The category name: the `_id` of the `system_config` document.
pub const CATEGORY: &str = "fax";

/// The fax app's configuration (spec §7.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaxConfig {
    pub allow_all_addresses_when_empty: bool,
    pub allowed_content_types: Vec<Value>,
    pub cloud_registration_pool_interval: u64,
    pub default_compare_field: String,
    pub default_retry_count: u32,
    pub default_retry_period: u64,
    pub default_smtp_domain: String,
    pub delete_empty_faxes: bool,
    pub denied_content_types: Vec<Value>,
    pub endpoint_timeout: u64,
    pub ensure_valid_caller_id: bool,
    pub fax_file_path: String,
    pub fax_settings: Map<String, Value>,
    pub file_cache_path: String,
    pub ignore_early_media: bool,
    pub image_min_size: String,
    pub image_size_cmd_format: String,
    pub inbound_t38_default: String,
    pub log_faxbox_errors: bool,
    pub max_outbound: u32,
    pub max_storage_retry: u32,
    pub port: u16,
    pub report_anonymous_system_errors: bool,
    pub report_faxbox_system_errors: bool,
    pub report_smtp_errors: bool,
    pub reschedule: Map<String, Value>,
    pub serialize_outbound_numbers: bool,
    pub smtp_max_msg_size: u64,
    pub smtp_port: u16,
    pub smtp_sessions: u32,
    pub store_fax_pdf: bool,
    pub store_fax_tiff: bool,
    pub store_url_document: bool,
    pub wait_for_fax_timeout_ms: u64,
    pub workers: u32,
    pub xmpp_interval: u64,
    /// Keys not known here, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for FaxConfig {
    fn default() -> Self {
        FaxConfig {
            allow_all_addresses_when_empty: false,
            allowed_content_types: vec![
                json!("application/pdf"),
                json!("image/tiff"),
                json!({"prefix": "image"}),
                json!({"prefix": "application/vnd.openxmlformats-officedocument"}),
                json!({"prefix": "application/vnd.oasis.opendocument"}),
                json!("application/msword"),
                json!("application/vnd.ms-excel"),
                json!("application/vnd.ms-powerpoint"),
            ],
            cloud_registration_pool_interval: 5_000,
            default_compare_field: "result_cause".into(),
            default_retry_count: 3,
            default_retry_period: 300,
            default_smtp_domain: "fax.kazoo.io".into(),
            delete_empty_faxes: false,
            denied_content_types: vec![json!({"prefix": "image/"})],
            endpoint_timeout: 40,
            ensure_valid_caller_id: true,
            fax_file_path: "/tmp/".into(),
            fax_settings: obj(json!({"override_callee_number": false, "override_fax_identity": true})),
            file_cache_path: "/tmp/".into(),
            ignore_early_media: false,
            image_min_size: "700x10".into(),
            image_size_cmd_format: "echo -n `identify -format \"%[fx:w]x%[fx:h]\" ~s`".into(),
            inbound_t38_default: "true".into(),
            log_faxbox_errors: true,
            max_outbound: 10,
            max_storage_retry: 5,
            port: 30950,
            report_anonymous_system_errors: false,
            report_faxbox_system_errors: true,
            report_smtp_errors: true,
            reschedule: Map::new(),
            serialize_outbound_numbers: true,
            smtp_max_msg_size: 10_485_670,
            smtp_port: 19025,
            smtp_sessions: 50,
            store_fax_pdf: true,
            store_fax_tiff: true,
            store_url_document: true,
            wait_for_fax_timeout_ms: 3_600_000,
            workers: 50,
            xmpp_interval: 600_000,
            extra: Map::new(),
        }
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The defaults as a JSON object, key by key (what is written back into `system_config/fax`).
pub fn defaults_map() -> Map<String, Value> {
    match serde_json::to_value(FaxConfig::default()) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The default of one key, if the fax category defines it.
pub fn default_of(key: &str) -> Option<Value> {
    defaults_map().remove(key)
}
