//! Types the conversion limits of the `system_config/kazoo_convert` category, with their defaults defined once.
//!
//! Ports the `kazoo_convert` settings Kazoo's `kz_fax_converter` reads with key paths such as
//! `[<<"fax">>, <<"convert_command_timeout">>]`: nested objects inside a section, e.g.
//! `{"_id": "kazoo_convert", "default": {"fax": {"convert_command_timeout": 180000}}}`. Kazoo bounds a conversion
//! only by that timeout; `fax.max_pages` and `fax.max_pixels` are this product's additions in the same place, so
//! `system_config/fax` keeps exactly Kazoo's keys. Each key is read node -> zone -> default; one set nowhere gets
//! its default written back under `default`. A value that is not a positive integer is ignored with a warning and
//! the default applies, so a typo never stops faxes from being converted.

use serde_json::{Value, json};
use tracing::warn;

use crate::{Config, ConfigResult};

/// The category name: the `_id` of the `system_config` document.
pub const CATEGORY: &str = "kazoo_convert";

/// The key path of the time limit of one conversion, in milliseconds (Kazoo's).
pub const TIMEOUT_PATH: [&str; 2] = ["fax", "convert_command_timeout"];

/// The key path of the most pages one fax may have, cover sheet included.
pub const MAX_PAGES_PATH: [&str; 2] = ["fax", "max_pages"];

/// The key path of the most pixels one source picture or page may decode to.
pub const MAX_PIXELS_PATH: [&str; 2] = ["fax", "max_pixels"];

/// The limits a document conversion runs under (spec §5.6, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvertConfig {
    /// Wall-clock limit of one conversion, in milliseconds.
    pub timeout_ms: u64,
    /// The most pages one fax may have, cover sheet included.
    pub max_pages: u32,
    /// The most pixels one source picture or page may decode to (bounds memory).
    pub max_pixels: u64,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig { timeout_ms: 180_000, max_pages: 100, max_pixels: 50_000_000 }
    }
}

impl ConvertConfig {
    /// The keys of the category with their defaults, in the order [`ConvertConfig::from_values`] takes them.
    pub fn defaults() -> [(&'static [&'static str], Value); 3] {
        let d = ConvertConfig::default();
        [
            (&TIMEOUT_PATH, json!(d.timeout_ms)),
            (&MAX_PAGES_PATH, json!(d.max_pages)),
            (&MAX_PIXELS_PATH, json!(d.max_pixels)),
        ]
    }

    /// The configuration from the values found at the keys of [`ConvertConfig::defaults`], in that order. A value
    /// that is not a positive integer in range gives the default, with a warning naming the key.
    pub fn from_values(values: &[Value]) -> ConvertConfig {
        let d = ConvertConfig::default();
        let at = |i: usize| values.get(i).unwrap_or(&Value::Null);
        ConvertConfig {
            timeout_ms: positive(at(0), &TIMEOUT_PATH, d.timeout_ms),
            max_pages: positive(at(1), &MAX_PAGES_PATH, d.max_pages),
            max_pixels: positive(at(2), &MAX_PIXELS_PATH, d.max_pixels),
        }
    }
}

/// `value` as a positive integer of type `T`, else `default` (with a warning unless the key is simply unset).
fn positive<T: TryFrom<u64> + Copy + std::fmt::Display>(value: &Value, path: &[&str], default: T) -> T {
    match value.as_u64().filter(|n| *n > 0).and_then(|n| T::try_from(n).ok()) {
        Some(n) => n,
        None => {
            if !value.is_null() {
                warn!(
                    category = CATEGORY,
                    key = %path.join("."),
                    value = %value,
                    default = %default,
                    "invalid conversion setting, using the default"
                );
            }
            default
        }
    }
}

impl Config {
    /// The conversion limits in force on this node, read through the configuration cache (a change made with
    /// `sup` or in the store applies within [`crate::CACHE_TTL`]).
    pub async fn convert(&self) -> ConfigResult<ConvertConfig> {
        let values = self.get_paths_or_default(CATEGORY, &ConvertConfig::defaults()).await?;
        Ok(ConvertConfig::from_values(&values))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use kz_core::db;
    use kz_data::embedded::EmbeddedStore;
    use kz_data::{Doc, Store};
    use serde_json::json;

    use super::*;

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open store");
        (dir, Arc::new(store))
    }

    async fn put(store: &Arc<dyn Store>, doc: Value) {
        store.db_create(db::SYSTEM_CONFIG).await.expect("db");
        let mut doc: Doc = doc.as_object().cloned().expect("object");
        if let Ok(old) = store.get(db::SYSTEM_CONFIG, CATEGORY).await {
            doc.insert("_rev".into(), old["_rev"].clone());
        }
        store.save(db::SYSTEM_CONFIG, doc).await.expect("save");
    }

    async fn raw(store: &Arc<dyn Store>) -> Doc {
        store.get(db::SYSTEM_CONFIG, CATEGORY).await.expect("kazoo_convert doc")
    }

    #[test]
    fn defaults_are_kazoos_timeout_and_sane_limits() {
        let d = ConvertConfig::default();
        assert_eq!((d.timeout_ms, d.max_pages, d.max_pixels), (180_000, 100, 50_000_000));
        let keys: Vec<String> = ConvertConfig::defaults().iter().map(|(p, _)| p.join(".")).collect();
        assert_eq!(keys, ["fax.convert_command_timeout", "fax.max_pages", "fax.max_pixels"]);
        assert_eq!(ConvertConfig::from_values(&[]), d, "nothing found: the defaults");
    }

    #[tokio::test]
    async fn an_empty_category_gives_the_defaults_and_writes_them_back_nested() {
        let (_d, store) = store();
        let cfg = Config::new(store.clone(), "faxd@a", None);
        assert_eq!(cfg.convert().await.expect("convert"), ConvertConfig::default());
        let doc = raw(&store).await;
        assert_eq!(
            doc["default"]["fax"],
            json!({"convert_command_timeout": 180_000, "max_pages": 100, "max_pixels": 50_000_000})
        );
        assert!(doc["default"].get("fax.max_pages").is_none(), "a path, not a dotted key");
    }

    #[tokio::test]
    async fn each_key_is_read_node_then_zone_then_default_inside_nested_objects() {
        let (_d, store) = store();
        put(
            &store,
            json!({
                "_id": CATEGORY,
                "default": {"fax": {"max_pages": 5, "attachment_format": "pdf"}, "fax.max_pixels": 7},
                "east": {"fax": {"max_pixels": 1_000_000}},
                "faxd@a": {"fax": {"convert_command_timeout": 1_000}},
            }),
        )
        .await;
        let a = Config::new(store.clone(), "faxd@a", Some("east".into()));
        assert_eq!(
            a.convert().await.expect("a"),
            ConvertConfig { timeout_ms: 1_000, max_pages: 5, max_pixels: 1_000_000 }
        );
        let b = Config::new(store.clone(), "faxd@b", None);
        assert_eq!(
            b.convert().await.expect("b"),
            ConvertConfig { timeout_ms: 180_000, max_pages: 5, max_pixels: 50_000_000 },
            "another node outside the zone; a dotted key is not a path"
        );
        assert_eq!(a.get_path(CATEGORY, &MAX_PIXELS_PATH).await.expect("path"), Some(json!(1_000_000)));
        assert_eq!(b.get_path(CATEGORY, &["fax", "nope"]).await.expect("path"), None);
        let doc = raw(&store).await;
        assert_eq!(
            doc["default"]["fax"],
            json!({"max_pages": 5, "attachment_format": "pdf", "convert_command_timeout": 180_000,
                   "max_pixels": 50_000_000}),
            "only the keys set nowhere are written back, beside the others"
        );
        assert_eq!(doc["faxd@a"], json!({"fax": {"convert_command_timeout": 1_000}}));
    }

    #[tokio::test]
    async fn invalid_values_fall_back_to_the_defaults_and_stay_in_the_document() {
        let (_d, store) = store();
        let cfg = Config::new(store.clone(), "faxd@a", None);
        for (timeout, pages, pixels) in [
            (json!(-1), json!(0), json!("10")),
            (json!(1.5), json!(5_000_000_000u64), json!(null)),
            (json!("180000"), json!([1]), json!({"n": 1})),
        ] {
            put(
                &store,
                json!({"_id": CATEGORY, "default": {"fax": {
                    "convert_command_timeout": timeout, "max_pages": pages, "max_pixels": pixels}}}),
            )
            .await;
            cfg.flush();
            assert_eq!(cfg.convert().await.expect("convert"), ConvertConfig::default(), "{timeout} {pages} {pixels}");
            let doc = raw(&store).await;
            assert_eq!(doc["default"]["fax"]["max_pages"], pages, "an invalid value is not overwritten");
        }
        // A section or a parent that is not an object is left alone too.
        put(&store, json!({"_id": CATEGORY, "default": {"fax": "junk"}})).await;
        cfg.flush();
        assert_eq!(cfg.convert().await.expect("convert"), ConvertConfig::default());
        assert_eq!(raw(&store).await["default"]["fax"], json!("junk"));
    }

    #[tokio::test]
    async fn a_change_applies_within_the_cache_time() {
        let (_d, store) = store();
        let node = Config::new(store.clone(), "faxd@a", None);
        let operator = Config::new(store.clone(), "sup", None);
        assert_eq!(node.convert().await.expect("convert").max_pages, 100);
        operator.set_default(CATEGORY, "fax", json!({"max_pages": 1})).await.expect("set_default");
        let started = Instant::now();
        loop {
            let c = node.convert().await.expect("convert");
            if c.max_pages == 1 {
                assert_eq!(c.timeout_ms, 180_000, "the other keys keep their defaults");
                break;
            }
            assert!(started.elapsed() < crate::CACHE_TTL + Duration::from_millis(500), "change not seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn value_at_follows_a_path() {
        let v = json!({"fax": {"max_pages": 3}, "flat": 1});
        assert_eq!(crate::value_at(&v, &["fax", "max_pages"]), Some(&json!(3)));
        assert_eq!(crate::value_at(&v, &["flat", "deeper"]), None);
        assert_eq!(crate::value_at(&v, &[]), Some(&v));
    }
}
