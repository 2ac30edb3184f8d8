//! Keeps recent lookup answers for a short time, bounded in size.
//!
//! Plays the part of Kazoo's `fax_cache` (a `kz_cache` flushed by document-change events) for recipient
//! lookups: answers are keyed by (lowercased recipient, lowercased sender) and every entry expires after a fixed
//! time whatever happens on the bus, so a change that nobody announced is still seen promptly. When the cache
//! is full, expired entries go first, then the oldest ones.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A bounded map whose entries expire `ttl` after they were stored.
#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    entries: HashMap<K, (Instant, V)>,
    ttl: Duration,
    max_entries: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        TtlCache { entries: HashMap::new(), ttl, max_entries: max_entries.max(1) }
    }

    /// The value stored under `key`, unless it expired.
    pub(crate) fn get(&self, key: &K, now: Instant) -> Option<V> {
        self.entries.get(key).filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl).map(|(_, v)| v.clone())
    }

    /// Stores `value` under `key`, making room first when the cache is full: expired entries are dropped, and if
    /// that is not enough, the oldest entry.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries.retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            if self.entries.len() >= self.max_entries {
                let oldest = self.entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key, (now, value));
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(Duration::from_secs(1), 10);
        c.insert("a", 1, t0);
        assert_eq!(c.get(&"a", t0 + Duration::from_millis(999)), Some(1));
        assert_eq!(c.get(&"a", t0 + Duration::from_secs(1)), None);
        assert_eq!(c.get(&"b", t0), None);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_oldest() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(Duration::from_secs(1), 3);
        c.insert("old", 0, t0);
        c.insert("a", 1, t0 + Duration::from_millis(600));
        c.insert("b", 2, t0 + Duration::from_millis(700));
        // "old" has expired by now: it makes room.
        let t1 = t0 + Duration::from_millis(1100);
        c.insert("c", 3, t1);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&"a", t1), Some(1));
        // Nothing expired: the oldest ("a") goes.
        c.insert("d", 4, t1);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&"a", t1), None);
        assert_eq!(c.get(&"b", t1), Some(2));
        assert_eq!(c.get(&"d", t1), Some(4));
        // Replacing a present key never evicts.
        c.insert("d", 5, t1);
        assert_eq!((c.len(), c.get(&"b", t1)), (3, Some(2)));
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
