//! Normalises phone numbers to E.164 and decides whether they are reconcilable.
//!
//! Ports `knm_converters` with `system_config/number_manager`'s defaults: `e164_converters` turn a dialled
//! number into E.164 (the first matching regex wins; its last participating capture group, or the whole match,
//! gets the converter's prefix and suffix), and `reconcile_regex` says whether the normalised number is one the
//! system may handle. Fax uses both on the local part of an email-to-fax address (spec §2.3 step 7).

use regex::Regex;
use serde_json::Value;

/// Kazoo's default `reconcile_regex`.
pub const DEFAULT_RECONCILE_REGEX: &str = r"^(\+?1)?\d{10}$|^\+[2-9]\d{7,}$|^011\d*$|^00\d*$";

/// Kazoo's default `e164_converters`, as (regex, prefix).
pub const DEFAULT_CONVERTERS: &[(&str, &str)] =
    &[(r"^(\+?1)?([2-9]\d{2}[2-9]\d{6})$", "+1"), (r"^011(\d{5,})$|^00(\d{5,})$", "+"), (r"^[2-9]\d{7,}$", "+")];

/// A number-rules error: a configured regex that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid number rule regex {regex:?}: {reason}")]
pub struct RuleError {
    pub regex: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Converter {
    regex: Regex,
    prefix: String,
    suffix: String,
}

/// The reconcile regex and E.164 converters in force.
#[derive(Debug, Clone)]
pub struct NumberRules {
    reconcile: Regex,
    converters: Vec<Converter>,
}

fn compile(re: &str) -> Result<Regex, RuleError> {
    Regex::new(re).map_err(|e| RuleError { regex: re.to_string(), reason: e.to_string() })
}

impl Default for NumberRules {
    fn default() -> Self {
        // The defaults are constants checked by unit tests; failing to compile them is a build defect.
        Self::new(DEFAULT_RECONCILE_REGEX, DEFAULT_CONVERTERS.iter().map(|(r, p)| (*r, *p, "")))
            .unwrap_or_else(|e| panic!("default number rules: {e}"))
    }
}

impl NumberRules {
    /// Rules from a reconcile regex and (regex, prefix, suffix) converters, tried in order.
    pub fn new<'a>(
        reconcile: &str,
        converters: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<Self, RuleError> {
        let converters = converters
            .into_iter()
            .map(|(r, prefix, suffix)| {
                Ok(Converter { regex: compile(r)?, prefix: prefix.to_string(), suffix: suffix.to_string() })
            })
            .collect::<Result<Vec<_>, RuleError>>()?;
        Ok(NumberRules { reconcile: compile(reconcile)?, converters })
    }

    /// Rules from a `system_config/number_manager` document section: `reconcile_regex` (string) and
    /// `e164_converters` (`{"<regex>": {"prefix": .., "suffix": ..}}`, in document order); missing keys take
    /// Kazoo's defaults.
    pub fn from_config(config: &Value) -> Result<Self, RuleError> {
        let reconcile = config.get("reconcile_regex").and_then(Value::as_str).unwrap_or(DEFAULT_RECONCILE_REGEX);
        match config.get("e164_converters").and_then(Value::as_object) {
            Some(map) => Self::new(
                reconcile,
                map.iter().map(|(re, v)| {
                    (
                        re.as_str(),
                        v.get("prefix").and_then(Value::as_str).unwrap_or(""),
                        v.get("suffix").and_then(Value::as_str).unwrap_or(""),
                    )
                }),
            ),
            None => Self::new(reconcile, DEFAULT_CONVERTERS.iter().map(|(r, p)| (*r, *p, ""))),
        }
    }

    /// The E.164 form of `number` by the first converter that matches, or `number` unchanged.
    pub fn normalize(&self, number: &str) -> String {
        for c in &self.converters {
            if let Some(caps) = c.regex.captures(number) {
                let root = (1..caps.len()).rev().find_map(|i| caps.get(i)).or_else(|| caps.get(0));
                let root = root.map(|m| m.as_str()).unwrap_or(number);
                return format!("{}{root}{}", c.prefix, c.suffix);
            }
        }
        number.to_string()
    }

    /// Whether the normalised form of `number` matches the reconcile regex.
    pub fn is_reconcilable(&self, number: &str) -> bool {
        self.reconcile.is_match(&self.normalize(number))
    }

    /// The normalised number when reconcilable, else `None` (Kazoo's "fax number X is invalid").
    pub fn reconcile(&self, number: &str) -> Option<String> {
        let normalized = self.normalize(number);
        self.reconcile.is_match(&normalized).then_some(normalized)
    }
}

/// Keeps only the digits 0-9 (Kazoo's `fax_util:filter_numbers`): `+1 (415) 555-1212` -> `14155551212`.
pub fn digits_only(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_normalize_like_kazoo() {
        let r = NumberRules::default();
        assert_eq!(r.normalize("4155551212"), "+14155551212");
        assert_eq!(r.normalize("14155551212"), "+14155551212");
        assert_eq!(r.normalize("+14155551212"), "+14155551212");
        assert_eq!(r.normalize("011442071234567"), "+442071234567");
        assert_eq!(r.normalize("00442071234567"), "+442071234567");
        assert_eq!(r.normalize("442071234567"), "+442071234567");
        assert_eq!(r.normalize("1234"), "1234");
        assert_eq!(r.normalize("+442071234567"), "+442071234567");
    }

    #[test]
    fn reconcile_accepts_and_rejects() {
        let r = NumberRules::default();
        // 1-555-123-4567: no converter matches (exchange starts with 1), but `^(\+?1)?\d{10}$` reconciles it as is.
        assert_eq!(r.reconcile("15551234567").as_deref(), Some("15551234567"));
        assert_eq!(r.reconcile("14155551212").as_deref(), Some("+14155551212"));
        assert_eq!(r.reconcile("00442071234567").as_deref(), Some("+442071234567"));
        assert_eq!(r.reconcile("1234"), None);
        assert_eq!(r.reconcile(""), None);
        assert_eq!(r.reconcile("0123456"), None);
        assert!(r.is_reconcilable("6125551234"));
    }

    #[test]
    fn digits_only_strips_everything_else() {
        assert_eq!(digits_only("+1 (415) 555-1212"), "14155551212");
        assert_eq!(digits_only("fax-me"), "");
    }

    #[test]
    fn rules_from_config() {
        let cfg = json!({
            "reconcile_regex": "^\\+?\\d{4}$",
            "e164_converters": {"^(\\d{4})$": {"prefix": "+", "suffix": ""}}
        });
        let r = NumberRules::from_config(&cfg).expect("rules");
        assert_eq!(r.reconcile("1234").as_deref(), Some("+1234"));
        assert_eq!(r.reconcile("4155551212"), None);
        assert!(NumberRules::from_config(&json!({"reconcile_regex": "("})).is_err());
        let d = NumberRules::from_config(&json!({})).expect("defaults");
        assert_eq!(d.reconcile("4155551212").as_deref(), Some("+14155551212"));
    }
}
