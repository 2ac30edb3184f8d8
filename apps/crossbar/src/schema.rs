//! Validates request data against a JSON schema and fills in its defaults, reporting errors as Kazoo does.
//!
//! Ports `cb_context:validate_request_data/2` over `kz_json_schema` (jesse, draft 4): absent properties get the
//! schema's `default` (recursively into objects the schema describes), a string sent where an integer or a
//! boolean belongs is converted when it parses (Kazoo's `maybe_fix_js_types`), and every remaining error becomes
//! one `{"<field>": {"<keyword>": {"message", "target", "value"}}}` entry with Kazoo's messages.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value, json};

use crate::envelope::ValidationErrors;

/// The faxbox schema, compiled into the binary from `priv/schemas/faxbox.json`.
pub const FAXBOX_SCHEMA: &str = include_str!("../../../priv/schemas/faxbox.json");

/// How many rounds of type fixing are tried before the errors are reported.
const FIX_ROUNDS: usize = 4;

/// One validation failure, as much of it as the report needs.
#[derive(Debug, Clone, PartialEq)]
enum Issue {
    Required(String),
    MinLength(u64),
    MaxLength(u64),
    Minimum(Value),
    Maximum(Value),
    /// The expected type(s), comma-separated, and the one type when there is a single one.
    Type(String, Option<String>),
    Enum(Value),
    Pattern(String),
    Format(String),
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
    AdditionalProperties,
    Other(String),
}

impl Issue {
    fn of(kind: &ValidationErrorKind) -> Issue {
        match kind {
            ValidationErrorKind::Required { property } => {
                Issue::Required(property.as_str().map(String::from).unwrap_or_else(|| property.to_string()))
            }
            ValidationErrorKind::MinLength { limit } => Issue::MinLength(*limit),
            ValidationErrorKind::MaxLength { limit } => Issue::MaxLength(*limit),
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
                Issue::Minimum(limit.clone())
            }
            ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
                Issue::Maximum(limit.clone())
            }
            ValidationErrorKind::Type { kind: TypeKind::Single(t) } => Issue::Type(t.to_string(), Some(t.to_string())),
            ValidationErrorKind::Type { kind: TypeKind::Multiple(set) } => {
                Issue::Type(set.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","), None)
            }
            ValidationErrorKind::Enum { options } => Issue::Enum(options.as_ref().clone()),
            ValidationErrorKind::Pattern { pattern } => Issue::Pattern(pattern.clone()),
            ValidationErrorKind::Format { format } => Issue::Format(format.clone()),
            ValidationErrorKind::MinItems { limit } => Issue::MinItems(*limit),
            ValidationErrorKind::MaxItems { limit } => Issue::MaxItems(*limit),
            ValidationErrorKind::UniqueItems => Issue::UniqueItems,
            ValidationErrorKind::AdditionalProperties { .. } => Issue::AdditionalProperties,
            other => Issue::Other(other.keyword().to_string()),
        }
    }
}

/// A compiled schema with its source (for defaults).
pub struct Schema {
    source: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("id", &self.source.get("_id")).finish()
    }
}

/// A schema that does not parse or compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid schema: {0}")]
pub struct SchemaError(String);

impl Schema {
    /// Compiles a draft-4 schema from its JSON text.
    pub fn compile(text: &str) -> Result<Schema, SchemaError> {
        let source: Value = serde_json::from_str(text).map_err(|e| SchemaError(e.to_string()))?;
        let validator = jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&source)
            .map_err(|e| SchemaError(e.to_string()))?;
        Ok(Schema { source, validator })
    }

    /// The faxbox schema.
    pub fn faxbox() -> Result<Schema, SchemaError> {
        Schema::compile(FAXBOX_SCHEMA)
    }

    /// The schema's JSON.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Fills in defaults, then validates; on success `doc` holds the data to store.
    pub fn validate(&self, doc: &mut Map<String, Value>) -> Result<(), ValidationErrors> {
        apply_defaults(&self.source, doc);
        let mut instance = Value::Object(std::mem::take(doc));
        let mut result = Ok(());
        for _ in 0..FIX_ROUNDS {
            let errors: Vec<(String, Issue, Value)> = self
                .validator
                .iter_errors(&instance)
                .map(|e| {
                    (e.instance_path().as_str().to_string(), Issue::of(e.kind()), e.instance().clone().into_owned())
                })
                .collect();
            if errors.is_empty() {
                result = Ok(());
                break;
            }
            if fix_js_types(&mut instance, &errors) {
                continue;
            }
            let mut out = ValidationErrors::default();
            for (pointer, issue, value) in &errors {
                report(&mut out, pointer, issue, value);
            }
            result = Err(out);
            break;
        }
        if let Value::Object(m) = instance {
            *doc = m;
        }
        result
    }
}

/// Sets the schema's `default` on every absent property, then descends into present objects the schema
/// describes with `properties`.
pub fn apply_defaults(schema: &Value, doc: &mut Map<String, Value>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    for (key, sub) in props {
        if !doc.contains_key(key)
            && let Some(default) = sub.get("default")
        {
            doc.insert(key.clone(), default.clone());
        }
        if let Some(Value::Object(child)) = doc.get_mut(key)
            && sub.get("properties").is_some()
        {
            apply_defaults(sub, child);
        }
    }
}

/// Converts strings that parse as the integer or boolean the schema wants; true when anything changed.
fn fix_js_types(instance: &mut Value, errors: &[(String, Issue, Value)]) -> bool {
    let mut changed = false;
    for (pointer, issue, value) in errors {
        let Issue::Type(_, Some(want)) = issue else { continue };
        let Value::String(text) = value else { continue };
        let fixed = match want.as_str() {
            "integer" => text.trim().parse::<i64>().ok().map(Value::from),
            "boolean" => match text.trim() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        if let (Some(fixed), Some(slot)) = (fixed, instance.pointer_mut(pointer)) {
            *slot = fixed;
            changed = true;
        }
    }
    changed
}

/// The segments of a JSON pointer, unescaped.
fn segments(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

fn report(out: &mut ValidationErrors, pointer: &str, issue: &Issue, value: &Value) {
    let mut path = segments(pointer);
    let (code, detail) = match issue {
        Issue::Required(property) => {
            path.push(property.clone());
            ("required", json!({ "message": "Field is required but missing" }))
        }
        Issue::MinLength(limit) => (
            "minLength",
            json!({ "message": format!("String must be at least {limit} characters"), "target": limit,
                    "cause": value, "value": value }),
        ),
        Issue::MaxLength(limit) => (
            "maxLength",
            json!({ "message": format!("String must not be more than {limit} characters"), "target": limit,
                    "cause": value, "value": value }),
        ),
        Issue::Minimum(limit) => (
            "minimum",
            json!({ "message": format!("Value must be at least {limit}"), "target": limit, "value": value }),
        ),
        Issue::Maximum(limit) => {
            ("maximum", json!({ "message": format!("Value must be at most {limit}"), "target": limit, "value": value }))
        }
        Issue::Type(types, _) => (
            "type",
            json!({ "message": format!("Value did not match type(s): {types}"), "target": types, "value": value }),
        ),
        Issue::Enum(options) => (
            "enum",
            json!({ "message": "Value not found in enumerated list of values", "target": options, "value": value }),
        ),
        Issue::Pattern(pattern) => (
            "pattern",
            json!({ "message": format!("Failed to match pattern '{pattern}'"), "target": pattern, "value": value }),
        ),
        Issue::Format(format) => (
            "wrong_format",
            json!({ "message": "Field is not in the correct format", "value": value, "format": format }),
        ),
        Issue::MinItems(limit) => (
            "minItems",
            json!({ "message": format!("The list must have at least {limit} items"), "target": limit,
                    "value": value }),
        ),
        Issue::MaxItems(limit) => (
            "maxItems",
            json!({ "message": format!("The list is more than {limit} items"), "target": limit, "value": value }),
        ),
        Issue::UniqueItems => ("uniqueItems", json!({ "message": "List of items is not unique", "value": value })),
        Issue::AdditionalProperties => (
            "additionalProperties",
            json!({ "message": "Strict checking of data is enabled; only include schema-defined properties",
                    "value": value }),
        ),
        Issue::Other(keyword) => {
            out.add(&path, keyword, json!({ "message": "failed to validate", "value": value }));
            return;
        }
    };
    out.add(&path, code, detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faxbox() -> Schema {
        Schema::faxbox().expect("priv/schemas/faxbox.json compiles")
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_fill_absent_properties_only() {
        let mut doc = obj(json!({"name": "Box", "retries": 3}));
        faxbox().validate(&mut doc).expect("valid");
        assert_eq!(doc["retries"], 3);
        assert_eq!(doc["caller_name"], "Kazoo Fax Printer");
        assert_eq!(doc["fax_header"], "Kazoo Fax Printer");
        assert_eq!(doc["attempts"], 0);
        assert_eq!(doc["media"], json!({}));
        assert_eq!(doc["smtp_permission_list"], json!([]));
        assert!(!doc.contains_key("notifications"));
    }

    #[test]
    fn nested_defaults_follow_the_schema() {
        let schema = json!({"properties": {"a": {"type": "object", "default": {},
            "properties": {"b": {"default": 1}, "c": {"type": "object", "properties": {"d": {"default": "x"}}}}}}});
        let mut doc = obj(json!({"a": {"c": {}}}));
        apply_defaults(&schema, &mut doc);
        assert_eq!(Value::Object(doc), json!({"a": {"b": 1, "c": {"d": "x"}}}));
        let mut empty = Map::new();
        apply_defaults(&schema, &mut empty);
        assert_eq!(Value::Object(empty), json!({"a": {"b": 1}}));
    }

    #[test]
    fn errors_take_kazoos_shape() {
        let mut doc = obj(json!({"retries": 9, "caller_name": 5,
            "notifications": {"inbound": {"callback": {"url": "ftp://x", "method": "get"}}}}));
        let e = faxbox().validate(&mut doc).expect_err("invalid");
        let m = e.as_map();
        assert_eq!(m["name"]["required"]["message"], "Field is required but missing");
        assert_eq!(m["retries"]["maximum"]["message"], "Value must be at most 4");
        assert_eq!(m["retries"]["maximum"]["value"], 9);
        assert_eq!(m["caller_name"]["type"]["message"], "Value did not match type(s): string");
        assert_eq!(m["notifications.inbound.callback.url"]["pattern"]["target"], "^https?://");
        assert_eq!(m["notifications.inbound.callback.method"]["enum"]["target"], json!(["post", "put"]));
        let mut long = obj(json!({"name": "x".repeat(129)}));
        let e = faxbox().validate(&mut long).expect_err("too long");
        assert_eq!(e.as_map()["name"]["maxLength"]["message"], "String must not be more than 128 characters");
        let mut empty = obj(json!({"name": ""}));
        let e = faxbox().validate(&mut empty).expect_err("too short");
        assert_eq!(e.as_map()["name"]["minLength"]["target"], 1);
    }

    #[test]
    fn cover_page_is_an_optional_boolean_false_by_default() {
        let mut doc = obj(json!({"name": "Box"}));
        faxbox().validate(&mut doc).expect("valid");
        assert_eq!(doc["cover_page"], false);
        let mut on = obj(json!({"name": "Box", "cover_page": "true"}));
        faxbox().validate(&mut on).expect("fixed");
        assert_eq!(on["cover_page"], true);
        let mut bad = obj(json!({"name": "Box", "cover_page": "sometimes"}));
        let e = faxbox().validate(&mut bad).expect_err("not a boolean");
        assert!(e.as_map()["cover_page"].get("type").is_some(), "{:?}", e.as_map());
    }

    #[test]
    fn javascript_types_are_fixed_like_kazoo() {
        let mut doc = obj(json!({"name": "Box", "retries": "2", "media": {"fax_option": "true"}}));
        faxbox().validate(&mut doc).expect("fixed");
        assert_eq!(doc["retries"], 2);
        assert_eq!(doc["media"]["fax_option"], true);
        let mut bad = obj(json!({"name": "Box", "retries": "two"}));
        let e = faxbox().validate(&mut bad).expect_err("not a number");
        assert!(e.as_map()["retries"].get("type").is_some());
    }

    #[test]
    fn email_format_is_checked() {
        let mut doc = obj(json!({"name": "Box", "notifications": {"outbound": {"email": {"send_to": ["nope"]}}}}));
        let e = faxbox().validate(&mut doc).expect_err("bad email");
        assert!(e.as_map().contains_key("notifications.outbound.email.send_to.0"), "{:?}", e.as_map());
        let mut ok = obj(json!({"name": "Box", "notifications": {"outbound": {"email": {"send_to": "a@b.com"}}}}));
        faxbox().validate(&mut ok).expect("good email");
    }

    #[test]
    fn our_schema_has_kazoos_shape_and_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-schemas/faxbox.json");
        let text = std::fs::read_to_string(&path).expect("kazoo faxbox schema");
        let kazoo: Value = serde_json::from_str(&text).expect("json");
        let ours = faxbox();
        fn strip(v: &Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .filter(|(k, _)| {
                            !matches!(k.as_str(), "description" | "support_level" | "kazoo-validation" | "kazoo-regexp")
                        })
                        .map(|(k, v)| (k.clone(), strip(v)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
                other => other.clone(),
            }
        }
        // Our own settings, beside Kazoo's: optional, and allowed by Kazoo's schema (no additionalProperties).
        let additions = ["cover_page"];
        let mut ours = strip(ours.source());
        for key in additions {
            assert!(kazoo["properties"].get(key).is_none(), "{key} is Kazoo's own");
            let removed = ours["properties"].as_object_mut().and_then(|p| p.remove(key));
            assert!(removed.is_some(), "{key} is in our schema");
        }
        assert!(kazoo.get("additionalProperties").is_none());
        assert_eq!(ours, strip(&kazoo));
    }
}
