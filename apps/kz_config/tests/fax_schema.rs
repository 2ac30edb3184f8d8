//! Checks that the typed fax configuration, our schema in `priv/schemas/` and Kazoo's schema agree on every key
//! and default.

use std::path::PathBuf;

use kz_config::fax::{FaxConfig, defaults_map};
use serde_json::Value;

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check_defaults_against(schema: &Value, what: &str) {
    let props = schema["properties"].as_object().expect("properties");
    let defaults = defaults_map();
    let schema_keys: Vec<&String> = props.keys().collect();
    let typed_keys: Vec<&String> = defaults.keys().collect();
    let mut a = schema_keys.clone();
    let mut b = typed_keys.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "{what}: keys differ");
    for (key, prop) in props {
        assert_eq!(Some(&prop["default"]), defaults.get(key), "{what}: default of {key}");
    }
}

#[test]
fn our_schema_states_the_typed_defaults() {
    check_defaults_against(&read_json(root().join("priv/schemas/system_config.fax.json")), "priv schema");
}

#[test]
fn kazoo_schema_states_the_same_defaults() {
    check_defaults_against(
        &read_json(root().join("../shared/kazoo-schemas/system_config.fax.json")),
        "Kazoo's system_config.fax schema",
    );
}

#[test]
fn defaults_validate_against_both_schemas() {
    let defaults = Value::Object(defaults_map());
    for path in [
        root().join("priv/schemas/system_config.fax.json"),
        root().join("../shared/kazoo-schemas/system_config.fax.json"),
    ] {
        let schema = read_json(path.clone());
        let validator = jsonschema::draft4::new(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let errors: Vec<String> = validator.iter_errors(&defaults).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn unknown_keys_round_trip() {
    let mut doc = defaults_map();
    doc.insert("some_future_key".into(), Value::from("kept"));
    doc.insert("max_outbound".into(), Value::from(4));
    let typed: FaxConfig = serde_json::from_value(Value::Object(doc.clone())).expect("parse");
    assert_eq!(typed.max_outbound, 4);
    assert_eq!(typed.extra.get("some_future_key"), Some(&Value::from("kept")));
    let back = serde_json::to_value(&typed).expect("encode");
    assert_eq!(back, Value::Object(doc));
}

#[test]
fn spec_defaults_spot_check() {
    let d = FaxConfig::default();
    assert_eq!(d.default_smtp_domain, "fax.kazoo.io");
    assert_eq!(d.smtp_port, 19025);
    assert_eq!(d.smtp_sessions, 50);
    assert_eq!(d.smtp_max_msg_size, 10_485_670);
    assert_eq!(d.port, 30950);
    assert_eq!(d.max_outbound, 10);
    assert_eq!(d.endpoint_timeout, 40);
    assert_eq!(d.default_retry_period, 300);
    assert_eq!(d.inbound_t38_default, "true");
}
