//! Matches senders against faxbox permission entries and keeps the number rules compiled.
//!
//! Ports `fax_smtp:match/2` and the `knm_converters` calls of `check_number`. Kazoo compares the lowercased
//! sender with the lowercased entry, or runs the entry as an unanchored PCRE regex, case-sensitively; an entry
//! with uppercase letters or a regex Erlang cannot compile (which `re:run` reports as an error, counted as a
//! match) made its answers surprising. Here both comparisons ignore case, a regex is compiled with a size limit
//! and one that does not compile never matches (it is logged once), and an empty entry never matches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kz_core::e164::NumberRules;
use regex::{Regex, RegexBuilder};
use serde_json::Value;
use tracing::warn;

/// The most compiled program memory one permission regex may take.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Compiled permission regexes kept; the map is emptied when it grows past this.
const MAX_PATTERNS: usize = 4096;

/// Compiled permission entries (or `None` for an entry that is not a valid regex), by entry text.
#[derive(Debug, Default)]
pub(crate) struct Patterns {
    compiled: Mutex<HashMap<String, Option<Arc<Regex>>>>,
}

impl Patterns {
    /// Whether sender `from` (already lowercased) matches permission entry `entry`: equal to it ignoring case,
    /// or matched anywhere by it used as a case-insensitive regex.
    pub(crate) fn matches(&self, from: &str, entry: &str) -> bool {
        let entry = entry.trim();
        if entry.is_empty() {
            return false;
        }
        if entry.to_lowercase() == from {
            return true;
        }
        self.regex(entry).is_some_and(|re| re.is_match(from))
    }

    fn regex(&self, entry: &str) -> Option<Arc<Regex>> {
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = compiled.get(entry) {
            return found.clone();
        }
        let built = match RegexBuilder::new(entry)
            .case_insensitive(true)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Some(Arc::new(re)),
            Err(e) => {
                warn!(entry, error = %e, "faxbox permission entry is not a valid regex, it only matches exactly");
                None
            }
        };
        if compiled.len() >= MAX_PATTERNS {
            compiled.clear();
        }
        compiled.insert(entry.to_string(), built.clone());
        built
    }
}

/// The number rules last built, with the `system_config/number_manager` values they were built from.
#[derive(Debug, Default)]
pub(crate) struct NumberRulesCache {
    current: Mutex<Option<(Value, Arc<NumberRules>)>>,
}

impl NumberRulesCache {
    /// The rules for `source` (`{"reconcile_regex": .., "e164_converters": ..}` with whatever is configured),
    /// compiled once per distinct source. A configuration that does not compile falls back to Kazoo's defaults.
    pub(crate) fn rules_for(&self, source: Value) -> Arc<NumberRules> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, rules)) = current.as_ref()
            && *seen == source
        {
            return rules.clone();
        }
        let rules = match NumberRules::from_config(&source) {
            Ok(rules) => rules,
            Err(e) => {
                warn!(error = %e, "number_manager rules do not compile, using the defaults");
                NumberRules::default()
            }
        };
        let rules = Arc::new(rules);
        *current = Some((source, rules.clone()));
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_entries_ignore_case() {
        let p = Patterns::default();
        assert!(p.matches("john@example.com", "John@Example.COM"));
        assert!(p.matches("john@example.com", " john@example.com "));
        assert!(!p.matches("jane@example.com", "john@example.com"));
    }

    #[test]
    fn regex_entries_are_unanchored_and_ignore_case() {
        let p = Patterns::default();
        assert!(p.matches("john@example.com", r"@EXAMPLE\.com$"));
        assert!(p.matches("john@sub.example.com", r"example\.com"));
        assert!(p.matches("anyone@corp.example", ".*@corp"));
        assert!(!p.matches("john@example.org", r"@example\.com$"));
    }

    #[test]
    fn invalid_or_empty_entries_never_match() {
        let p = Patterns::default();
        // PCRE and Rust both reject a leading repetition; Kazoo counted the compile error as a match.
        assert!(!p.matches("john@example.com", "*@example.com"));
        assert!(!p.matches("john@example.com", "(unclosed"));
        // A backreference is PCRE-only: it never matches rather than failing the lookup.
        assert!(!p.matches("aa@example.com", r"(a)\1"));
        assert!(!p.matches("john@example.com", ""));
        assert!(!p.matches("", "  "));
        // Asked again, the cached failure still never matches.
        assert!(!p.matches("john@example.com", "*@example.com"));
    }

    #[test]
    fn oversized_regexes_are_refused() {
        let p = Patterns::default();
        // Both would match; the second compiles past the size limit and is refused.
        assert!(p.matches("john@example.com", "(?:x?){3}john"));
        assert!(p.regex("(?:x?){3}john").is_some());
        assert!(p.regex("(?:[a-z]?){20000}john").is_none());
        assert!(!p.matches("john@example.com", "(?:[a-z]?){20000}john"));
    }

    #[test]
    fn number_rules_are_rebuilt_only_when_the_source_changes() {
        let c = NumberRulesCache::default();
        let a = c.rules_for(json!({}));
        let b = c.rules_for(json!({}));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.reconcile("4155551212").as_deref(), Some("+14155551212"));
        let custom = c.rules_for(json!({"reconcile_regex": "^\\d{4}$", "e164_converters": {}}));
        assert_eq!(custom.reconcile("1234").as_deref(), Some("1234"));
        assert_eq!(custom.reconcile("4155551212"), None);
        let broken = c.rules_for(json!({"reconcile_regex": "("}));
        assert_eq!(broken.reconcile("4155551212").as_deref(), Some("+14155551212"));
    }
}
